//! Conversations as the handlers use them: the store they live in (DynamoDB in AWS, memory
//! locally), who owns one, the ids of new ones, and the prompt built from their turns
//! ([`prompt`]).
//!
//! An answer *claims* its conversation before the model is asked: the claim fails when the
//! conversation is not the caller's (`not_found`) or another answer holds it
//! (`conversation_busy`), and it recognises a delivery it has seen (the same API Gateway
//! request id) so an event delivered twice answers once. Storing the turn gives the claim
//! back in the same atomic write.

pub mod memory;
pub mod prompt;

use std::time::Duration;

use async_trait::async_trait;
use streamgate_contract::conversation::DEFAULT_TTL_DAYS;
use streamgate_contract::conversation::{ConversationSummary, DEFAULT_HISTORY_TOKENS, Owner, Turn};

use crate::event::{self, WsEvent};
use crate::ports::{NotGranted, StoreError};

/// How conversations are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationSettings {
    /// Estimated tokens of earlier turns replayed to the model (0: none).
    pub history_tokens: u64,
    /// How long a conversation is kept after its last turn.
    pub ttl: Duration,
    /// How often a streaming answer looks for a stop request.
    pub cancel_check: Duration,
}

/// Default pause between two looks for a stop request: a stop takes effect within about
/// this long, and a streaming answer reads the table at most ten times a second.
pub const DEFAULT_CANCEL_CHECK: Duration = Duration::from_millis(100);

impl Default for ConversationSettings {
    fn default() -> Self {
        ConversationSettings {
            history_tokens: DEFAULT_HISTORY_TOKENS,
            ttl: Duration::from_secs(DEFAULT_TTL_DAYS * 24 * 60 * 60),
            cancel_check: DEFAULT_CANCEL_CHECK,
        }
    }
}

/// An answer's claim on a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim<'a> {
    /// Who asks.
    pub owner: &'a Owner,
    /// The conversation.
    pub conversation_id: &'a str,
    /// This delivery of the event (API Gateway's request id).
    pub delivery: &'a str,
    /// `Some(title)`: the conversation is new and is created by the claim.
    pub new_title: Option<&'a str>,
    /// Epoch milliseconds now.
    pub now_ms: i64,
    /// Epoch milliseconds after which the claim lapses (a crashed answer cannot hold a
    /// conversation for ever).
    pub until_ms: i64,
    /// Epoch seconds after which the conversation may be deleted.
    pub ttl: i64,
}

/// What a claim came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// The conversation is held; the new turn gets this number.
    Held {
        /// The number of the turn being answered.
        turn: u64,
    },
    /// No such conversation of this owner.
    NotFound,
    /// Another answer holds it.
    Busy,
    /// This delivery already claimed it (the same event, delivered again).
    Duplicate,
}

/// Where conversations live. Every change is one atomic step.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Claims a conversation for one answer (creating it when `claim.new_title` is set).
    async fn claim(&self, claim: &Claim<'_>) -> Result<Claimed, StoreError>;

    /// Gives a claim back without storing a turn (the answer was refused before it began).
    async fn release(
        &self,
        owner: &Owner,
        conversation_id: &str,
        delivery: &str,
    ) -> Result<(), StoreError>;

    /// Stores the turn the claim was for and gives the claim back, in one write; a turn
    /// with that number already stored is left as it is.
    async fn store_turn(
        &self,
        owner: &Owner,
        conversation_id: &str,
        delivery: &str,
        turn: &Turn,
        ttl: i64,
    ) -> Result<(), StoreError>;

    /// The owner's conversation, if it is theirs.
    async fn conversation(
        &self,
        owner: &Owner,
        conversation_id: &str,
    ) -> Result<Option<ConversationSummary>, StoreError>;

    /// Up to `limit` turns of a conversation, newest first, only those before turn
    /// `before` when given. The caller has checked the conversation is the owner's.
    async fn turns(
        &self,
        conversation_id: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Turn>, StoreError>;

    /// Up to `limit` of the owner's conversations, newest first, only those older than
    /// `after` when given.
    async fn conversations(
        &self,
        owner: &Owner,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ConversationSummary>, StoreError>;

    /// Leaves a request, made at `at_ms`, to stop the answer `request_id` of a connection,
    /// kept until `ttl`.
    async fn request_stop(
        &self,
        connection_id: &str,
        request_id: &str,
        at_ms: i64,
        ttl: i64,
    ) -> Result<(), StoreError>;

    /// Whether a stop was requested, at `since_ms` or later, for the answer `request_id` of a
    /// connection (a client that reuses its request ids does not stop a later answer with
    /// an old request).
    async fn stop_requested(
        &self,
        connection_id: &str,
        request_id: &str,
        since_ms: i64,
    ) -> Result<bool, StoreError>;
}

/// A function not granted the conversations table fails every call, as it would in AWS.
#[async_trait]
impl ConversationStore for NotGranted {
    async fn claim(&self, _: &Claim<'_>) -> Result<Claimed, StoreError> {
        Err(not_granted())
    }

    async fn release(&self, _: &Owner, _: &str, _: &str) -> Result<(), StoreError> {
        Err(not_granted())
    }

    async fn store_turn(
        &self,
        _: &Owner,
        _: &str,
        _: &str,
        _: &Turn,
        _: i64,
    ) -> Result<(), StoreError> {
        Err(not_granted())
    }

    async fn conversation(
        &self,
        _: &Owner,
        _: &str,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        Err(not_granted())
    }

    async fn turns(&self, _: &str, _: Option<u64>, _: u32) -> Result<Vec<Turn>, StoreError> {
        Err(not_granted())
    }

    async fn conversations(
        &self,
        _: &Owner,
        _: Option<&str>,
        _: u32,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        Err(not_granted())
    }

    async fn request_stop(&self, _: &str, _: &str, _: i64, _: i64) -> Result<(), StoreError> {
        Err(not_granted())
    }

    async fn stop_requested(&self, _: &str, _: &str, _: i64) -> Result<bool, StoreError> {
        Err(not_granted())
    }
}

fn not_granted() -> StoreError {
    StoreError::Unavailable("this function is not granted the conversations table".into())
}

/// Who the event's caller is, as an owner of conversations: the user the authorizer named,
/// else (a `Public` API) the connection.
pub fn owner_of(event: &WsEvent) -> Option<Owner> {
    if let Some(user) = event::user_id(event) {
        return Some(Owner::User(user.to_owned()));
    }
    event
        .request_context
        .connection_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| Owner::Connection(c.to_owned()))
}

/// The id of a conversation a delivery starts: its time (12 hex digits of epoch
/// milliseconds, so ids sort by age) then a hash of the connection and API Gateway's request
/// id (16 hex digits), so the same event delivered twice names the same conversation.
pub fn new_conversation_id(now_ms: i64, connection_id: &str, delivery: &str) -> String {
    // FNV-1a, 64 bits: no secret is involved, the hash only tells deliveries apart.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in connection_id
        .bytes()
        .chain(std::iter::once(0))
        .chain(delivery.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:012x}{hash:016x}", now_ms.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamgate_contract::conversation::valid_conversation_id;

    #[test]
    fn new_ids_sort_by_time_and_repeat_for_the_same_delivery() {
        let a = new_conversation_id(1_700_000_000_000, "conn", "req-1");
        let b = new_conversation_id(1_700_000_000_001, "conn", "req-1");
        assert!(a < b);
        assert!(valid_conversation_id(&a));
        assert_eq!(a, new_conversation_id(1_700_000_000_000, "conn", "req-1"));
        assert_ne!(a, new_conversation_id(1_700_000_000_000, "conn", "req-2"));
        assert_ne!(
            new_conversation_id(0, "ab", "c"),
            new_conversation_id(0, "a", "bc")
        );
    }
}
