//! Parity points 17 and 18: the authorizer's context in later events, realistic and unique
//! connection ids.

use super::support::*;

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

pub(super) async fn p17_authorizer_context_reaches_later_events(host: Host) {
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

pub(super) async fn p18_connection_ids_are_realistic_and_unique(host: Host) {
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
