//! What flows in a session: audio and events both ways, tool calls, cancel and errors, a
//! stalled client, the GA shape the mock insists on.

use super::*;

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
