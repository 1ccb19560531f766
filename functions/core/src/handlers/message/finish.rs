//! An answer finished: the turn stored as delivered (marked when cut short), which gives the
//! conversation's claim back in the same write, then exactly one terminal frame (`done`, or
//! `error` with a fixed sentence per code; `client_too_slow`, or the connection closed, for
//! a client that cannot take it), counted by how the answer came out.

use streamgate_contract::conversation::{STORED_ANSWER_MAX_BYTES, StopReason, Turn, cut_to};
use streamgate_contract::metrics::Metric;
use streamgate_contract::{ErrorCode, ErrorFrame, ServerFrame};
use streamgate_telemetry::{count, time};
use tokio::time::Instant;
use tracing::{info, warn};

use super::super::stream::End;
use super::Parts;
use super::open::Place;
use crate::clock::now_ms;
use crate::ports::{LlmError, PushError};

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

/// Stores turn `turn` with what was `delivered` (giving the claim back), then posts the
/// terminal frame; counts the answer by its outcome and times it from `started`.
pub(super) async fn finish(
    p: &Parts<'_>,
    place: &Place<'_>,
    turn: u64,
    end: &End,
    delivered: &str,
    started: Instant,
) {
    let stop_reason = stop_reason(end);
    let stored = Turn {
        turn,
        user: p.request.data.clone(),
        answer: cut_to(delivered, STORED_ANSWER_MAX_BYTES).to_owned(),
        stop_reason,
        at: now_ms(),
        request_id: p.request_id.to_owned(),
    };
    if let Err(e) = p
        .app
        .conversations
        .store_turn(p.owner, &place.id, place.delivery, &stored, place.ttl)
        .await
    {
        warn!(error = %e, "cannot store the turn");
    }
    let outcome = match terminal(p, place, end, stop_reason).await {
        Ok(outcome) => {
            info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                outcome, "answer finished"
            );
            outcome
        }
        Err(PushError::Throttled) => {
            p.out.too_slow(p.request_id).await;
            "abandoned"
        }
        Err(e) => {
            p.out.failed(e).await;
            "abandoned"
        }
    };
    count(Metric::Answers, &[outcome]);
    time(
        Metric::AnswerDuration,
        started.elapsed(),
        &[p.app.llm.name()],
    );
}

/// How a stored turn is marked: `None` for a whole answer.
fn stop_reason(end: &End) -> Option<StopReason> {
    match end {
        End::Done(_) => None,
        End::Cancelled(_) => Some(StopReason::Cancelled),
        End::Failed(_) | End::ClientLost(PushError::Throttled) => Some(StopReason::Error),
        End::ClientLost(_) => Some(StopReason::ClientGone),
    }
}

/// Posts the terminal frame of an answer that ended as `end`: what it came out as (`done`,
/// `cancelled`, `error`), or why the client could not be posted to.
async fn terminal(
    p: &Parts<'_>,
    place: &Place<'_>,
    end: &End,
    stop_reason: Option<StopReason>,
) -> Result<&'static str, PushError> {
    match end {
        End::Done(usage) | End::Cancelled(usage) => {
            let done = ServerFrame::Done {
                request_id: p.request_id.to_owned(),
                usage: *usage,
                conversation_id: Some(place.id.clone()),
                stop_reason,
            };
            p.out.post(&done.to_json()).await?;
            Ok(match end {
                End::Cancelled(_) => "cancelled",
                _ => "done",
            })
        }
        End::Failed(e) => {
            warn!(provider = p.app.llm.name(), error = %e, "the model provider failed");
            let frame = llm_error_frame(e)
                .for_request(p.request_id.to_owned())
                .in_conversation(place.id.clone());
            p.out.post_error(frame).await?;
            Ok("error")
        }
        End::ClientLost(e) => Err(e.clone()),
    }
}
