//! The voice relay against a mock Realtime service speaking the GA protocol. `session.rs`:
//! the handshake, the record, the session's configuration, its ends; `events.rs`: audio and
//! events both ways, tool calls, cancel and errors, a stalled client. Here: what both use.

mod events;
mod session;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use streamgate_contract::ApiKind;
use streamgate_core::ApiKey;
use streamgate_core::memory::MemoryStore;
use streamgate_tests::local::{Client, closed, connect, next_json, send, start_voice};
use streamgate_tests::mock_realtime::MockRealtime;
use streamgate_voice_relay::{Catalog, RealtimeConfig};
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "sk-realtime-test";
const WAIT: Duration = Duration::from_secs(3);

fn config(mock: &MockRealtime) -> RealtimeConfig {
    let mut c = RealtimeConfig::new(Catalog::sample(), ApiKey::new(mock.key()));
    c.base_url = mock.url();
    c
}

fn pcm(ms: usize) -> String {
    // A 440 Hz tone, PCM16 mono 24 kHz little-endian.
    let samples = 24 * ms;
    let bytes: Vec<u8> = (0..samples)
        .flat_map(|i| {
            (((i as f64 * 440.0 * std::f64::consts::TAU / 24_000.0).sin() * 8000.0) as i16)
                .to_le_bytes()
        })
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads frames until one of type `kind` (others are returned too, in order).
async fn until(ws: &mut Client, kind: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let f = next_json(ws).await;
        let done = f["type"] == kind;
        seen.push(f);
        if done {
            return seen;
        }
    }
}

async fn started(
    mock: &MockRealtime,
) -> (
    streamgate_tests::local::LocalServer,
    Client,
    Arc<MemoryStore>,
) {
    let store = Arc::new(MemoryStore::new());
    let (server, _) = start_voice(config(mock), store.clone()).await;
    let mut ws = connect(&format!(
        "ws://{}/realtime?restaurantId=r-123&language=en",
        server.addr
    ))
    .await;
    send(&mut ws, r#"{"type":"start_session"}"#).await;
    until(&mut ws, "session_started").await;
    mock.wait(WAIT, "session.update", |m| {
        !m.received_of("session.update").is_empty()
    })
    .await;
    (server, ws, store)
}
