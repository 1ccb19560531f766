//! Amazon Bedrock's `ConverseStream`, through the AWS SDK: no key, the caller's AWS
//! credentials (the function's role in Lambda) sign each request (SigV4, service `bedrock`).
//!
//! The system prompt goes to `system`, the conversation to `messages` (it starts with a user
//! message and alternates, as Bedrock requires), `max_tokens` to `inferenceConfig`. Errors map
//! to the same typed errors as the other providers, by the exception's name, before the
//! stream (the HTTP error's `x-amzn-errortype`) and during it (an `exception` message): never
//! by its message text, which can quote the request.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message, SystemContentBlock,
};
use futures::StreamExt;
use streamgate_contract::Usage;
use streamgate_core::ports::Role;
use streamgate_core::{LlmError, LlmEvent, LlmProvider, LlmRequest, LlmStream};

use crate::http::Timeouts;

/// The Bedrock provider.
#[derive(Debug, Clone)]
pub struct BedrockProvider {
    client: Client,
    model: String,
    timeouts: Timeouts,
}

impl BedrockProvider {
    /// A provider of `model` (a model id or an inference profile) with `sdk`'s credentials
    /// and region; `endpoint` replaces the regional endpoint (a test's mock, a VPC endpoint).
    pub fn new(
        sdk: &aws_config::SdkConfig,
        endpoint: Option<&str>,
        model: &str,
        timeouts: Timeouts,
    ) -> BedrockProvider {
        // One attempt per call: retrying is the handler's choice, made only while nothing
        // has reached the client.
        let mut config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(timeouts.connect)
                    .build(),
            );
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        BedrockProvider {
            client: Client::from_conf(config.build()),
            model: model.to_owned(),
            timeouts,
        }
    }
}

/// The typed error of an exception named `code` (before or during the stream; matched
/// without regard to case: in-stream exceptions are named in lower camel case).
pub fn exception_error(code: &str, status: Option<u16>) -> LlmError {
    let message = match status {
        Some(s) => format!("HTTP {s} {code}"),
        None => format!("in-stream {code}"),
    };
    match code.to_ascii_lowercase().as_str() {
        "accessdeniedexception" | "unrecognizedclientexception" | "expiredtokenexception" => {
            LlmError::Auth(message)
        }
        "throttlingexception" => LlmError::RateLimited {
            message,
            retry_after: None,
        },
        "validationexception" | "resourcenotfoundexception" => LlmError::Rejected(message),
        "modeltimeoutexception" => LlmError::Timeout(message),
        "serviceunavailableexception" | "internalserverexception" | "modelnotreadyexception" => {
            LlmError::Unavailable {
                message,
                retryable: true,
                retry_after: None,
            }
        }
        _ => LlmError::Unavailable {
            message,
            retryable: false,
            retry_after: None,
        },
    }
}

fn sdk_error<E, R>(e: &SdkError<E, R>, status: Option<u16>) -> LlmError
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::TimeoutError(_) => LlmError::Timeout("connecting to Bedrock".into()),
        SdkError::DispatchFailure(_) => LlmError::Unavailable {
            message: "Bedrock could not be reached".into(),
            retryable: true,
            retry_after: None,
        },
        SdkError::ResponseError(_) => LlmError::Protocol("an unreadable Bedrock response".into()),
        _ => match e.code() {
            Some(code) => exception_error(code, status),
            None => LlmError::Unavailable {
                message: format!("Bedrock failed (HTTP {})", status.unwrap_or(0)),
                retryable: false,
                retry_after: None,
            },
        },
    }
}

/// The typed error of a failure during the stream: an `exception` message names its kind.
fn stream_error(
    e: &SdkError<
        aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError,
        aws_smithy_types::event_stream::RawMessage,
    >,
) -> LlmError {
    use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError as E;
    let SdkError::ServiceError(service) = e else {
        return sdk_error(e, None);
    };
    let code = match service.err() {
        E::ThrottlingException(_) => "throttlingException",
        E::ValidationException(_) => "validationException",
        E::ServiceUnavailableException(_) => "serviceUnavailableException",
        E::InternalServerException(_) => "internalServerException",
        E::ModelStreamErrorException(_) => "modelStreamErrorException",
        other => other.code().unwrap_or("unknownException"),
    };
    exception_error(code, None)
}

#[async_trait]
impl LlmProvider for BedrockProvider {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    async fn stream(&self, request: &LlmRequest) -> Result<LlmStream, LlmError> {
        let mut call = self
            .client
            .converse_stream()
            .model_id(&self.model)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(i32::try_from(request.max_tokens).unwrap_or(i32::MAX))
                    .build(),
            );
        if let Some(system) = &request.system {
            call = call.system(SystemContentBlock::Text(system.clone()));
        }
        for m in &request.messages {
            let role = match m.role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            };
            let message = Message::builder()
                .role(role)
                .content(ContentBlock::Text(m.text.clone()))
                .build()
                .map_err(|e| LlmError::Rejected(e.to_string()))?;
            call = call.messages(message);
        }
        let output = match tokio::time::timeout(self.timeouts.idle, call.send()).await {
            Err(_) => return Err(LlmError::Timeout("no response from Bedrock".into())),
            Ok(Err(e)) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                return Err(sdk_error(&e, status));
            }
            Ok(Ok(output)) => output,
        };
        let idle = self.timeouts.idle;
        let events = futures::stream::unfold(Some(output.stream), move |receiver| async move {
            let mut receiver = receiver?;
            loop {
                let next = match tokio::time::timeout(idle, receiver.recv()).await {
                    Err(_) => Err(LlmError::Timeout(format!(
                        "no event from Bedrock for {}",
                        seconds(idle)
                    ))),
                    Ok(Err(e)) => Err(stream_error(&e)),
                    Ok(Ok(None)) => return None,
                    Ok(Ok(Some(event))) => match event {
                        ConverseStreamOutput::ContentBlockDelta(d) => match d.delta {
                            Some(ContentBlockDelta::Text(text)) => Ok(LlmEvent::Delta(text)),
                            _ => continue,
                        },
                        ConverseStreamOutput::Metadata(m) => match m.usage {
                            Some(u) => Ok(LlmEvent::Usage(Usage {
                                input_tokens: u.input_tokens.max(0) as u64,
                                output_tokens: u.output_tokens.max(0) as u64,
                            })),
                            None => continue,
                        },
                        _ => continue,
                    },
                };
                // After an error the stream ends: the receiver is dropped, which closes
                // the connection.
                let state = next.is_ok().then_some(receiver);
                return Some((next, state));
            }
        });
        Ok(events.boxed())
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_map_to_the_stable_errors() {
        assert!(matches!(
            exception_error("ThrottlingException", Some(429)),
            LlmError::RateLimited { .. }
        ));
        assert!(matches!(
            exception_error("throttlingException", None),
            LlmError::RateLimited { .. }
        ));
        assert!(matches!(
            exception_error("AccessDeniedException", Some(403)),
            LlmError::Auth(_)
        ));
        assert!(matches!(
            exception_error("ValidationException", Some(400)),
            LlmError::Rejected(_)
        ));
        assert!(exception_error("serviceUnavailableException", None).retryable());
        assert!(!exception_error("modelStreamErrorException", None).retryable());
    }
}
