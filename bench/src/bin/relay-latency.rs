//! Benchmark: the voice relay's added latency per audio chunk, from the mock Realtime
//! service handing a 100 ms `response.output_audio.delta` to its socket to the client
//! reading the `audio` frame.
//!
//! `cargo run --release -p streamgate-tests --bin relay-latency [CHUNKS]`

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a step that fails ends the run, saying where"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use futures::StreamExt;
use serde_json::json;
use streamgate_core::ApiKey;
use streamgate_core::memory::MemoryStore;
use streamgate_tests::local::{connect, next_json, send, start_voice};
use streamgate_tests::mock_realtime::MockRealtime;
use streamgate_voice_relay::{Catalog, RealtimeConfig};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let chunks: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let mock = MockRealtime::start("sk-bench").await;
    let mut config = RealtimeConfig::new(Catalog::sample(), ApiKey::new("sk-bench"));
    config.base_url = mock.url();
    let (server, _) = start_voice(config, Arc::new(MemoryStore::new())).await;
    let mut ws = connect(&format!("ws://{}/realtime?restaurantId=r-123", server.addr)).await;
    send(&mut ws, r#"{"type":"start_session"}"#).await;
    while next_json(&mut ws).await["type"] != "session_started" {}
    let pcm: Vec<u8> = (0..2400u32)
        .flat_map(|i| (((f64::from(i) * 0.05).sin() * 4000.0) as i16).to_le_bytes())
        .collect();
    let delta = base64::engine::general_purpose::STANDARD.encode(pcm);
    let mut samples = Vec::with_capacity(chunks);
    for _ in 0..chunks {
        let sent = Instant::now();
        mock.send(json!({"type": "response.output_audio.delta", "delta": delta}));
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains("\"audio\"") => break,
                Ok(Some(Ok(_))) => {}
                other => panic!("no audio frame: {other:?}"),
            }
        }
        samples.push(sent.elapsed());
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "voice relay, upstream audio chunk (100 ms, 6.4 KB base64) -> client frame over {chunks} chunks: p50 {:?}, p99 {:?} (mock and relay on loopback)",
        pct(0.5),
        pct(0.99)
    );
    server.stop().await;
}
