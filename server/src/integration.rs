//! What the server invokes for a route (the Lambda proxy integration), and the `$connect`
//! authorizer hook.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use streamgate_contract::Route;
use streamgate_core::ChatApp;
use streamgate_core::event::{WsEvent, WsResponse};

/// A route's backend. An `Err` (or a panic) is a crashed invocation.
#[async_trait]
pub trait Integration: Send + Sync + 'static {
    /// Runs the integration of `route`.
    async fn invoke(&self, route: Route, event: WsEvent) -> Result<WsResponse, String>;
}

/// The chat handlers, each route to its contract function.
pub struct ChatIntegration(pub ChatApp);

#[async_trait]
impl Integration for ChatIntegration {
    async fn invoke(&self, route: Route, event: WsEvent) -> Result<WsResponse, String> {
        Ok(self.0.handle(route.function(), &event).await)
    }
}

/// What a REQUEST authorizer decided about a `$connect`.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthDecision {
    /// Let it in; the principal and context appear in `requestContext.authorizer` of every
    /// later event.
    Allow {
        /// The principal.
        principal_id: String,
        /// Extra context.
        context: Map<String, Value>,
    },
    /// 401.
    Unauthorized,
    /// 403.
    Deny,
}

/// A `$connect` authorizer (API Gateway runs REQUEST authorizers on `$connect` only).
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// Decides on the CONNECT event.
    async fn authorize(&self, event: &WsEvent) -> AuthDecision;
}

/// Shared integration handle.
pub type SharedIntegration = Arc<dyn Integration>;
