//! A faithful emulator of API Gateway's WebSocket APIs: the URL table above every surface,
//! the WebSocket base they share (handshake, upgrade, origin check, close codes, listener),
//! the chat gateway, the `@connections` management API, route selection and request
//! templates. It hosts any [`Integration`]; it knows no product (the chat handlers, the
//! template host and the voice relay are crates that use it).
//!
//! * [`access`]: who may connect (`--auth`: the development issuer, a real one, or none) and
//!   the JWT `$connect` hook.
//! * [`gateway`]: the emulator, one module per concern (the URL table, the socket door every
//!   surface goes through ([`Gateway::admit`]), the chat handshake and `$connect`, the
//!   connection loop, invocations, the management API, the upgrade, the local AWS APIs the
//!   URL table joins ([`gateway::local_api::LocalApi`]), the [`gateway::VoiceSurface`] a
//!   voice product plugs in).
//! * [`events`]: the CONNECT / MESSAGE / DISCONNECT / authorizer events, built in one place.
//! * [`api`]: what an emulated API is (routes, integrations, selection, request templates).
//! * [`registry`]: the live connections and the `@connections` operations on them.
//! * [`queue`]: a socket's bounded outgoing queue (a close always finds a place).
//! * [`integration`]: what a route invokes (its event and answer types, its typed error),
//!   and the authorizer hook.
//! * [`page`]: the test page.
//! * [`process`]: what the server binaries share (logging, stop signals, the serve tail).
//! * [`callers`]: who may call what the server opens on loopback (the Runtime API's socket
//!   owner, the functions' session token, `Host` names that cannot rebind).
//! * [`stdout`]: standard output that never blocks the server (logs, banner, function output).

pub mod access;
pub mod api;
pub mod callers;
pub mod clock;
pub mod events;
pub mod gateway;
pub mod ids;
pub mod integration;
pub mod page;
pub mod process;
pub mod queue;
pub mod registry;
pub mod serve_args;
pub mod stdout;

pub use gateway::{Gateway, GatewayConfig, VoiceSurface};
pub use integration::{AuthDecision, Authorizer, Integration, IntegrationError};
pub use registry::Registry;
