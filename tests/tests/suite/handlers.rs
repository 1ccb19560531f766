//! The real API Gateway events drive the handlers, in process.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use streamgate_contract::{ApiKind, ErrorCode, Function, Route, ServerFrame};
use streamgate_core::handlers;
use streamgate_core::{ChatApp, ChatSettings, ConnectionStore};
use streamgate_llm::EchoProvider;
use streamgate_tests::doubles::{BrokenStore, GuardedStore, PushBehaviour, RecordingPush};
use streamgate_tests::{fixture_event, fixture_json, message_event_with};

use crate::chat_app::chat_app;

/// An app keeping its connection records in `store` (pushes accepted and not looked at).
fn with_store(store: Arc<dyn ConnectionStore>) -> ChatApp {
    ChatApp {
        store,
        ..chat_app(RecordingPush::new(PushBehaviour::Accept))
    }
}

/// Every key and value of `expected` is in `actual` (which may have more keys, e.g. empty
/// maps a type always serializes). Header names compare without case, as HTTP says.
fn assert_contains(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let next = format!("{path}.{k}");
                let header_map = path.ends_with("eaders");
                let got = a
                    .get(k)
                    .or_else(|| header_map.then(|| a.get(&k.to_ascii_lowercase())).flatten())
                    .unwrap_or_else(|| panic!("{next} was lost"));
                assert_contains(v, got, &next);
            }
        }
        _ => assert_eq!(expected, actual, "{path} changed"),
    }
}

#[test]
fn real_events_deserialize_and_serialize_without_loss() {
    for name in ["connect", "message", "disconnect"] {
        let original = fixture_json(name);
        let event = fixture_event(name);
        let back = serde_json::to_value(&event).unwrap();
        assert_contains(&original, &back, name);
    }
    let connect = fixture_event("connect");
    assert_eq!(
        connect.request_context.route_key.as_deref(),
        Some(Route::Connect.key())
    );
    let disconnect = fixture_event("disconnect");
    assert_eq!(
        disconnect.request_context.disconnect_status_code,
        Some(1001)
    );
    let message = fixture_event("message");
    assert_eq!(
        message.request_context.message_id.as_deref(),
        Some("R1knPc2ntjMCFIA=")
    );
    assert_eq!(message.body.as_deref(), Some("{\r\n\t\"a\": 1\r\n}"));
}

#[tokio::test]
async fn connect_writes_the_record_from_the_real_event() {
    let store = Arc::new(GuardedStore::new(Function::Connect));
    let settings = ChatSettings {
        connection_ttl: Duration::from_secs(3 * 3600),
        ..ChatSettings::default()
    };
    let event = fixture_event("connect");
    let app = ChatApp {
        settings,
        ..with_store(store.clone())
    };
    let response = app.handle(Function::Connect, &event).await;
    assert_eq!(response.status_code, 200);
    let record = store
        .inner
        .get("asdfasdf=")
        .await
        .unwrap()
        .expect("the record");
    assert_eq!(record.connected_at_ms, 1645556857902);
    assert_eq!(
        record.ttl_epoch_seconds,
        1645556857 + 3 * 3600,
        "ttl is epoch seconds"
    );
    assert_eq!(
        record.domain_name,
        "asdfasdf.execute-api.us-west-2.amazonaws.com"
    );
    assert_eq!(record.stage, "dev");
    assert_eq!(record.source_ip.as_deref(), Some("10.0.0.13"));
    assert_eq!(record.user_agent, None, "the fixture has no user agent");
    assert_eq!(record.api, ApiKind::Chat);
}

#[tokio::test]
async fn connect_answers_500_when_the_store_fails() {
    let event = fixture_event("connect");
    let response = with_store(Arc::new(BrokenStore))
        .handle(Function::Connect, &event)
        .await;
    assert_eq!(response.status_code, 500);
}

#[tokio::test]
async fn disconnect_deletes_the_record() {
    let event = fixture_event("disconnect");
    let connect_store = Arc::new(GuardedStore::new(Function::Connect));
    let mut connect_event = fixture_event("connect");
    connect_event.request_context.connection_id = event.request_context.connection_id.clone();
    with_store(connect_store.clone())
        .handle(Function::Connect, &connect_event)
        .await;
    let store = Arc::new(GuardedStore::new(Function::Disconnect));
    let app = with_store(store.clone());
    let record = connect_store
        .inner
        .get("R1kmxc2VNjMCFIA=")
        .await
        .unwrap()
        .unwrap();
    store.inner.put(&record).await.unwrap();
    let response = app.handle(Function::Disconnect, &event).await;
    assert_eq!(response.status_code, 200);
    assert!(store.inner.is_empty());
    // Deleting again (API Gateway may retry) still succeeds.
    assert_eq!(
        app.handle(Function::Disconnect, &event).await.status_code,
        200
    );
}

#[tokio::test]
async fn default_answers_unknown_action_to_the_sender() {
    let push = RecordingPush::new(PushBehaviour::Accept);
    let store = Arc::new(GuardedStore::new(Function::Default));
    let event = fixture_event("message");
    let app = ChatApp {
        store,
        ..chat_app(push.clone())
    };
    let response = app.handle(Function::Default, &event).await;
    assert_eq!(response.status_code, 200);
    let posts = push.posts();
    assert_eq!(posts.len(), 1);
    let (target, _) = &posts[0];
    assert_eq!(target.connection_id, "R1kmxc2VNjMCFIA=");
    assert_eq!(
        target.domain_name,
        "dl7ptocha9.execute-api.ap-northeast-1.amazonaws.com"
    );
    assert_eq!(target.stage, "prod");
    match &push.frames()[0] {
        ServerFrame::Error(e) => {
            assert_eq!(e.code, ErrorCode::UnknownAction);
            assert_eq!(
                e.actions,
                Some(Route::actions().map(String::from).collect())
            );
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
}

#[tokio::test]
async fn default_deletes_the_record_of_a_gone_client() {
    let push = RecordingPush::new(PushBehaviour::GoneAfter(0));
    let store = Arc::new(GuardedStore::new(Function::Default));
    let event = fixture_event("message");
    let mut record =
        handlers::connection_record(&fixture_event("connect"), Duration::from_secs(60)).unwrap();
    record.connection_id = "R1kmxc2VNjMCFIA=".into();
    store.inner.put(&record).await.unwrap();
    let app = ChatApp {
        store: store.clone(),
        ..chat_app(push.clone())
    };
    app.handle(Function::Default, &event).await;
    assert!(
        store.inner.is_empty(),
        "the gone connection's record is deleted"
    );
}

#[tokio::test]
async fn message_validates_the_body_with_error_frames() {
    let cases = [
        (r#"{"a": 1}"#, ErrorCode::BadRequest, "data is required"),
        (r#"{"data":""}"#, ErrorCode::BadRequest, "must not be empty"),
        (
            r#"{"data":{"x":1}}"#,
            ErrorCode::BadRequest,
            "must be a string",
        ),
        ("not json", ErrorCode::BadRequest, "not a JSON object"),
    ];
    for (body, code, needle) in cases {
        let push = RecordingPush::new(PushBehaviour::Accept);
        let event = message_event_with(body);
        let app = ChatApp {
            store: Arc::new(GuardedStore::new(Function::Message)),
            ..chat_app(push.clone())
        };
        let response = app.handle(Function::Message, &event).await;
        assert_eq!(response.status_code, 200);
        let frames = push.frames();
        assert_eq!(frames.len(), 1, "{body}: exactly one frame");
        match &frames[0] {
            ServerFrame::Error(e) => {
                assert_eq!(e.code, code, "{body}");
                assert!(e.error.contains(needle), "{body}: {}", e.error);
                assert_eq!(
                    e.request_id.as_deref(),
                    Some("R1knPH17NjMFftw="),
                    "without a requestId the frame carries API Gateway's"
                );
            }
            other => panic!("{body}: expected an error frame, got {other:?}"),
        }
    }
    let push = RecordingPush::new(PushBehaviour::Accept);
    let event = message_event_with(format!(r#"{{"data":"{}"}}"#, "x".repeat(128 * 1024)));
    let app = ChatApp {
        store: Arc::new(GuardedStore::new(Function::Message)),
        ..chat_app(push.clone())
    };
    app.handle(Function::Message, &event).await;
    assert!(
        matches!(&push.frames()[0], ServerFrame::Error(e) if e.code == ErrorCode::PayloadTooLarge)
    );
}

#[tokio::test]
async fn message_streams_the_echo_answer() {
    let push = RecordingPush::new(PushBehaviour::Accept);
    let event = message_event_with(r#"{"data":"what is on the menu today","requestId":"c-17"}"#);
    let app = ChatApp {
        store: Arc::new(GuardedStore::new(Function::Message)),
        llm: Arc::new(EchoProvider::new(Duration::from_millis(1))),
        ..chat_app(push.clone())
    };
    app.handle(Function::Message, &event).await;
    assert_eq!(push.answer(), "what is on the menu today");
    let frames = push.frames();
    assert!(frames.iter().all(|f| match f {
        ServerFrame::Chunk { request_id, .. } | ServerFrame::Done { request_id, .. } =>
            request_id == "c-17",
        _ => false,
    }));
    assert!(
        matches!(frames.last(), Some(ServerFrame::Done { usage: Some(u), .. }) if u.output_tokens == 7),
        "25 bytes of answer, four to a token"
    );
}
