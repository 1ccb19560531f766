//! The "answers streaming at once" cap holds whatever ids a client sends: repeated,
//! distinct or interleaved `requestId`s, from one connection or several of the same user,
//! in memory and on DynamoDB Local with the real adapter. The place an answer takes is keyed
//! by API Gateway's id of the delivery, which the client cannot choose.

use std::sync::Arc;
use std::time::Duration;

use streamgate_aws::DynamoQuotas;
use streamgate_contract::{ErrorCode, Function, ServerFrame, quota};
use streamgate_core::memory::MemoryQuotas;
use streamgate_core::{ChatApp, QuotaStore};
use streamgate_tests::doubles::{PushBehaviour, RecordingPush};
use streamgate_tests::dynamodb_local::{DynamoDbLocal, create_quotas_table};

use crate::chat_app::{capped_app, handle_all, message_event};

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

/// Sends `SENT` messages at once from `user` over `connections` (taking turns) with `ids`,
/// and checks that `CAP` were answered and the rest refused `quota_exceeded`, then that
/// every place was given back.
async fn cap_holds(quotas: Arc<dyn QuotaStore>, user: &str, ids: Ids, connections: usize) {
    let push = RecordingPush::new(PushBehaviour::Accept);
    // Four words, a second to stream: every place is asked for long before one frees.
    let app = capped_app(push.clone(), quotas, CAP, Duration::from_millis(250));
    let events: Vec<_> = (0..SENT)
        .map(|i| {
            let connection = format!("{user}-conn-{}", i % connections);
            message_event(
                user,
                &connection,
                &ids.of(i),
                &format!("{user}-delivery-{i}"),
            )
        })
        .collect();
    handle_all(&app, Function::Message, &events).await;
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
        .map(|i| message_event(user, "after", &ids.of(i), &format!("{user}-after-{i}")))
        .collect();
    handle_all(&app, Function::Message, &next).await;
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
