//! Conversations: the store's rules (in memory and in DynamoDB Local, the same scenario),
//! the `message` handler's use of them (history replayed in order and trimmed, a repeated
//! delivery answered once), and the protocol end to end on the local server (`history`,
//! `conversations`, `not_found`, `conversation_busy`, `cancel`).

mod escapes;
mod handler;
mod protocol;
mod store;
