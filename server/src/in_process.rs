//! The in-process host: the chat handlers called in this process ([`ChatIntegration`]), and how
//! they reach `@connections`: straight to the registry ([`LocalPush`], with the same answers
//! the HTTP management API gives), or through the AWS SDK over HTTP as in Lambda
//! ([`sdk_push_to_self`]).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use streamgate_contract::Route;
use streamgate_contract::limits::close;
use streamgate_core::event::{WsEvent, WsResponse};
use streamgate_core::{ChatApp, ClientPush, PushError, Target};

use streamgate_emulator::api::ApiRoute;
use streamgate_emulator::integration::{Integration, IntegrationError};
use streamgate_emulator::registry::{PostError, Registry};

/// The chat handlers in this process, each route to its contract function; the event is
/// deserialized as the Lambda runtime deserializes it.
pub struct ChatIntegration(pub ChatApp);

#[async_trait]
impl Integration for ChatIntegration {
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, IntegrationError> {
        let contract = Route::from_key(&route.key)
            .ok_or_else(|| IntegrationError::NoRoute(route.key.clone()))?;
        let event: WsEvent = serde_json::from_value(event).map_err(|e| {
            IntegrationError::Failed(format!("the event does not deserialize: {e}"))
        })?;
        Ok(self.0.handle(contract.function(), &event).await)
    }
}

/// Pushes to this server's connections without HTTP.
pub struct LocalPush(pub Arc<Registry>);

#[async_trait]
impl ClientPush for LocalPush {
    async fn post(&self, to: &Target, data: &str) -> Result<(), PushError> {
        self.0
            .post(&to.connection_id, data.to_owned())
            .map_err(push_error)
    }

    async fn disconnect(&self, to: &Target) -> Result<(), PushError> {
        self.0
            .close(&to.connection_id, close::NORMAL)
            .map_err(push_error)
    }
}

/// The registry's answer as the `@connections` API's typed error (the one the SDK push
/// gives for the same answer over HTTP).
fn push_error(e: PostError) -> PushError {
    match e {
        PostError::Gone => PushError::Gone,
        PostError::PayloadTooLarge => PushError::PayloadTooLarge,
        PostError::Throttled => PushError::Throttled,
    }
}

/// The AWS SDK push Lambda uses, aimed at this server's own `@connections` API (the endpoint
/// comes from each event's domain and stage; the local API accepts any signature).
pub fn sdk_push_to_self() -> Arc<dyn ClientPush> {
    let sdk = streamgate_local_services::loopback_sdk_config("local", "local", "us-east-1");
    Arc::new(streamgate_aws::ApiGatewayPush::new(
        sdk,
        streamgate_aws::EndpointMode::FromEvent { scheme: "http" },
    ))
}
