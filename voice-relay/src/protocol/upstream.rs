//! Upstream Realtime events (GA names, and the beta names still seen) to client frames and
//! upstream replies: audio split under the frame limit, transcripts, the `add_to_cart` tool
//! round trip checked against the menu, and errors sorted into harmless, fatal and forwarded.

use serde_json::{Value, json};
use streamgate_contract::metrics::Metric;

use super::{AUDIO_PIECE_CHARS, Action, SessionState, code, error_frame};
use crate::catalog::Restaurant;

/// Errors that leave the session usable.
pub const HARMLESS_ERRORS: &[&str] = &[
    "response_cancel_not_active",
    "conversation_already_has_active_response",
    "input_audio_buffer_commit_empty",
];

/// Errors that end the session; never retried.
pub const FATAL_ERRORS: &[&str] = &[
    "invalid_api_key",
    "insufficient_quota",
    "account_deactivated",
    "beta_api_shape_disabled",
];

/// Splits a base64 audio delta into pieces that fit a client frame.
pub fn audio_frames(delta: &str) -> Vec<Value> {
    if delta.len() <= AUDIO_PIECE_CHARS {
        return vec![json!({"type": "audio", "audio": delta})];
    }
    delta
        .as_bytes()
        .chunks(AUDIO_PIECE_CHARS)
        .map(|c| json!({"type": "audio", "audio": String::from_utf8_lossy(c)}))
        .collect()
}

fn tool_round_trip(restaurant: &Restaurant, event: &Value) -> Vec<Action> {
    let call_id = event
        .get("call_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let args: Value = event
        .get("arguments")
        .and_then(Value::as_str)
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or(Value::Null);
    let name = args.get("item_name").and_then(Value::as_str).unwrap_or("");
    let quantity = args.get("quantity").and_then(Value::as_u64).unwrap_or(1);
    let mut actions = Vec::new();
    let output = match restaurant.item(name) {
        Some(item) if (1..=99).contains(&quantity) => {
            actions.push(Action::ToClient(json!({
                "type": "add_to_cart",
                "item": {"name": item.name, "quantity": quantity}
            })));
            json!({"ok": true})
        }
        Some(_) => json!({"ok": false, "reason": "the quantity must be between 1 and 99"}),
        None => json!({"ok": false, "reason": "not on the menu"}),
    };
    actions.push(Action::ToUpstream(json!({
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output.to_string()}
    })));
    actions.push(Action::ToUpstream(json!({"type": "response.create"})));
    actions
}

/// What to do with one upstream event.
pub fn on_upstream(
    state: &mut SessionState,
    restaurant: &Restaurant,
    event: &Value,
) -> Vec<Action> {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    let text = |k: &str| {
        event
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    match kind {
        "session.created" | "session.updated" if !state.started => {
            state.started = true;
            vec![Action::ToClient(json!({"type": "session_started"}))]
        }
        "response.output_audio.delta" | "response.audio.delta" => audio_frames(&text("delta"))
            .into_iter()
            .map(Action::ToClient)
            .collect(),
        "conversation.item.input_audio_transcription.completed" => vec![Action::ToClient(json!({
            "type": "transcript", "role": "user", "transcript": text("transcript"), "isFinal": true
        }))],
        "response.output_audio_transcript.delta"
        | "response.audio_transcript.delta"
        | "response.output_text.delta"
        | "response.text.delta" => vec![Action::ToClient(json!({
            "type": "transcript", "role": "assistant", "transcript": text("delta"), "isFinal": false
        }))],
        "response.output_audio_transcript.done" | "response.audio_transcript.done" => {
            vec![Action::ToClient(json!({
                "type": "transcript", "role": "assistant", "transcript": text("transcript"), "isFinal": true
            }))]
        }
        "input_audio_buffer.speech_started" => {
            vec![Action::ToClient(json!({"type": "speech_started"}))]
        }
        "response.function_call_arguments.done" if text("name") == "add_to_cart" => {
            streamgate_telemetry::count(Metric::VoiceToolCalls, &["add_to_cart"]);
            tool_round_trip(restaurant, event)
        }
        "response.done" => vec![Action::ToClient(json!({"type": "response_done"}))],
        "error" => {
            streamgate_telemetry::count(Metric::VoiceUpstreamErrors, &["error_event"]);
            let error = event.get("error").unwrap_or(&Value::Null);
            let code = error
                .get("code")
                .and_then(Value::as_str)
                .or_else(|| error.get("type").and_then(Value::as_str))
                .unwrap_or("upstream_error")
                .to_owned();
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the voice service reported an error");
            if HARMLESS_ERRORS.contains(&code.as_str()) {
                Vec::new()
            } else if FATAL_ERRORS.contains(&code.as_str()) {
                vec![
                    Action::ToClient(error_frame(
                        &code,
                        &format!("the voice session ended: {message}"),
                    )),
                    Action::End,
                ]
            } else {
                vec![Action::ToClient(error_frame(&code, message))]
            }
        }
        _ => Vec::new(),
    }
}

/// What to do when the upstream socket closes or fails: tell the client, close our side.
pub fn on_upstream_closed(state: &mut SessionState) -> Vec<Action> {
    state.upstream_gone();
    vec![
        Action::ToClient(error_frame(
            code::UPSTREAM_CLOSED,
            "the voice service closed the session",
        )),
        Action::End,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::restaurant;
    use crate::protocol::{MAX_CLIENT_FRAME_BYTES, valid_pcm16_base64};

    #[test]
    fn tool_calls_are_checked_against_the_menu() {
        let call = |args: &str| json!({"type": "response.function_call_arguments.done", "name": "add_to_cart", "call_id": "c1", "arguments": args});
        let ok = on_upstream(
            &mut SessionState::default(),
            &restaurant(),
            &call(r#"{"item_name":"mushroom risotto","quantity":2}"#),
        );
        assert_eq!(
            ok[0],
            Action::ToClient(
                json!({"type":"add_to_cart","item":{"name":"Mushroom Risotto","quantity":2}})
            )
        );
        assert!(
            matches!(&ok[1], Action::ToUpstream(v) if v["item"]["output"] == r#"{"ok":true}"# && v["item"]["call_id"] == "c1")
        );
        assert_eq!(
            ok[2],
            Action::ToUpstream(json!({"type": "response.create"}))
        );
        let bad = on_upstream(
            &mut SessionState::default(),
            &restaurant(),
            &call(r#"{"item_name":"Hamburger"}"#),
        );
        assert_eq!(bad.len(), 2, "no add_to_cart for an item not on the menu");
        assert!(
            matches!(&bad[0], Action::ToUpstream(v) if v["item"]["output"] == r#"{"ok":false,"reason":"not on the menu"}"#)
        );
        let garbage = on_upstream(
            &mut SessionState::default(),
            &restaurant(),
            &call("not json"),
        );
        assert_eq!(garbage.len(), 2);
    }

    #[test]
    fn errors_are_harmless_fatal_or_forwarded() {
        let err = |code: &str| json!({"type": "error", "error": {"type": "invalid_request_error", "code": code, "message": "m"}});
        assert!(
            on_upstream(
                &mut SessionState::default(),
                &restaurant(),
                &err("response_cancel_not_active")
            )
            .is_empty()
        );
        let fatal = on_upstream(
            &mut SessionState::default(),
            &restaurant(),
            &err("invalid_api_key"),
        );
        assert_eq!(fatal.last(), Some(&Action::End));
        let other = on_upstream(
            &mut SessionState::default(),
            &restaurant(),
            &err("something_new"),
        );
        assert!(matches!(&other[..], [Action::ToClient(v)] if v["code"] == "something_new"));
    }

    #[test]
    fn large_audio_is_split_into_decodable_pieces() {
        let delta = "AAAAAAAA".repeat(AUDIO_PIECE_CHARS / 8 * 2 + 1);
        let frames = audio_frames(&delta);
        assert_eq!(frames.len(), 3);
        let joined: String = frames
            .iter()
            .map(|f| f["audio"].as_str().unwrap())
            .collect();
        assert_eq!(joined, delta);
        for f in &frames {
            assert!(f.to_string().len() < MAX_CLIENT_FRAME_BYTES);
            assert!(valid_pcm16_base64(f["audio"].as_str().unwrap()));
        }
        // Beta and GA names map alike.
        let a = on_upstream(
            &mut SessionState::default(),
            &restaurant(),
            &json!({"type": "response.audio.delta", "delta": "AAAA"}),
        );
        let b = on_upstream(
            &mut SessionState::default(),
            &restaurant(),
            &json!({"type": "response.output_audio.delta", "delta": "AAAA"}),
        );
        assert_eq!(a, b);
    }

    #[test]
    fn a_closed_upstream_is_reported_and_forgotten() {
        let mut state = SessionState {
            started: true,
            open: true,
        };
        let actions = on_upstream_closed(&mut state);
        assert!(
            matches!(&actions[..], [Action::ToClient(v), Action::End] if v["code"] == "upstream_closed")
        );
        assert!(!state.open && !state.started);
    }
}
