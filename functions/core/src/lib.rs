//! The chat API's handler logic and the traits its I/O goes through.
//!
//! Handlers are functions of an API Gateway WebSocket event and their dependencies; the
//! dependencies are traits ([`ConnectionStore`], [`ClientPush`], [`LlmProvider`]) with
//! adapters elsewhere (DynamoDB and `@connections` in `streamgate-aws`, providers in
//! `streamgate-llm`, in-memory ones here and in the local server). So the same handler code
//! runs in Lambda, in the local server and in tests. Nothing in this crate opens a socket or
//! a file.

pub mod clock;
pub mod coalesce;
pub mod conversation;
pub mod event;
pub mod handlers;
pub mod memory;
mod outbox;
pub mod ports;
pub mod quota;
pub mod retry;
pub mod settings;

pub use conversation::{ConversationSettings, ConversationStore};
pub use handlers::ChatApp;
pub use ports::{
    ApiKey, ClientPush, ConnectionStore, LlmError, LlmEvent, LlmProvider, LlmRequest, LlmStream,
    NotGranted, PushError, QuotaStore, StoreError, Target,
};
pub use settings::{ChatSettings, QuotaSettings, SettingError};
