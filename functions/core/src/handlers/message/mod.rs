//! `message`: the model's answer streams to the client as coalesced `chunk` frames
//! ([`super::stream`]), then exactly one `done` or `error` (`client_too_slow` when the client
//! does not read fast enough; its connection is closed when not even that gets through).
//!
//! Before the model is asked: a user the authorizer named gets `quota_exceeded` when an
//! answer would go past their quotas (`crate::quota`); the answer claims its conversation
//! (`not_found` when it is not the caller's, `conversation_busy` when another answer holds
//! it; an event delivered again is answered once); the conversation's earlier turns are read
//! and trimmed to the history budget (`crate::conversation::prompt`). After: the turn (the
//! message and the answer as delivered, marked when cut short) is stored and the claim given
//! back in one write, before the terminal frame, so the client's next message finds the
//! conversation free.

use streamgate_contract::conversation::{
    HISTORY_READ_TURNS, Owner, STORED_ANSWER_MAX_BYTES, StopReason, Turn, cut_to, title_of,
};
use streamgate_contract::metrics::Metric;
use streamgate_contract::{ErrorCode, ErrorFrame, Function, MessageRequest, Route, ServerFrame};
use streamgate_telemetry::{add, count, time};
use tokio::time::Instant;
use tracing::{Instrument, info, warn};

use super::span;
use super::stream::{End, StopWatch, stream_answer};
use crate::conversation::{
    Claim, Claimed, ConversationStore, new_conversation_id, now_ms, owner_of, prompt,
};
use crate::event::{self, WsEvent, WsResponse};
use crate::outbox::Outbox;
use crate::ports::{
    ClientPush, ConnectionStore, LlmError, LlmProvider, LlmRequest, PushError, QuotaStore,
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

/// How long a claim on a conversation holds when its answer never gives it back (a crashed
/// process): the `message` function's timeout and a minute.
const CLAIM_MS: i64 = (Function::Message.spec().timeout_seconds as i64 + 60) * 1000;

/// How much earlier than the message a stop request may seem to be made and still count.
const STOP_CLOCK_SKEW_MS: i64 = 1_000;

/// `message`: streams the model's answer as `chunk` frames, then one `done` or `error`.
pub async fn message(
    event: &WsEvent,
    push: &dyn ClientPush,
    store: &dyn ConnectionStore,
    llm: &dyn LlmProvider,
    quotas: &dyn QuotaStore,
    conversations: &dyn ConversationStore,
    settings: &ChatSettings,
) -> WsResponse {
    async {
        let (Some(target), Some(owner)) = (event::message_target(event), owner_of(event)) else {
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
                out.post_or_fail(frame).await;
                return event::status(200);
            }
        };
        let request_id = request.request_id.clone().unwrap_or(fallback_id);
        let parts = Parts {
            event,
            out: &out,
            owner: &owner,
            request: &request,
            request_id: &request_id,
            settings,
        };
        answer(&parts, llm, quotas, conversations).await;
        event::status(200)
    }
    .instrument(span("message", event))
    .await
}

/// What one answer works with.
struct Parts<'a> {
    event: &'a WsEvent,
    out: &'a Outbox<'a>,
    owner: &'a Owner,
    request: &'a MessageRequest,
    request_id: &'a str,
    settings: &'a ChatSettings,
}

/// Takes the user's quota for an answer to a prompt of `prompt_bytes`; `Err` when refused
/// (the client was told). Callers without a user (a `Public` API) have no quota.
async fn meter(
    p: &Parts<'_>,
    quotas: &dyn QuotaStore,
    prompt_bytes: usize,
) -> Result<Option<quota::AnswerLease>, ()> {
    let Some(user) = event::user_id(p.event) else {
        return Ok(None);
    };
    let begun = quota::begin_answer(
        quotas,
        &p.settings.quotas,
        user,
        p.request_id,
        prompt_bytes,
        p.settings.max_tokens,
        quota::now(),
    )
    .await;
    let frame = match begun {
        Ok(lease) => return Ok(Some(lease)),
        Err(QuotaError::Exceeded(e)) => {
            count(Metric::QuotaRefusals, &[e.quota]);
            info!("refused: {}", e.sentence);
            e.frame()
        }
        Err(QuotaError::Store(e)) => {
            warn!(error = %e, "cannot check the user's quotas");
            ErrorFrame::new(ErrorCode::Internal, "the request could not be metered")
        }
    };
    p.out
        .post_or_fail(frame.for_request(p.request_id.to_owned()))
        .await;
    Err(())
}

/// Claims the conversation (a new one only once the quota allows the answer, so a refusal
/// leaves no empty conversation), asks the model with its history, streams the answer,
/// stores the turn and posts the terminal frame.
async fn answer(
    p: &Parts<'_>,
    llm: &dyn LlmProvider,
    quotas: &dyn QuotaStore,
    conversations: &dyn ConversationStore,
) {
    let (event, out, owner, request, request_id, settings) =
        (p.event, p.out, p.owner, p.request, p.request_id, p.settings);
    let connection_id = out.target.connection_id.as_str();
    let delivery = event::request_id(event).unwrap_or(request_id);
    let now = now_ms();
    let event_time = match event.request_context.request_time_epoch {
        t if t > 0 => t,
        _ => now,
    };
    let (conversation_id, title) = match &request.conversation_id {
        Some(id) => (id.clone(), None),
        // Named after the event, so the same event delivered twice names the same one.
        None => (
            new_conversation_id(event_time, connection_id, delivery),
            Some(title_of(&request.data)),
        ),
    };
    let ttl = (now / 1000) + settings.conversations.ttl.as_secs() as i64;
    let claim = Claim {
        owner,
        conversation_id: &conversation_id,
        delivery,
        new_title: title.as_deref(),
        now_ms: now,
        until_ms: now + CLAIM_MS,
        ttl,
    };
    let claimed = async || -> Option<u64> {
        let frame = match conversations.claim(&claim).await {
            Ok(Claimed::Held { turn }) => return Some(turn),
            Ok(Claimed::Duplicate) => {
                info!("this event was delivered before: it is answered once");
                return None;
            }
            Ok(Claimed::NotFound) => {
                ErrorFrame::new(ErrorCode::NotFound, "no such conversation")
            }
            Ok(Claimed::Busy) => ErrorFrame::new(
                ErrorCode::ConversationBusy,
                "an answer in this conversation is still streaming; wait for its done frame or cancel it",
            )
            .in_conversation(conversation_id.clone()),
            Err(e) => {
                warn!(error = %e, "cannot claim the conversation");
                ErrorFrame::new(ErrorCode::Internal, "the conversation could not be opened")
            }
        };
        out.post_or_fail(frame.for_request(request_id.to_owned()))
            .await;
        None
    };
    let release = async || {
        if let Err(e) = conversations
            .release(owner, &conversation_id, delivery)
            .await
        {
            warn!(error = %e, "cannot give the conversation back");
        }
    };
    let new = title.is_some();
    let mut turn = 1;
    if !new {
        match claimed().await {
            Some(t) => turn = t,
            None => return,
        }
    }
    let history = if new {
        Ok(Vec::new())
    } else {
        conversations
            .turns(&conversation_id, Some(turn), HISTORY_READ_TURNS)
            .await
    };
    let history = match history {
        Ok(h) => h,
        Err(e) => {
            warn!(error = %e, "cannot read the conversation");
            release().await;
            out.post_or_fail(
                ErrorFrame::new(ErrorCode::Internal, "the conversation could not be read")
                    .for_request(request_id.to_owned())
                    .in_conversation(conversation_id.clone()),
            )
            .await;
            return;
        }
    };
    let (messages, replayed) = prompt::messages(
        &history,
        settings.conversations.history_tokens,
        &request.data,
    );
    let llm_request = LlmRequest {
        system: settings.system_prompt.clone(),
        messages,
        max_tokens: settings.max_tokens,
    };
    let Ok(lease) = meter(p, quotas, llm_request.prompt_bytes()).await else {
        if !new {
            release().await;
        }
        return;
    };
    if new && claimed().await.is_none() {
        if let Some(lease) = lease {
            quota::end_answer(quotas, lease, Spent::Nothing).await;
        }
        return;
    }
    info!(turn, replayed, "answering");
    let started = Instant::now();
    // Only a request the client named can be stopped: `cancel` names it.
    let stop = request.request_id.as_deref().map(|id| StopWatch {
        store: conversations,
        connection_id,
        request_id: id,
        // API Gateway's clock and the cancel function's may differ by a little.
        since_ms: event_time - STOP_CLOCK_SKEW_MS,
        every: settings.conversations.cancel_check,
    });
    let mut delivered = String::new();
    let end = stream_answer(
        out,
        request_id,
        llm,
        &llm_request,
        settings,
        stop.as_ref(),
        &mut delivered,
    )
    .await;
    let provider = llm.name();
    if let End::Done(Some(usage)) | End::Cancelled(Some(usage)) = &end {
        add(Metric::TokensIn, usage.input_tokens, &[provider]);
        add(Metric::TokensOut, usage.output_tokens, &[provider]);
    }
    let stop_reason = match &end {
        End::Done(_) => None,
        End::Cancelled(_) => Some(StopReason::Cancelled),
        End::Failed(_) | End::ClientLost(PushError::Throttled) => Some(StopReason::Error),
        End::ClientLost(_) => Some(StopReason::ClientGone),
    };
    let stored = Turn {
        turn,
        user: request.data.clone(),
        answer: cut_to(&delivered, STORED_ANSWER_MAX_BYTES).to_owned(),
        stop_reason,
        at: now_ms(),
        request_id: request_id.to_owned(),
    };
    if let Err(e) = conversations
        .store_turn(owner, &conversation_id, delivery, &stored, ttl)
        .await
    {
        warn!(error = %e, "cannot store the turn");
    }
    let posted = match &end {
        End::Done(usage) | End::Cancelled(usage) => {
            let done = ServerFrame::Done {
                request_id: request_id.to_owned(),
                usage: *usage,
                conversation_id: Some(conversation_id.clone()),
                stop_reason,
            };
            out.post(&done.to_json()).await.map(|()| match end {
                End::Cancelled(_) => "cancelled",
                _ => "done",
            })
        }
        End::Failed(e) => {
            warn!(provider, error = %e, "the model provider failed");
            let frame = llm_error_frame(e)
                .for_request(request_id.to_owned())
                .in_conversation(conversation_id.clone());
            out.post_error(frame).await.map(|()| "error")
        }
        End::ClientLost(e) => Err(e.clone()),
    };
    let outcome = match posted {
        Ok(outcome) => {
            info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                outcome, "answer finished"
            );
            outcome
        }
        Err(PushError::Throttled) => {
            out.too_slow(request_id).await;
            "abandoned"
        }
        Err(e) => {
            out.failed(e).await;
            "abandoned"
        }
    };
    count(Metric::Answers, &[outcome]);
    time(Metric::AnswerDuration, started.elapsed(), &[provider]);
    if let Some(lease) = lease {
        let spent = match &end {
            End::Done(Some(usage)) | End::Cancelled(Some(usage)) => Spent::Reported(*usage),
            End::Failed(_) => Spent::Failed,
            _ => Spent::Unknown,
        };
        quota::end_answer(quotas, lease, spent).await;
    }
}
