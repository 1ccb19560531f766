//! Parity points 8-11: route selection, `$default` and the Forbidden frame, crash and timeout
//! frames, one-way and two-way routes.

use super::support::*;

pub(super) async fn p8_route_selection_is_exact_with_stringified_values(host: Host) {
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

pub(super) async fn p9_non_json_goes_to_default_and_without_default_the_forbidden_frame(
    host: Host,
) {
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

pub(super) async fn p10_crash_and_timeout_frames_while_the_handler_keeps_posting(host: Host) {
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

pub(super) async fn p11_return_values_are_discarded_on_one_way_routes_and_sent_on_two_way(
    host: Host,
) {
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
