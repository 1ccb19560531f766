//! The persistent streamgate server: a faithful emulator of API Gateway's WebSocket APIs
//! that hosts the chat handlers, with the `@connections` management API on the same port
//! and a browser test page.
//!
//! * [`gateway`]: the emulator, one module per concern (the URL table, the handshake and
//!   `$connect`, the connection loop, invocations, the management API, the upgrade).
//! * [`events`]: the CONNECT / MESSAGE / DISCONNECT events, built in one place.
//! * [`api`]: what an emulated API is (routes, integrations, selection, request templates).
//! * [`registry`]: the live connections and the `@connections` operations on them.
//! * [`queue`]: a socket's bounded outgoing queue (a close always finds a place).
//! * [`integration`]: what a route invokes, and the authorizer hook.
//! * [`in_process`]: the in-process host: the handlers called here, and their push.
//! * [`page`]: the test page.
//! * [`realtime`]: the voice relay (its decisions in `realtime::protocol`, free of I/O).
//! * [`template`], [`template_server`], [`lambda`], [`services`]: `--template`: a CloudFormation
//!   template read into an API, its functions' `bootstrap`s run under the Lambda Runtime API,
//!   the tables and secrets they use.
//! * [`process`]: what the server binaries share (logging, stop signals, memory trim).
//! * [`callers`]: who may call what the server opens on loopback (the Runtime API's socket
//!   owner, the functions' session token, `Host` names that cannot rebind).
//! * [`reaper`]: every process the server starts dies with it (process groups, a watcher).
//! * [`stdout`]: standard output that never blocks the server (logs, banner, function output).

pub mod api;
pub mod callers;
pub mod clock;
pub mod events;
pub mod gateway;
pub mod ids;
pub mod in_process;
pub mod integration;
pub mod lambda;
pub mod page;
pub mod process;
pub mod queue;
pub mod realtime;
pub mod reaper;
pub mod registry;
pub mod services;
pub mod stdout;
pub mod template;
pub mod template_server;

pub use gateway::{Gateway, GatewayConfig};
pub use in_process::ChatIntegration;
pub use integration::{AuthDecision, Authorizer, Integration};
pub use registry::Registry;
