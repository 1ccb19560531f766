//! One scenario of the conversation store's rules, run on the in-memory store and on the
//! DynamoDB adapter against DynamoDB Local: what the local server does is what AWS does.

use streamgate_aws::DynamoConversations;
use streamgate_contract::conversation::{Owner, StopReason, Turn};
use streamgate_core::ConversationStore;
use streamgate_core::conversation::memory::MemoryConversations;
use streamgate_core::conversation::{Claim, Claimed};
use streamgate_tests::dynamodb_local::{DynamoDbLocal, create_conversations_table};

fn turn(n: u64, user: &str, answer: &str) -> Turn {
    Turn {
        turn: n,
        user: user.into(),
        answer: answer.into(),
        stop_reason: None,
        at: 1_700_000_000_000 + n as i64,
        request_id: format!("r{n}"),
    }
}

fn claim<'a>(
    owner: &'a Owner,
    id: &'a str,
    delivery: &'a str,
    title: Option<&'a str>,
    now_ms: i64,
) -> Claim<'a> {
    Claim {
        owner,
        conversation_id: id,
        delivery,
        new_title: title,
        now_ms,
        until_ms: now_ms + 60_000,
        ttl: 1_900_000_000,
    }
}

async fn rules(store: &dyn ConversationStore) {
    let alice = Owner::User("alice".into());
    let bob = Owner::User("bob".into());
    let now = 1_700_000_000_000;
    let id = "000000000001aaaaaaaaaaaaaaaa";

    // A new conversation is created held; the same delivery again is recognised.
    assert_eq!(
        store
            .claim(&claim(&alice, id, "d1", Some("hello"), now))
            .await
            .unwrap(),
        Claimed::Held { turn: 1 }
    );
    assert_eq!(
        store
            .claim(&claim(&alice, id, "d1", Some("hello"), now))
            .await
            .unwrap(),
        Claimed::Duplicate
    );
    // While held, another answer is refused; another owner does not see it at all.
    assert_eq!(
        store
            .claim(&claim(&alice, id, "d2", None, now))
            .await
            .unwrap(),
        Claimed::Busy
    );
    assert_eq!(
        store
            .claim(&claim(&bob, id, "d2", None, now))
            .await
            .unwrap(),
        Claimed::NotFound
    );
    assert!(store.conversation(&bob, id).await.unwrap().is_none());
    // Storing the turn frees it; the delivery that stored it stays recognised.
    store
        .store_turn(
            &alice,
            id,
            "d1",
            &turn(1, "hello", "hi there"),
            1_900_000_000,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .claim(&claim(&alice, id, "d1", None, now))
            .await
            .unwrap(),
        Claimed::Duplicate,
        "a delivery that stored its turn is not answered again"
    );
    assert_eq!(
        store
            .claim(&claim(&alice, id, "d2", None, now))
            .await
            .unwrap(),
        Claimed::Held { turn: 2 }
    );
    // Only the holder stores: a lapsed or foreign claim cannot write a turn.
    assert!(
        store
            .store_turn(&alice, id, "d9", &turn(2, "x", "y"), 1_900_000_000)
            .await
            .is_err()
    );
    let mut cut = turn(2, "and then?", "it was");
    cut.stop_reason = Some(StopReason::Cancelled);
    store
        .store_turn(&alice, id, "d2", &cut, 1_900_000_000)
        .await
        .unwrap();
    // A claim given back without a turn leaves the count as it was.
    assert_eq!(
        store
            .claim(&claim(&alice, id, "d3", None, now))
            .await
            .unwrap(),
        Claimed::Held { turn: 3 }
    );
    store.release(&alice, id, "d3").await.unwrap();
    assert_eq!(
        store
            .claim(&claim(&alice, id, "d4", None, now))
            .await
            .unwrap(),
        Claimed::Held { turn: 3 }
    );
    // A claim that lapsed (its answer crashed) can be taken over.
    assert_eq!(
        store
            .claim(&claim(&alice, id, "d5", None, now + 61_000))
            .await
            .unwrap(),
        Claimed::Held { turn: 3 }
    );
    store
        .store_turn(&alice, id, "d5", &turn(3, "last", "one"), 1_900_000_000)
        .await
        .unwrap();

    // Turns come newest first, paged by `before`.
    let turns = store.turns(id, None, 10).await.unwrap();
    assert_eq!(turns.iter().map(|t| t.turn).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(turns[1], cut, "stored as delivered, marked");
    let page = store.turns(id, Some(3), 1).await.unwrap();
    assert_eq!(page.iter().map(|t| t.turn).collect::<Vec<_>>(), [2]);
    let summary = store.conversation(&alice, id).await.unwrap().unwrap();
    assert_eq!((summary.title.as_str(), summary.turns), ("hello", 3));

    // Conversations: newest first, paged by `after`, each owner's own.
    let newer = "000000000002bbbbbbbbbbbbbbbb";
    store
        .claim(&claim(&alice, newer, "d6", Some("second"), now))
        .await
        .unwrap();
    store
        .claim(&claim(
            &bob,
            "000000000003cccccccccccccccc",
            "d7",
            Some("bob's"),
            now,
        ))
        .await
        .unwrap();
    let mine = store.conversations(&alice, None, 10).await.unwrap();
    assert_eq!(
        mine.iter()
            .map(|c| c.conversation_id.as_str())
            .collect::<Vec<_>>(),
        [newer, id]
    );
    let older = store.conversations(&alice, Some(newer), 10).await.unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].conversation_id, id);
    assert_eq!(store.conversations(&bob, None, 10).await.unwrap().len(), 1);
    // The same id under a connection owner is another conversation.
    assert_eq!(
        store
            .claim(&claim(
                &Owner::Connection("alice".into()),
                id,
                "d8",
                None,
                now
            ))
            .await
            .unwrap(),
        Claimed::NotFound
    );

    // Stop requests are per connection and request.
    let sent = now + 5_000;
    assert!(!store.stop_requested("c1", "r1", sent).await.unwrap());
    store
        .request_stop("c1", "r1", sent + 200, 1_900_000_000)
        .await
        .unwrap();
    assert!(store.stop_requested("c1", "r1", sent).await.unwrap());
    assert!(!store.stop_requested("c2", "r1", sent).await.unwrap());
    assert!(!store.stop_requested("c1", "r2", sent).await.unwrap());
    // A later message that reuses the request id is not stopped by the old request.
    assert!(
        !store
            .stop_requested("c1", "r1", sent + 60_000)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_in_memory_store_keeps_the_rules() {
    rules(&MemoryConversations::new()).await;
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_same_rules_on_dynamodb_local() {
    let db = DynamoDbLocal::start().await;
    let client = db.client();
    create_conversations_table(&client, "conversations").await;
    rules(&DynamoConversations::new(client, "conversations")).await;
}
