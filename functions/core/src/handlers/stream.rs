//! One answer's stream: the model's deltas coalesced into `chunk` frames, one post in flight
//! at a time (so frames stay in order), the provider retried only while nothing has reached
//! the client, and a look for a stop request at a bounded rate. What the client received is
//! kept, so the turn stored is the answer as delivered.

use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use streamgate_contract::ServerFrame;
use streamgate_contract::Usage;
use streamgate_contract::metrics::Metric;
use streamgate_telemetry::{count, time};
use tokio::time::Instant;
use tracing::debug;

use crate::coalesce::Coalescer;
use crate::conversation::ConversationStore;
use crate::outbox::Outbox;
use crate::ports::{LlmError, LlmEvent, LlmProvider, LlmRequest, PushError};
use crate::settings::ChatSettings;

/// How an answer ended.
pub(super) enum End {
    /// The provider finished.
    Done(Option<Usage>),
    /// The client asked to stop: the upstream request was dropped.
    Cancelled(Option<Usage>),
    /// The provider failed.
    Failed(LlmError),
    /// The client is gone, or cannot be posted to: stop everything.
    ClientLost(PushError),
}

/// Where a stop request for this answer would be, and how often to look.
pub(super) struct StopWatch<'a> {
    pub(super) store: &'a dyn ConversationStore,
    pub(super) connection_id: &'a str,
    pub(super) request_id: &'a str,
    /// Only requests made since then count (when the client sent the message).
    pub(super) since_ms: i64,
    pub(super) every: Duration,
}

impl StopWatch<'_> {
    async fn requested(&self) -> bool {
        match self
            .store
            .stop_requested(self.connection_id, self.request_id, self.since_ms)
            .await
        {
            Ok(stop) => stop,
            Err(e) => {
                debug!(error = %e, "cannot look for a stop request");
                false
            }
        }
    }
}

/// What the stream loop ended with, before the flush.
enum Outcome {
    Finished,
    Stopped,
    Failed(LlmError),
}

/// Streams the answer to `request` as chunk frames, appending what each post delivered to
/// `delivered`.
pub(super) async fn stream_answer(
    out: &Outbox<'_>,
    request_id: &str,
    llm: &dyn LlmProvider,
    request: &LlmRequest,
    settings: &ChatSettings,
    stop: Option<&StopWatch<'_>>,
    delivered: &mut String,
) -> End {
    let started = Instant::now();
    let mut coalescer = Coalescer::new(settings.coalesce);
    let mut in_flight: Option<BoxFuture<'_, (Result<(), PushError>, String)>> = None;
    let mut looking: Option<BoxFuture<'_, bool>> = None;
    let mut next_look = stop.map(|s| Instant::now() + s.every);
    let mut usage = None;
    let mut received_any = false;
    let mut attempt = 1;
    let post = |content: String| -> BoxFuture<'_, (Result<(), PushError>, String)> {
        let frame = ServerFrame::Chunk {
            request_id: request_id.to_owned(),
            content,
        };
        Box::pin(async move {
            let result = out.post(&frame.to_json()).await;
            let ServerFrame::Chunk { content, .. } = frame else {
                unreachable!("built as a chunk above")
            };
            (result, content)
        })
    };

    let outcome: Outcome = 'attempts: loop {
        let mut stream = match llm.stream(request).await {
            Ok(s) => s,
            Err(e) => match settings.retry.next_delay(attempt, &e) {
                Some(delay) => {
                    debug!(attempt, error = %e, ?delay, "retrying the model provider");
                    count(Metric::Retries, &["model"]);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue 'attempts;
                }
                None => break Outcome::Failed(e),
            },
        };
        loop {
            let now = Instant::now();
            if in_flight.is_none()
                && coalescer.is_due(now)
                && let Some(content) = coalescer.take(now)
            {
                // Due now: post without a trip through the timer.
                in_flight = Some(post(content));
            }
            let due = coalescer.due_at(now);
            tokio::select! {
                biased;
                (result, content) = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                    in_flight = None;
                    match result {
                        Ok(()) => delivered.push_str(&content),
                        Err(e) => {
                            // Dropping the stream here closes the upstream request at once.
                            drop(stream);
                            return End::ClientLost(e);
                        }
                    }
                }
                stop_now = async { looking.as_mut().expect("guarded").await }, if looking.is_some() => {
                    looking = None;
                    if stop_now {
                        drop(stream);
                        break 'attempts Outcome::Stopped;
                    }
                    next_look = stop.map(|s| Instant::now() + s.every);
                }
                _ = tokio::time::sleep_until(next_look.unwrap_or_else(Instant::now)), if looking.is_none() && next_look.is_some() => {
                    if let Some(watch) = stop {
                        looking = Some(Box::pin(watch.requested()));
                    }
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if in_flight.is_none() && due.is_some() => {
                    if let Some(content) = coalescer.take(Instant::now()) {
                        in_flight = Some(post(content));
                    }
                }
                next = stream.next(), if !coalescer.is_full() => match next {
                    Some(Ok(LlmEvent::Delta(text))) => {
                        if !text.is_empty() {
                            if !received_any {
                                time(Metric::FirstToken, started.elapsed(), &[llm.name()]);
                            }
                            received_any = true;
                            coalescer.push(&text);
                        }
                    }
                    Some(Ok(LlmEvent::Usage(u))) => usage = Some(u),
                    Some(Err(e)) => {
                        if !received_any
                            && let Some(delay) = settings.retry.next_delay(attempt, &e)
                        {
                            debug!(attempt, error = %e, ?delay, "retrying the model provider");
                            count(Metric::Retries, &["model"]);
                            drop(stream);
                            tokio::time::sleep(delay).await;
                            attempt += 1;
                            continue 'attempts;
                        }
                        break 'attempts Outcome::Failed(e);
                    }
                    None => break 'attempts Outcome::Finished,
                },
            }
        }
    };

    // Flush what is left, in order, before the terminal frame.
    if let Some(f) = in_flight.take() {
        match f.await {
            (Ok(()), content) => delivered.push_str(&content),
            (Err(e), _) => return End::ClientLost(e),
        }
    }
    while let Some(content) = coalescer.take(Instant::now()) {
        match post(content).await {
            (Ok(()), content) => delivered.push_str(&content),
            (Err(e), _) => return End::ClientLost(e),
        }
    }
    match outcome {
        Outcome::Finished => End::Done(usage),
        Outcome::Stopped => End::Cancelled(usage),
        Outcome::Failed(e) => End::Failed(e),
    }
}
