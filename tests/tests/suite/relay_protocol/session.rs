//! A voice session's life: the handshake and its record, the GA configuration, the ends.

use super::*;

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
