//! Conversations in memory: the local server's default, and the tests'. The same rules as
//! the DynamoDB adapter, each change made under one lock. It keeps at most
//! [`MAX_CONVERSATIONS`]: a new one past that pushes out the oldest that is not answering
//! (where DynamoDB would let the oldest expire), so a long-running server's memory stays
//! bounded.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use streamgate_sync::Locked;

use async_trait::async_trait;
use streamgate_contract::conversation::{ConversationSummary, Owner, Turn};

use super::{Claim, Claimed, ConversationStore};
use crate::ports::StoreError;

/// The most conversations kept (with their turns).
pub const MAX_CONVERSATIONS: usize = 10_000;

/// The most stop requests kept (each lapses after an hour anyway).
pub const MAX_STOP_REQUESTS: usize = 10_000;

#[derive(Debug, Clone)]
struct Head {
    created_at: i64,
    title: String,
    turns: u64,
    busy: Option<(String, i64)>,
    last_delivery: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    /// (owner key, conversation id) → the conversation.
    heads: HashMap<(String, String), Head>,
    /// conversation id → its turns by number.
    turns: HashMap<String, BTreeMap<u64, Turn>>,
    /// (connection, request id) → (epoch milliseconds it was made, epoch seconds it lapses).
    stops: HashMap<(String, String), (i64, i64)>,
}

/// Conversations in maps.
#[derive(Debug, Default)]
pub struct MemoryConversations {
    state: Mutex<State>,
}

impl MemoryConversations {
    /// An empty store.
    pub fn new() -> MemoryConversations {
        MemoryConversations::default()
    }

    /// How many turns are stored in all.
    pub fn turn_count(&self) -> usize {
        self.lock().turns.values().map(BTreeMap::len).sum()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is made whole under the lock: recover it after a panic elsewhere.
        self.state.locked()
    }
}

fn summary(id: &str, head: &Head) -> ConversationSummary {
    ConversationSummary {
        conversation_id: id.to_owned(),
        title: head.title.clone(),
        created_at: head.created_at,
        turns: head.turns,
    }
}

fn seen(head: &Head, delivery: &str) -> bool {
    head.busy.as_ref().is_some_and(|(d, _)| d == delivery)
        || head.last_delivery.as_deref() == Some(delivery)
}

#[async_trait]
impl ConversationStore for MemoryConversations {
    async fn claim(&self, claim: &Claim<'_>) -> Result<Claimed, StoreError> {
        let mut state = self.lock();
        let key = (claim.owner.key(), claim.conversation_id.to_owned());
        let busy = Some((claim.delivery.to_owned(), claim.until_ms));
        match (state.heads.get_mut(&key), claim.new_title) {
            (Some(head), _) if seen(head, claim.delivery) => Ok(Claimed::Duplicate),
            (Some(_), Some(_)) => Ok(Claimed::Busy),
            (Some(head), None) => match &head.busy {
                Some((_, until)) if *until > claim.now_ms => Ok(Claimed::Busy),
                _ => {
                    head.busy = busy;
                    Ok(Claimed::Held {
                        turn: head.turns + 1,
                    })
                }
            },
            (None, None) => Ok(Claimed::NotFound),
            (None, Some(title)) => {
                if state.heads.len() >= MAX_CONVERSATIONS {
                    evict_oldest(&mut state, claim.now_ms);
                }
                state.heads.insert(
                    key,
                    Head {
                        created_at: claim.now_ms,
                        title: title.to_owned(),
                        turns: 0,
                        busy,
                        last_delivery: None,
                    },
                );
                Ok(Claimed::Held { turn: 1 })
            }
        }
    }

    async fn release(
        &self,
        owner: &Owner,
        conversation_id: &str,
        delivery: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(head) = state
            .heads
            .get_mut(&(owner.key(), conversation_id.to_owned()))
            && head.busy.as_ref().is_some_and(|(d, _)| d == delivery)
        {
            head.busy = None;
        }
        Ok(())
    }

    async fn store_turn(
        &self,
        owner: &Owner,
        conversation_id: &str,
        delivery: &str,
        turn: &Turn,
        _ttl: i64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (owner.key(), conversation_id.to_owned());
        let Some(head) = state.heads.get_mut(&key) else {
            return Err(lapsed());
        };
        if head.busy.as_ref().is_none_or(|(d, _)| d != delivery) {
            return Err(lapsed());
        }
        head.busy = None;
        head.last_delivery = Some(delivery.to_owned());
        head.turns = head.turns.max(turn.turn);
        state
            .turns
            .entry(conversation_id.to_owned())
            .or_default()
            .entry(turn.turn)
            .or_insert_with(|| turn.clone());
        Ok(())
    }

    async fn conversation(
        &self,
        owner: &Owner,
        conversation_id: &str,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let state = self.lock();
        Ok(state
            .heads
            .get(&(owner.key(), conversation_id.to_owned()))
            .map(|head| summary(conversation_id, head)))
    }

    async fn turns(
        &self,
        conversation_id: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Turn>, StoreError> {
        let state = self.lock();
        let Some(turns) = state.turns.get(conversation_id) else {
            return Ok(Vec::new());
        };
        Ok(turns
            .range(..before.unwrap_or(u64::MAX))
            .rev()
            .take(limit as usize)
            .map(|(_, t)| t.clone())
            .collect())
    }

    async fn conversations(
        &self,
        owner: &Owner,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let state = self.lock();
        let owner = owner.key();
        let mut mine: Vec<_> = state
            .heads
            .iter()
            .filter(|((o, id), _)| *o == owner && after.is_none_or(|a| id.as_str() < a))
            .map(|((_, id), head)| summary(id, head))
            .collect();
        mine.sort_by(|a, b| b.conversation_id.cmp(&a.conversation_id));
        mine.truncate(limit as usize);
        Ok(mine)
    }

    async fn request_stop(
        &self,
        connection_id: &str,
        request_id: &str,
        at_ms: i64,
        ttl: i64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let now = crate::clock::now_ms() / 1000;
        // Lapsed requests go as new ones come: the map holds only live ones, and at most
        // MAX_STOP_REQUESTS (a client sending cancels for made-up ids pushes out the oldest).
        state.stops.retain(|_, (_, until)| *until > now);
        if state.stops.len() >= MAX_STOP_REQUESTS {
            let oldest = state
                .stops
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(key, _)| key.clone());
            if let Some(key) = oldest {
                state.stops.remove(&key);
            }
        }
        state.stops.insert(
            (connection_id.to_owned(), request_id.to_owned()),
            (at_ms, ttl),
        );
        Ok(())
    }

    async fn stop_requested(
        &self,
        connection_id: &str,
        request_id: &str,
        since_ms: i64,
    ) -> Result<bool, StoreError> {
        let state = self.lock();
        Ok(state
            .stops
            .get(&(connection_id.to_owned(), request_id.to_owned()))
            .is_some_and(|(at, _)| *at >= since_ms))
    }
}

/// Drops the oldest conversation (ids sort by creation) that no answer holds, with its turns.
fn evict_oldest(state: &mut State, now_ms: i64) {
    let oldest = state
        .heads
        .iter()
        .filter(|(_, head)| head.busy.as_ref().is_none_or(|(_, until)| *until <= now_ms))
        .map(|(key, _)| key)
        .min_by(|a, b| a.1.cmp(&b.1))
        .cloned();
    if let Some(key) = oldest {
        state.heads.remove(&key);
        state.turns.remove(&key.1);
    }
}

fn lapsed() -> StoreError {
    StoreError::Unavailable("the answer's claim on its conversation lapsed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts conversation `n` (id `n` in 12 digits: ids sort by age), given back at once
    /// unless `held`.
    async fn start(store: &MemoryConversations, owner: &Owner, n: usize, held: bool) {
        let (id, delivery) = (format!("{n:012}"), format!("d{n}"));
        let claim = Claim {
            owner,
            conversation_id: &id,
            delivery: &delivery,
            new_title: Some("t"),
            now_ms: 1_000,
            until_ms: 2_000,
            ttl: 0,
        };
        assert_eq!(
            store.claim(&claim).await.unwrap(),
            Claimed::Held { turn: 1 }
        );
        if !held {
            store.release(owner, &id, &delivery).await.unwrap();
        }
    }

    #[tokio::test]
    async fn past_the_cap_the_oldest_conversation_goes_but_not_one_answering() {
        let store = MemoryConversations::new();
        let owner = Owner::Connection("c".into());
        // The oldest is held by an answer; the next oldest is free.
        start(&store, &owner, 1, true).await;
        for n in 2..=MAX_CONVERSATIONS {
            start(&store, &owner, n, false).await;
        }
        start(&store, &owner, MAX_CONVERSATIONS + 1, false).await;
        assert_eq!(store.lock().heads.len(), MAX_CONVERSATIONS);
        let kept = |n: usize| {
            store
                .lock()
                .heads
                .contains_key(&(owner.key(), format!("{n:012}")))
        };
        assert!(kept(1), "an answering conversation is never pushed out");
        assert!(!kept(2), "the oldest free one went");
        assert!(kept(MAX_CONVERSATIONS + 1));
    }

    #[tokio::test]
    async fn stop_requests_are_bounded_the_oldest_going_first() {
        let store = MemoryConversations::new();
        let ttl = i64::MAX;
        for n in 0..=MAX_STOP_REQUESTS as i64 {
            store
                .request_stop("c", &format!("r{n}"), n, ttl)
                .await
                .unwrap();
        }
        assert_eq!(store.lock().stops.len(), MAX_STOP_REQUESTS);
        assert!(!store.stop_requested("c", "r0", 0).await.unwrap());
        assert!(store.stop_requested("c", "r1", 0).await.unwrap());
        let last = format!("r{MAX_STOP_REQUESTS}");
        assert!(store.stop_requested("c", &last, 0).await.unwrap());
    }
}
