//! `message`: the model's answer streams to the client as coalesced `chunk` frames
//! ([`super::stream`]), then exactly one `done` or `error` (`client_too_slow` when the client
//! does not read fast enough; its connection is closed when not even that gets through).
//!
//! An answer goes through four phases, each a function of its own: it opens its
//! conversation ([`open`]: the claim, `not_found` when the conversation is not the caller's,
//! `conversation_busy` when another answer holds it, an event delivered again answered once;
//! the earlier turns read and trimmed to the history budget, `crate::conversation::prompt`),
//! it is metered ([`meter`]: a user the authorizer named gets `quota_exceeded` when the answer
//! would go past their quotas, `crate::quota`), it streams, and it finishes ([`finish`]: the
//! turn, the message and the answer as delivered, marked when cut short, is stored and the
//! claim given back in one write, before the terminal frame, so the client's next message
//! finds the conversation free; then the quota is settled).

mod finish;
mod meter;
mod open;

use streamgate_contract::conversation::Owner;
use streamgate_contract::metrics::Metric;
use streamgate_contract::{MessageRequest, Route};
use streamgate_telemetry::add;
use tokio::time::Instant;
use tracing::{Instrument, info};

use super::inbound::Inbound;
use super::stream::{End, StopWatch, stream_answer};
use super::{ChatApp, span};
use crate::conversation::prompt;
use crate::event::{self, WsEvent, WsResponse};
use crate::outbox::Outbox;
use crate::ports::LlmRequest;
use crate::quota::{self, Spent};
use open::Place;

pub use finish::llm_error_frame;

/// How much earlier than the message a stop request may seem to be made and still count.
const STOP_CLOCK_SKEW_MS: i64 = 1_000;

/// `message`: streams the model's answer as `chunk` frames, then one `done` or `error`.
pub(super) async fn message(app: &ChatApp, event: &WsEvent) -> WsResponse {
    async {
        let Some(inbound) = Inbound::of(event, Route::Message) else {
            return event::status(400);
        };
        let out = app.outbox(&inbound.target);
        let request = match MessageRequest::parse(event::body(event).as_deref()) {
            Ok(r) => r,
            Err(frame) => {
                let frame = inbound.refusal(frame);
                info!(code = frame.code.as_str(), "bad message");
                out.post_or_fail(frame).await;
                return event::status(200);
            }
        };
        let request_id = request
            .request_id
            .clone()
            .unwrap_or_else(|| inbound.fallback_id.clone());
        let parts = Parts {
            app,
            event,
            out: &out,
            owner: &inbound.owner,
            request: &request,
            request_id: &request_id,
        };
        answer(&parts).await;
        event::status(200)
    }
    .instrument(span("message", event))
    .await
}

/// What one answer works with.
struct Parts<'a> {
    app: &'a ChatApp,
    event: &'a WsEvent,
    out: &'a Outbox<'a>,
    owner: &'a Owner,
    request: &'a MessageRequest,
    request_id: &'a str,
}

/// One answer, phase by phase: opens the conversation (a new one is created only once the
/// quota allows the answer, so a refusal leaves no empty conversation), meters it, streams
/// it, finishes it (the turn stored with the claim given back, then the terminal frame) and
/// settles its quota.
async fn answer(p: &Parts<'_>) {
    let place = Place::of(p);
    let Some((turn, history)) = open::open(p, &place).await else {
        return;
    };
    let settings = &p.app.settings;
    let (messages, replayed) = prompt::messages(
        &history,
        settings.conversations.history_tokens,
        &p.request.data,
    );
    let llm_request = LlmRequest {
        system: settings.system_prompt.clone(),
        messages,
        max_tokens: settings.max_tokens,
    };
    let Ok(lease) = meter::meter(p, llm_request.prompt_bytes()).await else {
        if !place.is_new() {
            open::release(p, &place).await;
        }
        return;
    };
    if place.is_new() && open::claim(p, &place).await.is_none() {
        if let Some(lease) = lease {
            quota::end_answer(p.app.quotas.as_ref(), lease, Spent::Nothing).await;
        }
        return;
    }
    info!(turn, replayed, "answering");
    let started = Instant::now();
    let mut delivered = String::new();
    let end = stream(p, &place, &llm_request, &mut delivered).await;
    finish::finish(p, &place, turn, &end, &delivered, started).await;
    meter::settle(p, lease, &end).await;
}

/// Streams the answer to `request` ([`stream_answer`]), appending what reached the client
/// to `delivered`; only a request the client named can be stopped (`cancel` names it). The
/// tokens the provider reported are counted.
async fn stream(
    p: &Parts<'_>,
    place: &Place<'_>,
    request: &LlmRequest,
    delivered: &mut String,
) -> End {
    let settings = &p.app.settings;
    let stop = p.request.request_id.as_deref().map(|id| StopWatch {
        store: p.app.conversations.as_ref(),
        connection_id: p.out.target().connection_id.as_str(),
        request_id: id,
        // API Gateway's clock and the cancel function's may differ by a little.
        since_ms: place.event_time - STOP_CLOCK_SKEW_MS,
        every: settings.conversations.cancel_check,
    });
    let llm = p.app.llm.as_ref();
    let end = stream_answer(
        p.out,
        p.request_id,
        llm,
        request,
        settings,
        stop.as_ref(),
        delivered,
    )
    .await;
    if let End::Done(Some(usage)) | End::Cancelled(Some(usage)) = &end {
        add(Metric::TokensIn, usage.input_tokens, &[llm.name()]);
        add(Metric::TokensOut, usage.output_tokens, &[llm.name()]);
    }
    end
}
