//! An answer's conversation opened: which conversation it goes into (a new one named after
//! the event, so a repeated delivery names the same one), the claim on it (refusals told to
//! the client: `not_found`, `conversation_busy`, nothing for a delivery seen before), the
//! claim given back when the answer is refused before it begins, and the earlier turns read.

use streamgate_contract::conversation::{HISTORY_READ_TURNS, Turn, title_of};
use streamgate_contract::{ErrorCode, ErrorFrame, Function};
use tracing::{info, warn};

use super::Parts;
use crate::clock::now_ms;
use crate::conversation::{Claim, Claimed, new_conversation_id};
use crate::event;

/// How long a claim on a conversation holds when its answer never gives it back (a crashed
/// process): the `message` function's timeout and a minute.
const CLAIM_MS: i64 = (Function::Message.spec().timeout_seconds as i64 + 60) * 1000;

/// The conversation an answer goes into, and what its claim on it says.
pub(super) struct Place<'a> {
    /// The conversation.
    pub(super) id: String,
    /// `Some(title)`: the conversation is new, created by the claim.
    title: Option<String>,
    /// This delivery of the event (API Gateway's request id).
    pub(super) delivery: &'a str,
    /// When the client sent the message (epoch milliseconds; now when the event does not
    /// say).
    pub(super) event_time: i64,
    /// Epoch milliseconds when the answer began.
    now: i64,
    /// Epoch seconds after which the conversation may be deleted.
    pub(super) ttl: i64,
}

impl<'a> Place<'a> {
    /// The place of the answer `p`: the conversation the request names, or a new one named
    /// after the event.
    pub(super) fn of(p: &Parts<'a>) -> Place<'a> {
        let delivery = event::request_id(p.event).unwrap_or(p.request_id);
        let now = now_ms();
        let event_time = match p.event.request_context.request_time_epoch {
            t if t > 0 => t,
            _ => now,
        };
        let (id, title) = match &p.request.conversation_id {
            Some(id) => (id.clone(), None),
            // Named after the event, so the same event delivered twice names the same one.
            None => (
                new_conversation_id(event_time, &p.out.target().connection_id, delivery),
                Some(title_of(&p.request.data)),
            ),
        };
        let ttl = (now / 1000) + p.app.settings.conversations.ttl.as_secs() as i64;
        Place {
            id,
            title,
            delivery,
            event_time,
            now,
            ttl,
        }
    }

    /// Whether the answer starts a conversation (claimed, so created, only once metered).
    pub(super) fn is_new(&self) -> bool {
        self.title.is_some()
    }
}

/// The claim an answer needs before the model is asked: for an existing conversation, the
/// turn it will be and the earlier turns (newest first); a new one has none (turn 1) and is
/// claimed after the quota allows it. `None`: the client was told (or, for a delivery seen
/// before, needs nothing).
pub(super) async fn open(p: &Parts<'_>, place: &Place<'_>) -> Option<(u64, Vec<Turn>)> {
    if place.is_new() {
        return Some((1, Vec::new()));
    }
    let turn = claim(p, place).await?;
    let history = p
        .app
        .conversations
        .turns(&place.id, Some(turn), HISTORY_READ_TURNS)
        .await;
    match history {
        Ok(h) => Some((turn, h)),
        Err(e) => {
            warn!(error = %e, "cannot read the conversation");
            release(p, place).await;
            p.out
                .post_or_fail(
                    ErrorFrame::new(ErrorCode::Internal, "the conversation could not be read")
                        .for_request(p.request_id.to_owned())
                        .in_conversation(place.id.clone()),
                )
                .await;
            None
        }
    }
}

/// Claims the conversation (creating a new one): the turn the answer will be, or `None`
/// when refused (the client was told) or delivered before (answered once, already).
pub(super) async fn claim(p: &Parts<'_>, place: &Place<'_>) -> Option<u64> {
    let claim = Claim {
        owner: p.owner,
        conversation_id: &place.id,
        delivery: place.delivery,
        new_title: place.title.as_deref(),
        now_ms: place.now,
        until_ms: place.now + CLAIM_MS,
        ttl: place.ttl,
    };
    let frame = match p.app.conversations.claim(&claim).await {
        Ok(Claimed::Held { turn }) => return Some(turn),
        Ok(Claimed::Duplicate) => {
            info!("this event was delivered before: it is answered once");
            return None;
        }
        Ok(Claimed::NotFound) => ErrorFrame::new(ErrorCode::NotFound, "no such conversation"),
        Ok(Claimed::Busy) => ErrorFrame::new(
            ErrorCode::ConversationBusy,
            "an answer in this conversation is still streaming; wait for its done frame or cancel it",
        )
        .in_conversation(place.id.clone()),
        Err(e) => {
            warn!(error = %e, "cannot claim the conversation");
            ErrorFrame::new(ErrorCode::Internal, "the conversation could not be opened")
        }
    };
    p.out
        .post_or_fail(frame.for_request(p.request_id.to_owned()))
        .await;
    None
}

/// Gives the claim back without a turn (the answer was refused before it began).
pub(super) async fn release(p: &Parts<'_>, place: &Place<'_>) {
    if let Err(e) = p
        .app
        .conversations
        .release(p.owner, &place.id, place.delivery)
        .await
    {
        warn!(error = %e, "cannot give the conversation back");
    }
}
