//! The "answers streaming at once" cap holds whatever ids a client sends: repeated,
//! distinct or interleaved `requestId`s, from one connection or several of the same user,
//! in memory and on DynamoDB Local with the real adapter. The place an answer takes is keyed
//! by API Gateway's id of the delivery, which the client cannot choose.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use streamgate_aws::DynamoQuotas;
use streamgate_contract::{ErrorCode, Function, Route, ServerFrame, quota};
use streamgate_core::memory::MemoryQuotas;
use streamgate_core::{ChatApp, ChatSettings, QuotaSettings, QuotaStore};
use streamgate_llm::EchoProvider;
use streamgate_tests::doubles::{PushBehaviour, RecordingPush};
use streamgate_tests::dynamodb_local::{DynamoDbLocal, create_quotas_table};
use streamgate_tests::fixture_json;

use crate::chat_app::chat_app;

/// How many messages a user sends at once, and how many answers may stream at once.
const SENT: usize = 10;
const CAP: u32 = 2;

/// The client's ids for `SENT` messages.
#[derive(Debug, Clone, Copy)]
enum Ids {
    /// The same id on every message.
    Repeated,
    /// One id each.
    Distinct,
    /// Two ids, taking turns.
    Interleaved,
}

impl Ids {
    fn of(self, i: usize) -> String {
        match self {
            Ids::Repeated => "same".into(),
            Ids::Distinct => format!("d-{i}"),
            Ids::Interleaved => ["x", "y"][i % 2].into(),
        }
    }
}

/// A MESSAGE event from `user` on `connection` with the client's `request_id`, as API
/// Gateway delivers it (its own request id, `delivery`, on each).
fn message(
    user: &str,
    connection: &str,
    request_id: &str,
    delivery: &str,
) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
    let mut e = fixture_json("message");
    e["body"] = json!({"action": Route::Message.key(), "data": "four words of input", "requestId": request_id})
        .to_string()
        .into();
    e["requestContext"]["connectionId"] = json!(connection);
    e["requestContext"]["requestId"] = json!(delivery);
    e["requestContext"]["authorizer"] = json!({"principalId": user, "userId": user});
    serde_json::from_value(e).unwrap()
}

/// Sends `SENT` messages at once from `user` over `connections` (taking turns) with `ids`,
/// and checks that `CAP` were answered and the rest refused `quota_exceeded`, then that
/// every place was given back.
async fn cap_holds(quotas: Arc<dyn QuotaStore>, user: &str, ids: Ids, connections: usize) {
    let settings = ChatSettings {
        quotas: QuotaSettings {
            max_answers: CAP,
            ..QuotaSettings::default()
        },
        ..ChatSettings::default()
    };
    let push = RecordingPush::new(PushBehaviour::Accept);
    let app = ChatApp {
        // Four words, a second to stream: every place is asked for long before one frees.
        llm: Arc::new(EchoProvider::new(Duration::from_millis(250))),
        quotas: quotas.clone(),
        settings,
        ..chat_app(push.clone())
    };
    let events: Vec<_> = (0..SENT)
        .map(|i| {
            let connection = format!("{user}-conn-{}", i % connections);
            message(
                user,
                &connection,
                &ids.of(i),
                &format!("{user}-delivery-{i}"),
            )
        })
        .collect();
    let runs = events.iter().map(|e| app.handle(Function::Message, e));
    for response in futures::future::join_all(runs).await {
        assert_eq!(response.status_code, 200);
    }
    let frames = push.frames();
    let done = frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::Done { .. }))
        .count();
    let refused = frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::Error(e) if e.code == ErrorCode::QuotaExceeded))
        .count();
    let case = format!("{ids:?} ids over {connections} connection(s)");
    assert_eq!(done, CAP as usize, "{case}: answered at once");
    assert_eq!(refused, SENT - CAP as usize, "{case}: refused");
    // Every place was given back: the next answers go through, as many as the cap.
    let after = RecordingPush::new(PushBehaviour::Accept);
    let app = ChatApp {
        push: after.clone(),
        ..app
    };
    let next: Vec<_> = (0..CAP as usize)
        .map(|i| message(user, "after", &ids.of(i), &format!("{user}-after-{i}")))
        .collect();
    futures::future::join_all(next.iter().map(|e| app.handle(Function::Message, e))).await;
    let answered = after
        .frames()
        .iter()
        .filter(|f| matches!(f, ServerFrame::Done { .. }))
        .count();
    assert_eq!(answered, CAP as usize, "{case}: places given back");
}

const CASES: [(Ids, usize); 6] = [
    (Ids::Repeated, 1),
    (Ids::Distinct, 1),
    (Ids::Interleaved, 1),
    (Ids::Repeated, 3),
    (Ids::Distinct, 3),
    (Ids::Interleaved, 3),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_cap_holds_whatever_ids_the_client_sends_in_memory() {
    for (n, (ids, connections)) in CASES.into_iter().enumerate() {
        let quotas: Arc<dyn QuotaStore> = Arc::new(MemoryQuotas::new());
        cap_holds(quotas, &format!("user{n}"), ids, connections).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_cap_holds_whatever_ids_the_client_sends_on_dynamodb_local() {
    let db = DynamoDbLocal::start().await;
    let client = db.client();
    create_quotas_table(&client, "quotas").await;
    let quotas: Arc<dyn QuotaStore> = Arc::new(DynamoQuotas::new(client, "quotas"));
    // Warm: DynamoDB Local's first calls are slow, and the race is about the cap, not that.
    let warm = quota::answers_key("warm");
    for i in 0..5 {
        quotas
            .take_place(&warm, &format!("w{i}"), 10, 0, 1)
            .await
            .unwrap();
    }
    for (n, (ids, connections)) in CASES.into_iter().enumerate() {
        cap_holds(quotas.clone(), &format!("user{n}"), ids, connections).await;
    }
}
