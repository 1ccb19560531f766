//! The local server reproduces API Gateway's WebSocket behaviour: one test (at least) per
//! point of the parity list in `tests/PARITY.md` (1 to 18), named `pN_...`.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use serde_json::{Value, json};
use streamgate_contract::{Route, RouteKind};
use streamgate_emulator::api::{ApiRoute, RouteIntegration};
use streamgate_emulator::{AuthDecision, Authorizer, GatewayConfig};
use streamgate_tests::encode_id;
use streamgate_tests::local::{
    Behaviour, Client, Host, LocalServer, Recorder, closed, connect, next_json, next_text, send,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

/// The contract's routes, each a proxy integration: the parity points are about proxy
/// events (the asynchronous `message` integration has its own test at the end).
fn proxy_api() -> GatewayConfig {
    GatewayConfig {
        routes: Route::ALL
            .iter()
            .map(|r| ApiRoute {
                integration: RouteIntegration::Proxy,
                ..ApiRoute::contract(*r)
            })
            .collect(),
        ..GatewayConfig::default()
    }
}

fn action(key: &str, data: &str) -> String {
    json!({"action": key, "data": data}).to_string()
}

fn message_key() -> &'static str {
    Route::Message.key()
}

async fn handshake_status(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected handshake error {e}"),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A signed-looking management call (the server accepts any signature, as the SDK signs),
/// with the session token a template host hands its functions.
fn management(
    server: &LocalServer,
    method: reqwest::Method,
    url: String,
) -> reqwest::RequestBuilder {
    let call = http().request(method, url).header(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=local/x/us-east-1/execute-api/aws4_request",
    );
    match &server.gateway_config().aws_token {
        Some(token) => call.header("x-amz-security-token", token.expose()),
        None => call,
    }
}

/// The API's routes but the one of `kind`.
fn routes_without(kind: RouteKind) -> Vec<ApiRoute> {
    proxy_api()
        .routes
        .into_iter()
        .filter(|r| r.kind() != kind)
        .collect()
}

/// A header of an event's `headers` or `multiValueHeaders`, by name in any case (API
/// Gateway presents names as the client sent them).
fn header(event: &Value, map: &str, name: &str) -> Value {
    event[map]
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .map_or(Value::Null, |(_, v)| v.clone())
}

/// A connection id as it goes in a URL path.
fn connection_id(event: &Value) -> String {
    event["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn p1_connect_status_decides_the_upgrade(host: Host) {
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

async fn p2_works_without_a_connect_route(host: Host) {
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

async fn p3_subprotocol_from_connect_reaches_the_101(host: Host) {
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

async fn p4_connect_events_carry_headers_and_query_maps_only_with_a_query(host: Host) {
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

async fn p5_only_message_events_carry_message_id_and_body_and_no_headers(host: Host) {
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

#[tokio::test]
async fn p7_the_management_endpoint_works_with_the_unmodified_sdk() {
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

async fn p8_route_selection_is_exact_with_stringified_values(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let mut ws = connect(&server.ws_url()).await;
    send(&mut ws, &action(message_key(), "a")).await;
    send(&mut ws, &action(&message_key().to_uppercase(), "b")).await;
    send(&mut ws, r#"{"action": 7, "data": "c"}"#).await;
    send(&mut ws, r#"{"data": "d"}"#).await;
    recorder.wait_for(Route::Message, 1).await;
    let defaults = recorder.wait_for(Route::Default, 3).await;
    assert_eq!(recorder.events_of(Route::Message).len(), 1);
    for e in &defaults {
        assert_eq!(e["requestContext"]["routeKey"], Route::Default.key());
    }
    server.stop().await;
}

async fn p9_non_json_goes_to_default_and_without_default_the_forbidden_frame(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let mut ws = connect(&server.ws_url()).await;
    send(&mut ws, "plain text, not JSON").await;
    let e = recorder.wait_for(Route::Default, 1).await.remove(0);
    assert_eq!(e["body"], "plain text, not JSON");
    server.stop().await;

    let recorder = Recorder::ok();
    let config = GatewayConfig {
        routes: routes_without(RouteKind::Default),
        ..proxy_api()
    };
    let server = LocalServer::on(host, config, &recorder, None).await;
    let mut ws = connect(&server.ws_url()).await;
    let id = connection_id(&recorder.wait_for(Route::Connect, 1).await[0]);
    send(&mut ws, "not json").await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["message"], "Forbidden");
    assert_eq!(frame["connectionId"], id.as_str());
    assert!(frame["requestId"].is_string());
    send(&mut ws, &action(message_key(), "still connected")).await;
    recorder.wait_for(Route::Message, 1).await;
    server.stop().await;
}

async fn p10_crash_and_timeout_frames_while_the_handler_keeps_posting(host: Host) {
    let recorder = Recorder::new(|route, event| match (route, event.body.as_deref()) {
        (Route::Message, Some(b)) if b.contains("crash") => Behaviour::Crash,
        (Route::Message, Some(b)) if b.contains("panic") => Behaviour::Panic,
        (Route::Message, Some(b)) if b.contains("slow") => Behaviour::SleepThenPost(
            Duration::from_millis(2600),
            "posted after the timeout".into(),
        ),
        _ => Behaviour::Ok,
    });
    // Long enough for a crash to be reported through a process (a panic's backtrace is
    // printed first), short enough to wait for.
    let config = GatewayConfig {
        integration_timeout: Duration::from_millis(2000),
        ..proxy_api()
    };
    let server = LocalServer::on(host, config, &recorder, None).await;
    let mut ws = connect(&server.ws_url()).await;
    for word in ["crash", "panic"] {
        send(&mut ws, &action(message_key(), word)).await;
        let frame = next_json(&mut ws).await;
        assert_eq!(frame["message"], "Internal server error", "{word}");
        assert!(frame["connectionId"].is_string() && frame["requestId"].is_string());
    }
    send(&mut ws, &action(message_key(), "slow")).await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["message"], "Endpoint request timed out");
    let request_id = frame["requestId"].as_str().unwrap().to_owned();
    let slow_event = recorder
        .events_of(Route::Message)
        .into_iter()
        .last()
        .unwrap();
    assert_eq!(
        slow_event["requestContext"]["requestId"],
        request_id.as_str()
    );
    assert_eq!(next_text(&mut ws).await, "posted after the timeout");
    server.stop().await;
}

async fn p11_return_values_are_discarded_on_one_way_routes_and_sent_on_two_way(host: Host) {
    let recorder = Recorder::new(|route, _| match route {
        Route::Message | Route::Default => Behaviour::Body("the integration's answer".into()),
        _ => Behaviour::Ok,
    });
    let mut config = proxy_api();
    for r in &mut config.routes {
        r.two_way = r.key == Route::Default.key();
    }
    let server = LocalServer::on(host, config, &recorder, None).await;
    let mut ws = connect(&server.ws_url()).await;
    send(&mut ws, &action(message_key(), "one way")).await;
    recorder.wait_for(Route::Message, 1).await;
    send(&mut ws, "two way").await;
    assert_eq!(
        next_text(&mut ws).await,
        "the integration's answer",
        "only the two-way route's body arrives"
    );
    server.stop().await;
}

async fn p12_binary_frames_close_1003_and_oversize_closes_1009(host: Host) {
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

async fn p13_idle_and_lifetime_closes(host: Host) {
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

async fn p14_disconnect_runs_exactly_once_with_code_and_reason(host: Host) {
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

async fn p15_post_get_delete_on_connections(host: Host) {
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

async fn p16_management_errors_are_typed(host: Host) {
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

struct TestAuthorizer;

#[async_trait::async_trait]
impl Authorizer for TestAuthorizer {
    async fn authorize(&self, event: &Value) -> AuthDecision {
        match event["queryStringParameters"]["token"].as_str() {
            Some("good") => AuthDecision::Allow {
                principal_id: "user-7".into(),
                context: serde_json::from_value(json!({"plan": "pro"})).unwrap(),
            },
            Some(_) => AuthDecision::Deny,
            None => AuthDecision::Unauthorized,
        }
    }
}

async fn p17_authorizer_context_reaches_later_events(host: Host) {
    let recorder = Recorder::ok();
    let server =
        LocalServer::on(host, proxy_api(), &recorder, Some(Arc::new(TestAuthorizer))).await;
    assert_eq!(handshake_status(&server.ws_url()).await, 401);
    assert_eq!(
        handshake_status(&format!("{}?token=bad", server.ws_url())).await,
        403
    );
    assert!(
        recorder.events_of(Route::Connect).is_empty(),
        "$connect does not run when the authorizer refuses"
    );
    let mut ws = connect(&format!("{}?token=good", server.ws_url())).await;
    send(&mut ws, &action(message_key(), "hi")).await;
    let connect_event = recorder.wait_for(Route::Connect, 1).await.remove(0);
    let message_event = recorder.wait_for(Route::Message, 1).await.remove(0);
    ws.close(None).await.unwrap();
    let disconnect_event = recorder.wait_for(Route::Disconnect, 1).await.remove(0);
    for e in [connect_event, message_event, disconnect_event] {
        assert_eq!(e["requestContext"]["authorizer"]["principalId"], "user-7");
        assert_eq!(e["requestContext"]["authorizer"]["plan"], "pro");
    }
    server.stop().await;
}

async fn p18_connection_ids_are_realistic_and_unique(host: Host) {
    let recorder = Recorder::ok();
    let server = LocalServer::on(host, proxy_api(), &recorder, None).await;
    let mut sockets = Vec::new();
    for _ in 0..40 {
        sockets.push(connect(&server.ws_url()).await);
    }
    let ids: HashSet<String> = recorder
        .wait_for(Route::Connect, 40)
        .await
        .iter()
        .map(connection_id)
        .collect();
    assert_eq!(ids.len(), 40);
    for id in &ids {
        assert_eq!(id.len(), 16, "{id}");
        assert!(
            id.ends_with('=')
                && id[..15]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
            "{id}"
        );
    }
    server.stop().await;
}

async fn graceful_shutdown_closes_with_1001_and_runs_disconnect_for_each(host: Host) {
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

async fn the_root_url_and_the_stage_url_both_serve_the_api(host: Host) {
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
    assert_eq!(
        config["actions"],
        json!(Route::actions().collect::<Vec<_>>())
    );
    server.stop().await;
}

/// Every frame of one answer: chunks joined, whether `done` came, and API Gateway's own
/// frames (`{"message": ...}`).
async fn answer(ws: &mut Client, within: Duration) -> (String, bool, Vec<String>) {
    let mut text = String::new();
    let mut gateway = Vec::new();
    let done = tokio::time::timeout(within, async {
        loop {
            let frame = next_json(ws).await;
            match frame["type"].as_str() {
                Some("chunk") => text.push_str(frame["content"].as_str().unwrap_or("")),
                Some("done") => return true,
                Some(_) => return false,
                None => gateway.push(frame["message"].as_str().unwrap_or("").to_owned()),
            }
        }
    })
    .await
    .unwrap_or(false);
    (text, done, gateway)
}

#[tokio::test]
async fn a_40_second_answer_streams_whole_on_the_asynchronous_message_route() {
    // The echo provider answers one word a second: 40 words take 40 s, past API Gateway's
    // 29-second integration timeout.
    let words: Vec<String> = (1..=40).map(|i| format!("w{i}")).collect();
    let question =
        json!({"action": message_key(), "data": words.join(" "), "requestId": "long"}).to_string();
    let asynchronous = LocalServer::chat(None, Duration::from_secs(1)).await;
    assert!(
        asynchronous
            .gateway_config()
            .routes
            .iter()
            .any(|r| r.key == message_key() && r.is_asynchronous()),
        "the contract's message route is asynchronous"
    );
    let synchronous = LocalServer::chat_with(proxy_api(), None, Duration::from_secs(1)).await;
    let run = |url: String| {
        let question = question.clone();
        async move {
            let mut ws = connect(&url).await;
            send(&mut ws, &question).await;
            answer(&mut ws, Duration::from_secs(60)).await
        }
    };
    let (a, s) = tokio::join!(run(asynchronous.ws_url()), run(synchronous.ws_url()));
    assert_eq!(a.0, words.join(" "), "the whole answer, in order");
    assert!(a.1, "one done frame");
    assert!(a.2.is_empty(), "no API Gateway frame: {:?}", a.2);
    // On a synchronous route API Gateway stops waiting at 29 s (the function streams on).
    assert_eq!(s.2, ["Endpoint request timed out"]);
    assert_eq!(s.0, words.join(" "));
    asynchronous.stop().await;
    synchronous.stop().await;
}

/// Each parity test on both hosts: the handlers in this process, and real function
/// processes under the Lambda Runtime API, served from a template.
macro_rules! on_both_hosts {
    ($($name:ident),+ $(,)?) => {
        mod in_process {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Host::InProcess).await
            })+
        }
        mod runtime_api {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Host::RuntimeApi).await
            })+
        }
    };
}

on_both_hosts!(
    p1_connect_status_decides_the_upgrade,
    p2_works_without_a_connect_route,
    p3_subprotocol_from_connect_reaches_the_101,
    p4_connect_events_carry_headers_and_query_maps_only_with_a_query,
    p5_only_message_events_carry_message_id_and_body_and_no_headers,
    p8_route_selection_is_exact_with_stringified_values,
    p9_non_json_goes_to_default_and_without_default_the_forbidden_frame,
    p10_crash_and_timeout_frames_while_the_handler_keeps_posting,
    p11_return_values_are_discarded_on_one_way_routes_and_sent_on_two_way,
    p12_binary_frames_close_1003_and_oversize_closes_1009,
    p13_idle_and_lifetime_closes,
    p14_disconnect_runs_exactly_once_with_code_and_reason,
    p15_post_get_delete_on_connections,
    p16_management_errors_are_typed,
    p17_authorizer_context_reaches_later_events,
    p18_connection_ids_are_realistic_and_unique,
    graceful_shutdown_closes_with_1001_and_runs_disconnect_for_each,
    the_root_url_and_the_stage_url_both_serve_the_api,
);
