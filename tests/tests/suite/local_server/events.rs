//! Parity points 1-6: the handshake and the events API Gateway builds (`$connect` status,
//! subprotocol, headers and query maps, message events, the real events' key sets).

use super::support::*;

pub(super) async fn p1_connect_status_decides_the_upgrade(host: Host) {
    for (behaviour, expected) in [
        (Behaviour::Ok, 101),
        (Behaviour::Status(204), 101),
        (Behaviour::Status(403), 403),
        (Behaviour::Status(401), 401),
        (Behaviour::Status(500), 500),
        (Behaviour::Crash, 502),
        (Behaviour::Panic, 502),
    ] {
        let b = behaviour.clone();
        let recorder = Recorder::new(move |route, _| {
            if route == Route::Connect {
                b.clone()
            } else {
                Behaviour::Ok
            }
        });
        let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
        assert_eq!(
            handshake_status(&server.ws_url()).await,
            expected,
            "{behaviour:?}"
        );
        if expected != 101 {
            assert!(
                server.gateway.registry().is_empty(),
                "a refused connection leaves nothing behind"
            );
            assert!(
                recorder.events_of(Route::Disconnect).is_empty(),
                "no $disconnect for a refused connection"
            );
        }
        server.stop().await;
    }
}

pub(super) async fn p2_works_without_a_connect_route(host: Host) {
    let recorder = Recorder::ok();
    let config = GatewayConfig {
        routes: routes_without(RouteKind::Connect),
        ..proxy_api()
    };
    let server = LocalServer::on(host, config, &recorder, None).await;
    let mut ws = connect(&server.ws_url()).await;
    send(&mut ws, &action(message_key(), "hi")).await;
    recorder.wait_for(Route::Message, 1).await;
    assert!(recorder.events_of(Route::Connect).is_empty());
    server.stop().await;
}

pub(super) async fn p3_subprotocol_from_connect_reaches_the_101(host: Host) {
    let recorder = Recorder::new(|route, _| match route {
        Route::Connect => Behaviour::Header("Sec-WebSocket-Protocol", "chat.v1".into()),
        _ => Behaviour::Ok,
    });
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let mut request = server.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "chat.v1, chat.v0".parse().unwrap(),
    );
    let (_ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");
    let connect_event = &recorder.events_of(Route::Connect)[0];
    assert_eq!(
        header(connect_event, "headers", "sec-websocket-protocol"),
        json!("chat.v1, chat.v0")
    );
    server.stop().await;
}

pub(super) async fn p4_connect_events_carry_headers_and_query_maps_only_with_a_query(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let mut request = format!("{}?token=abc&tag=a&tag=b%20c", server.ws_url())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("X-Custom", "one".parse().unwrap());
    request
        .headers_mut()
        .append("X-Custom", "two".parse().unwrap());
    request
        .headers_mut()
        .insert("User-Agent", "streamgate-tests/1".parse().unwrap());
    let _with_query = tokio_tungstenite::connect_async(request).await.unwrap();
    let _without = connect(&server.ws_url()).await;
    let events = recorder.wait_for(Route::Connect, 2).await;
    let with = &events[0];
    let typed: streamgate_core::event::WsEvent = serde_json::from_value(with.clone()).unwrap();
    assert_eq!(typed.query_string_parameters.first("token"), Some("abc"));
    assert_eq!(
        typed.multi_value_query_string_parameters.all("tag"),
        Some(vec!["a", "b c"])
    );
    assert_eq!(
        header(with, "multiValueHeaders", "x-custom"),
        json!(["one", "two"])
    );
    assert_eq!(
        header(with, "headers", "user-agent"),
        json!("streamgate-tests/1")
    );
    assert!(header(with, "headers", "sec-websocket-key").is_string());
    assert_eq!(
        with["requestContext"]["identity"]["userAgent"],
        "streamgate-tests/1"
    );
    assert_eq!(with["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
    assert!(
        with.get("body").is_none_or(Value::is_null),
        "CONNECT has no body"
    );
    // Without a query the maps are absent (p6 checks the JSON); the typed event holds none.
    let without: streamgate_core::event::WsEvent =
        serde_json::from_value(events[1].clone()).unwrap();
    assert!(without.query_string_parameters.is_empty());
    server.stop().await;
}

pub(super) async fn p5_only_message_events_carry_message_id_and_body_and_no_headers(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let mut ws = connect(&server.ws_url()).await;
    let frame = action(message_key(), "hello");
    send(&mut ws, &frame).await;
    let message = recorder.wait_for(Route::Message, 1).await.remove(0);
    assert_eq!(message["body"], frame.as_str());
    assert_eq!(message["isBase64Encoded"], false);
    assert!(message["requestContext"]["messageId"].is_string());
    assert_eq!(message["requestContext"]["eventType"], "MESSAGE");
    assert!(
        message.get("headers").is_none() && message.get("multiValueHeaders").is_none(),
        "no headers on MESSAGE"
    );
    ws.close(None).await.unwrap();
    let disconnect = recorder.wait_for(Route::Disconnect, 1).await.remove(0);
    let connect_event = recorder.events_of(Route::Connect).remove(0);
    for e in [&connect_event, &disconnect] {
        assert!(
            e["requestContext"]["messageId"].is_null(),
            "{}",
            e["requestContext"]["eventType"]
        );
    }
    server.stop().await;
}

/// The JSON the server builds has, per kind, the key set of the real events (`identity`
/// may omit `userAgent` and API-key fields, as API Gateway does), and deserializes.
#[test]
fn p6_event_key_sets_match_the_real_events() {
    use streamgate_emulator::events::{self, ConnectionInfo};
    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }
    let info = ConnectionInfo {
        connection_id: "R1kmxc2VNjMCFIA=".into(),
        connected_at: 1_705_751_697_419,
        api_id: "abcdefghij".into(),
        stage: "dev".into(),
        domain_name: "localhost:3000".into(),
        source_ip: "127.0.0.1".into(),
        user_agent: Some("ua".into()),
        authorizer: None,
    };
    let headers = vec![("Host".to_owned(), "localhost:3000".to_owned())];
    let built = [
        (
            "connect",
            events::connect(
                &info,
                Route::Connect.key(),
                &headers,
                None,
                1_705_751_697_419,
            ),
        ),
        (
            "message",
            events::message(&info, Route::Default.key(), "{}", 1_705_751_700_453).event,
        ),
        (
            "disconnect",
            events::disconnect(&info, Route::Disconnect.key(), 1001, "", 1_705_751_708_326),
        ),
    ];
    for (name, ours) in built {
        let real = streamgate_tests::fixture_json(name);
        assert_eq!(keys(&ours), keys(&real), "{name}: top-level keys");
        let (ours_ctx, real_ctx) = (&ours["requestContext"], &real["requestContext"]);
        assert_eq!(
            keys(ours_ctx),
            keys(real_ctx),
            "{name}: requestContext keys"
        );
        for k in keys(real_ctx) {
            let (a, b) = (&ours_ctx[&k], &real_ctx[&k]);
            let same_type = std::mem::discriminant(a) == std::mem::discriminant(b)
                && (a.is_number() == b.is_number());
            assert!(
                same_type,
                "{name}: requestContext.{k} is {a} here, {b} in the real event"
            );
        }
        let identity_keys = keys(&ours_ctx["identity"]);
        assert!(identity_keys.contains("sourceIp"));
        assert!(
            identity_keys.is_subset(
                &["sourceIp", "userAgent", "apiKey", "apiKeyId"]
                    .map(String::from)
                    .into()
            )
        );
        if name == "disconnect" {
            assert_eq!(
                keys(&ours["headers"]),
                keys(&real["headers"]),
                "the fixed dummy header set"
            );
        }
        let typed = events::typed(ours);
        assert!(
            typed.request_context.connected_at > 0 && typed.request_context.request_time_epoch > 0
        );
    }
    // The CLF request time matches API Gateway's format.
    let m = events::message(&info, Route::Default.key(), "{}", 1_705_751_700_453).event;
    assert_eq!(
        m["requestContext"]["requestTime"],
        "20/Jan/2024:11:55:00 +0000"
    );
}
