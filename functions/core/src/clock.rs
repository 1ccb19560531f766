//! The wall clock the handlers and the in-memory stores read: epoch seconds (TTLs, quota
//! windows) and epoch milliseconds (claims, turns, stop requests).

use std::time::{SystemTime, UNIX_EPOCH};

/// Epoch seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
