//! Parity points 7, 15 and 16: the `@connections` management API (the unmodified SDK,
//! POST/GET/DELETE, typed errors).

use super::support::*;

#[tokio::test]
pub(super) async fn p7_the_management_endpoint_works_with_the_unmodified_sdk() {
    use streamgate_aws::{ApiGatewayPush, EndpointMode};
    // The message handler posts through the AWS SDK to `http://{domainName}/{stage}`.
    let sdk_push = ApiGatewayPush::new(
        streamgate_tests::local_sdk_config(),
        EndpointMode::FromEvent { scheme: "http" },
    );
    let server = LocalServer::chat(Some(Arc::new(sdk_push)), Duration::from_millis(1)).await;
    let mut ws = connect(&server.ws_url()).await;
    send(
        &mut ws,
        &json!({"action": message_key(), "data": "through the real SDK", "requestId": "sdk-1"})
            .to_string(),
    )
    .await;
    let mut answer = String::new();
    loop {
        let frame = next_json(&mut ws).await;
        match frame["type"].as_str() {
            Some("chunk") => answer.push_str(frame["content"].as_str().unwrap()),
            Some("done") => break,
            _ => panic!("unexpected frame {frame}"),
        }
    }
    assert_eq!(answer, "through the real SDK");
    server.stop().await;
}

pub(super) async fn p15_post_get_delete_on_connections(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("User-Agent", "tester/2".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let id = connection_id(&recorder.wait_for(Route::Connect, 1).await[0]);
    let url = format!(
        "{}/@connections/{}",
        server.management_url(),
        encode_id(&id)
    );

    let r = management(&server, reqwest::Method::POST, url.clone())
        .body("hello from the API")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 0);
    assert_eq!(next_text(&mut ws).await, "hello from the API");

    let r = management(&server, reqwest::Method::GET, url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(d["identity"]["userAgent"], "tester/2");
    for field in ["connectedAt", "lastActiveAt"] {
        let t = d[field].as_str().unwrap();
        assert!(
            t.len() == 24 && t.ends_with('Z') && &t[10..11] == "T",
            "{field}: {t}"
        );
    }

    let r = management(&server, reqwest::Method::DELETE, url.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        closed(&mut ws).await.map(|f| f.code),
        Some(CloseCode::Normal)
    );
    let e = recorder.wait_for(Route::Disconnect, 1).await.remove(0);
    assert_eq!(connection_id(&e), id);
    server.stop().await;
}

pub(super) async fn p16_management_errors_are_typed(host: Host) {
    let recorder = Recorder::new(|route, _| match route {
        Route::Connect => Behaviour::Sleep(Duration::from_millis(500)),
        _ => Behaviour::Ok,
    });
    let config = GatewayConfig {
        management_rate_limit: Some(5),
        ..proxy_api()
    };
    let server = LocalServer::on(host, config, &recorder, None).await;
    let base = format!("{}/@connections", server.management_url());
    let expect = |status: u16, kind: &'static str| {
        move |r: reqwest::Response| {
            assert_eq!(r.status().as_u16(), status, "{kind}");
            assert_eq!(r.headers()["x-amzn-errortype"], kind);
        }
    };

    // Still connecting: 410.
    let url = server.ws_url();
    let pending = tokio::spawn(async move { connect(&url).await });
    let id = encode_id(&connection_id(
        &recorder.wait_for(Route::Connect, 1).await[0],
    ));
    expect(410, "GoneException")(
        management(&server, reqwest::Method::POST, format!("{base}/{id}"))
            .body("x")
            .send()
            .await
            .unwrap(),
    );
    let mut ws = pending.await.unwrap();
    // Unknown: 410; malformed: 400; unsigned: 403; oversize: 413.
    expect(410, "GoneException")(
        management(
            &server,
            reqwest::Method::POST,
            format!("{base}/bm9wZW5vcGVub3Q%3D"),
        )
        .body("x")
        .send()
        .await
        .unwrap(),
    );
    expect(410, "GoneException")(
        management(
            &server,
            reqwest::Method::GET,
            format!("{base}/bm9wZW5vcGVub3Q%3D"),
        )
        .send()
        .await
        .unwrap(),
    );
    expect(400, "BadRequestException")(
        management(
            &server,
            reqwest::Method::POST,
            format!("{base}/not%20an%20id"),
        )
        .body("x")
        .send()
        .await
        .unwrap(),
    );
    expect(403, "ForbiddenException")(
        http()
            .post(format!("{base}/{id}"))
            .body("x")
            .send()
            .await
            .unwrap(),
    );
    expect(413, "PayloadTooLargeException")(
        management(&server, reqwest::Method::POST, format!("{base}/{id}"))
            .body("x".repeat(128 * 1024 + 1))
            .send()
            .await
            .unwrap(),
    );
    // Over the configured rate: 429.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            management(&server, reqwest::Method::POST, format!("{base}/{id}"))
                .body("x")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert!(
        statuses.contains(&200) && statuses.contains(&429),
        "{statuses:?}"
    );
    let r = management(&server, reqwest::Method::POST, format!("{base}/{id}"))
        .body("x")
        .send()
        .await
        .unwrap();
    if r.status() == 429 {
        assert_eq!(r.headers()["x-amzn-errortype"], "LimitExceededException");
    }
    // Closed: 410.
    ws.close(None).await.unwrap();
    recorder.wait_for(Route::Disconnect, 1).await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // refill the bucket
    expect(410, "GoneException")(
        management(&server, reqwest::Method::POST, format!("{base}/{id}"))
            .body("x")
            .send()
            .await
            .unwrap(),
    );
    server.stop().await;
}
