//! Per-user quotas and their items in the quotas table (partition key [`attr::KEY`], TTL on
//! [`attr::TTL`]): a daily token budget, live connections and answers in flight. Every
//! change is one conditional `UpdateItem` (no read-then-write), so parallel requests cannot
//! overspend; places (connections, answers) are map entries that carry their own expiry, so
//! a `$disconnect` that never comes (API Gateway delivers it best-effort) frees its place
//! when the entry expires.

/// DynamoDB attribute names of the quota items.
pub mod attr {
    /// The item's key (S, partition key): see [`super::tokens_key`] and friends.
    pub const KEY: &str = "pk";
    /// Tokens or seconds spent (N).
    pub const USED: &str = "used";
    /// Places held: a map from a connection or request id to its expiry, epoch seconds (M).
    pub const LIVE: &str = "live";
    /// Epoch seconds after which DynamoDB may delete the item (N, the table's TTL).
    pub const TTL: &str = "ttl";
}

/// Default daily token budget per user (input and output tokens).
pub const DEFAULT_DAILY_TOKEN_BUDGET: u64 = 200_000;
/// Default live connections per user.
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: u32 = 5;
/// Default answers in flight per user.
pub const DEFAULT_MAX_ANSWERS_PER_USER: u32 = 2;
/// A connection's place expires this long after `$connect` (API Gateway closes every
/// connection after 2 hours).
pub const CONNECTION_PLACE_SECONDS: u64 = 2 * 60 * 60 + 60;
/// An answer's place expires this long after it started (the message function's timeout,
/// and a minute).
pub const ANSWER_PLACE_SECONDS: u64 = 300 + 60;
/// What `retryAfterSeconds` says when a place (connection, answer) frees up on its own.
pub const PLACE_RETRY_AFTER_SECONDS: u64 = 5;

/// The key of a user's token spending on the UTC day holding `epoch_seconds`.
pub fn tokens_key(user: &str, epoch_seconds: u64) -> String {
    format!("tokens#{user}#{}", utc_day(epoch_seconds))
}

/// The key of a user's voice seconds on the UTC day holding `epoch_seconds`.
pub fn voice_key(user: &str, epoch_seconds: u64) -> String {
    format!("voice#{user}#{}", utc_day(epoch_seconds))
}

/// The key of a user's live connections.
pub fn connections_key(user: &str) -> String {
    format!("connections#{user}")
}

/// The key of a user's answers in flight.
pub fn answers_key(user: &str) -> String {
    format!("answers#{user}")
}

/// Seconds from `epoch_seconds` to the next UTC midnight (when a daily budget starts over).
pub fn seconds_to_next_utc_day(epoch_seconds: u64) -> u64 {
    86_400 - epoch_seconds % 86_400
}

/// The TTL of a daily item: a day after its day ends.
pub fn daily_ttl(epoch_seconds: u64) -> u64 {
    epoch_seconds + seconds_to_next_utc_day(epoch_seconds) + 86_400
}

/// `YYYY-MM-DD` of the UTC day holding `epoch_seconds`.
pub fn utc_day(epoch_seconds: u64) -> String {
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar).
    let days = (epoch_seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_days_and_midnights() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400), "2000-02-29");
        assert_eq!(utc_day(1_795_996_799), "2026-11-29");
        assert_eq!(utc_day(1_795_996_800), "2026-11-30");
        assert_eq!(seconds_to_next_utc_day(1_795_996_799), 1);
        assert_eq!(seconds_to_next_utc_day(1_795_996_800), 86_400);
        assert_eq!(
            tokens_key("u1", 1_795_996_800),
            "tokens#u1#2026-11-30".to_owned()
        );
        assert!(daily_ttl(1_795_996_800) > 1_795_996_800 + 86_400);
    }
}
