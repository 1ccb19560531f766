//! The persistent streamgate server: a faithful emulator of API Gateway's WebSocket APIs
//! that hosts the chat handlers, with the `@connections` management API on the same port
//! and a browser test page.
//!
//! * [`gateway`]: the emulator, one module per concern (the URL table, the handshake and
//!   `$connect`, the connection loop, invocations, the management API, the upgrade).
//! * [`events`]: the CONNECT / MESSAGE / DISCONNECT events, built in one place.
//! * [`api`]: what an emulated API is (routes, integrations, selection, request templates).
//! * [`registry`]: the live connections and the `@connections` operations on them.
//! * [`integration`]: what a route invokes, and the authorizer hook.
//! * [`push`]: the handlers' in-process push.
//! * [`page`]: the test page.
//! * [`realtime`]: the voice relay (its decisions in `realtime::protocol`, free of I/O).

pub mod api;
pub mod clock;
pub mod events;
pub mod gateway;
pub mod ids;
pub mod integration;
pub mod lambda;
pub mod page;
pub mod process;
pub mod push;
pub mod queue;
pub mod realtime;
pub mod registry;
pub mod services;
pub mod template;
pub mod template_server;

pub use gateway::{Gateway, GatewayConfig};
pub use integration::{AuthDecision, Authorizer, ChatIntegration, Integration};
pub use registry::Registry;
