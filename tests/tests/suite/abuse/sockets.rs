//! The chat and voice sockets under abusive clients.

use super::*;

#[tokio::test]
async fn slow_or_silent_clients_are_cut_off_before_and_after_the_headers() {
    let server = LocalServer::with_recorder(recorder_config(), &Recorder::ok()).await;
    // Connects and sends nothing.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // Sends headers a byte at a time, slower than the timeout allows.
    let mut trickle = TcpStream::connect(server.addr).await.unwrap();
    let trickling = tokio::spawn(async move {
        for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .cycle()
            .take(40)
        {
            if trickle.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), trickle.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    });
    assert!(
        read_to_close(&mut silent, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection that sends nothing is closed"
    );
    assert!(
        trickling.await.unwrap(),
        "a connection trickling its headers is closed"
    );

    // A management post announcing more than it sends: 408 when the time is up.
    let mut slow_body = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    slow_body
        .write_all(
            format!(
                "POST /dev/@connections/AAAAAAAAAAAAAAA%3D HTTP/1.1\r\nHost: {}\r\n\
                 Authorization: AWS4-HMAC-SHA256 x\r\nContent-Length: 100\r\n\r\n0123456789",
                server.addr
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_to_close(&mut slow_body, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Announcing 10 MB is refused without waiting for it.
    let status = reqwest::Client::new()
        .post(format!(
            "{}/@connections/AAAAAAAAAAAAAAA%3D",
            server.management_url()
        ))
        .header("authorization", "AWS4-HMAC-SHA256 x")
        .header("content-length", (10 << 20).to_string())
        .body("0123456789")
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert!(
        matches!(status, Ok(413) | Err(_)),
        "413, or the connection closed under the unsent body: {status:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn over_the_connection_cap_a_new_client_gets_a_503_at_once() {
    let config = GatewayConfig {
        max_connections: 3,
        ..recorder_config()
    };
    let server = LocalServer::with_recorder(config, &Recorder::ok()).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&server.ws_url()).await);
    }
    let refused = tokio_tungstenite::connect_async(server.ws_url()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            assert_eq!(r.status().as_u16(), 503);
            let body =
                String::from_utf8_lossy(r.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("Service Unavailable"), "{body}");
        }
        other => panic!("expected a 503, got {other:?}"),
    }
    assert_eq!(server.gateway.open_sockets(), 3);
    // A socket that closes gives its place back.
    let mut first = held.remove(0);
    first.close(None).await.unwrap();
    while first.next().await.is_some() {}
    let deadline = Instant::now() + Duration::from_secs(5);
    let again = loop {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(server.ws_url()).await {
            break ws;
        }
        assert!(Instant::now() < deadline, "a place frees up within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(again);
    drop(held);
    server.stop().await;
}

#[tokio::test]
async fn pages_from_other_origins_cannot_open_either_socket() {
    let mock = MockRealtime::start("sk-origin").await;
    let (server, _) = voice_server(GatewayConfig::default(), voice_config(&mock), None).await;
    let chat = server.ws_url();
    let voice = format!("ws://{}/realtime?restaurantId=r-123", server.addr);
    for url in [&chat, &voice] {
        assert_eq!(
            handshake_with_origin(url, Some("https://evil.example")).await,
            403,
            "{url}"
        );
        assert_eq!(handshake_with_origin(url, Some("null")).await, 403, "{url}");
        assert_eq!(
            handshake_with_origin(url, Some("http://localhost:5173")).await,
            101
        );
        assert_eq!(
            handshake_with_origin(url, Some("http://127.0.0.1:3000")).await,
            101
        );
        assert_eq!(handshake_with_origin(url, None).await, 101, "not a browser");
    }
    server.stop().await;

    let config = GatewayConfig {
        allowed_origins: AllowedOrigins::with(&["https://waiter.example.com".into()]).unwrap(),
        ..GatewayConfig::default()
    };
    let (server, _) = voice_server(config, voice_config(&mock), None).await;
    let voice = format!("ws://{}/realtime?restaurantId=r-123", server.addr);
    assert_eq!(
        handshake_with_origin(&voice, Some("https://waiter.example.com")).await,
        101
    );
    assert_eq!(
        handshake_with_origin(&voice, Some("https://evil.example")).await,
        403
    );
    server.stop().await;
}

#[tokio::test]
async fn protocol_violations_close_with_rfc_6455_codes_and_disconnect_says_so() {
    let recorder = Recorder::ok();
    let server = LocalServer::with_recorder(recorder_config(), &recorder).await;
    let cases: [(&str, Vec<u8>, u16); 6] = [
        ("unmasked frame", client_frame(0x81, b"hi", false), 1002),
        ("reserved bits", client_frame(0xC1, b"hi", true), 1002),
        ("reserved opcode", client_frame(0x83, b"hi", true), 1002),
        (
            "ping over 125 bytes",
            client_frame(0x89, &[7u8; 200], true),
            1002,
        ),
        ("fragmented ping", client_frame(0x09, b"p", true), 1002),
        (
            "text that is not UTF-8",
            client_frame(0x81, &[0x68, 0xff, 0xfe], true),
            1007,
        ),
    ];
    for (what, bytes, expected) in &cases {
        let mut s = raw_socket(server.addr, "/dev").await;
        s.write_all(bytes).await.unwrap();
        let answer = read_to_close(&mut s, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{what}: the server closes the connection"));
        assert_eq!(close_code(&answer), Some(*expected), "{what}: {answer:?}");
    }
    let disconnects = recorder.wait_for(Route::Disconnect, cases.len()).await;
    let mut codes: Vec<i64> = disconnects
        .iter()
        .map(|e| {
            e["requestContext"]["disconnectStatusCode"]
                .as_i64()
                .unwrap()
        })
        .collect();
    codes.sort();
    assert_eq!(codes, vec![1002, 1002, 1002, 1002, 1002, 1007]);

    // HTTP/1.0 has no upgrade: a 400, not a 101 and a dead socket.
    let mut old = TcpStream::connect(server.addr).await.unwrap();
    old.write_all(
        b"GET /dev HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut old, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.0 400"),
        "{answer}"
    );
    server.stop().await;
}

#[tokio::test]
async fn pings_and_a_close_never_wait_behind_busy_integrations() {
    let recorder = Recorder::new(|route, _| match route {
        Route::Message => Behaviour::Sleep(Duration::from_millis(1500)),
        _ => Behaviour::Ok,
    });
    let config = GatewayConfig {
        max_in_flight_per_connection: 2,
        routes: recorder_config()
            .routes
            .into_iter()
            .map(|r| streamgate_emulator::api::ApiRoute {
                integration: streamgate_emulator::api::RouteIntegration::Proxy,
                ..r
            })
            .collect(),
        ..recorder_config()
    };
    let server = LocalServer::with_recorder(config, &recorder).await;
    let mut ws = connect(&server.ws_url()).await;
    // 2 run, 8 wait, 2 more are over the limit.
    for i in 0..12 {
        send(
            &mut ws,
            &json!({"action": Route::Message.key(), "data": format!("m{i}")}).to_string(),
        )
        .await;
    }
    ws.send(Message::Ping("are you there".into()))
        .await
        .unwrap();
    let mut throttled = 0;
    let mut pong = None;
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while pong.is_none() || throttled < 2 {
            match ws.next().await {
                Some(Ok(Message::Pong(p))) => pong = Some(p),
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    assert_eq!(v["message"], "Too Many Requests", "{v}");
                    throttled += 1;
                }
                other => panic!("{other:?}"),
            }
        }
    })
    .await;
    assert_eq!(
        pong.as_deref(),
        Some(&b"are you there"[..]),
        "the pong comes while every slot is busy"
    );
    assert_eq!(
        throttled, 2,
        "frames over the waiting limit are answered, not queued"
    );
    ws.close(None).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(Ok(m)) = ws.next().await {
            if matches!(m, Message::Close(_)) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(closed, Ok(true), "the close is answered at once");
    recorder.wait_for(Route::Disconnect, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_too_slow_to_read_never_loses_an_answer_silently() {
    const REQUESTS: usize = 300;
    // The real chat handlers (echo provider, no delay, answers as long as the 30 KB
    // messages: it stops at `max_tokens`, four bytes to a token) and the in-process push.
    let settings = streamgate_core::ChatSettings {
        max_tokens: 8192,
        ..streamgate_core::ChatSettings::default()
    };
    let server =
        LocalServer::chat_settings(GatewayConfig::default(), None, Duration::ZERO, settings).await;
    let url = server.ws_url();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .unwrap();
    // 300 answers of 30 KB (as in the finding): more than the client's buffer, the server's
    // socket and the 256-frame queue hold together.
    let words: String = (0..6_000).map(|i| format!("w{:04} ", i % 10_000)).collect();
    let words = &words[..30_000];
    for i in 0..REQUESTS {
        let m =
            json!({"action": Route::Message.key(), "data": words, "requestId": format!("r{i}")});
        ws.send(Message::text(m.to_string())).await.unwrap();
    }
    // Stop reading long enough for the retry budget and the terminal frame's tries to run out.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let mut ended = std::collections::BTreeMap::<String, String>::new();
    let mut closed_by_server = None;
    let read_all = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if matches!(v["type"].as_str(), Some("done" | "error")) {
                        let code = v["code"].as_str().unwrap_or("done").to_owned();
                        ended.insert(v["requestId"].as_str().unwrap().to_owned(), code);
                    }
                    if ended.len() == REQUESTS {
                        return;
                    }
                }
                Ok(Message::Close(c)) => {
                    closed_by_server =
                        Some(format!("close frame {:?}", c.map(|c| u16::from(c.code))));
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    // Closed under a client that had stopped reading (no room for a frame).
                    closed_by_server = Some(format!("connection closed: {e}"));
                    return;
                }
            }
        }
        closed_by_server = Some("connection closed".into());
    })
    .await;
    assert!(
        read_all.is_ok(),
        "the socket is not left open with answers unfinished"
    );
    let too_slow = ended.values().filter(|c| *c == "client_too_slow").count();
    assert!(
        closed_by_server.is_some() || too_slow > 0,
        "the client was too slow and was told: ended {ended:?}, close {closed_by_server:?}"
    );
    if closed_by_server.is_none() {
        assert_eq!(
            ended.len(),
            REQUESTS,
            "every request ended with done or error: {ended:?}"
        );
    }
    // Whatever happened, the server holds nothing for this client afterwards.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.gateway.registry().is_empty() && closed_by_server.is_some() {
        assert!(
            Instant::now() < deadline,
            "the closed connection is forgotten"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}
