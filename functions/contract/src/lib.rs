//! The contract of the streamgate chat API.
//!
//! This crate is the single source of truth that the handlers, the CloudFormation generator
//! and the local server all read:
//!
//! * [`routes`]: every route key, the function that serves it, and that function's settings
//!   (binary, memory, timeout, what it may touch). A route key is written here and nowhere else.
//! * [`invocation`]: how API Gateway invokes each route, and the asynchronous event.
//! * [`wire`]: the JSON frames the server sends, with the stable error codes.
//! * [`conversation`]: conversations, their turns, and the conversations table's items.
//! * [`requests`]: what clients send, validated (`message`, `history`, `conversations`,
//!   `cancel`).
//! * [`record`]: the connection record and its DynamoDB attribute names.
//! * [`limits`]: API Gateway's WebSocket limits.
//! * [`config`]: the names of the environment variables that carry deployment settings.
//! * [`arch`]: Lambda's architectures (`arm64`, `x86_64`) and the ELF machine that names one.
//! * [`access`]: who may connect (JWT or an explicit `Public`), where the token goes.
//! * [`quota`]: the per-user quotas and their DynamoDB items.
//! * [`metrics`]: every metric the code emits (the one list dashboards are built from).
//!
//! Nothing here does I/O.

pub mod access;
pub mod arch;
pub mod config;
pub mod conversation;
pub mod invocation;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod quota;
pub mod record;
pub mod relay;
pub mod requests;
pub mod routes;
pub mod wire;

pub use access::Access;
pub use invocation::Invocation;
pub use record::{ApiKind, ConnectionRecord};
pub use requests::MessageRequest;
pub use routes::{Function, FunctionSpec, Permission, Route, RouteKind};
pub use wire::{ErrorCode, ErrorFrame, ServerFrame, Usage};
