//! When to try the model provider again: only before anything reached the client, only for
//! retryable errors, with capped exponential backoff that honours the provider's
//! `retry-after`.

use std::time::Duration;

use crate::ports::LlmError;

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub base_delay: Duration,
    /// Longest wait, whatever the provider asks.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1` after `error` on attempt `attempt`
    /// (1-based); `None` when not to retry.
    pub fn next_delay(&self, attempt: u32, error: &LlmError) -> Option<Duration> {
        if attempt >= self.max_attempts || !error.retryable() {
            return None;
        }
        let backoff = self.base_delay.saturating_mul(1 << (attempt - 1).min(16));
        let wait = error
            .retry_after()
            .map_or(backoff, |asked| asked.max(backoff));
        Some(wait.min(self.max_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable(retryable: bool, retry_after: Option<Duration>) -> LlmError {
        LlmError::Unavailable {
            message: "503".into(),
            retryable,
            retry_after,
        }
    }

    #[test]
    fn backs_off_exponentially_and_stops() {
        let p = RetryPolicy::default();
        let e = unavailable(true, None);
        assert_eq!(p.next_delay(1, &e), Some(Duration::from_millis(250)));
        assert_eq!(p.next_delay(2, &e), Some(Duration::from_millis(500)));
        assert_eq!(p.next_delay(3, &e), None);
    }

    #[test]
    fn honours_retry_after_within_the_cap() {
        let p = RetryPolicy::default();
        let asked = LlmError::RateLimited {
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(p.next_delay(1, &asked), Some(Duration::from_secs(2)));
        let greedy = unavailable(true, Some(Duration::from_secs(600)));
        assert_eq!(p.next_delay(1, &greedy), Some(p.max_delay));
    }

    #[test]
    fn never_retries_what_cannot_succeed() {
        let p = RetryPolicy::default();
        assert_eq!(p.next_delay(1, &LlmError::Auth("401".into())), None);
        assert_eq!(p.next_delay(1, &LlmError::Rejected("400".into())), None);
        assert_eq!(p.next_delay(1, &unavailable(false, None)), None);
    }
}
