//! Client frames (the seed front end's protocol, unchanged) and what the relay does with
//! each: replies, upstream events, opening and ending the upstream session.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Action, SessionState, code, error_frame, instructions, session_update};
use crate::catalog::Restaurant;

/// A frame from the client.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Open and configure the upstream session.
    StartSession {
        /// The seed's front end sends the restaurant's name; it is read and never used (the
        /// instructions name the catalog's restaurant).
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

/// Why a client frame cannot be used; it prints as the `error` frame's sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadFrame {
    /// Not a JSON object.
    #[error("frames must be JSON objects")]
    NotJson,
    /// No `type` field.
    #[error("the frame has no \"type\"")]
    NoType,
    /// An `audio` frame without its `audio` string.
    #[error("audio frames need an \"audio\" string")]
    NoAudio,
    /// A `type` the relay does not know (or a known one with unusable fields).
    #[error("unknown frame type {0:?}")]
    UnknownType(String),
}

/// A client frame, or why it cannot be used.
pub fn parse_client(text: &str) -> Result<ClientMsg, BadFrame> {
    let value: Value = serde_json::from_str(text).map_err(|_| BadFrame::NotJson)?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    serde_json::from_value(value).map_err(|_| match kind.as_str() {
        "" => BadFrame::NoType,
        "audio" => BadFrame::NoAudio,
        _ => BadFrame::UnknownType(kind),
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

/// What a session's decisions about client frames depend on.
#[derive(Debug, Clone)]
pub struct SessionSetup {
    /// The restaurant chosen at the handshake.
    pub restaurant: Restaurant,
    /// The language tag chosen at the handshake.
    pub language: String,
    /// The waiter's voice.
    pub voice: String,
    /// The input transcription model.
    pub transcription_model: String,
    /// When the server has no key: the variable to set (named in the error frame).
    pub missing_key: Option<String>,
}

fn no_session() -> Action {
    Action::ToClient(error_frame(code::NO_SESSION, "send start_session first"))
}

/// What to do with one client frame.
pub fn on_client(state: &mut SessionState, setup: &SessionSetup, text: &str) -> Vec<Action> {
    let msg = match parse_client(text) {
        Ok(m) => m,
        Err(e) => {
            return vec![Action::ToClient(error_frame(
                code::BAD_REQUEST,
                &e.to_string(),
            ))];
        }
    };
    match msg {
        ClientMsg::Ping => vec![Action::ToClient(json!({"type": "pong"}))],
        ClientMsg::StartSession { restaurant_name: _ } => {
            if state.open {
                return vec![Action::ToClient(error_frame(
                    code::SESSION_ACTIVE,
                    "a session is already running; send end_session first",
                ))];
            }
            if let Some(var) = &setup.missing_key {
                return vec![Action::ToClient(error_frame(
                    code::MISSING_API_KEY,
                    &format!(
                        "the voice service needs an API key: set {var} and restart the server"
                    ),
                ))];
            }
            *state = SessionState {
                started: false,
                open: true,
            };
            let instructions = instructions(&setup.restaurant, &setup.language);
            vec![
                Action::OpenUpstream,
                Action::ToUpstream(session_update(
                    &instructions,
                    &setup.voice,
                    &setup.transcription_model,
                )),
            ]
        }
        ClientMsg::Audio { audio } => {
            if !valid_pcm16_base64(&audio) {
                vec![Action::ToClient(error_frame(
                    code::BAD_AUDIO,
                    "audio must be base64 PCM16 (whole 16-bit samples)",
                ))]
            } else if !state.open {
                vec![no_session()]
            } else {
                vec![Action::ToUpstream(
                    json!({"type": "input_audio_buffer.append", "audio": audio}),
                )]
            }
        }
        // Push-to-talk: the buffer becomes a turn, and the turn gets an answer.
        ClientMsg::CommitAudio if state.open => vec![
            Action::ToUpstream(json!({"type": "input_audio_buffer.commit"})),
            Action::ToUpstream(json!({"type": "response.create"})),
        ],
        ClientMsg::Cancel if state.open => {
            vec![Action::ToUpstream(json!({"type": "response.cancel"}))]
        }
        ClientMsg::CommitAudio | ClientMsg::Cancel => vec![no_session()],
        ClientMsg::EndSession if state.open => {
            state.upstream_gone();
            vec![Action::End]
        }
        ClientMsg::EndSession => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::restaurant;

    fn setup() -> SessionSetup {
        SessionSetup {
            restaurant: restaurant(),
            language: "en".into(),
            voice: "marin".into(),
            transcription_model: "whisper-1".into(),
            missing_key: None,
        }
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
        assert_eq!(
            parse_client(r#"{"type":"audio"}"#).map_err(|e| e.to_string()),
            Err(r#"audio frames need an "audio" string"#.to_owned())
        );
        assert_eq!(
            parse_client(r#"{"type":"dance"}"#).map_err(|e| e.to_string()),
            Err(r#"unknown frame type "dance""#.to_owned())
        );
        assert_eq!(
            parse_client(r#"{"kind":"ping"}"#).map_err(|e| e.to_string()),
            Err(r#"the frame has no "type""#.to_owned())
        );
        assert_eq!(parse_client("nope"), Err(BadFrame::NotJson));
    }

    #[test]
    fn pcm16_base64_is_checked() {
        assert!(valid_pcm16_base64("AAAAAAAA"), "6 bytes: 3 samples");
        assert!(!valid_pcm16_base64("AAAA"), "3 bytes: half a sample");
        assert!(!valid_pcm16_base64("not base64!"));
        assert!(!valid_pcm16_base64(""));
    }

    fn codes(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::ToClient(v) => format!(
                    "client:{}",
                    v["code"]
                        .as_str()
                        .unwrap_or(v["type"].as_str().unwrap_or(""))
                ),
                Action::ToUpstream(v) => format!("upstream:{}", v["type"].as_str().unwrap_or("")),
                Action::OpenUpstream => "open".into(),
                Action::End => "end".into(),
            })
            .collect()
    }

    #[test]
    fn a_session_opens_takes_audio_and_ends() {
        let mut state = SessionState::default();
        let s = setup();
        assert_eq!(
            codes(&on_client(
                &mut state,
                &s,
                r#"{"type":"audio","audio":"AAAA"}"#
            )),
            ["client:bad_audio"]
        );
        assert_eq!(
            codes(&on_client(
                &mut state,
                &s,
                r#"{"type":"audio","audio":"AAAAAAAA"}"#
            )),
            ["client:no_session"]
        );
        assert_eq!(
            codes(&on_client(&mut state, &s, r#"{"type":"commit_audio"}"#)),
            ["client:no_session"]
        );
        let start = on_client(&mut state, &s, r#"{"type":"start_session"}"#);
        assert_eq!(codes(&start), ["open", "upstream:session.update"]);
        assert!(state.open);
        assert_eq!(
            codes(&on_client(&mut state, &s, r#"{"type":"start_session"}"#)),
            ["client:session_active"]
        );
        assert_eq!(
            codes(&on_client(
                &mut state,
                &s,
                r#"{"type":"audio","audio":"AAAAAAAA"}"#
            )),
            ["upstream:input_audio_buffer.append"]
        );
        assert_eq!(
            codes(&on_client(&mut state, &s, r#"{"type":"commit_audio"}"#)),
            [
                "upstream:input_audio_buffer.commit",
                "upstream:response.create"
            ]
        );
        assert_eq!(
            codes(&on_client(&mut state, &s, r#"{"type":"cancel"}"#)),
            ["upstream:response.cancel"]
        );
        assert_eq!(
            codes(&on_client(&mut state, &s, r#"{"type":"end_session"}"#)),
            ["end"]
        );
        assert!(!state.open);
        assert!(on_client(&mut state, &s, r#"{"type":"end_session"}"#).is_empty());
        assert_eq!(
            codes(&on_client(&mut state, &s, r#"{"type":"ping"}"#)),
            ["client:pong"]
        );
        assert_eq!(
            codes(&on_client(&mut state, &s, "nope")),
            ["client:bad_request"]
        );
    }

    #[test]
    fn without_a_key_start_session_names_the_variable() {
        let mut state = SessionState::default();
        let s = SessionSetup {
            missing_key: Some("OPENAI_API_KEY".into()),
            ..setup()
        };
        let actions = on_client(&mut state, &s, r#"{"type":"start_session"}"#);
        assert!(
            matches!(&actions[..], [Action::ToClient(v)] if v["code"] == "missing_api_key" && v["error"].as_str().unwrap().contains("OPENAI_API_KEY"))
        );
        assert!(!state.open);
    }
}
