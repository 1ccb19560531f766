//! Admission to the voice relay: why a handshake is refused, and the places among the open
//! sessions (a global cap and a per-client one), each held by a [`SessionTicket`] from the
//! handshake until the session ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use streamgate_sync::Locked;

use super::catalog::Restaurant;

/// Why a `/realtime` handshake is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `restaurantId` (400).
    MissingRestaurant,
    /// No such restaurant (404).
    UnknownRestaurant(String),
    /// `language` is not a language tag (400).
    BadLanguage,
    /// Every session the server allows is in use (503).
    Full,
    /// This client holds as many sessions as one client may (429).
    TooManyForClient,
    /// The user's voice budget for today is spent (429).
    BudgetSpent {
        /// Seconds until the next UTC day.
        retry_after_seconds: u64,
    },
    /// The budget could not be checked (503).
    BudgetUnavailable,
}

impl Refusal {
    /// A stable name for logs and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Refusal::MissingRestaurant => "missing_restaurant",
            Refusal::UnknownRestaurant(_) => "unknown_restaurant",
            Refusal::BadLanguage => "bad_language",
            Refusal::Full => "full",
            Refusal::TooManyForClient => "too_many_for_client",
            Refusal::BudgetSpent { .. } => "budget_spent",
            Refusal::BudgetUnavailable => "budget_unavailable",
        }
    }
}

/// A place among the open sessions, taken at the handshake and given back when the session
/// ends (or its upgrade fails).
pub struct SessionTicket {
    admissions: Arc<Admissions>,
    client: String,
}

impl Drop for SessionTicket {
    fn drop(&mut self) {
        self.admissions.live.fetch_sub(1, Ordering::AcqRel);
        let mut per_client = self.admissions.per_client.locked();
        if let Some(n) = per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}

/// What a handshake was admitted with.
pub struct Admission {
    /// The restaurant.
    pub restaurant: Restaurant,
    /// The language tag.
    pub language: String,
    /// The session's place.
    pub ticket: SessionTicket,
}

/// The sessions open now, in all and per client.
#[derive(Default)]
pub struct Admissions {
    live: AtomicU64,
    per_client: Mutex<HashMap<String, usize>>,
}

impl Admissions {
    /// Sessions open now.
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// A place for `client` (its address, or its user), within `max` sessions in all and
    /// `per_client` for one client.
    pub fn take(
        self: &Arc<Self>,
        client: &str,
        max: usize,
        per_client: usize,
    ) -> Result<SessionTicket, Refusal> {
        let limit = per_client;
        let mut per_client = self.per_client.locked();
        let held = per_client.get(client).copied().unwrap_or(0);
        if held >= limit {
            return Err(Refusal::TooManyForClient);
        }
        let max = max as u64;
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| Refusal::Full)?;
        *per_client.entry(client.to_owned()).or_insert(0) += 1;
        Ok(SessionTicket {
            admissions: self.clone(),
            client: client.to_owned(),
        })
    }
}
