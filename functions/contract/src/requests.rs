//! The requests of the conversation actions: `history`, `conversations` and `cancel`.
//!
//! ```json
//! {"action": "history", "conversationId": "...", "limit": 20, "cursor": "...", "requestId": "h-1"}
//! {"action": "conversations", "limit": 20, "cursor": "...", "requestId": "l-1"}
//! {"action": "cancel", "requestId": "c-17"}
//! ```

use serde_json::{Map, Value};

use crate::conversation::{PAGE_DEFAULT, PAGE_MAX, valid_conversation_id};
use crate::wire::{ErrorCode, ErrorFrame, conversation_id_of, object_of, request_id_of};

/// A validated `history` request: a page of a conversation's turns, newest page first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRequest {
    /// The client's id for this request, if it sent one.
    pub request_id: Option<String>,
    /// The conversation.
    pub conversation_id: String,
    /// Turns in the page (1 to [`PAGE_MAX`]).
    pub limit: u32,
    /// Only turns before this one (the `nextCursor` of the previous page).
    pub before: Option<u64>,
}

/// A validated `conversations` request: a page of the caller's conversations, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationsRequest {
    /// The client's id for this request, if it sent one.
    pub request_id: Option<String>,
    /// Conversations in the page (1 to [`PAGE_MAX`]).
    pub limit: u32,
    /// Only conversations older than this one (the `nextCursor` of the previous page).
    pub after: Option<String>,
}

/// A validated `cancel` request: stop the answer to `request_id` on this connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    /// The `requestId` of the `message` to stop.
    pub request_id: String,
}

/// The object and its request id, with a maker of `bad_request` frames that carry the id.
struct Parsed {
    object: Map<String, Value>,
    request_id: Option<String>,
}

impl Parsed {
    fn new(body: Option<&str>) -> Result<Parsed, ErrorFrame> {
        let object = object_of(body)?;
        let request_id = request_id_of(&object)?;
        Ok(Parsed { object, request_id })
    }

    fn fail(&self, error: &str) -> ErrorFrame {
        let frame = ErrorFrame::new(ErrorCode::BadRequest, error);
        match &self.request_id {
            Some(id) => frame.for_request(id.clone()),
            None => frame,
        }
    }

    fn limit(&self) -> Result<u32, ErrorFrame> {
        match self.object.get("limit") {
            None | Some(Value::Null) => Ok(PAGE_DEFAULT),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n @ 1..) if n <= u64::from(PAGE_MAX) => Ok(n as u32),
                _ => Err(self.fail(&format!("limit must be 1 to {PAGE_MAX}"))),
            },
            Some(_) => Err(self.fail(&format!("limit must be 1 to {PAGE_MAX}"))),
        }
    }

    fn cursor(&self) -> Result<Option<&str>, ErrorFrame> {
        match self.object.get("cursor") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => Ok(Some(s)),
            Some(_) => Err(self.fail("cursor must be a nextCursor this API sent")),
        }
    }
}

impl HistoryRequest {
    /// Validates a `history` body.
    pub fn parse(body: Option<&str>) -> Result<HistoryRequest, ErrorFrame> {
        let p = Parsed::new(body)?;
        let fail = |e: &str| p.fail(e);
        let conversation_id = conversation_id_of(&p.object, &fail)?
            .ok_or_else(|| p.fail("conversationId is required"))?;
        let before = match p.cursor()? {
            None => None,
            Some(c) => match c.parse::<u64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => return Err(p.fail("cursor must be a nextCursor this API sent")),
            },
        };
        Ok(HistoryRequest {
            limit: p.limit()?,
            before,
            conversation_id,
            request_id: p.request_id,
        })
    }
}

impl ConversationsRequest {
    /// Validates a `conversations` body.
    pub fn parse(body: Option<&str>) -> Result<ConversationsRequest, ErrorFrame> {
        let p = Parsed::new(body)?;
        let after = match p.cursor()? {
            None => None,
            Some(c) if valid_conversation_id(c) => Some(c.to_owned()),
            Some(_) => return Err(p.fail("cursor must be a nextCursor this API sent")),
        };
        Ok(ConversationsRequest {
            limit: p.limit()?,
            after,
            request_id: p.request_id,
        })
    }
}

impl CancelRequest {
    /// Validates a `cancel` body.
    pub fn parse(body: Option<&str>) -> Result<CancelRequest, ErrorFrame> {
        let p = Parsed::new(body)?;
        match p.request_id {
            Some(request_id) => Ok(CancelRequest { request_id }),
            None => Err(p.fail("requestId (the message's) is required")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{StopReason, Turn};
    use crate::wire::ServerFrame;
    use serde_json::json;

    #[test]
    fn history_requests_are_validated() {
        let r = HistoryRequest::parse(Some(
            r#"{"action":"history","conversationId":"abc","requestId":"h","limit":5,"cursor":"7"}"#,
        ))
        .unwrap();
        assert_eq!(
            r,
            HistoryRequest {
                request_id: Some("h".into()),
                conversation_id: "abc".into(),
                limit: 5,
                before: Some(7),
            }
        );
        let r = HistoryRequest::parse(Some(r#"{"conversationId":"abc"}"#)).unwrap();
        assert_eq!((r.limit, r.before), (PAGE_DEFAULT, None));
        for (body, needle) in [
            (r#"{"requestId":"h"}"#, "conversationId is required"),
            (
                r#"{"conversationId":"a#b","requestId":"h"}"#,
                "conversationId must",
            ),
            (
                r#"{"conversationId":"a","limit":0,"requestId":"h"}"#,
                "limit",
            ),
            (
                r#"{"conversationId":"a","limit":51,"requestId":"h"}"#,
                "limit",
            ),
            (
                r#"{"conversationId":"a","limit":"5","requestId":"h"}"#,
                "limit",
            ),
            (
                r#"{"conversationId":"a","cursor":"x","requestId":"h"}"#,
                "cursor",
            ),
            (
                r#"{"conversationId":"a","cursor":"0","requestId":"h"}"#,
                "cursor",
            ),
        ] {
            let e = HistoryRequest::parse(Some(body)).unwrap_err();
            assert_eq!(e.code, ErrorCode::BadRequest, "{body}");
            assert!(e.error.contains(needle), "{body}: {}", e.error);
            assert_eq!(e.request_id.as_deref(), Some("h"), "{body}");
        }
    }

    #[test]
    fn conversations_and_cancel_requests_are_validated() {
        let r = ConversationsRequest::parse(Some(r#"{"limit":3,"cursor":"abc"}"#)).unwrap();
        assert_eq!((r.limit, r.after.as_deref()), (3, Some("abc")));
        assert!(ConversationsRequest::parse(Some(r#"{"cursor":"a b"}"#)).is_err());
        assert_eq!(
            CancelRequest::parse(Some(r#"{"action":"cancel","requestId":"c-1"}"#)).unwrap(),
            CancelRequest {
                request_id: "c-1".into()
            }
        );
        let e = CancelRequest::parse(Some(r#"{"action":"cancel"}"#)).unwrap_err();
        assert!(e.error.contains("requestId"), "{}", e.error);
        assert_eq!(
            CancelRequest::parse(Some("nope")).unwrap_err().code,
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn conversation_frames_have_the_documented_shape() {
        let done = ServerFrame::Done {
            request_id: "c-1".into(),
            usage: None,
            conversation_id: Some("abc".into()),
            stop_reason: Some(StopReason::Cancelled),
        };
        assert_eq!(
            serde_json::to_value(&done).unwrap(),
            json!({"type": "done", "requestId": "c-1", "conversationId": "abc", "stopReason": "cancelled"})
        );
        let history = ServerFrame::History {
            request_id: "h".into(),
            conversation_id: "abc".into(),
            turns: vec![Turn {
                turn: 1,
                user: "hi".into(),
                answer: "hel".into(),
                stop_reason: Some(StopReason::ClientGone),
                at: 5,
                request_id: "c-1".into(),
            }],
            next_cursor: None,
        };
        assert_eq!(
            serde_json::to_value(&history).unwrap(),
            json!({"type": "history", "requestId": "h", "conversationId": "abc", "turns": [
                {"turn": 1, "user": "hi", "answer": "hel", "stopReason": "client_gone", "at": 5, "requestId": "c-1"}
            ]})
        );
        for f in [&done, &history] {
            let back: ServerFrame = serde_json::from_str(&f.to_json()).unwrap();
            assert_eq!(&back, f);
        }
    }
}
