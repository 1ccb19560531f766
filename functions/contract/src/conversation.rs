//! Conversations: who owns one, what a stored turn holds, the limits of the history replayed
//! to the model and of the pages the `history` and `conversations` actions answer, and the
//! keys and attributes of the conversations table.
//!
//! One table holds three kinds of item, each a `(pk, sk)` pair of strings:
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | a conversation (owner, title, turn count, who is answering) | `o#{owner}` | `c#{conversationId}` |
//! | one turn (the user's message and the delivered answer) | `c#{conversationId}` | `t#{turn:010}` |
//! | a request to stop an answer | `x#{connectionId}` | `r#{requestId}` |
//!
//! Listing a user's conversations is one `Query` on their `o#` partition; replaying a
//! conversation is one `Query` on its `c#` partition, newest turn first. Every item carries
//! the `ttl` attribute.

use serde::{Deserialize, Serialize};

/// Longest conversation id a client may send.
pub const CONVERSATION_ID_MAX_CHARS: usize = 64;

/// Turns or conversations in a page when the client does not say.
pub const PAGE_DEFAULT: u32 = 20;

/// The most turns or conversations in one page.
pub const PAGE_MAX: u32 = 50;

/// The most text (bytes of messages, answers and titles) in one `history` or `conversations`
/// frame, which must stay under API Gateway's 128 KB frame limit.
pub const PAGE_TEXT_MAX_BYTES: usize = 96 * 1024;

/// The most turns read back to build a prompt (before trimming to the history budget).
pub const HISTORY_READ_TURNS: u32 = 50;

/// How many bytes of text count as one token when trimming history to its budget: a
/// provider-neutral estimate (English text averages about four bytes per token with the
/// OpenAI and Anthropic tokenizers; other scripts use fewer bytes per token, so the budget
/// errs on the side of sending less).
pub const BYTES_PER_TOKEN: usize = 4;

/// The estimated tokens of `bytes` bytes of text ([`BYTES_PER_TOKEN`], rounded up): what the
/// history budget, the quota reservation and the echo provider all count.
pub fn estimated_tokens(bytes: usize) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN) as u64
}

/// Default history budget, in estimated tokens (`STREAMGATE_HISTORY_TOKENS`).
pub const DEFAULT_HISTORY_TOKENS: u64 = 4000;

/// Default lifetime of a conversation after its last turn, in days.
pub const DEFAULT_TTL_DAYS: u64 = 30;

/// How long a stop request is kept, in seconds (an answer streams for at most the `message`
/// function's timeout).
pub const CANCEL_MARK_TTL_SECONDS: u64 = 60 * 60;

/// The most bytes of an answer stored in a turn; a longer answer is stored cut to this, and
/// the turn says so. Together with the 128 KB message limit, a turn stays well inside
/// DynamoDB's 400 KB item limit.
pub const STORED_ANSWER_MAX_BYTES: usize = 192 * 1024;

/// Longest title kept for a conversation (the start of its first message), in characters.
pub const TITLE_MAX_CHARS: usize = 80;

/// DynamoDB attribute names of the conversations table.
pub mod attr {
    /// Partition key (S).
    pub const PK: &str = "pk";
    /// Sort key (S).
    pub const SK: &str = "sk";
    /// Epoch seconds after which DynamoDB may delete the item (N, the table's TTL attribute).
    pub const TTL: &str = "ttl";
    /// Conversation: epoch milliseconds of its first message (N).
    pub const CREATED_AT: &str = "createdAt";
    /// Conversation: the start of its first message (S).
    pub const TITLE: &str = "title";
    /// Conversation: turns stored so far (N).
    pub const TURNS: &str = "turns";
    /// Conversation: the delivery answering now (S, absent when none).
    pub const BUSY: &str = "busy";
    /// Conversation: epoch milliseconds after which [`BUSY`] no longer holds (N).
    pub const BUSY_UNTIL: &str = "busyUntil";
    /// Conversation: the delivery that stored the last turn (S).
    pub const LAST_DELIVERY: &str = "lastDelivery";
    /// Turn: the user's message (S).
    pub const USER: &str = "user";
    /// Turn: the answer as delivered (S, may be empty).
    pub const ANSWER: &str = "answer";
    /// Turn: why the answer ended early (S, absent when it ended on its own).
    pub const STOP_REASON: &str = "stopReason";
    /// Turn: epoch milliseconds (N).
    pub const AT: &str = "at";
    /// Turn: the client's request id (S).
    pub const REQUEST_ID: &str = "requestId";
}

/// Who a conversation belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The user the authorizer named (its `principalId`).
    User(String),
    /// On a `Public` API: the connection that started it.
    Connection(String),
}

impl Owner {
    /// The owner's partition key.
    pub fn key(&self) -> String {
        match self {
            Owner::User(id) => format!("o#user:{id}"),
            Owner::Connection(id) => format!("o#connection:{id}"),
        }
    }
}

/// The sort key of a conversation under its owner, and the partition key of its turns.
pub fn conversation_key(conversation_id: &str) -> String {
    format!("c#{conversation_id}")
}

/// The sort key of a turn: zero-padded, so turns sort by number.
pub fn turn_key(turn: u64) -> String {
    format!("t#{turn:010}")
}

/// The turn number of a turn's sort key.
pub fn turn_of_key(key: &str) -> Option<u64> {
    key.strip_prefix("t#")?.parse().ok()
}

/// The partition key of a connection's stop requests.
pub fn cancel_partition(connection_id: &str) -> String {
    format!("x#{connection_id}")
}

/// The sort key of a stop request.
pub fn cancel_key(request_id: &str) -> String {
    format!("r#{request_id}")
}

/// Whether `id` is a conversation id a client may send: 1 to [`CONVERSATION_ID_MAX_CHARS`]
/// ASCII letters, digits, `-` or `_`.
pub fn valid_conversation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= CONVERSATION_ID_MAX_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why an answer ended before the model finished it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The client sent `cancel`.
    Cancelled,
    /// The model provider failed, or the answer could not be delivered in full.
    Error,
    /// The client went away.
    ClientGone,
}

impl StopReason {
    /// The stored and wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            StopReason::Cancelled => "cancelled",
            StopReason::Error => "error",
            StopReason::ClientGone => "client_gone",
        }
    }

    /// Parses a stored value.
    pub fn parse(s: &str) -> Option<StopReason> {
        [
            StopReason::Cancelled,
            StopReason::Error,
            StopReason::ClientGone,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One stored turn: the user's message and the answer as it was delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    /// 1 for the first turn of the conversation.
    pub turn: u64,
    /// The user's message.
    pub user: String,
    /// The answer as the client received it (empty when nothing was delivered).
    pub answer: String,
    /// Why the answer ended early; absent when the model finished it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// Epoch milliseconds.
    pub at: i64,
    /// The client's id of the request.
    pub request_id: String,
}

/// A conversation as the `conversations` action lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationSummary {
    /// Its id.
    pub conversation_id: String,
    /// The start of its first message.
    pub title: String,
    /// Epoch milliseconds of its first message.
    pub created_at: i64,
    /// Turns stored.
    pub turns: u64,
}

/// `title` cut to [`TITLE_MAX_CHARS`] characters, on one line.
pub fn title_of(message: &str) -> String {
    message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(TITLE_MAX_CHARS)
        .collect()
}

/// `text` cut to at most `max` bytes on a character boundary.
pub fn cut_to(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_and_round_trip() {
        assert!(turn_key(9) < turn_key(10));
        assert!(turn_key(99_999) < turn_key(100_000));
        assert_eq!(turn_of_key(&turn_key(42)), Some(42));
        assert_eq!(turn_of_key("c#x"), None);
        assert_ne!(
            Owner::User("a".into()).key(),
            Owner::Connection("a".into()).key(),
            "a user and a connection with the same id are different owners"
        );
    }

    #[test]
    fn conversation_ids_are_checked() {
        assert!(valid_conversation_id("0193a1b2c3d4-9f8e7d6c5b4a"));
        for bad in ["", "a b", "a#b", "é", &"a".repeat(65)] {
            assert!(!valid_conversation_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn stop_reasons_round_trip() {
        for r in [
            StopReason::Cancelled,
            StopReason::Error,
            StopReason::ClientGone,
        ] {
            assert_eq!(StopReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    #[test]
    fn titles_and_cuts_respect_characters() {
        assert_eq!(title_of("  what is\n on  the menu "), "what is on the menu");
        assert_eq!(title_of(&"é".repeat(200)).chars().count(), TITLE_MAX_CHARS);
        assert_eq!(cut_to("héllo", 2), "h");
        assert_eq!(cut_to("héllo", 3), "hé");
        assert_eq!(cut_to("hi", 10), "hi");
    }
}
