//! The JSON frames of the chat API.
//!
//! Client to server: `{"action": "message", "data": "...", "requestId": "c-17"}`.
//! Server to client: `chunk`*, then exactly one `done` or `error` per request.

use serde::{Deserialize, Serialize};

use crate::conversation::{ConversationSummary, StopReason, Turn};
use crate::routes::Route;

/// Longest `requestId` a client may send.
pub const REQUEST_ID_MAX_CHARS: usize = 128;

/// Stable, machine-readable error codes of `error` frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request body is not what the route expects.
    BadRequest,
    /// The action names no route.
    UnknownAction,
    /// The request is larger than the 128 KB message limit.
    PayloadTooLarge,
    /// The model provider failed or could not be reached.
    LlmUnavailable,
    /// The model provider rate-limited us and retries did not help.
    LlmRateLimited,
    /// The model provider refused our credentials.
    LlmAuth,
    /// The model provider rejected the request (too long, bad model name, ...).
    LlmRejected,
    /// The model provider stopped sending before the answer was complete.
    LlmTimeout,
    /// The client read its frames too slowly: the answer could not be delivered in full
    /// and was abandoned (the connection is closed when even this frame cannot be sent).
    ClientTooSlow,
    /// A quota of the user is spent (daily tokens, answers at once); `retryAfterSeconds`
    /// says when to try again.
    QuotaExceeded,
    /// The conversation does not exist, or belongs to someone else (the two are not told
    /// apart).
    NotFound,
    /// Another answer in the same conversation is still streaming.
    ConversationBusy,
    /// Anything else; details are in the logs, never in the frame.
    Internal,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::BadRequest,
        ErrorCode::UnknownAction,
        ErrorCode::PayloadTooLarge,
        ErrorCode::LlmUnavailable,
        ErrorCode::LlmRateLimited,
        ErrorCode::LlmAuth,
        ErrorCode::LlmRejected,
        ErrorCode::LlmTimeout,
        ErrorCode::ClientTooSlow,
        ErrorCode::QuotaExceeded,
        ErrorCode::NotFound,
        ErrorCode::ConversationBusy,
        ErrorCode::Internal,
    ];

    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownAction => "unknown_action",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::LlmUnavailable => "llm_unavailable",
            ErrorCode::LlmRateLimited => "llm_rate_limited",
            ErrorCode::LlmAuth => "llm_auth",
            ErrorCode::LlmRejected => "llm_rejected",
            ErrorCode::LlmTimeout => "llm_timeout",
            ErrorCode::ClientTooSlow => "client_too_slow",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ConversationBusy => "conversation_busy",
            ErrorCode::Internal => "internal",
        }
    }
}

/// Token counts reported by the provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
}

/// An `error` frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorFrame {
    /// The request the error ends, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Stable code.
    pub code: ErrorCode,
    /// A sentence for people: no stack traces, no secrets.
    pub error: String,
    /// The valid actions, on `unknown_action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    /// Seconds until trying again may succeed, on `quota_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// The conversation the failed answer belongs to (its turn is stored, marked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

impl ErrorFrame {
    /// An error frame with no request id and no action list.
    pub fn new(code: ErrorCode, error: impl Into<String>) -> Self {
        ErrorFrame {
            request_id: None,
            code,
            error: error.into(),
            actions: None,
            retry_after_seconds: None,
            conversation_id: None,
        }
    }

    /// The `quota_exceeded` frame, saying when to try again.
    pub fn quota_exceeded(error: impl Into<String>, retry_after_seconds: u64) -> Self {
        ErrorFrame {
            retry_after_seconds: Some(retry_after_seconds),
            ..ErrorFrame::new(ErrorCode::QuotaExceeded, error)
        }
    }

    /// The `unknown_action` frame, listing the contract's actions.
    pub fn unknown_action(error: impl Into<String>) -> Self {
        ErrorFrame {
            actions: Some(Route::actions().map(str::to_owned).collect()),
            ..ErrorFrame::new(ErrorCode::UnknownAction, error)
        }
    }

    /// This frame with `request_id` set.
    pub fn for_request(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// This frame with `conversation_id` set.
    pub fn in_conversation(mut self, conversation_id: impl Into<String>) -> Self {
        self.conversation_id = Some(conversation_id.into());
        self
    }
}

/// One frame from the server to a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerFrame {
    /// A piece of the answer.
    #[serde(rename_all = "camelCase")]
    Chunk {
        /// The request this answers.
        request_id: String,
        /// Text to append.
        content: String,
    },
    /// The answer is complete.
    #[serde(rename_all = "camelCase")]
    Done {
        /// The request this answers.
        request_id: String,
        /// Token counts, when the provider reported them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        usage: Option<Usage>,
        /// The conversation the answer belongs to (new when the message named none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conversation_id: Option<String>,
        /// Why the answer ended before the model finished it (`cancelled`); absent when it
        /// ended on its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop_reason: Option<StopReason>,
    },
    /// The request failed.
    Error(ErrorFrame),
    /// A page of a conversation's turns, oldest first (answers `history`).
    #[serde(rename_all = "camelCase")]
    History {
        /// The request this answers.
        request_id: String,
        /// The conversation.
        conversation_id: String,
        /// The turns of the page, oldest first.
        turns: Vec<Turn>,
        /// Send as `cursor` to get the turns before these; absent on the first page of
        /// the conversation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_cursor: Option<String>,
    },
    /// A page of the user's conversations, newest first (answers `conversations`).
    #[serde(rename_all = "camelCase")]
    Conversations {
        /// The request this answers.
        request_id: String,
        /// The conversations of the page, newest first.
        conversations: Vec<ConversationSummary>,
        /// Send as `cursor` to get older ones; absent when there are none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_cursor: Option<String>,
    },
}

impl ServerFrame {
    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: no maps with non-string keys, no floats.
        serde_json::to_string(self).expect("server frames always serialize")
    }

    /// Whether this frame ends a request.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, ServerFrame::Chunk { .. })
    }
    /// The request this frame answers (an error frame may answer none).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ServerFrame::Chunk { request_id, .. }
            | ServerFrame::Done { request_id, .. }
            | ServerFrame::History { request_id, .. }
            | ServerFrame::Conversations { request_id, .. } => Some(request_id),
            ServerFrame::Error(e) => e.request_id.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_have_the_documented_shape() {
        let chunk = ServerFrame::Chunk {
            request_id: "c-17".into(),
            content: "Today we have".into(),
        };
        assert_eq!(
            serde_json::to_value(&chunk).unwrap(),
            json!({"type": "chunk", "requestId": "c-17", "content": "Today we have"})
        );
        let done = ServerFrame::Done {
            request_id: "c-17".into(),
            usage: Some(Usage {
                input_tokens: 12,
                output_tokens: 9,
            }),
            conversation_id: None,
            stop_reason: None,
        };
        assert_eq!(
            serde_json::to_value(&done).unwrap(),
            json!({"type": "done", "requestId": "c-17", "usage": {"inputTokens": 12, "outputTokens": 9}})
        );
        let done_without_usage = ServerFrame::Done {
            request_id: "r".into(),
            usage: None,
            conversation_id: None,
            stop_reason: None,
        };
        assert_eq!(
            done_without_usage.to_json(),
            r#"{"type":"done","requestId":"r"}"#
        );
        let err = ServerFrame::Error(
            ErrorFrame::new(ErrorCode::LlmUnavailable, "the model provider answered 503")
                .for_request("c-17"),
        );
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"type": "error", "requestId": "c-17", "code": "llm_unavailable", "error": "the model provider answered 503"})
        );
        for f in [&chunk, &done, &err] {
            let back: ServerFrame = serde_json::from_str(&f.to_json()).unwrap();
            assert_eq!(&back, f);
        }
    }

    #[test]
    fn unknown_action_lists_the_contract_actions() {
        let v = serde_json::to_value(ServerFrame::Error(ErrorFrame::unknown_action("no"))).unwrap();
        assert_eq!(v["code"], "unknown_action");
        assert_eq!(
            v["actions"],
            json!([
                Route::Message.key(),
                Route::History.key(),
                Route::Conversations.key(),
                Route::Cancel.key()
            ])
        );
    }

    #[test]
    fn error_codes_serialize_as_their_stable_names() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                json!(code.as_str()),
                "{code:?}"
            );
        }
    }
}
