//! The voice relay's decisions, free of I/O: the client protocol (unchanged from the seed's
//! front end), the waiter's instructions, the GA `session.update`, and the mapping of
//! upstream Realtime events (GA names, and the beta names still seen) to client frames and
//! upstream replies.

use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog::Restaurant;

/// Largest client frame: well under API Gateway's 128 KB message limit.
pub const MAX_CLIENT_FRAME_BYTES: usize = 96 * 1024;

/// Base64 characters of audio per `audio` frame. A multiple of 8 base64 characters is a
/// multiple of 6 bytes, so every piece decodes alone and holds whole 16-bit samples.
pub const AUDIO_PIECE_CHARS: usize = 64 * 1024;

/// A frame from the client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Open and configure the upstream session.
    StartSession {
        /// Shown in the instructions instead of the catalog's name, if given.
        #[serde(default, rename = "restaurantName")]
        restaurant_name: Option<String>,
    },
    /// Base64 PCM16 mono 24 kHz to append to the input buffer.
    Audio {
        /// The audio.
        audio: String,
    },
    /// Commit the buffer and ask for an answer (push-to-talk).
    CommitAudio,
    /// Cancel the answer in progress (barge-in).
    Cancel,
    /// Close the upstream session; the socket stays open.
    EndSession,
    /// Liveness check.
    Ping,
}

/// A client frame that cannot be used, as the `error` frame's sentence.
pub fn parse_client(text: &str) -> Result<ClientMsg, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| "frames must be JSON objects".to_owned())?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    serde_json::from_value(value).map_err(|_| match kind.as_str() {
        "" => "the frame has no \"type\"".to_owned(),
        "audio" => "audio frames need an \"audio\" string".to_owned(),
        other => format!("unknown frame type {other:?}"),
    })
}

/// Whether `audio` is base64 of whole PCM16 samples.
pub fn valid_pcm16_base64(audio: &str) -> bool {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(audio) {
        Ok(bytes) => !bytes.is_empty() && bytes.len() % 2 == 0,
        Err(_) => false,
    }
}

/// An `error` frame.
pub fn error_frame(code: &str, error: &str) -> Value {
    json!({"type": "error", "code": code, "error": error})
}

/// The waiter's instructions for a restaurant, its menu and a language.
pub fn instructions(
    restaurant: &Restaurant,
    name_override: Option<&str>,
    language: &str,
) -> String {
    let name = name_override
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&restaurant.name);
    let mut menu = String::new();
    for item in &restaurant.menu {
        menu.push_str(&format!(
            "- {} ({:.2}): {}\n",
            item.name, item.price, item.description
        ));
    }
    let language = match language {
        "en" => "English".to_owned(),
        other => format!("the language with code {other:?}"),
    };
    format!(
        "You are a friendly waiter at {name}. Be warm and concise (one or two sentences). \
         Help the guest explore the menu, answer questions about dishes, and when they order, \
         call add_to_cart with the exact menu name and the quantity. Only offer dishes on the menu.\n\
         Menu:\n{menu}Speak in {language}."
    )
}

/// The GA `session.update` for a waiter session.
pub fn session_update(instructions: &str, voice: &str, transcription_model: &str) -> Value {
    json!({
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": transcription_model},
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 500,
                        "create_response": true,
                        "interrupt_response": true
                    }
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": voice}
            },
            "tools": [{
                "type": "function",
                "name": "add_to_cart",
                "description": "Add a dish from the menu to the guest's cart.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "item_name": {"type": "string", "description": "Exact name of the menu item"},
                        "quantity": {"type": "integer", "minimum": 1, "description": "How many"}
                    },
                    "required": ["item_name"]
                }
            }],
            "tool_choice": "auto"
        }
    })
}

/// What the relay does in answer to an upstream event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a frame to the client.
    ToClient(Value),
    /// Send an event upstream.
    ToUpstream(Value),
    /// End the upstream session (after sending the frames before this action).
    End,
}

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

/// What a session remembers between upstream events.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// `session_started` was sent (once per upstream session, on `session.created` or
    /// `session.updated`, whichever comes first).
    pub started: bool,
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
            tool_round_trip(restaurant, event)
        }
        "response.done" => vec![Action::ToClient(json!({"type": "response_done"}))],
        "error" => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::catalog::Catalog;

    fn restaurant() -> Restaurant {
        Catalog::sample().restaurant("r-123").unwrap().clone()
    }

    #[test]
    fn client_frames_parse_as_in_the_seed() {
        assert_eq!(parse_client(r#"{"type":"ping"}"#), Ok(ClientMsg::Ping));
        assert_eq!(
            parse_client(r#"{"type":"start_session","restaurantName":"Sole"}"#),
            Ok(ClientMsg::StartSession {
                restaurant_name: Some("Sole".into())
            })
        );
        assert_eq!(
            parse_client(r#"{"type":"commit_audio"}"#),
            Ok(ClientMsg::CommitAudio)
        );
        assert!(
            parse_client(r#"{"type":"audio"}"#)
                .unwrap_err()
                .contains("audio")
        );
        assert!(
            parse_client(r#"{"type":"dance"}"#)
                .unwrap_err()
                .contains("dance")
        );
        assert!(parse_client("nope").is_err());
    }

    #[test]
    fn pcm16_base64_is_checked() {
        assert!(valid_pcm16_base64("AAAAAAAA"), "6 bytes: 3 samples");
        assert!(!valid_pcm16_base64("AAAA"), "3 bytes: half a sample");
        assert!(!valid_pcm16_base64("not base64!"));
        assert!(!valid_pcm16_base64(""));
    }

    #[test]
    fn session_update_is_the_ga_shape() {
        let s = session_update("be nice", "marin", "whisper-1");
        assert_eq!(s["session"]["type"], "realtime");
        assert_eq!(
            s["session"]["audio"]["input"]["format"],
            json!({"type": "audio/pcm", "rate": 24000})
        );
        assert_eq!(s["session"]["audio"]["output"]["voice"], "marin");
        assert_eq!(
            s["session"]["audio"]["input"]["turn_detection"]["type"],
            "server_vad"
        );
        assert_eq!(s["session"]["tools"][0]["name"], "add_to_cart");
        assert!(s["session"].get("modalities").is_none(), "no beta fields");
    }

    #[test]
    fn instructions_carry_the_menu_and_language() {
        let i = instructions(&restaurant(), None, "fr");
        assert!(
            i.contains("Trattoria Sole")
                && i.contains("Mushroom Risotto (16.50)")
                && i.contains("\"fr\"")
        );
        assert!(instructions(&restaurant(), Some("Chez Moi"), "en").contains("Chez Moi"));
    }

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
}
