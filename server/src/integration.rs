//! What the server invokes for a route (the Lambda proxy integration), and the `$connect`
//! authorizer hook.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use streamgate_contract::Route;
use streamgate_core::ChatApp;
use streamgate_core::event::{WsEvent, WsResponse};

use crate::api::ApiRoute;

/// A route's backend: it gets the event as JSON, as a Lambda function does. An `Err` (or a
/// panic) is a crashed invocation.
#[async_trait]
pub trait Integration: Send + Sync + 'static {
    /// Runs the integration of `route`.
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, String>;
}

/// The chat handlers in this process, each route to its contract function; the event is
/// deserialized as the Lambda runtime deserializes it.
pub struct ChatIntegration(pub ChatApp);

#[async_trait]
impl Integration for ChatIntegration {
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, String> {
        let contract = Route::from_key(&route.key)
            .ok_or_else(|| format!("the chat API has no route {:?}", route.key))?;
        let event: WsEvent = serde_json::from_value(event)
            .map_err(|e| format!("the event does not deserialize: {e}"))?;
        Ok(self.0.handle(contract.function(), &event).await)
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
    /// The authorizer failed: 500.
    Error,
}

/// A `$connect` authorizer (API Gateway runs REQUEST authorizers on `$connect` only).
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// Decides on the CONNECT event (as JSON, as API Gateway builds it).
    async fn authorize(&self, event: &Value) -> AuthDecision;
}

/// Shared integration handle.
pub type SharedIntegration = Arc<dyn Integration>;
