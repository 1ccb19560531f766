//! Posting frames to one connection: throttled posts are retried briefly, a client that
//! is gone has its record deleted, and a client too slow to take an answer gets a terminal
//! frame or, failing that, its connection closed: no request ends in silence.

use std::time::Duration;

use streamgate_contract::metrics::Metric;
use streamgate_contract::{ErrorCode, ErrorFrame, ServerFrame};
use streamgate_telemetry::count;
use tracing::{error, info, warn};

use crate::ports::{ClientPush, ConnectionStore, PushError, Target};
use crate::settings::ChatSettings;

/// Tries at posting the terminal frame of an abandoned answer, [`TERMINAL_PAUSE`] apart: a
/// client gets a few seconds more to make room than a chunk would.
pub(crate) const TERMINAL_ATTEMPTS: u32 = 8;

/// The pause between tries at a terminal frame.
pub(crate) const TERMINAL_PAUSE: Duration = Duration::from_millis(250);

/// Posts frames to one connection.
pub(crate) struct Outbox<'a> {
    push: &'a dyn ClientPush,
    store: &'a dyn ConnectionStore,
    target: &'a Target,
    attempts: u32,
}

impl<'a> Outbox<'a> {
    /// The one way a handler gets its outbox: posts to `target` through `push`, a throttled
    /// post tried `settings.post_attempts` times (at least once), a gone client's record
    /// deleted from `store`.
    pub(crate) fn new(
        push: &'a dyn ClientPush,
        store: &'a dyn ConnectionStore,
        target: &'a Target,
        settings: &ChatSettings,
    ) -> Outbox<'a> {
        Outbox {
            push,
            store,
            target,
            attempts: settings.post_attempts.max(1),
        }
    }

    /// The connection it posts to.
    pub(crate) fn target(&self) -> &Target {
        self.target
    }

    /// Posts one frame, retrying a throttled post with a short backoff.
    pub(crate) async fn post(&self, data: &str) -> Result<(), PushError> {
        let mut attempt = 1;
        loop {
            match self.post_once(data).await {
                Err(PushError::Throttled) if attempt < self.attempts => {
                    count(Metric::Retries, &["post"]);
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Posts an error frame (counted by its code).
    pub(crate) async fn post_error(&self, frame: ErrorFrame) -> Result<(), PushError> {
        count(Metric::Errors, &[frame.code.as_str()]);
        self.post(&ServerFrame::Error(frame).to_json()).await
    }

    /// Posts a reply (a `history` or `conversations` page); one API Gateway refuses as too
    /// large is answered with an `internal` error frame for its request instead, so the
    /// client is never left waiting. Other failures are dealt with as [`Self::failed`] says.
    pub(crate) async fn post_reply(&self, frame: &ServerFrame) {
        match self.post(&frame.to_json()).await {
            Ok(()) => {}
            Err(PushError::PayloadTooLarge) => {
                error!("a reply did not fit one frame");
                let refusal =
                    ErrorFrame::new(ErrorCode::Internal, "the reply did not fit one frame");
                let refusal = match frame.request_id() {
                    Some(id) => refusal.for_request(id.to_owned()),
                    None => refusal,
                };
                self.post_or_fail(refusal).await;
            }
            Err(e) => self.failed(e).await,
        }
    }

    /// Posts an error frame; a client that cannot take it is dealt with as [`Self::failed`]
    /// says.
    pub(crate) async fn post_or_fail(&self, frame: ErrorFrame) {
        if let Err(e) = self.post_error(frame).await {
            self.failed(e).await;
        }
    }

    /// One post, counted (and a `410 Gone` counted as such).
    async fn post_once(&self, data: &str) -> Result<(), PushError> {
        let result = self.push.post(self.target, data).await;
        count(Metric::Posts, &[]);
        if result == Err(PushError::Gone) {
            count(Metric::Gone, &[]);
        }
        result
    }

    /// The client cannot take the answer as fast as it comes (posts stay throttled past the
    /// retry budget): the request ends with `error` `client_too_slow`; when even that cannot
    /// be posted, the connection is closed (`DELETE @connections`), which the client sees and
    /// `$disconnect` cleans up after. The same happens on AWS, where `@connections` answers
    /// 429 when a client's buffer is full.
    pub(crate) async fn too_slow(&self, request_id: &str) {
        let frame = ServerFrame::Error(
            ErrorFrame::new(
                ErrorCode::ClientTooSlow,
                "the answer was abandoned: frames were not read fast enough",
            )
            .for_request(request_id.to_owned()),
        )
        .to_json();
        count(Metric::Errors, &[ErrorCode::ClientTooSlow.as_str()]);
        for attempt in 1..=TERMINAL_ATTEMPTS {
            match self.post_once(&frame).await {
                Ok(()) => {
                    warn!("client too slow; answer abandoned with client_too_slow");
                    return;
                }
                Err(PushError::Throttled) if attempt < TERMINAL_ATTEMPTS => {
                    tokio::time::sleep(TERMINAL_PAUSE).await;
                }
                Err(PushError::Throttled) => break,
                Err(e) => return self.failed(e).await,
            }
        }
        warn!("client too slow even for the terminal frame; closing its connection");
        match self.push.disconnect(self.target).await {
            Ok(()) => {}
            Err(e) => self.failed(e).await,
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
