//! Anthropic Messages streaming.

use async_trait::async_trait;
use serde_json::{Value, json};
use streamgate_contract::Usage;
use streamgate_core::{ApiKey, LlmError, LlmEvent, LlmProvider, LlmRequest, LlmStream};

use crate::http::{self, Decoded, Decoder, Endpoint, KeyHeader, Timeouts};
use crate::sse::SseEvent;

/// The public endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version header value.
pub const API_VERSION: &str = "2023-06-01";

/// An Anthropic provider.
#[derive(Debug, Clone)]
pub struct AnthropicProvider {
    endpoint: Endpoint,
    model: String,
}

impl AnthropicProvider {
    /// A provider at `base_url`.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        model: &str,
        key: Option<ApiKey>,
        timeouts: Timeouts,
    ) -> AnthropicProvider {
        AnthropicProvider {
            endpoint: Endpoint::new(
                http,
                base_url,
                "messages",
                key,
                KeyHeader::Named("x-api-key"),
                timeouts,
            ),
            model: model.to_owned(),
        }
    }

    /// The request body.
    pub fn body(&self, request: &LlmRequest) -> Value {
        let mut body = json!({
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": request
                .messages
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": m.text}))
                .collect::<Vec<_>>(),
            "stream": true,
        });
        if let Some(system) = &request.system {
            body["system"] = Value::String(system.clone());
        }
        body
    }
}

#[async_trait]
impl LlmProvider for AnthropicProvider {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    async fn stream(&self, request: &LlmRequest) -> Result<LlmStream, LlmError> {
        self.endpoint
            .stream(
                &self.body(request),
                &[("anthropic-version", API_VERSION)],
                EventDecoder::default(),
            )
            .await
    }
}

/// Decodes Messages stream events.
#[derive(Debug, Default)]
pub struct EventDecoder {
    input_tokens: u64,
}

fn error_event(data: &Value) -> LlmError {
    let ty = data
        .pointer("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    match ty {
        "overloaded_error" => http::status_error(529, ty, None),
        "api_error" => http::status_error(500, ty, None),
        "rate_limit_error" => http::status_error(429, ty, None),
        "authentication_error" => http::status_error(401, ty, None),
        "permission_error" => http::status_error(403, ty, None),
        "request_too_large" => http::status_error(413, ty, None),
        "invalid_request_error" | "not_found_error" => http::status_error(400, ty, None),
        other => LlmError::Unavailable {
            message: format!("error event {other}"),
            retryable: true,
            retry_after: None,
        },
    }
}

impl Decoder for EventDecoder {
    fn decode(&mut self, event: SseEvent) -> Result<Decoded, LlmError> {
        let data: Value = match serde_json::from_str(&event.data) {
            Ok(v) => v,
            Err(_) if event.event.as_deref() == Some("ping") => return Ok(Decoded::Events(vec![])),
            Err(e) => return Err(LlmError::Protocol(format!("an event is not JSON: {e}"))),
        };
        // The `event:` line and the data's `type` agree; prefer the data's.
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        match kind {
            "message_start" => {
                self.input_tokens = data
                    .pointer("/message/usage/input_tokens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                Ok(Decoded::Events(vec![]))
            }
            "content_block_delta" => {
                let text = data
                    .get("delta")
                    .filter(|d| d.get("type").and_then(Value::as_str) == Some("text_delta"))
                    .and_then(|d| d.get("text"))
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty());
                Ok(Decoded::Events(
                    text.map(|t| LlmEvent::Delta(t.to_owned()))
                        .into_iter()
                        .collect(),
                ))
            }
            "message_delta" => {
                let output = data.pointer("/usage/output_tokens").and_then(Value::as_u64);
                Ok(Decoded::Events(
                    output
                        .map(|o| {
                            LlmEvent::Usage(Usage {
                                input_tokens: self.input_tokens,
                                output_tokens: o,
                            })
                        })
                        .into_iter()
                        .collect(),
                ))
            }
            "message_stop" => Ok(Decoded::End),
            "error" => Err(error_event(&data)),
            // ping, content_block_start/stop and event types added later.
            _ => Ok(Decoded::Events(vec![])),
        }
    }

    fn at_eof(&mut self) -> Result<Vec<LlmEvent>, LlmError> {
        Err(LlmError::Unavailable {
            message: "the stream ended before message_stop".into(),
            retryable: true,
            retry_after: None,
        })
    }
}
