//! The DynamoDB store against AWS's DynamoDB Local (started by the test, on a free port).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use streamgate_aws::DynamoStore;
use streamgate_contract::record::attr;
use streamgate_contract::{ApiKind, ConnectionRecord, Function};
use streamgate_core::{ChatApp, ChatSettings, ConnectionStore, StoreError};
use streamgate_tests::doubles::{PushBehaviour, RecordingPush};
use streamgate_tests::dynamodb_local::{DynamoDbLocal, create_connections_table};
use streamgate_tests::fixture_event;

use crate::chat_app::chat_app;

fn record(id: &str) -> ConnectionRecord {
    ConnectionRecord {
        connection_id: id.into(),
        connected_at_ms: 1_705_751_697_419,
        ttl_epoch_seconds: 1_705_751_697 + 3 * 3600,
        domain_name: "dl7ptocha9.execute-api.ap-northeast-1.amazonaws.com".into(),
        stage: "prod".into(),
        source_ip: Some("49.105.91.154".into()),
        user_agent: Some("Mozilla/5.0".into()),
        api: ApiKind::Chat,
        restaurant_id: None,
        language: None,
        user_id: Some("user-1".into()),
    }
}

#[tokio::test]
async fn records_round_trip_with_the_right_attribute_types() {
    let db = DynamoDbLocal::start().await;
    let client = db.client();
    create_connections_table(&client, "connections").await;
    let store = DynamoStore::new(client.clone(), "connections");

    let r = record("R1kmxc2VNjMCFIA=");
    store.put(&r).await.unwrap();
    assert_eq!(store.get(&r.connection_id).await.unwrap(), Some(r.clone()));

    let raw: HashMap<String, AttributeValue> = client
        .get_item()
        .table_name("connections")
        .key(
            attr::CONNECTION_ID,
            AttributeValue::S(r.connection_id.clone()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        raw[attr::TTL],
        AttributeValue::N("1705762497".into()),
        "ttl is a number of epoch seconds"
    );
    assert_eq!(
        raw[attr::CONNECTED_AT],
        AttributeValue::N("1705751697419".into()),
        "connectedAt is epoch ms"
    );
    assert_eq!(
        raw[attr::CONNECTION_ID],
        AttributeValue::S(r.connection_id.clone())
    );
    assert_eq!(raw[attr::API], AttributeValue::S("chat".into()));
    assert!(
        !raw.contains_key(attr::RESTAURANT_ID),
        "absent optional attributes are not written"
    );

    // The realtime attributes round-trip too.
    let mut rt = record("rt-1");
    rt.api = ApiKind::Realtime;
    rt.restaurant_id = Some("r-123".into());
    rt.language = Some("en".into());
    rt.user_agent = None;
    store.put(&rt).await.unwrap();
    assert_eq!(store.get("rt-1").await.unwrap(), Some(rt));
}

#[tokio::test]
async fn delete_is_idempotent() {
    let db = DynamoDbLocal::start().await;
    let client = db.client();
    create_connections_table(&client, "connections").await;
    let store = DynamoStore::new(client, "connections");
    store.put(&record("a")).await.unwrap();
    store.delete("a").await.unwrap();
    store.delete("a").await.unwrap();
    store.delete("never-existed").await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), None);
}

#[tokio::test]
async fn a_missing_table_is_a_clear_error() {
    let db = DynamoDbLocal::start().await;
    let store = DynamoStore::new(db.client(), "no-such-table");
    let err = store.put(&record("a")).await.unwrap_err();
    assert_eq!(err, StoreError::TableNotFound("no-such-table".into()));
    assert!(err.to_string().contains("no-such-table"), "{err}");
    assert_eq!(
        store.get("a").await.unwrap_err(),
        StoreError::TableNotFound("no-such-table".into())
    );
}

#[tokio::test]
async fn connect_and_disconnect_handlers_on_dynamodb() {
    let db = DynamoDbLocal::start().await;
    let client = db.client();
    create_connections_table(&client, "connections").await;
    let store = Arc::new(DynamoStore::new(client, "connections"));
    let settings = ChatSettings {
        connection_ttl: Duration::from_secs(7200),
        ..ChatSettings::default()
    };
    let app = ChatApp {
        store: store.clone(),
        settings: settings.clone(),
        ..chat_app(RecordingPush::new(PushBehaviour::Accept))
    };
    let event = fixture_event("connect");
    assert_eq!(app.handle(Function::Connect, &event).await.status_code, 200);
    let stored = store.get("asdfasdf=").await.unwrap().expect("written");
    assert_eq!(stored.ttl_epoch_seconds, 1_645_556_857 + 7200);
    let mut bye = fixture_event("disconnect");
    bye.request_context.connection_id = Some("asdfasdf=".into());
    assert_eq!(
        app.handle(Function::Disconnect, &bye).await.status_code,
        200
    );
    assert_eq!(store.get("asdfasdf=").await.unwrap(), None);

    // A store failure answers 500 and writes nothing.
    let broken = ChatApp {
        store: Arc::new(DynamoStore::new(db.client(), "missing")),
        settings,
        ..chat_app(RecordingPush::new(PushBehaviour::Accept))
    };
    assert_eq!(
        broken.handle(Function::Connect, &event).await.status_code,
        500
    );
}
