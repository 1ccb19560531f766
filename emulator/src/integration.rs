//! What the server invokes for a route (the Lambda proxy integration), and the `$connect`
//! authorizer hook: the two traits every host implements (the in-process host in
//! `streamgate_server::in_process`, the template host in `streamgate_template_host::host`),
//! with the event and answer types (`aws_lambda_events`' own) and why an integration gave
//! no answer ([`IntegrationError`]).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::api::ApiRoute;

/// The WebSocket event API Gateway hands a proxy integration, as `aws_lambda_events` types it.
pub type WsEvent = aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;

/// A proxy integration's answer, as `aws_lambda_events` types it.
pub type WsResponse = aws_lambda_events::apigw::ApiGatewayProxyResponse;

/// Why an integration gave no answer; the client gets what API Gateway sends for a failed integration.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    /// No integration serves the route.
    #[error("no integration serves {0:?}")]
    NoRoute(String),
    /// The backend ran and failed (an error, a crash, a timeout).
    #[error("{0}")]
    Failed(String),
    /// The backend's answer is not one API Gateway can read.
    #[error("{0}")]
    Malformed(String),
}

/// A route's backend: it gets the event as JSON, as a Lambda function does. An `Err` (or a
/// panic) is a crashed invocation.
#[async_trait]
pub trait Integration: Send + Sync + 'static {
    /// Runs the integration of `route`.
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, IntegrationError>;
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
