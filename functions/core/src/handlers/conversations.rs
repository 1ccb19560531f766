//! The conversation actions: `history` (a page of one of the caller's conversations),
//! `conversations` (a page of the caller's conversations) and `cancel` (a request to stop one
//! of the connection's answers, which the streaming answer finds within
//! `ConversationSettings::cancel_check`).
//!
//! Another owner's conversation is `not_found`, exactly as one that does not exist. A stop
//! request is keyed by the connection, so one connection cannot stop another's answer; it is
//! answered by the stopped answer's `done` frame (`stopReason: "cancelled"`), and by nothing
//! when no such answer is streaming.

use streamgate_contract::conversation::CANCEL_MARK_TTL_SECONDS;
use streamgate_contract::requests::{CancelRequest, ConversationsRequest, HistoryRequest};
use streamgate_contract::{ErrorCode, ErrorFrame, Function, Route, ServerFrame};
use tracing::{Instrument, info, warn};

use super::inbound::Inbound;
use super::{ChatApp, span};
use crate::conversation::ConversationStore;
use crate::event::{self, WsEvent, WsResponse};

/// What an action answers: a frame, an error frame, or nothing (a stop request recorded).
type Reply = Result<Option<ServerFrame>, ErrorFrame>;

/// The conversations function: serves the event's route (`history`, `conversations` or
/// `cancel`); 500 for another route's event.
pub(super) async fn conversations(app: &ChatApp, event: &WsEvent) -> WsResponse {
    let route = event
        .request_context
        .route_key
        .as_deref()
        .and_then(Route::from_key)
        .filter(|r| r.function() == Function::Conversations);
    let Some(route) = route else {
        tracing::error!("the conversations function got another route's event");
        return event::status(500);
    };
    async {
        let Some(inbound) = Inbound::of(event, route) else {
            return event::status(400);
        };
        let body = event::body(event);
        let store = app.conversations.as_ref();
        let reply = match route {
            Route::History => match HistoryRequest::parse(body.as_deref()) {
                Err(frame) => Err(inbound.refusal(frame)),
                Ok(r) => {
                    let request_id = r.request_id.clone().unwrap_or(inbound.fallback_id.clone());
                    history(&r, request_id, &inbound.owner, store)
                        .await
                        .map(Some)
                }
            },
            Route::Conversations => match ConversationsRequest::parse(body.as_deref()) {
                Err(frame) => Err(inbound.refusal(frame)),
                Ok(r) => {
                    let request_id = r.request_id.clone().unwrap_or(inbound.fallback_id.clone());
                    list(&r, request_id, &inbound.owner, store).await.map(Some)
                }
            },
            Route::Cancel => match CancelRequest::parse(body.as_deref()) {
                Err(frame) => Err(inbound.refusal(frame)),
                Ok(r) => cancel(&r, &inbound.target.connection_id, store).await,
            },
            _ => {
                tracing::error!("not a conversation action");
                return event::status(500);
            }
        };
        let out = app.outbox(&inbound.target);
        match reply {
            Ok(None) => {}
            Ok(Some(frame)) => out.post_reply(&frame).await,
            Err(frame) => out.post_or_fail(frame).await,
        }
        event::status(200)
    }
    .instrument(span(route.key(), event))
    .await
}

/// Leaves a stop request for the connection's answer `r.request_id`; nothing is posted
/// when it is recorded (the stopped answer's `done` frame says so).
async fn cancel(
    r: &CancelRequest,
    connection_id: &str,
    conversations: &dyn ConversationStore,
) -> Reply {
    let ttl = crate::clock::now() + CANCEL_MARK_TTL_SECONDS;
    let at = crate::clock::now_ms();
    match conversations
        .request_stop(connection_id, &r.request_id, at, ttl as i64)
        .await
    {
        Ok(()) => {
            info!(request = %r.request_id, "stop requested");
            Ok(None)
        }
        Err(e) => {
            warn!(error = %e, "cannot record the stop request");
            Err(
                ErrorFrame::new(ErrorCode::Internal, "the answer could not be stopped")
                    .for_request(r.request_id.clone()),
            )
        }
    }
}

/// A page of the owner's conversation `r.conversation_id`, oldest turn first.
async fn history(
    r: &HistoryRequest,
    request_id: String,
    owner: &streamgate_contract::conversation::Owner,
    conversations: &dyn ConversationStore,
) -> Result<ServerFrame, ErrorFrame> {
    let unreadable = |e: crate::ports::StoreError| {
        warn!(error = %e, "cannot read the conversation");
        ErrorFrame::new(ErrorCode::Internal, "the conversation could not be read")
            .for_request(request_id.clone())
    };
    match conversations.conversation(owner, &r.conversation_id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(ErrorFrame::new(ErrorCode::NotFound, "no such conversation")
                .for_request(request_id.clone()));
        }
        Err(e) => return Err(unreadable(e)),
    }
    let newest_first = conversations
        .turns(&r.conversation_id, r.before, r.limit)
        .await
        .map_err(unreadable)?;
    Ok(super::pages::history(
        request_id,
        r.conversation_id.clone(),
        newest_first,
    ))
}

/// A page of the owner's conversations, newest first.
async fn list(
    r: &ConversationsRequest,
    request_id: String,
    owner: &streamgate_contract::conversation::Owner,
    conversations: &dyn ConversationStore,
) -> Result<ServerFrame, ErrorFrame> {
    // One more than asked: whether there is a next page is then known.
    let mut page = match conversations
        .conversations(owner, r.after.as_deref(), r.limit + 1)
        .await
    {
        Ok(page) => page,
        Err(e) => {
            warn!(error = %e, "cannot list the conversations");
            return Err(ErrorFrame::new(
                ErrorCode::Internal,
                "the conversations could not be listed",
            )
            .for_request(request_id));
        }
    };
    let more = page.len() > r.limit as usize;
    page.truncate(r.limit as usize);
    Ok(super::pages::conversations(request_id, page, more))
}
