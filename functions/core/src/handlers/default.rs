//! `$default`: a frame that matched no route gets an `unknown_action` error frame.

use streamgate_contract::metrics::Metric;
use streamgate_contract::routes::api::ACTION_FIELD;
use streamgate_contract::{ErrorFrame, Route};
use tracing::Instrument;

use super::{ChatApp, span};
use crate::event::{self, WsEvent, WsResponse};

/// The `unknown_action` frame for a body that matched no route.
pub fn unknown_action_frame(body: Option<&str>) -> ErrorFrame {
    let parsed = body.and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
    let Some(object) = parsed.as_ref().and_then(|v| v.as_object()) else {
        return ErrorFrame::unknown_action(format!(
            "frames must be JSON objects with an \"{ACTION_FIELD}\" field"
        ));
    };
    let request_id = object
        .get("requestId")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let error = match object.get(ACTION_FIELD) {
        None => format!("the frame has no \"{ACTION_FIELD}\" field"),
        Some(serde_json::Value::String(a)) => {
            let shown: String = a.chars().take(64).collect();
            format!("unknown action {shown:?}")
        }
        Some(other) => {
            let shown: String = other.to_string().chars().take(64).collect();
            format!("unknown action {shown}")
        }
    };
    let frame = ErrorFrame::unknown_action(error);
    match request_id {
        Some(id) => frame.for_request(id),
        None => frame,
    }
}

/// `$default`: answers an `unknown_action` error frame listing the valid actions.
pub(super) async fn default(app: &ChatApp, event: &WsEvent) -> WsResponse {
    async {
        let Some(target) = event::message_target(event) else {
            return event::status(400);
        };
        streamgate_telemetry::count(Metric::Messages, &[Route::Default.key()]);
        let frame = unknown_action_frame(event::body(event).as_deref());
        app.outbox(&target).post_or_fail(frame).await;
        event::status(200)
    }
    .instrument(span("default", event))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamgate_contract::ErrorCode;

    #[test]
    fn unknown_action_frames_name_the_action_and_list_the_valid_ones() {
        let f = unknown_action_frame(Some(r#"{"action":"dance","requestId":"r1"}"#));
        assert_eq!(f.code, ErrorCode::UnknownAction);
        assert!(f.error.contains("\"dance\""), "{}", f.error);
        assert_eq!(f.request_id.as_deref(), Some("r1"));
        assert_eq!(
            f.actions,
            Some(
                streamgate_contract::Route::actions()
                    .map(String::from)
                    .collect()
            )
        );
        let f = unknown_action_frame(Some("not json"));
        assert!(f.error.contains("JSON objects"), "{}", f.error);
        let f = unknown_action_frame(Some(r#"{"action": 7}"#));
        assert!(f.error.contains('7'), "{}", f.error);
        let f = unknown_action_frame(Some(r#"{"data": "x"}"#));
        assert!(f.error.contains("no \"action\""), "{}", f.error);
    }
}
