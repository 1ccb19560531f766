//! The handlers' settings, the per-user quota limits among them, read from configuration
//! variables (the Lambda environment, or the local server's flags). The quota rules
//! (`crate::quota`) read their limits from here.

use std::time::Duration;

use streamgate_contract::config::DEFAULT_CONNECTION_TTL_SECONDS;
use streamgate_contract::quota as q;

use crate::coalesce::CoalesceSettings;
use crate::conversation::ConversationSettings;
use crate::retry::RetryPolicy;

/// Attempts at a throttled `@connections` post, unless configured.
pub const DEFAULT_POST_ATTEMPTS: u32 = 3;

/// Settings of the handlers.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// How long a connection record lives (DynamoDB TTL).
    pub connection_ttl: Duration,
    /// Coalescing of chunk frames.
    pub coalesce: CoalesceSettings,
    /// Retries of the model provider.
    pub retry: RetryPolicy,
    /// Instructions given to the model.
    pub system_prompt: Option<String>,
    /// The most tokens an answer may have.
    pub max_tokens: u32,
    /// Attempts at a throttled `@connections` post.
    pub post_attempts: u32,
    /// Per-user limits (users the authorizer named).
    pub quotas: QuotaSettings,
    /// How conversations are kept and replayed.
    pub conversations: ConversationSettings,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            connection_ttl: Duration::from_secs(DEFAULT_CONNECTION_TTL_SECONDS),
            coalesce: CoalesceSettings::default(),
            retry: RetryPolicy::default(),
            system_prompt: None,
            max_tokens: 1024,
            post_attempts: DEFAULT_POST_ATTEMPTS,
            quotas: QuotaSettings::default(),
            conversations: ConversationSettings::default(),
        }
    }
}

/// A setting has a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be {expected}, not {value:?}")]
pub struct SettingError {
    /// The variable.
    pub name: &'static str,
    /// What it must be.
    pub expected: &'static str,
    /// What it is.
    pub value: String,
}

/// Reads a whole number setting.
pub fn number_setting(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, SettingError> {
    let Some(value) = get(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(SettingError {
            name,
            expected: "a whole number in its allowed range",
            value,
        }),
    }
}

/// The per-user limits `crate::quota` applies, from the stack's parameters (or the local
/// server's flags).
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

impl ChatSettings {
    /// Settings from configuration variables (`get` looks one up, e.g. in the environment);
    /// missing ones keep their defaults.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<ChatSettings, SettingError> {
        use streamgate_contract::config as env;
        let mut s = ChatSettings::default();
        if let Some(ttl) = number_setting(get, env::CONNECTION_TTL_SECONDS, 60, 31_536_000)? {
            s.connection_ttl = Duration::from_secs(ttl);
        }
        if let Some(ms) = number_setting(get, env::CHUNK_WINDOW_MS, 0, 10_000)? {
            s.coalesce.window = Duration::from_millis(ms);
        }
        if let Some(bytes) = number_setting(get, env::CHUNK_MAX_BYTES, 1, 32 * 1024)? {
            s.coalesce.max_bytes = bytes as usize;
        }
        if let Some(tokens) = number_setting(get, env::LLM_MAX_TOKENS, 1, 1_000_000)? {
            s.max_tokens = tokens as u32;
        }
        if let Some(prompt) = get(env::SYSTEM_PROMPT).filter(|p| !p.trim().is_empty()) {
            if prompt.len() > env::MAX_SYSTEM_PROMPT_BYTES {
                return Err(SettingError {
                    name: env::SYSTEM_PROMPT,
                    expected: "at most 2048 bytes",
                    value: format!("{}...", prompt.chars().take(40).collect::<String>()),
                });
            }
            s.system_prompt = Some(prompt);
        }
        s.quotas = QuotaSettings::from_lookup(get)?;
        if let Some(tokens) = number_setting(get, env::HISTORY_TOKENS, 0, 1_000_000)? {
            s.conversations.history_tokens = tokens;
        }
        if let Some(days) = number_setting(get, env::CONVERSATION_TTL_DAYS, 1, 3650)? {
            s.conversations.ttl = Duration::from_secs(days * 24 * 60 * 60);
        }
        if let Some(ms) = number_setting(get, env::CANCEL_CHECK_MS, 20, 10_000)? {
            s.conversations.cancel_check = Duration::from_millis(ms);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn settings_come_from_configuration_variables() {
        use streamgate_contract::config as env;
        let vars: HashMap<&str, &str> = [
            (env::CONNECTION_TTL_SECONDS, "7200"),
            (env::CHUNK_WINDOW_MS, "25"),
        ]
        .into();
        let get = |k: &str| vars.get(k).map(|v| v.to_string());
        let s = ChatSettings::from_lookup(&get).unwrap();
        assert_eq!(s.connection_ttl, Duration::from_secs(7200));
        assert_eq!(s.coalesce.window, Duration::from_millis(25));
        assert_eq!(s.coalesce.max_bytes, CoalesceSettings::default().max_bytes);

        assert_eq!(s.system_prompt, None);

        let prompt = |k: &str| (k == env::SYSTEM_PROMPT).then(|| "Answer in French.".to_owned());
        let s = ChatSettings::from_lookup(&prompt).unwrap();
        assert_eq!(s.system_prompt.as_deref(), Some("Answer in French."));
        let long = |k: &str| (k == env::SYSTEM_PROMPT).then(|| "x".repeat(2049));
        assert_eq!(
            ChatSettings::from_lookup(&long).unwrap_err().name,
            env::SYSTEM_PROMPT
        );

        let bad = |k: &str| (k == env::CHUNK_MAX_BYTES).then(|| "lots".to_owned());
        let e = ChatSettings::from_lookup(&bad).unwrap_err();
        assert_eq!(e.name, env::CHUNK_MAX_BYTES);
        assert!(e.to_string().contains("\"lots\""));
    }
}
