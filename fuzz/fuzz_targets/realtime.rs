//! The voice relay's decisions: client frames (the seed's protocol) and upstream Realtime
//! events, in any order, through one session's state. Nothing may panic, and every frame for
//! the client must be a JSON object with a `type`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use streamgate_voice_relay::Catalog;
use streamgate_voice_relay::protocol::{
    Action, SessionSetup, SessionState, on_client, on_upstream, on_upstream_closed,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let catalog = Catalog::sample();
    let restaurant = catalog.restaurants[0].clone();
    let setup = SessionSetup {
        restaurant: restaurant.clone(),
        language: "en".into(),
        voice: "marin".into(),
        transcription_model: "whisper-1".into(),
        missing_key: None,
    };
    let mut state = SessionState::default();
    // Lines starting with `<` are upstream events, `!` closes the upstream, others are
    // client frames.
    for line in text.lines() {
        let actions = if let Some(event) = line.strip_prefix('<') {
            match serde_json::from_str::<Value>(event) {
                Ok(v) => on_upstream(&mut state, &restaurant, &v),
                Err(_) => continue,
            }
        } else if line.starts_with('!') {
            on_upstream_closed(&mut state)
        } else {
            on_client(&mut state, &setup, line)
        };
        for action in actions {
            if let Action::ToClient(frame) = action {
                assert!(
                    frame.get("type").and_then(Value::as_str).is_some(),
                    "{frame}"
                );
            }
        }
    }
});
