//! Per-user quotas on DynamoDB Local with the real adapter and the real handlers: a budget
//! raced by fifty answers at once, places for connections and answers that free up when they
//! expire, and one user's quota never touching another's.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use streamgate_aws::DynamoQuotas;
use streamgate_contract::{ErrorCode, Function, ServerFrame, quota};
use streamgate_core::conversation::memory::MemoryConversations;
use streamgate_core::memory::MemoryStore;
use streamgate_core::{ChatApp, ChatSettings, QuotaSettings, QuotaStore};
use streamgate_llm::EchoProvider;
use streamgate_tests::doubles::{PushBehaviour, RecordingPush};
use streamgate_tests::dynamodb_local::{DynamoDbLocal, create_quotas_table};
use streamgate_tests::fixture_json;

use crate::chat_app::{capped_app, chat_app, handle_all, message_event};

/// A MESSAGE event from `user` on `connection`, each frame its own delivery, as API Gateway
/// numbers them.
fn message_from(
    user: &str,
    connection: &str,
    request_id: &str,
) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
    message_event(user, connection, request_id, &format!("apigw-{request_id}"))
}

fn connect_from(
    user: &str,
    connection: &str,
) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
    let mut e = fixture_json("connect");
    e["requestContext"]["connectionId"] = json!(connection);
    e["requestContext"]["authorizer"] = json!({"principalId": user, "userId": user});
    serde_json::from_value(e).unwrap()
}

async fn quotas(db: &DynamoDbLocal) -> Arc<DynamoQuotas> {
    let client = db.client();
    create_quotas_table(&client, "quotas").await;
    Arc::new(DynamoQuotas::new(client, "quotas"))
}

async fn used(db: &DynamoDbLocal, key: &str) -> u64 {
    let item = db
        .client()
        .get_item()
        .table_name("quotas")
        .key(
            quota::attr::KEY,
            aws_sdk_dynamodb::types::AttributeValue::S(key.into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    item.item()
        .and_then(|i| i.get(quota::attr::USED))
        .and_then(|v| v.as_n().ok())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_answers_at_once_on_a_budget_for_ten_never_overspend_and_others_are_unaffected() {
    let db = DynamoDbLocal::start().await;
    let quotas = quotas(&db).await;
    // Each answer reserves 4 + 5 (19 bytes of input / 4, rounded up) and spends as much (the
    // echo counts 5 tokens in and stops at 4 out): the budget covers ten answers.
    let settings = ChatSettings {
        max_tokens: 4,
        quotas: QuotaSettings {
            daily_token_budget: 10 * 9,
            max_connections: 5,
            max_answers: 100,
        },
        ..ChatSettings::default()
    };
    let push = RecordingPush::new(PushBehaviour::Accept);
    let app = ChatApp {
        llm: Arc::new(EchoProvider::new(Duration::from_millis(2))),
        quotas: quotas.clone(),
        settings,
        ..chat_app(push.clone())
    };
    let events: Vec<_> = (0..50)
        .map(|i| message_from("alice", "R1kmxc2VNjMCFIA=", &format!("a-{i}")))
        .collect();
    handle_all(&app, Function::Message, &events).await;
    let frames = push.frames();
    let done = frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::Done { .. }))
        .count();
    let refused: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(done + refused.len(), 50, "one terminal frame each");
    assert!(
        (1..=10).contains(&done),
        "{done} answers on a budget for ten"
    );
    for e in &refused {
        assert_eq!(e.code, ErrorCode::QuotaExceeded);
        let wait = e.retry_after_seconds.expect("retryAfterSeconds");
        assert!(
            (1..=86_400).contains(&wait),
            "until the next UTC day: {wait}"
        );
    }
    // Settled to what was spent: never over the budget.
    let key = quota::tokens_key("alice", streamgate_core::clock::now());
    let spent = used(&db, &key).await;
    assert!(spent <= 10 * 9, "spent {spent} of a budget of {}", 10 * 9);
    assert!(spent > 0);
    // Bob's budget is his own.
    let bob = RecordingPush::new(PushBehaviour::Accept);
    let bobs = ChatApp {
        push: bob.clone(),
        conversations: Arc::new(MemoryConversations::new()),
        ..app.clone()
    };
    bobs.handle(
        Function::Message,
        &message_from("bob", "B0bxxxxxxxxxxxA=", "b-1"),
    )
    .await;
    assert!(matches!(
        bob.frames().last(),
        Some(ServerFrame::Done { .. })
    ));
}

#[tokio::test]
async fn answers_at_once_are_capped_per_user() {
    let db = DynamoDbLocal::start().await;
    let quotas = quotas(&db).await;
    let push = RecordingPush::new(PushBehaviour::Accept);
    // Slow enough that the first two are still streaming when the third asks.
    let app = capped_app(push.clone(), quotas.clone(), 2, Duration::from_millis(150));
    let events: Vec<_> = (0..3)
        .map(|i| message_from("carol", "C4r0lxxxxxxxxA=", &format!("c-{i}")))
        .collect();
    handle_all(&app, Function::Message, &events).await;
    let frames = push.frames();
    let refused: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Error(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{frames:?}");
    assert_eq!(refused[0].code, ErrorCode::QuotaExceeded);
    assert_eq!(
        refused[0].retry_after_seconds,
        Some(quota::PLACE_RETRY_AFTER_SECONDS)
    );
    // Both places were given back: the next answer goes through.
    let after = RecordingPush::new(PushBehaviour::Accept);
    let app = ChatApp {
        store: app.store.clone(),
        quotas: quotas.clone(),
        settings: app.settings.clone(),
        ..chat_app(after.clone())
    };
    app.handle(
        Function::Message,
        &message_from("carol", "C4r0lxxxxxxxxA=", "c-9"),
    )
    .await;
    assert!(matches!(
        after.frames().last(),
        Some(ServerFrame::Done { .. })
    ));
}

#[tokio::test]
async fn live_connections_are_capped_per_user_and_places_free_up() {
    let db = DynamoDbLocal::start().await;
    let quotas: Arc<dyn QuotaStore> = quotas(&db).await;
    let settings = ChatSettings {
        quotas: QuotaSettings {
            max_connections: 5,
            ..QuotaSettings::default()
        },
        ..ChatSettings::default()
    };
    let store = Arc::new(MemoryStore::new());
    let app = ChatApp {
        store: store.clone(),
        quotas: quotas.clone(),
        settings,
        ..chat_app(RecordingPush::new(PushBehaviour::Accept))
    };
    for i in 0..5 {
        let r = app
            .handle(Function::Connect, &connect_from("dave", &format!("d{i}")))
            .await;
        assert_eq!(r.status_code, 200);
    }
    let sixth = app
        .handle(Function::Connect, &connect_from("dave", "d5"))
        .await;
    assert_eq!(sixth.status_code, 429, "the sixth connection is refused");
    assert_eq!(store.len(), 5, "and never reaches the store");
    // Another user is not affected.
    let erin = app
        .handle(Function::Connect, &connect_from("erin", "e0"))
        .await;
    assert_eq!(erin.status_code, 200);
    // A $disconnect gives the place back.
    let mut bye = fixture_json("disconnect");
    bye["requestContext"]["connectionId"] = json!("d0");
    bye["requestContext"]["authorizer"] = json!({"principalId": "dave", "userId": "dave"});
    let bye = serde_json::from_value(bye).unwrap();
    assert_eq!(
        app.handle(Function::Disconnect, &bye).await.status_code,
        200
    );
    let again = app
        .handle(Function::Connect, &connect_from("dave", "d6"))
        .await;
    assert_eq!(again.status_code, 200);
    // Places whose $disconnect never came free up when they expire.
    let key = quota::connections_key("frank");
    assert!(
        quotas
            .take_place(&key, "f0", 1, 1_000, 1_010)
            .await
            .unwrap()
    );
    assert!(
        !quotas
            .take_place(&key, "f1", 1, 1_005, 1_015)
            .await
            .unwrap()
    );
    assert!(
        quotas
            .take_place(&key, "f1", 1, 1_011, 1_021)
            .await
            .unwrap(),
        "f0 expired at 1010"
    );
    // Giving back a place never held, or in a set that does not exist, succeeds.
    quotas.free_place(&key, "nobody").await.unwrap();
    quotas
        .free_place(&quota::connections_key("ghost"), "g0")
        .await
        .unwrap();
}
