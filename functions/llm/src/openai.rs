//! OpenAI-compatible Chat Completions streaming (OpenAI, vLLM, Ollama, llama.cpp server,
//! LM Studio).

use async_trait::async_trait;
use serde_json::{Value, json};
use streamgate_contract::Usage;
use streamgate_core::{ApiKey, LlmError, LlmEvent, LlmProvider, LlmRequest, LlmStream};

use crate::http::{self, Decoded, Decoder, Endpoint, KeyHeader, Timeouts};
use crate::sse::SseEvent;

/// The public endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com";

/// An OpenAI-compatible provider.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    endpoint: Endpoint,
    model: String,
}

impl OpenAiProvider {
    /// A provider at `base_url` (with or without `/v1`). Servers that need no key (Ollama,
    /// llama.cpp) take `None`.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        model: &str,
        key: Option<ApiKey>,
        timeouts: Timeouts,
    ) -> OpenAiProvider {
        OpenAiProvider {
            endpoint: Endpoint::new(
                http,
                base_url,
                "chat/completions",
                key,
                KeyHeader::Bearer,
                timeouts,
            ),
            model: model.to_owned(),
        }
    }

    /// The request body.
    pub fn body(&self, request: &LlmRequest) -> Value {
        let mut messages = Vec::new();
        if let Some(system) = &request.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        for m in &request.messages {
            messages.push(json!({"role": m.role.as_str(), "content": m.text}));
        }
        json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": request.max_tokens,
        })
    }
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &'static str {
        "openai"
    }

    async fn stream(&self, request: &LlmRequest) -> Result<LlmStream, LlmError> {
        self.endpoint
            .stream(&self.body(request), &[], ChunkDecoder::default())
            .await
    }
}

/// Decodes `chat.completion.chunk` events.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    finished: bool,
}

fn stream_error(err: &Value) -> LlmError {
    let label = http::error_label(err);
    let code = err.pointer("/error/code").or_else(|| err.get("code"));
    let status = match code {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    };
    let by_name = |names: &[&str]| names.iter().any(|n| label.contains(n));
    match status {
        Some(s) if (400..600).contains(&s) => http::status_error(s, &label, None),
        _ if by_name(&["invalid_api_key", "authentication"]) => LlmError::Auth(label),
        _ if by_name(&["rate_limit"]) => LlmError::RateLimited {
            message: label,
            retry_after: None,
        },
        _ if by_name(&["invalid_request", "context_length"]) => LlmError::Rejected(label),
        _ => LlmError::Unavailable {
            message: format!("error in stream: {label}"),
            retryable: true,
            retry_after: None,
        },
    }
}

impl Decoder for ChunkDecoder {
    fn decode(&mut self, event: SseEvent) -> Result<Decoded, LlmError> {
        if let Some(error) = event.error {
            // llama.cpp's `error:` field.
            let v: Value = serde_json::from_str(&error).unwrap_or(Value::String(error));
            return Err(stream_error(&json!({"error": v})));
        }
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Decoded::End);
        }
        if data.is_empty() {
            return Ok(Decoded::Events(Vec::new()));
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| LlmError::Protocol(format!("a chunk is not JSON: {e}")))?;
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            return Err(stream_error(&chunk));
        }
        let mut events = Vec::new();
        for choice in chunk
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(text) = choice.pointer("/delta/content").and_then(Value::as_str)
                && !text.is_empty()
            {
                events.push(LlmEvent::Delta(text.to_owned()));
            }
            if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
                self.finished = true;
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
            events.push(LlmEvent::Usage(Usage {
                input_tokens: n("prompt_tokens"),
                output_tokens: n("completion_tokens"),
            }));
        }
        Ok(Decoded::Events(events))
    }

    fn at_eof(&mut self) -> Result<Vec<LlmEvent>, LlmError> {
        if self.finished {
            // Some servers end after the finish reason without `[DONE]`.
            Ok(Vec::new())
        } else {
            Err(LlmError::Unavailable {
                message: "the stream ended before [DONE]".into(),
                retryable: true,
                retry_after: None,
            })
        }
    }
}
