//! The LLM API key, read from Secrets Manager once per cold start.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use streamgate_core::ApiKey;

/// Why the key cannot be read. Never carries the secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The secret does not exist.
    #[error("the secret {0} does not exist")]
    NotFound(String),
    /// The function may not read it.
    #[error("access to the secret {0} is denied")]
    Denied(String),
    /// It has no usable string value.
    #[error("the secret {0} holds no API key (a plain string, or JSON with an \"apiKey\" field)")]
    Empty(String),
    /// Secrets Manager failed.
    #[error("cannot read the secret {arn}: {reason}")]
    Unavailable {
        /// The secret.
        arn: String,
        /// The SDK's error code.
        reason: String,
    },
}

/// The API key in a secret's string: the string itself, or the `apiKey` field of a JSON
/// object.
pub fn key_from_secret_string(s: &str) -> Option<ApiKey> {
    match serde_json_value(s) {
        Some(v) => v
            .get("apiKey")
            .or_else(|| v.get("api_key"))
            .and_then(|k| k.as_str())
            .and_then(ApiKey::new),
        None => ApiKey::new(s),
    }
}

fn serde_json_value(s: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let trimmed = s.trim_start();
    if !trimmed.starts_with('{') {
        return None;
    }
    serde_json::from_str(trimmed).ok()
}

/// Reads the API key from the secret `arn`.
pub async fn read_api_key(client: &Client, arn: &str) -> Result<ApiKey, SecretError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| match e.code() {
            Some("ResourceNotFoundException") => SecretError::NotFound(arn.to_owned()),
            Some("AccessDeniedException") => SecretError::Denied(arn.to_owned()),
            code => SecretError::Unavailable {
                arn: arn.to_owned(),
                reason: code.unwrap_or("no error code").to_owned(),
            },
        })?;
    out.secret_string()
        .and_then(key_from_secret_string)
        .ok_or_else(|| SecretError::Empty(arn.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_plain_or_json_secrets() {
        assert_eq!(key_from_secret_string("sk-1").unwrap().expose(), "sk-1");
        assert_eq!(
            key_from_secret_string(r#"{"apiKey": "sk-2"}"#)
                .unwrap()
                .expose(),
            "sk-2"
        );
        assert_eq!(key_from_secret_string(r#"{"other": "x"}"#), None);
        assert_eq!(key_from_secret_string("   "), None);
    }
}
