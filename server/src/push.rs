//! The in-process `@connections` push: the handlers' frames go straight to the registry,
//! with the same answers the HTTP management API gives.

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
        self.0.close(&to.connection_id, close::NORMAL, "")
    }
}
