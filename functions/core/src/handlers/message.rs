//! `message`: the model's answer streams to the client as coalesced `chunk` frames, one post
//! in flight at a time, then exactly one `done` or `error` (`client_too_slow` when the client
//! does not read fast enough; its connection is closed when not even that gets through). A
//! user the authorizer named gets `quota_exceeded` before the model is asked when an answer
//! would go past their quotas (`crate::quota`).

use futures::StreamExt;
use futures::future::BoxFuture;
use streamgate_contract::metrics::Metric;
use streamgate_contract::{ErrorCode, ErrorFrame, MessageRequest, Route, ServerFrame, Usage};
use streamgate_telemetry::{add, count, time};
use tokio::time::Instant;
use tracing::{Instrument, debug, info, warn};

use super::span;
use crate::coalesce::Coalescer;
use crate::event::{self, WsEvent, WsResponse};
use crate::outbox::Outbox;
use crate::ports::{
    ClientPush, ConnectionStore, LlmError, LlmEvent, LlmProvider, LlmRequest, PushError, QuotaStore,
};
use crate::quota::{self, QuotaError, Spent};
use crate::settings::ChatSettings;

/// The error frame for a provider failure. The sentence is fixed per code: upstream messages
/// stay in the logs.
pub fn llm_error_frame(e: &LlmError) -> ErrorFrame {
    let (code, sentence) = match e {
        LlmError::Auth(_) => (
            ErrorCode::LlmAuth,
            "the model provider refused the credentials",
        ),
        LlmError::RateLimited { .. } => (
            ErrorCode::LlmRateLimited,
            "the model provider is rate limiting requests; try again shortly",
        ),
        LlmError::Rejected(_) => (
            ErrorCode::LlmRejected,
            "the model provider rejected the request",
        ),
        LlmError::Unavailable { .. } | LlmError::Protocol(_) => (
            ErrorCode::LlmUnavailable,
            "the model provider is unavailable",
        ),
        LlmError::Timeout(_) => (
            ErrorCode::LlmTimeout,
            "the model provider stopped answering",
        ),
    };
    ErrorFrame::new(code, sentence)
}

/// How an answer ended.
enum End {
    /// The provider finished.
    Done(Option<Usage>),
    /// The provider failed.
    Failed(LlmError),
    /// The client is gone, or cannot be posted to: stop everything.
    ClientLost(PushError),
}

/// `message`: streams the model's answer as `chunk` frames, then one `done` or `error`.
pub async fn message(
    event: &WsEvent,
    push: &dyn ClientPush,
    store: &dyn ConnectionStore,
    llm: &dyn LlmProvider,
    quotas: &dyn QuotaStore,
    settings: &ChatSettings,
) -> WsResponse {
    async {
        let Some(target) = event::message_target(event) else {
            return event::status(400);
        };
        let out = Outbox {
            push,
            store,
            target: &target,
            attempts: settings.post_attempts.max(1),
        };
        count(Metric::Messages, &[Route::Message.key()]);
        let fallback_id = event::request_id(event).unwrap_or("-").to_owned();
        let request = match MessageRequest::parse(event::body(event).as_deref()) {
            Ok(r) => r,
            Err(frame) => {
                let frame = match frame.request_id {
                    Some(_) => frame,
                    None => frame.for_request(fallback_id),
                };
                info!(code = frame.code.as_str(), "bad message");
                if let Err(e) = out.post_error(frame).await {
                    out.failed(e).await;
                }
                return event::status(200);
            }
        };
        let request_id = request.request_id.clone().unwrap_or(fallback_id);
        let llm_request = LlmRequest {
            system: settings.system_prompt.clone(),
            input: request.data,
            max_tokens: settings.max_tokens,
        };
        let lease = match event::user_id(event) {
            None => None,
            Some(user) => {
                let begun = quota::begin_answer(
                    quotas,
                    &settings.quotas,
                    user,
                    &request_id,
                    &llm_request.input,
                    llm_request.max_tokens,
                    quota::now(),
                )
                .await;
                match begun {
                    Ok(lease) => Some(lease),
                    Err(refused) => {
                        let frame = match refused {
                            QuotaError::Exceeded(e) => {
                                count(Metric::QuotaRefusals, &[e.quota]);
                                info!("refused: {}", e.sentence);
                                e.frame()
                            }
                            QuotaError::Store(e) => {
                                warn!(error = %e, "cannot check the user's quotas");
                                ErrorFrame::new(
                                    ErrorCode::Internal,
                                    "the request could not be metered",
                                )
                            }
                        };
                        if let Err(e) = out.post_error(frame.for_request(request_id.clone())).await
                        {
                            out.failed(e).await;
                        }
                        return event::status(200);
                    }
                }
            }
        };
        let started = Instant::now();
        let end = stream_answer(&out, &request_id, llm, &llm_request, settings, started).await;
        let provider = llm.name();
        if let End::Done(Some(usage)) = &end {
            add(Metric::TokensIn, usage.input_tokens, &[provider]);
            add(Metric::TokensOut, usage.output_tokens, &[provider]);
        }
        if let Some(lease) = lease {
            let spent = match &end {
                End::Done(Some(usage)) => Spent::Reported(*usage),
                End::Done(None) | End::ClientLost(_) => Spent::Unknown,
                End::Failed(_) => Spent::Failed,
            };
            quota::end_answer(quotas, lease, spent).await;
        }
        let posted = match end {
            End::Done(usage) => {
                let done = ServerFrame::Done {
                    request_id: request_id.clone(),
                    usage,
                };
                out.post(&done.to_json()).await.map(|()| "done")
            }
            End::Failed(e) => {
                warn!(provider, error = %e, "the model provider failed");
                let frame = llm_error_frame(&e).for_request(request_id.clone());
                out.post_error(frame).await.map(|()| "error")
            }
            End::ClientLost(e) => Err(e),
        };
        let outcome = match posted {
            Ok(outcome) => {
                info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    ok = outcome == "done",
                    "answer finished"
                );
                outcome
            }
            Err(PushError::Throttled) => {
                out.too_slow(&request_id).await;
                "abandoned"
            }
            Err(e) => {
                out.failed(e).await;
                "abandoned"
            }
        };
        count(Metric::Answers, &[outcome]);
        time(Metric::AnswerDuration, started.elapsed(), &[provider]);
        event::status(200)
    }
    .instrument(span("message", event))
    .await
}

/// Streams the answer as chunk frames (at most one post in flight, so frames stay in
/// order), retrying the provider only while nothing has reached the coalescer.
async fn stream_answer(
    out: &Outbox<'_>,
    request_id: &str,
    llm: &dyn LlmProvider,
    request: &LlmRequest,
    settings: &ChatSettings,
    started: Instant,
) -> End {
    let mut coalescer = Coalescer::new(settings.coalesce);
    let mut in_flight: Option<BoxFuture<'_, Result<(), PushError>>> = None;
    let mut usage = None;
    let mut received_any = false;
    let mut attempt = 1;
    let chunk = |content: String| {
        ServerFrame::Chunk {
            request_id: request_id.to_owned(),
            content,
        }
        .to_json()
    };

    let outcome: Result<(), LlmError> = 'attempts: loop {
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
                None => break Err(e),
            },
        };
        loop {
            let now = Instant::now();
            if in_flight.is_none() && coalescer.is_due(now) {
                // Due now: post without a trip through the timer.
                if let Some(content) = coalescer.take(now) {
                    let frame = chunk(content);
                    in_flight = Some(Box::pin(async move { out.post(&frame).await }));
                }
            }
            let due = coalescer.due_at(now);
            tokio::select! {
                biased;
                result = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                    in_flight = None;
                    if let Err(e) = result {
                        // Dropping the stream here closes the upstream request at once.
                        drop(stream);
                        return End::ClientLost(e);
                    }
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if in_flight.is_none() && due.is_some() => {
                    if let Some(content) = coalescer.take(Instant::now()) {
                        let frame = chunk(content);
                        in_flight = Some(Box::pin(async move { out.post(&frame).await }));
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
                            && let Some(delay) = settings.retry.next_delay(attempt, &e) {
                                debug!(attempt, error = %e, ?delay, "retrying the model provider");
                    count(Metric::Retries, &["model"]);
                                drop(stream);
                                tokio::time::sleep(delay).await;
                                attempt += 1;
                                continue 'attempts;
                            }
                        break 'attempts Err(e);
                    }
                    None => break 'attempts Ok(()),
                },
            }
        }
    };

    // Flush what is left, in order, before the terminal frame.
    if let Some(f) = in_flight.take()
        && let Err(e) = f.await
    {
        return End::ClientLost(e);
    }
    while let Some(content) = coalescer.take(Instant::now()) {
        if let Err(e) = out.post(&chunk(content)).await {
            return End::ClientLost(e);
        }
    }
    match outcome {
        Ok(()) => End::Done(usage),
        Err(e) => End::Failed(e),
    }
}
