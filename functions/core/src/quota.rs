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

use std::time::{SystemTime, UNIX_EPOCH};

use streamgate_contract::quota::{
    self as q, ANSWER_PLACE_SECONDS, CONNECTION_PLACE_SECONDS, PLACE_RETRY_AFTER_SECONDS,
};
use streamgate_contract::{ErrorFrame, Usage};

use crate::ports::{QuotaStore, StoreError};
use crate::settings::{SettingError, number_setting};

/// The limits, from the stack's parameters (or the local server's flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSettings {
    /// Tokens per user per UTC day (0: no budget).
    pub daily_token_budget: u64,
    /// Live connections per user.
    pub max_connections: u32,
    /// Answers in flight per user.
    pub max_answers: u32,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        QuotaSettings {
            daily_token_budget: q::DEFAULT_DAILY_TOKEN_BUDGET,
            max_connections: q::DEFAULT_MAX_CONNECTIONS_PER_USER,
            max_answers: q::DEFAULT_MAX_ANSWERS_PER_USER,
        }
    }
}

impl QuotaSettings {
    /// Settings from configuration variables; missing ones keep their defaults.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        use streamgate_contract::config as env;
        let mut s = QuotaSettings::default();
        if let Some(n) = number_setting(get, env::DAILY_TOKEN_BUDGET, 0, 1_000_000_000)? {
            s.daily_token_budget = n;
        }
        if let Some(n) = number_setting(get, env::MAX_CONNECTIONS_PER_USER, 1, 1_000)? {
            s.max_connections = n as u32;
        }
        if let Some(n) = number_setting(get, env::MAX_ANSWERS_PER_USER, 1, 100)? {
            s.max_answers = n as u32;
        }
        Ok(s)
    }
}

/// Why a quota refused, and when trying again may succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
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

/// Epoch seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The tokens reserved before an answer to `input` of at most `max_tokens`.
pub fn reservation(input: &str, max_tokens: u32) -> u64 {
    input.len().div_ceil(4) as u64 + u64::from(max_tokens)
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
}

/// An answer's hold on its user's quotas, released by [`end_answer`].
#[derive(Debug)]
pub struct AnswerLease {
    user: String,
    request_id: String,
    reserved: u64,
    input_estimate: u64,
    started: u64,
}

/// Takes `user`'s place for answer `request_id` and reserves its tokens.
pub async fn begin_answer(
    store: &dyn QuotaStore,
    settings: &QuotaSettings,
    user: &str,
    request_id: &str,
    input: &str,
    max_tokens: u32,
    now: u64,
) -> Result<AnswerLease, QuotaError> {
    let places = q::answers_key(user);
    let expires = now + ANSWER_PLACE_SECONDS;
    if !store
        .take_place(&places, request_id, settings.max_answers, now, expires)
        .await?
    {
        return Err(QuotaError::Exceeded(Exceeded {
            sentence: "you have as many answers streaming as you may; wait for one to finish",
            retry_after_seconds: PLACE_RETRY_AFTER_SECONDS,
        }));
    }
    let mut reserved = 0;
    if settings.daily_token_budget > 0 {
        reserved = reservation(input, max_tokens);
        let granted = store
            .spend(
                &q::tokens_key(user, now),
                reserved,
                settings.daily_token_budget,
                q::daily_ttl(now),
            )
            .await;
        if !matches!(granted, Ok(true)) {
            let _ = store.free_place(&places, request_id).await;
            granted?;
            return Err(QuotaError::Exceeded(Exceeded {
                sentence: "your daily token budget is spent",
                retry_after_seconds: q::seconds_to_next_utc_day(now),
            }));
        }
    }
    Ok(AnswerLease {
        user: user.to_owned(),
        request_id: request_id.to_owned(),
        reserved,
        input_estimate: input.len().div_ceil(4) as u64,
        started: now,
    })
}

/// Settles an answer's tokens to what it spent and gives its place back. Failures are
/// logged: the place expires on its own, and a settlement lost leaves the reservation.
pub async fn end_answer(store: &dyn QuotaStore, lease: AnswerLease, spent: Spent) {
    if lease.reserved > 0 {
        let actual = match spent {
            Spent::Reported(u) => u.input_tokens + u.output_tokens,
            Spent::Failed => lease.input_estimate,
            Spent::Unknown => lease.reserved,
        };
        let delta = actual as i64 - lease.reserved as i64;
        if delta != 0
            && let Err(e) = store
                .adjust(
                    &q::tokens_key(&lease.user, lease.started),
                    delta,
                    q::daily_ttl(lease.started),
                )
                .await
        {
            tracing::warn!(error = %e, "cannot settle the answer's tokens");
        }
    }
    if let Err(e) = store
        .free_place(&q::answers_key(&lease.user), &lease.request_id)
        .await
    {
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
