//! Parity points 12-14 and the socket's end: frame limits and close codes, idle and lifetime
//! closes, `$disconnect` exactly once, graceful shutdown, the root and stage URLs.

use super::support::*;

pub(super) async fn p12_binary_frames_close_1003_and_oversize_closes_1009(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;

    let mut ws = connect(&server.ws_url()).await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        closed(&mut ws).await.map(|f| f.code),
        Some(CloseCode::Unsupported)
    );

    let mut ws = connect(&server.ws_url()).await;
    send(&mut ws, &"x".repeat(32 * 1024 + 1)).await;
    assert_eq!(
        closed(&mut ws).await.map(|f| f.code),
        Some(CloseCode::Size),
        "a frame over 32 KB"
    );

    // A message over 128 KB in frames of 32 KB each.
    let mut ws = connect(&server.ws_url()).await;
    let piece = "y".repeat(32 * 1024);
    ws.send(Message::Frame(Frame::message(
        piece.clone(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    for _ in 0..3 {
        ws.send(Message::Frame(Frame::message(
            piece.clone(),
            OpCode::Data(Data::Continue),
            false,
        )))
        .await
        .unwrap();
    }
    let _ = ws
        .send(Message::Frame(Frame::message(
            "z",
            OpCode::Data(Data::Continue),
            true,
        )))
        .await;
    assert_eq!(
        closed(&mut ws).await.map(|f| f.code),
        Some(CloseCode::Size),
        "a message over 128 KB"
    );

    // Exactly 32 KB in one frame is fine.
    let mut ws = connect(&server.ws_url()).await;
    send(&mut ws, &"w".repeat(32 * 1024)).await;
    recorder.wait_for(Route::Default, 1).await;
    let mut codes: Vec<i64> = recorder
        .wait_for(Route::Disconnect, 3)
        .await
        .iter()
        .map(|e| {
            e["requestContext"]["disconnectStatusCode"]
                .as_i64()
                .unwrap()
        })
        .collect();
    codes.sort();
    assert_eq!(codes, vec![1003, 1009, 1009]);
    server.stop().await;
}

pub(super) async fn p13_idle_and_lifetime_closes(host: Host) {
    let recorder = Recorder::ok();
    let config = GatewayConfig {
        idle_timeout: Duration::from_millis(600),
        max_lifetime: Duration::from_secs(30),
        ..proxy_api()
    };
    let server = LocalServer::on(host, config, &recorder, None).await;
    let mut ws = connect(&server.ws_url()).await;
    let started = std::time::Instant::now();
    // Activity keeps it open past the idle timeout...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        send(&mut ws, "keep me").await;
    }
    // ...silence closes it.
    let frame = closed(&mut ws).await.unwrap();
    assert_eq!(frame.code, CloseCode::Away);
    assert!(
        started.elapsed() >= Duration::from_millis(1300),
        "{:?}",
        started.elapsed()
    );
    server.stop().await;

    let recorder = Recorder::ok();
    let config = GatewayConfig {
        idle_timeout: Duration::from_secs(30),
        max_lifetime: Duration::from_millis(400),
        ..proxy_api()
    };
    let server = LocalServer::on(host, config, &recorder, None).await;
    let mut ws = connect(&server.ws_url()).await;
    let started = std::time::Instant::now();
    let keep_alive = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if ws.send(Message::text("busy")).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), keep_alive).await;
    assert_eq!(closed(&mut ws).await.map(|f| f.code), Some(CloseCode::Away));
    assert!(started.elapsed() < Duration::from_secs(2));
    let e = recorder.wait_for(Route::Disconnect, 1).await.remove(0);
    assert_eq!(e["requestContext"]["disconnectStatusCode"], 1001);
    server.stop().await;
}

pub(super) async fn p14_disconnect_runs_exactly_once_with_code_and_reason(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let mut a = connect(&server.ws_url()).await;
    a.close(Some(CloseFrame {
        code: CloseCode::Library(4000),
        reason: "bye now".into(),
    }))
    .await
    .unwrap();
    let mut b = connect(&server.ws_url()).await;
    b.send(Message::Close(None)).await.unwrap();
    let c = connect(&server.ws_url()).await;
    drop(c); // dropped without a close frame
    let events = recorder.wait_for(Route::Disconnect, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events_after = recorder.events_of(Route::Disconnect);
    assert_eq!(events_after.len(), 3, "exactly once per connection");
    let mut seen: Vec<(Value, Value)> = events
        .iter()
        .map(|e| {
            (
                e["requestContext"]["disconnectStatusCode"].clone(),
                e["requestContext"]["disconnectReason"].clone(),
            )
        })
        .collect();
    seen.sort_by_key(|(c, _)| c.as_i64());
    assert_eq!(
        seen,
        vec![
            (json!(1005), json!("")),
            (json!(1006), json!("")),
            (json!(4000), json!("bye now"))
        ]
    );
    let ids: HashSet<String> = events.iter().map(connection_id).collect();
    assert_eq!(ids.len(), 3);
    assert!(server.gateway.registry().is_empty());
    server.stop().await;
}

pub(super) async fn graceful_shutdown_closes_with_1001_and_runs_disconnect_for_each(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(connect(&server.ws_url()).await);
    }
    recorder.wait_for(Route::Connect, 3).await;
    let gateway = server.gateway.clone();
    let stopping = tokio::spawn(server.stop());
    for ws in &mut sockets {
        assert_eq!(closed(ws).await.map(|f| f.code), Some(CloseCode::Away));
    }
    stopping.await.unwrap();
    let codes: Vec<Value> = recorder
        .events_of(Route::Disconnect)
        .iter()
        .map(|e| e["requestContext"]["disconnectStatusCode"].clone())
        .collect();
    assert_eq!(
        codes,
        vec![json!(1001); 3],
        "$disconnect ran for each before the server stopped"
    );
    assert!(gateway.registry().is_empty());
}

pub(super) async fn the_root_url_and_the_stage_url_both_serve_the_api(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let _a = connect(&format!("ws://{}", server.addr)).await;
    let _b = connect(&server.ws_url()).await;
    assert_eq!(
        handshake_status(&format!("ws://{}/otherstage", server.addr)).await,
        403
    );
    let page = http()
        .get(format!("http://{}/", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<title>streamgate"));
    let config: Value = http()
        .get(format!("http://{}/streamgate.json", server.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut actions: Vec<_> = config["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    actions.sort();
    let mut expected: Vec<_> = Route::actions().map(str::to_owned).collect();
    expected.sort();
    assert_eq!(actions, expected);
    server.stop().await;
}
