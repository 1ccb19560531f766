//! How the in-process host's handlers reach `@connections`: straight to the registry, with the
//! same answers the HTTP management API gives, or through the AWS SDK over HTTP as in Lambda.

use std::sync::Arc;

use async_trait::async_trait;
use streamgate_contract::limits::close;
use streamgate_core::{ClientPush, PushError, Target};

use crate::registry::Registry;

/// Pushes to this server's connections without HTTP.
pub struct LocalPush(pub Arc<Registry>);

#[async_trait]
impl ClientPush for LocalPush {
    async fn post(&self, to: &Target, data: &str) -> Result<(), PushError> {
        self.0.post(&to.connection_id, data.to_owned())
    }

    async fn disconnect(&self, to: &Target) -> Result<(), PushError> {
        self.0.close(&to.connection_id, close::NORMAL)
    }
}

/// The AWS SDK push Lambda uses, aimed at this server's own `@connections` API (the endpoint
/// comes from each event's domain and stage; the local API accepts any signature).
pub fn sdk_push_to_self() -> Arc<dyn ClientPush> {
    let sdk = crate::services::loopback_sdk_config("local", "local", "us-east-1");
    Arc::new(streamgate_aws::ApiGatewayPush::new(
        sdk,
        streamgate_aws::EndpointMode::FromEvent { scheme: "http" },
    ))
}
