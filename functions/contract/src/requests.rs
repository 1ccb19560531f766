//! What clients send, validated: `message`, and the conversation actions `history`,
//! `conversations` and `cancel`. A body that is not valid gets a `bad_request` (or
//! `payload_too_large`) frame carrying the client's `requestId` when it could be read.
//!
//! ```json
//! {"action": "message", "data": "...", "conversationId": "...", "requestId": "c-17"}
//! {"action": "history", "conversationId": "...", "limit": 20, "cursor": "...", "requestId": "h-1"}
//! {"action": "conversations", "limit": 20, "cursor": "...", "requestId": "l-1"}
//! {"action": "cancel", "requestId": "c-17"}
//! ```

use serde_json::{Map, Value};

use crate::conversation::{PAGE_DEFAULT, PAGE_MAX, valid_conversation_id};
use crate::limits::MESSAGE_PAYLOAD_MAX_BYTES;
use crate::wire::{ErrorCode, ErrorFrame, REQUEST_ID_MAX_CHARS};

/// A request body as a JSON object, or the `payload_too_large`/`bad_request` frame.
fn object_of(body: Option<&str>) -> Result<serde_json::Map<String, serde_json::Value>, ErrorFrame> {
    let body = body.unwrap_or("");
    if body.len() > MESSAGE_PAYLOAD_MAX_BYTES {
        return Err(ErrorFrame::new(
            ErrorCode::PayloadTooLarge,
            format!("the message is larger than {MESSAGE_PAYLOAD_MAX_BYTES} bytes"),
        ));
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        _ => Err(ErrorFrame::new(
            ErrorCode::BadRequest,
            "the message is not a JSON object",
        )),
    }
}

/// The optional `requestId` of a request object.
fn request_id_of(
    object: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<String>, ErrorFrame> {
    match object.get("requestId") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s))
            if !s.is_empty() && s.chars().count() <= REQUEST_ID_MAX_CHARS =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(ErrorFrame::new(
            ErrorCode::BadRequest,
            format!(
                "requestId must be a non-empty string of at most {REQUEST_ID_MAX_CHARS} characters"
            ),
        )),
    }
}

/// The optional `conversationId` of a request object (`fail` makes the error frame).
fn conversation_id_of(
    object: &serde_json::Map<String, serde_json::Value>,
    fail: &dyn Fn(&str) -> ErrorFrame,
) -> Result<Option<String>, ErrorFrame> {
    match object.get("conversationId") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if valid_conversation_id(s) => Ok(Some(s.clone())),
        Some(_) => Err(fail(
            "conversationId must be 1 to 64 letters, digits, '-' or '_'",
        )),
    }
}

/// A validated `message` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRequest {
    /// The user's input (non-empty).
    pub data: String,
    /// The client's id for this request, if it sent one.
    pub request_id: Option<String>,
    /// The conversation to continue; none starts a new one.
    pub conversation_id: Option<String>,
}

impl MessageRequest {
    /// Validates a `message` body. The error frame carries the client's `requestId` when it
    /// could be read.
    pub fn parse(body: Option<&str>) -> Result<MessageRequest, ErrorFrame> {
        let object = object_of(body)?;
        let request_id = request_id_of(&object)?;
        let fail = |error: &str| {
            let frame = ErrorFrame::new(ErrorCode::BadRequest, error);
            match &request_id {
                Some(id) => frame.for_request(id.clone()),
                None => frame,
            }
        };
        let data = match object.get("data") {
            None | Some(serde_json::Value::Null) => return Err(fail("data is required")),
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(fail("data must be a string")),
        };
        if data.trim().is_empty() {
            return Err(fail("data must not be empty"));
        }
        let conversation_id = conversation_id_of(&object, &fail)?;
        Ok(MessageRequest {
            data: data.clone(),
            request_id,
            conversation_id,
        })
    }
}

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

    fn parse(body: &str) -> Result<MessageRequest, ErrorFrame> {
        MessageRequest::parse(Some(body))
    }

    #[test]
    fn message_requests_are_validated() {
        assert_eq!(
            parse(r#"{"action":"message","data":"hi","requestId":"c-1"}"#).unwrap(),
            MessageRequest {
                data: "hi".into(),
                request_id: Some("c-1".into()),
                conversation_id: None,
            }
        );
        assert_eq!(
            parse(r#"{"data":"hi"}"#).unwrap().request_id,
            None,
            "requestId is optional"
        );
        let cases = [
            ("", ErrorCode::BadRequest, "not a JSON object"),
            ("[1]", ErrorCode::BadRequest, "not a JSON object"),
            (
                r#"{"action":"message"}"#,
                ErrorCode::BadRequest,
                "data is required",
            ),
            (
                r#"{"data":null}"#,
                ErrorCode::BadRequest,
                "data is required",
            ),
            (r#"{"data":""}"#, ErrorCode::BadRequest, "must not be empty"),
            (
                r#"{"data":"  \n"}"#,
                ErrorCode::BadRequest,
                "must not be empty",
            ),
            (r#"{"data":42}"#, ErrorCode::BadRequest, "must be a string"),
            (
                r#"{"data":"x","requestId":7}"#,
                ErrorCode::BadRequest,
                "requestId",
            ),
        ];
        for (body, code, needle) in cases {
            let err = parse(body).unwrap_err();
            assert_eq!(err.code, code, "{body}");
            assert!(err.error.contains(needle), "{body}: {}", err.error);
        }
        assert_eq!(
            MessageRequest::parse(None).unwrap_err().code,
            ErrorCode::BadRequest
        );
        let err = parse(r#"{"data":3,"requestId":"c-9"}"#).unwrap_err();
        assert_eq!(
            err.request_id.as_deref(),
            Some("c-9"),
            "the client's id is echoed"
        );
    }

    #[test]
    fn oversize_messages_are_refused() {
        let big = format!(r#"{{"data":"{}"}}"#, "a".repeat(MESSAGE_PAYLOAD_MAX_BYTES));
        assert_eq!(parse(&big).unwrap_err().code, ErrorCode::PayloadTooLarge);
        let fits = format!(
            r#"{{"data":"{}"}}"#,
            "a".repeat(MESSAGE_PAYLOAD_MAX_BYTES - 11)
        );
        assert_eq!(fits.len(), MESSAGE_PAYLOAD_MAX_BYTES);
        assert!(parse(&fits).is_ok());
    }

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
