//! The live voice relay (the AI waiter): clients speak the seed's protocol on `/realtime`;
//! each session holds one upstream OpenAI Realtime (GA) socket for its whole life. It runs in
//! a persistent server (`streamgate-relay` alone, as on ECS, or beside the chat API in
//! `streamgate-server`), because a Lambda instance cannot hold that socket between
//! invocations. Its HTTP surface implements the emulator's `VoiceSurface`.

pub mod admission;
pub mod budget;
pub mod catalog;
pub mod cli;
mod http;
pub mod protocol;
pub mod session;
pub mod session_loop;
pub mod settings;
pub mod source;
pub mod standalone;
mod upstream;

pub use catalog::Catalog;
pub use cli::VoiceArgs;
pub use session::RealtimeService;
pub use settings::RealtimeConfig;
pub use source::{CatalogReader, CatalogSource, spawn_refresh};
