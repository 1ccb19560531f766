//! Posting frames to one connection: throttled posts are retried briefly, and a client that
//! is gone has its record deleted.

use std::time::Duration;

use tracing::{error, info, warn};

use crate::ports::{ClientPush, ConnectionStore, PushError, Target};

/// Posts frames to one connection.
pub(crate) struct Outbox<'a> {
    pub(crate) push: &'a dyn ClientPush,
    pub(crate) store: &'a dyn ConnectionStore,
    pub(crate) target: &'a Target,
    pub(crate) attempts: u32,
}

impl Outbox<'_> {
    /// Posts one frame, retrying a throttled post with a short backoff.
    pub(crate) async fn post(&self, data: &str) -> Result<(), PushError> {
        let mut attempt = 1;
        loop {
            match self.push.post(self.target, data).await {
                Err(PushError::Throttled) if attempt < self.attempts => {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Deals with a failed post: a gone client's record is deleted.
    pub(crate) async fn failed(&self, e: PushError) {
        if e == PushError::Gone {
            info!("client gone; deleting its record");
            if let Err(e) = self.store.delete(&self.target.connection_id).await {
                warn!(error = %e, "cannot delete the record of a gone connection");
            }
        } else {
            error!(error = %e, "cannot post to the client");
        }
    }
}
