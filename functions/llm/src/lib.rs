//! LLM providers behind [`streamgate_core::LlmProvider`]: OpenAI-compatible Chat
//! Completions, Anthropic Messages, Amazon Bedrock `ConverseStream` (through the AWS SDK,
//! signed with the caller's credentials), and the built-in echo.
//!
//! Each provider makes one attempt per call; retrying (only before anything reached the
//! client) is the handler's decision. Providers take a base URL and do not know whether it
//! is the public service, a self-hosted server or a test's mock.

pub mod anthropic;
pub mod bedrock;
pub mod echo;
pub mod http;
pub mod openai;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use streamgate_contract::config::LlmProviderKind;
use streamgate_core::{ApiKey, LlmProvider};

pub use anthropic::AnthropicProvider;
pub use bedrock::BedrockProvider;
pub use echo::EchoProvider;
pub use http::Timeouts;
pub use openai::OpenAiProvider;

/// What a provider is built from.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Which provider.
    pub kind: LlmProviderKind,
    /// Base URL (`None`: the public endpoint).
    pub base_url: Option<String>,
    /// Model name (required but for echo).
    pub model: Option<String>,
    /// API key, if the server needs one.
    pub api_key: Option<ApiKey>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Delay between echoed words.
    pub echo_delay: Duration,
    /// The AWS configuration (credentials, region) Bedrock is called with.
    pub aws: Option<aws_config::SdkConfig>,
}

impl ProviderConfig {
    /// The echo provider with default settings.
    pub fn echo() -> ProviderConfig {
        ProviderConfig {
            kind: LlmProviderKind::Echo,
            base_url: None,
            model: None,
            api_key: None,
            timeouts: Timeouts::default(),
            echo_delay: Duration::from_millis(20),
            aws: None,
        }
    }
}

/// A provider cannot be built from its configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A model name is required.
    #[error("the {0} provider needs a model name (set {1})")]
    MissingModel(&'static str, &'static str),
    /// The base URL is not http(s).
    #[error("the base URL {0:?} is not an http:// or https:// URL")]
    BadBaseUrl(String),
    /// The HTTP client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// Bedrock needs AWS credentials and a region.
    #[error("the bedrock provider needs an AWS configuration (credentials and a region)")]
    MissingAws,
}

/// What the HTTP providers are built from, checked.
struct HttpParts<'a> {
    http: reqwest::Client,
    base: &'a str,
    model: &'a str,
}

fn http_parts<'a>(
    config: &'a ProviderConfig,
    default_base: &'a str,
    name: &'static str,
) -> Result<HttpParts<'a>, ConfigError> {
    let base = config
        .base_url
        .as_deref()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or(default_base);
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(ConfigError::BadBaseUrl(base.to_owned()));
    }
    let model = config
        .model
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .ok_or(ConfigError::MissingModel(
            name,
            streamgate_contract::config::LLM_MODEL,
        ))?;
    let http = reqwest::Client::builder()
        .connect_timeout(config.timeouts.connect)
        .build()
        .map_err(|e| ConfigError::Client(e.to_string()))?;
    Ok(HttpParts { http, base, model })
}

/// Builds the configured provider.
pub fn build(config: &ProviderConfig) -> Result<Arc<dyn LlmProvider>, ConfigError> {
    let key = config.api_key.clone();
    Ok(match config.kind {
        LlmProviderKind::Echo => Arc::new(EchoProvider::new(config.echo_delay)),
        LlmProviderKind::OpenAi => {
            let p = http_parts(config, openai::DEFAULT_BASE_URL, "openai")?;
            Arc::new(OpenAiProvider::new(
                p.http,
                p.base,
                p.model,
                key,
                config.timeouts,
            ))
        }
        LlmProviderKind::Bedrock => {
            let model = config
                .model
                .as_deref()
                .filter(|m| !m.trim().is_empty())
                .ok_or(ConfigError::MissingModel(
                    "bedrock",
                    streamgate_contract::config::LLM_MODEL,
                ))?;
            let endpoint = config.base_url.as_deref().filter(|b| !b.trim().is_empty());
            if let Some(url) = endpoint
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError::BadBaseUrl(url.to_owned()));
            }
            let aws = config.aws.as_ref().ok_or(ConfigError::MissingAws)?;
            Arc::new(BedrockProvider::new(aws, endpoint, model, config.timeouts))
        }
        LlmProviderKind::Anthropic => {
            let p = http_parts(config, anthropic::DEFAULT_BASE_URL, "anthropic")?;
            Arc::new(AnthropicProvider::new(
                p.http,
                p.base,
                p.model,
                key,
                config.timeouts,
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_are_clear() {
        let mut c = ProviderConfig::echo();
        assert_eq!(build(&c).unwrap().name(), "echo");
        c.kind = LlmProviderKind::OpenAi;
        let e = build(&c).err().unwrap();
        assert!(
            e.to_string()
                .contains(streamgate_contract::config::LLM_MODEL),
            "{e}"
        );
        c.model = Some("m".into());
        c.base_url = Some("ftp://x".into());
        assert!(matches!(
            build(&c).err().unwrap(),
            ConfigError::BadBaseUrl(_)
        ));
        c.base_url = Some("http://127.0.0.1:1".into());
        assert_eq!(build(&c).unwrap().name(), "openai");
    }

    #[test]
    fn keys_never_show_in_debug_output() {
        let c = ProviderConfig {
            api_key: ApiKey::new("sk-very-secret"),
            ..ProviderConfig::echo()
        };
        assert!(!format!("{c:?}").contains("sk-very-secret"));
    }
}

/// A provider setting has a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be one of {allowed}, not {value:?}")]
pub struct UnknownProvider {
    /// The variable.
    pub name: &'static str,
    /// The allowed values.
    pub allowed: String,
    /// What it is.
    pub value: String,
}

impl ProviderConfig {
    /// The provider settings in configuration variables (`get` looks one up). The API key
    /// is not among them: see [`api_key_variable`].
    pub fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProviderConfig, UnknownProvider> {
        use streamgate_contract::config as env;
        let non_empty = |name| get(name).filter(|v: &String| !v.trim().is_empty());
        let kind = match non_empty(env::LLM_PROVIDER) {
            None => LlmProviderKind::Echo,
            Some(v) => LlmProviderKind::parse(v.trim()).ok_or_else(|| UnknownProvider {
                name: env::LLM_PROVIDER,
                allowed: LlmProviderKind::ALL
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                value: v,
            })?,
        };
        let defaults = ProviderConfig::echo();
        // An unreadable delay keeps the default: it only paces the echo provider.
        let echo_delay = non_empty(env::ECHO_DELAY_MS)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(defaults.echo_delay, |ms| {
                Duration::from_millis(ms.min(10_000))
            });
        Ok(ProviderConfig {
            kind,
            base_url: non_empty(env::LLM_BASE_URL),
            model: non_empty(env::LLM_MODEL),
            echo_delay,
            ..defaults
        })
    }
}

/// The environment variable that holds the API key on a local run: the one
/// `STREAMGATE_LLM_API_KEY_ENV` names, else the provider's usual one.
pub fn api_key_variable(
    kind: LlmProviderKind,
    get: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    get(streamgate_contract::config::LLM_API_KEY_ENV)
        .filter(|v| !v.trim().is_empty())
        .or_else(|| match kind {
            LlmProviderKind::Echo | LlmProviderKind::Bedrock => None,
            LlmProviderKind::OpenAi => Some("OPENAI_API_KEY".to_owned()),
            LlmProviderKind::Anthropic => Some("ANTHROPIC_API_KEY".to_owned()),
        })
}

#[cfg(test)]
mod conversation_bodies {
    use serde_json::json;
    use streamgate_core::LlmRequest;
    use streamgate_core::ports::{ChatMessage, Role};

    use crate::{AnthropicProvider, OpenAiProvider, Timeouts};

    fn conversation() -> LlmRequest {
        let said = |role, text: &str| ChatMessage {
            role,
            text: text.into(),
        };
        LlmRequest {
            system: Some("Be brief.".into()),
            messages: vec![
                said(Role::User, "soup?"),
                said(Role::Assistant, "tomato"),
                said(Role::User, "and dessert?"),
            ],
            max_tokens: 32,
        }
    }

    #[test]
    fn the_history_goes_to_each_provider_in_its_own_shape() {
        let http = reqwest::Client::new();
        let openai = OpenAiProvider::new(http.clone(), "http://x", "m", None, Timeouts::default());
        assert_eq!(
            openai.body(&conversation())["messages"],
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "soup?"},
                {"role": "assistant", "content": "tomato"},
                {"role": "user", "content": "and dessert?"}
            ])
        );
        let anthropic = AnthropicProvider::new(http, "http://x", "m", None, Timeouts::default());
        let body = anthropic.body(&conversation());
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": "soup?"},
                {"role": "assistant", "content": "tomato"},
                {"role": "user", "content": "and dessert?"}
            ])
        );
    }
}
