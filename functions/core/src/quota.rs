//! Per-user quotas, as the handlers apply them: a connection's place on `$connect`, an
//! answer's place and its token reservation before the model is asked, the settlement after.
//! Only users the authorizer named have quotas (a `Public` API, or a local server run with
//! `--auth none`, has no users to count).
//!
//! Tokens are counted as the provider reports them (`usage`: prompt and answer). Before an
//! answer its cost is not known, so the handler reserves `max_tokens` plus the input's bytes
//! divided by four (a generous estimate of its tokens) and settles to the reported usage
//! afterwards; an answer that failed is settled to the input estimate, one cut short by a lost
//! client keeps its reservation (the provider may have billed it). A user's overspend is thus
//! bounded by the answers already in flight.

use streamgate_contract::conversation::estimated_tokens;
use streamgate_contract::quota::{
    self as q, ANSWER_PLACE_SECONDS, CONNECTION_PLACE_SECONDS, PLACE_RETRY_AFTER_SECONDS,
};
use streamgate_contract::{ErrorFrame, Usage};

use crate::ports::{QuotaStore, StoreError};
use crate::settings::QuotaSettings;

/// Why a quota refused, and when trying again may succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// Which quota: `connections`, `answers` or `tokens` (the metrics' label).
    pub quota: &'static str,
    /// A sentence for the client.
    pub sentence: &'static str,
    /// Seconds until it may succeed.
    pub retry_after_seconds: u64,
}

impl Exceeded {
    /// The `quota_exceeded` frame.
    pub fn frame(&self) -> ErrorFrame {
        ErrorFrame::quota_exceeded(self.sentence, self.retry_after_seconds)
    }
}

/// A quota check that could not be made or said no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// The user is over a limit.
    #[error("quota exceeded: {}", .0.sentence)]
    Exceeded(Exceeded),
    /// The quota store failed (the request is refused: spending unmetered is not an option).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The tokens reserved before an answer to a prompt of `input_bytes` (the system prompt,
/// the replayed history and the message) of at most `max_tokens`.
pub fn reservation(input_bytes: usize, max_tokens: u32) -> u64 {
    estimated_tokens(input_bytes) + u64::from(max_tokens)
}

/// How an answer ended, for its settlement.
#[derive(Debug, Clone, Copy)]
pub enum Spent {
    /// The provider reported its usage.
    Reported(Usage),
    /// The provider failed: the input estimate.
    Failed,
    /// The client went away mid-answer: the reservation stands.
    Unknown,
    /// The model was never asked (the conversation was busy or not the caller's).
    Nothing,
}

/// An answer's hold on its user's quotas, released by [`end_answer`].
#[derive(Debug)]
pub struct AnswerLease {
    user: String,
    place: String,
    reserved: u64,
    input_estimate: u64,
    started: u64,
}

/// Takes `user`'s place `place` for an answer and reserves its tokens. `place` is an id the
/// server owns, one per answer (API Gateway's id of the delivery), never one the client
/// chose: a place taken again under an id it already holds is granted (a delivery repeated),
/// so a client's own id, sent with many messages, would hold one place for many answers.
pub async fn begin_answer(
    store: &dyn QuotaStore,
    settings: &QuotaSettings,
    user: &str,
    place: &str,
    input_bytes: usize,
    max_tokens: u32,
    now: u64,
) -> Result<AnswerLease, QuotaError> {
    let places = q::answers_key(user);
    let expires = now + ANSWER_PLACE_SECONDS;
    let reserved = if settings.daily_token_budget > 0 {
        reservation(input_bytes, max_tokens)
    } else {
        0
    };
    let tokens = q::tokens_key(user, now);
    // The place and the tokens in one round trip (two updates at once); whichever is granted
    // is given back when the other is refused.
    let take = store.take_place(&places, place, settings.max_answers, now, expires);
    let spend = async {
        if reserved == 0 {
            return Ok(true);
        }
        store
            .spend(
                &tokens,
                reserved,
                settings.daily_token_budget,
                q::daily_ttl(now),
            )
            .await
    };
    let (place_result, spend_result) = futures::join!(take, spend);
    let placed = matches!(place_result, Ok(true));
    let granted = matches!(spend_result, Ok(true));
    if placed && granted {
        return Ok(AnswerLease {
            user: user.to_owned(),
            place: place.to_owned(),
            reserved,
            input_estimate: estimated_tokens(input_bytes),
            started: now,
        });
    }
    if placed {
        let _ = store.free_place(&places, place).await;
    }
    if granted && reserved > 0 {
        let _ = store
            .adjust(&tokens, -(reserved as i64), q::daily_ttl(now))
            .await;
    }
    place_result?;
    spend_result?;
    if !placed {
        return Err(QuotaError::Exceeded(Exceeded {
            quota: "answers",
            sentence: "you have as many answers streaming as you may; wait for one to finish",
            retry_after_seconds: PLACE_RETRY_AFTER_SECONDS,
        }));
    }
    Err(QuotaError::Exceeded(Exceeded {
        quota: "tokens",
        sentence: "your daily token budget is spent",
        retry_after_seconds: q::seconds_to_next_utc_day(now),
    }))
}

/// Settles an answer's tokens to what it spent and gives its place back. Failures are
/// logged: the place expires on its own, and a settlement lost leaves the reservation.
pub async fn end_answer(store: &dyn QuotaStore, lease: AnswerLease, spent: Spent) {
    let actual = match spent {
        Spent::Reported(u) => u.input_tokens + u.output_tokens,
        Spent::Failed => lease.input_estimate,
        Spent::Unknown => lease.reserved,
        Spent::Nothing => 0,
    };
    let delta = actual as i64 - lease.reserved as i64;
    let tokens = q::tokens_key(&lease.user, lease.started);
    let places = q::answers_key(&lease.user);
    // Both in one round trip.
    let settle = async {
        if lease.reserved > 0 && delta != 0 {
            store
                .adjust(&tokens, delta, q::daily_ttl(lease.started))
                .await
        } else {
            Ok(())
        }
    };
    let (settled, freed) = futures::join!(settle, store.free_place(&places, &lease.place));
    if let Err(e) = settled {
        tracing::warn!(error = %e, "cannot settle the answer's tokens");
    }
    if let Err(e) = freed {
        tracing::warn!(error = %e, "cannot give the answer's place back");
    }
}

/// Takes `user`'s place for `connection_id` (on `$connect`).
pub async fn open_connection(
    store: &dyn QuotaStore,
    settings: &QuotaSettings,
    user: &str,
    connection_id: &str,
    now: u64,
) -> Result<(), QuotaError> {
    let expires = now + CONNECTION_PLACE_SECONDS;
    if store
        .take_place(
            &q::connections_key(user),
            connection_id,
            settings.max_connections,
            now,
            expires,
        )
        .await?
    {
        Ok(())
    } else {
        Err(QuotaError::Exceeded(Exceeded {
            quota: "connections",
            sentence: "you have as many connections open as you may",
            retry_after_seconds: PLACE_RETRY_AFTER_SECONDS,
        }))
    }
}

/// Gives `user`'s place for `connection_id` back (on `$disconnect`).
pub async fn close_connection(
    store: &dyn QuotaStore,
    user: &str,
    connection_id: &str,
) -> Result<(), StoreError> {
    store
        .free_place(&q::connections_key(user), connection_id)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryQuotas;

    /// Whichever of the place and the tokens was granted is given back when the other is not.
    #[tokio::test]
    async fn a_refusal_leaves_nothing_taken() {
        let store = MemoryQuotas::new();
        let settings = QuotaSettings {
            daily_token_budget: 100,
            max_connections: 5,
            max_answers: 1,
        };
        let now = 1_795_996_800;
        let tokens = q::tokens_key("u", now);
        let places = q::answers_key("u");
        // Over budget (reserves 8 + 1 > 100 - 95): the place is given back.
        store.spend(&tokens, 95, 100, 0).await.unwrap();
        let e = begin_answer(&store, &settings, "u", "r1", 3, 8, now)
            .await
            .unwrap_err();
        assert!(matches!(e, QuotaError::Exceeded(ref x) if x.retry_after_seconds == 86_400));
        assert_eq!(store.places(&places), 0);
        assert_eq!(store.counter(&tokens), 95);
        // Room in the budget but the one place held: the tokens are given back.
        store.adjust(&tokens, -95, 0).await.unwrap();
        let lease = begin_answer(&store, &settings, "u", "r2", 3, 8, now)
            .await
            .unwrap();
        let e = begin_answer(&store, &settings, "u", "r3", 3, 8, now)
            .await
            .unwrap_err();
        assert!(matches!(e, QuotaError::Exceeded(ref x) if x.retry_after_seconds == 5));
        assert_eq!(store.counter(&tokens), 9, "only r2's reservation");
        // Settled to the usage, the place given back.
        let usage = Usage {
            input_tokens: 2,
            output_tokens: 3,
        };
        end_answer(&store, lease, Spent::Reported(usage)).await;
        assert_eq!(store.counter(&tokens), 5);
        assert_eq!(store.places(&places), 0);
    }
}
