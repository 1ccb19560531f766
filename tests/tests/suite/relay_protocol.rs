//! The voice relay against a mock Realtime service speaking the GA protocol.

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

#[tokio::test]
async fn handshake_needs_a_known_restaurant_and_writes_a_record() {
    let mock = MockRealtime::start(KEY).await;
    let store = Arc::new(MemoryStore::new());
    let (server, _) = start_voice(config(&mock), store.clone()).await;
    let status = |q: &'static str| {
        let url = format!("ws://{}/realtime{q}", server.addr);
        async move {
            match tokio_tungstenite::connect_async(url).await {
                Ok(_) => 101,
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert_eq!(status("").await, 400);
    assert_eq!(status("?language=en").await, 400);
    assert_eq!(status("?restaurantId=r-999").await, 404);
    assert!(store.is_empty(), "no record for a refused handshake");
    let mut ws = connect(&format!("ws://{}/realtime?restaurantId=r-456", server.addr)).await;
    send(&mut ws, r#"{"type":"ping"}"#).await;
    assert_eq!(next_json(&mut ws).await["type"], "pong");
    assert_eq!(store.len(), 1);
    ws.close(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        store.is_empty(),
        "the record is deleted when the client leaves"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_record_carries_the_restaurant_and_language() {
    let mock = MockRealtime::start(KEY).await;
    let store = Arc::new(MemoryStore::new());
    let (server, _) = start_voice(config(&mock), store.clone()).await;
    let mut ws = connect(&format!(
        "ws://{}/realtime?restaurantId=r-123&language=fr",
        server.addr
    ))
    .await;
    let mut ws_default =
        connect(&format!("ws://{}/realtime?restaurantId=r-456", server.addr)).await;
    for w in [&mut ws, &mut ws_default] {
        send(w, r#"{"type":"ping"}"#).await;
        next_json(w).await;
    }
    let mut records = store.all();
    records.sort_by(|a, b| a.restaurant_id.cmp(&b.restaurant_id));
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.api == ApiKind::Realtime && r.ttl_epoch_seconds > r.connected_at_ms / 1000)
    );
    assert_eq!(
        (
            records[0].restaurant_id.as_deref(),
            records[0].language.as_deref()
        ),
        (Some("r-123"), Some("fr"))
    );
    assert_eq!(
        records[1].language.as_deref(),
        Some("en"),
        "language defaults to en"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_key_start_session_names_the_variable() {
    let mock = MockRealtime::start(KEY).await;
    let mut c = config(&mock);
    c.api_key = None;
    let (server, _) = start_voice(c, Arc::new(MemoryStore::new())).await;
    let mut ws = connect(&format!("ws://{}/realtime?restaurantId=r-123", server.addr)).await;
    send(&mut ws, r#"{"type":"start_session"}"#).await;
    let e = next_json(&mut ws).await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "missing_api_key");
    assert!(e["error"].as_str().unwrap().contains("OPENAI_API_KEY"));
    assert_eq!(mock.connections(), 0);
    server.stop().await;
}

#[tokio::test]
async fn the_session_is_configured_with_the_ga_protocol() {
    let mock = MockRealtime::start(KEY).await;
    let (server, _ws, _) = started(&mock).await;
    assert_eq!(mock.problems(), Vec::<String>::new());
    let headers = &mock.headers()[0];
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "authorization" && v == &format!("Bearer {KEY}"))
    );
    assert!(
        !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("openai-beta")),
        "no beta header"
    );
    let update = &mock.received_of("session.update")[0];
    let instructions = update["session"]["instructions"].as_str().unwrap();
    assert!(instructions.contains("Trattoria Sole") && instructions.contains("Mushroom Risotto"));
    assert_eq!(update["session"]["audio"]["output"]["voice"], "marin");
    server.stop().await;
}

#[tokio::test]
async fn audio_is_relayed_both_ways_and_events_are_mapped() {
    let mock = MockRealtime::start(KEY).await;
    let (server, mut ws, _) = started(&mock).await;
    // Client → upstream: 5 chunks of 100 ms.
    for _ in 0..5 {
        send(
            &mut ws,
            &json!({"type": "audio", "audio": pcm(100)}).to_string(),
        )
        .await;
    }
    send(&mut ws, r#"{"type":"audio","audio":"AAAA"}"#).await; // half a sample
    let e = next_json(&mut ws).await;
    assert_eq!(e["code"], "bad_audio");
    send(&mut ws, r#"{"type":"commit_audio"}"#).await;
    mock.wait(WAIT, "commit and response.create", |m| {
        !m.received_of("response.create").is_empty()
    })
    .await;
    assert_eq!(
        mock.audio_bytes(),
        5 * 4800,
        "exactly the valid audio, decoded"
    );
    assert_eq!(mock.received_of("input_audio_buffer.commit").len(), 1);

    // Upstream → client, GA and beta names.
    mock.send(
        json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 10, "item_id": "i1"}),
    );
    mock.send(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "i1", "transcript": "What do you recommend?"}));
    mock.send(json!({"type": "response.output_audio.delta", "delta": pcm(50)}));
    mock.send(json!({"type": "response.audio.delta", "delta": pcm(50)}));
    mock.send(json!({"type": "response.output_audio_transcript.delta", "delta": "Try the "}));
    mock.send(
        json!({"type": "response.output_audio_transcript.done", "transcript": "Try the risotto."}),
    );
    mock.send(json!({"type": "rate_limits.updated", "rate_limits": []}));
    mock.send(json!({"type": "response.done", "response": {"status": "completed"}}));
    let frames = until(&mut ws, "response_done").await;
    let kinds: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "speech_started",
            "transcript",
            "audio",
            "audio",
            "transcript",
            "transcript",
            "response_done"
        ]
    );
    assert_eq!(
        frames[1],
        json!({"type": "transcript", "role": "user", "transcript": "What do you recommend?", "isFinal": true})
    );
    assert_eq!(frames[2]["audio"], pcm(50));
    assert_eq!(frames[4]["role"], "assistant");
    assert_eq!(frames[5]["isFinal"], true);
    server.stop().await;
}

#[tokio::test]
async fn large_audio_deltas_are_split_under_the_frame_limit() {
    let mock = MockRealtime::start(KEY).await;
    let (server, mut ws, _) = started(&mock).await;
    let big = pcm(2000); // 96,000 bytes, 128,000 base64 characters
    mock.send(json!({"type": "response.output_audio.delta", "delta": big}));
    mock.send(json!({"type": "response.done", "response": {"status": "completed"}}));
    let frames = until(&mut ws, "response_done").await;
    let audio: Vec<&Value> = frames.iter().filter(|f| f["type"] == "audio").collect();
    assert!(audio.len() >= 2);
    for f in &audio {
        assert!(f.to_string().len() < 128 * 1024);
    }
    let joined: String = audio.iter().map(|f| f["audio"].as_str().unwrap()).collect();
    assert_eq!(joined, big);
    server.stop().await;
}

#[tokio::test]
async fn tool_calls_round_trip_for_menu_items_only() {
    let mock = MockRealtime::start(KEY).await;
    let (server, mut ws, _) = started(&mock).await;
    mock.send(json!({"type": "response.function_call_arguments.done", "name": "add_to_cart", "call_id": "call_1", "arguments": "{\"item_name\":\"Tiramisu\",\"quantity\":2}"}));
    let frames = until(&mut ws, "add_to_cart").await;
    assert_eq!(
        frames.last().unwrap()["item"],
        json!({"name": "Tiramisu", "quantity": 2})
    );
    mock.wait(WAIT, "the function output", |m| {
        m.received_of("conversation.item.create").len() == 1
    })
    .await;
    let out = &mock.received_of("conversation.item.create")[0];
    assert_eq!(out["item"]["type"], "function_call_output");
    assert_eq!(out["item"]["call_id"], "call_1");
    assert_eq!(out["item"]["output"], r#"{"ok":true}"#);
    mock.wait(WAIT, "response.create after the output", |m| {
        !m.received_of("response.create").is_empty()
    })
    .await;

    mock.send(json!({"type": "response.function_call_arguments.done", "name": "add_to_cart", "call_id": "call_2", "arguments": "{\"item_name\":\"Cheeseburger\"}"}));
    mock.wait(WAIT, "the refusal", |m| {
        m.received_of("conversation.item.create").len() == 2
    })
    .await;
    let refusal = &mock.received_of("conversation.item.create")[1];
    assert_eq!(
        refusal["item"]["output"],
        r#"{"ok":false,"reason":"not on the menu"}"#
    );
    mock.wait(WAIT, "a new response", |m| {
        m.received_of("response.create").len() == 2
    })
    .await;
    // The client got no add_to_cart for it.
    send(&mut ws, r#"{"type":"ping"}"#).await;
    let frames = until(&mut ws, "pong").await;
    assert!(
        frames.iter().all(|f| f["type"] != "add_to_cart"),
        "{frames:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn cancel_is_forwarded_and_harmless_errors_keep_the_session() {
    let mock = MockRealtime::start(KEY).await;
    let (server, mut ws, _) = started(&mock).await;
    send(&mut ws, r#"{"type":"cancel"}"#).await;
    mock.wait(WAIT, "response.cancel", |m| {
        m.received_of("response.cancel").len() == 1
    })
    .await;
    mock.send(json!({"type": "error", "error": {"type": "invalid_request_error", "code": "response_cancel_not_active", "message": "no response"}}));
    send(
        &mut ws,
        &json!({"type": "audio", "audio": pcm(100)}).to_string(),
    )
    .await;
    mock.wait(WAIT, "audio after a harmless error", |m| {
        m.audio_bytes() == 4800
    })
    .await;
    send(&mut ws, r#"{"type":"ping"}"#).await;
    let frames = until(&mut ws, "pong").await;
    assert!(
        frames.iter().all(|f| f["type"] != "error"),
        "harmless errors are not shown: {frames:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn fatal_errors_end_the_session_with_a_clear_error() {
    let mock = MockRealtime::start(KEY).await;
    let (server, mut ws, _) = started(&mock).await;
    mock.send(json!({"type": "error", "error": {"type": "insufficient_quota", "code": "insufficient_quota", "message": "You exceeded your current quota."}}));
    let e = until(&mut ws, "error").await.pop().unwrap();
    assert_eq!(e["code"], "insufficient_quota");
    assert!(e["error"].as_str().unwrap().contains("ended"));
    mock.wait(WAIT, "the upstream closed", |m| m.closed_by_client() == 1)
        .await;
    // The client socket stays open; a new session may start.
    send(&mut ws, r#"{"type":"start_session"}"#).await;
    until(&mut ws, "session_started").await;
    assert_eq!(mock.connections(), 2);
    server.stop().await;
}

#[tokio::test]
async fn closes_propagate_both_ways() {
    let mock = MockRealtime::start(KEY).await;
    let (server, mut ws, _) = started(&mock).await;
    // Upstream closes: the client hears of it.
    mock.close(1011);
    let e = until(&mut ws, "error").await.pop().unwrap();
    assert_eq!(e["code"], "upstream_closed");
    // Client closes: the upstream closes within 1 s.
    send(&mut ws, r#"{"type":"start_session"}"#).await;
    until(&mut ws, "session_started").await;
    let before = mock.closed_by_client();
    ws.close(None).await.unwrap();
    mock.wait(
        Duration::from_secs(1),
        "the upstream closed within 1 s",
        |m| m.closed_by_client() > before,
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn end_session_closes_the_upstream_and_keeps_the_socket() {
    let mock = MockRealtime::start(KEY).await;
    let (server, mut ws, _) = started(&mock).await;
    send(&mut ws, r#"{"type":"end_session"}"#).await;
    mock.wait(WAIT, "the upstream closed", |m| m.closed_by_client() == 1)
        .await;
    send(&mut ws, r#"{"type":"ping"}"#).await;
    assert_eq!(until(&mut ws, "pong").await.last().unwrap()["type"], "pong");
    send(
        &mut ws,
        &json!({"type": "audio", "audio": pcm(100)}).to_string(),
    )
    .await;
    assert_eq!(
        until(&mut ws, "error").await.pop().unwrap()["code"],
        "no_session"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_client_drops_audio_instead_of_growing_memory() {
    let mock = MockRealtime::start(KEY).await;
    let store = Arc::new(MemoryStore::new());
    let mut c = config(&mock);
    c.frames_to_client = 16;
    c.events_from_upstream = 16;
    let (server, service) = start_voice(c, store).await;
    let mut ws = connect(&format!("ws://{}/realtime?restaurantId=r-123", server.addr)).await;
    send(&mut ws, r#"{"type":"start_session"}"#).await;
    until(&mut ws, "session_started").await;
    mock.wait(WAIT, "session.update", |m| {
        !m.received_of("session.update").is_empty()
    })
    .await;
    // The client stops reading; the upstream sends 60 MB of audio.
    let delta = pcm(1000);
    for _ in 0..1000 {
        mock.send(json!({"type": "response.output_audio.delta", "delta": delta}));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while service.dropped_audio() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no audio was dropped for the stalled client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The client reads again: the session still works.
    mock.send(json!({"type": "response.done", "response": {"status": "completed"}}));
    let mut got_done = false;
    let read_until = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < read_until {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains("response_done") => {
                got_done = true;
                break;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(got_done, "the session survives a stalled client");
    println!("dropped audio frames: {}", service.dropped_audio());
    server.stop().await;
}

#[tokio::test]
async fn the_mock_refuses_the_beta_shape_as_the_real_service_does() {
    let mock = MockRealtime::start(KEY).await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "{}?model=gpt-realtime",
            mock.url()
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {KEY}").parse().unwrap());
    request
        .headers_mut()
        .insert("OpenAI-Beta", "realtime=v1".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let first = match ws.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str::<Value>(t.as_str()).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(first["error"]["code"], "beta_api_shape_disabled");
    let frame = closed(&mut ws).await.unwrap();
    assert_eq!(u16::from(frame.code), 4000);
    let _ = ws.send(Message::Close(None)).await;
}
