//! Names of the environment variables that carry deployment settings to the functions.
//!
//! The generator writes them into each function's `Environment`; the binaries and the local
//! server read them. Secrets are never among them: in Lambda the API key is read from the
//! Secrets Manager secret whose ARN [`LLM_API_KEY_SECRET_ARN`] carries.

/// Name of the DynamoDB connections table.
pub const TABLE_NAME: &str = "STREAMGATE_TABLE";
/// Seconds a connection record lives before DynamoDB's TTL may delete it.
pub const CONNECTION_TTL_SECONDS: &str = "STREAMGATE_CONNECTION_TTL_SECONDS";
/// The management endpoint (`https://{domain}/{stage}`), when it is not derived from the event.
pub const MANAGEMENT_ENDPOINT: &str = "STREAMGATE_MANAGEMENT_ENDPOINT";
/// LLM provider: `echo`, `openai`, `anthropic` or `bedrock`.
pub const LLM_PROVIDER: &str = "STREAMGATE_LLM_PROVIDER";
/// Model name passed to the provider (for Bedrock: a model id or an inference profile).
pub const LLM_MODEL: &str = "STREAMGATE_LLM_MODEL";
/// Base URL of the provider (empty: the provider's public endpoint; for Bedrock, the
/// region's `bedrock-runtime` endpoint).
pub const LLM_BASE_URL: &str = "STREAMGATE_LLM_BASE_URL";
/// ARN of the Secrets Manager secret holding the provider's API key (Lambda).
pub const LLM_API_KEY_SECRET_ARN: &str = "STREAMGATE_LLM_API_KEY_SECRET_ARN";
/// Name of the environment variable holding the provider's API key (local runs).
pub const LLM_API_KEY_ENV: &str = "STREAMGATE_LLM_API_KEY_ENV";
/// Maximum output tokens asked of the provider.
pub const LLM_MAX_TOKENS: &str = "STREAMGATE_LLM_MAX_TOKENS";
/// Milliseconds the echo provider waits before each word (default 20; 0 for benchmarks).
pub const ECHO_DELAY_MS: &str = "STREAMGATE_ECHO_DELAY_MS";
/// Instructions given to the model before every question, whatever the provider (empty: none).
pub const SYSTEM_PROMPT: &str = "STREAMGATE_SYSTEM_PROMPT";
/// The longest [`SYSTEM_PROMPT`], in bytes: Lambda allows 4 KB for all of a function's
/// variables together.
pub const MAX_SYSTEM_PROMPT_BYTES: usize = 2048;
/// Coalescing window for chunk frames, in milliseconds.
pub const CHUNK_WINDOW_MS: &str = "STREAMGATE_CHUNK_WINDOW_MS";
/// Coalescing byte budget for chunk frames.
pub const CHUNK_MAX_BYTES: &str = "STREAMGATE_CHUNK_MAX_BYTES";

/// The OIDC issuer whose tokens the authorizer accepts (`https://...`; discovery at
/// `{issuer}/.well-known/openid-configuration`).
pub const AUTH_ISSUER: &str = "STREAMGATE_AUTH_ISSUER";
/// The accepted audiences (ID tokens' `aud`) or app clients (Cognito access tokens'
/// `client_id`), comma-separated.
pub const AUTH_AUDIENCE: &str = "STREAMGATE_AUTH_AUDIENCE";
/// Name of the DynamoDB quotas table.
pub const QUOTA_TABLE_NAME: &str = "STREAMGATE_QUOTA_TABLE";
/// Name of the DynamoDB conversations table.
pub const CONVERSATIONS_TABLE_NAME: &str = "STREAMGATE_CONVERSATIONS_TABLE";
/// Days a conversation is kept after its last turn.
pub const CONVERSATION_TTL_DAYS: &str = "STREAMGATE_CONVERSATION_TTL_DAYS";
/// Estimated tokens of earlier turns replayed to the model (0: none; see
/// `conversation::BYTES_PER_TOKEN`).
pub const HISTORY_TOKENS: &str = "STREAMGATE_HISTORY_TOKENS";
/// Milliseconds between two looks for a stop request while an answer streams (each look is
/// one read of the conversations table).
pub const CANCEL_CHECK_MS: &str = "STREAMGATE_CANCEL_CHECK_MS";
/// Tokens (input and output) a user may spend per UTC day (0: no budget).
pub const DAILY_TOKEN_BUDGET: &str = "STREAMGATE_DAILY_TOKEN_BUDGET";
/// Live connections per user.
pub const MAX_CONNECTIONS_PER_USER: &str = "STREAMGATE_MAX_CONNECTIONS_PER_USER";
/// Answers in flight per user.
pub const MAX_ANSWERS_PER_USER: &str = "STREAMGATE_MAX_ANSWERS_PER_USER";

/// The value of the metrics' `Service` dimension (the stack's name; `streamgate` when unset).
pub const METRICS_SERVICE: &str = "STREAMGATE_METRICS_SERVICE";
/// `off`: record no metrics and write no EMF lines (each metric CloudWatch receives is a
/// billed custom metric); anything else, or unset: on.
pub const METRICS: &str = "STREAMGATE_METRICS";

/// Whether a [`METRICS`] value turns metrics off.
pub fn metrics_off(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.trim().eq_ignore_ascii_case("off"))
}

/// Default lifetime of a connection record: API Gateway's 2 h connection limit plus an hour.
pub const DEFAULT_CONNECTION_TTL_SECONDS: u64 = 3 * 60 * 60;

/// The LLM providers a deployment can choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LlmProviderKind {
    /// Built in: streams the input back word by word, no network, no key.
    Echo,
    /// OpenAI Chat Completions and compatible servers (vLLM, Ollama, llama.cpp, LM Studio).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Amazon Bedrock `ConverseStream`, signed with the function's own AWS credentials.
    Bedrock,
}

impl LlmProviderKind {
    /// Every provider.
    pub const ALL: &'static [LlmProviderKind] = &[
        LlmProviderKind::Echo,
        LlmProviderKind::OpenAi,
        LlmProviderKind::Anthropic,
        LlmProviderKind::Bedrock,
    ];

    /// The configured name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LlmProviderKind::Echo => "echo",
            LlmProviderKind::OpenAi => "openai",
            LlmProviderKind::Anthropic => "anthropic",
            LlmProviderKind::Bedrock => "bedrock",
        }
    }

    /// Parses a configured name.
    pub fn parse(s: &str) -> Option<LlmProviderKind> {
        LlmProviderKind::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
    }
}
