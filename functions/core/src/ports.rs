//! The traits handlers do I/O through, and their typed errors.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use streamgate_contract::{ConnectionRecord, Usage};

// ------------------------------------------------------------------ connection store

/// Why the connection store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The table does not exist.
    #[error("the connections table {0:?} does not exist")]
    TableNotFound(String),
    /// A stored row is not a connection record.
    #[error("the record of connection {id} is malformed: {reason}")]
    Malformed {
        /// The connection id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The store could not be reached or refused the call.
    #[error("the connection store failed: {0}")]
    Unavailable(String),
}

/// Where connection records live (DynamoDB in AWS, memory locally).
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Writes (or overwrites) a record.
    async fn put(&self, record: &ConnectionRecord) -> Result<(), StoreError>;
    /// Reads a record.
    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError>;
    /// Deletes a record; deleting a missing record succeeds.
    async fn delete(&self, connection_id: &str) -> Result<(), StoreError>;
}

// ------------------------------------------------------------------ quotas

/// Where quotas are kept (DynamoDB in AWS, memory locally): counters that only grow within a
/// limit, and sets of places that expire. Every change is one atomic step, so requests in
/// parallel cannot overspend. Keys come from `streamgate_contract::quota`.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// Adds `amount` to the counter `key` if the total stays within `limit`; `false` (and no
    /// change) when it would not. The item lives until `ttl` (epoch seconds).
    async fn spend(&self, key: &str, amount: u64, limit: u64, ttl: u64)
    -> Result<bool, StoreError>;
    /// Adds `delta` to the counter `key` whatever the total (negative: a reservation settled
    /// lower).
    async fn adjust(&self, key: &str, delta: i64, ttl: u64) -> Result<(), StoreError>;
    /// Takes place `id` in the set `key`, until `expires`, if fewer than `limit` places that
    /// have not expired by `now` are held (holding `id` already counts as taking it).
    async fn take_place(
        &self,
        key: &str,
        id: &str,
        limit: u32,
        now: u64,
        expires: u64,
    ) -> Result<bool, StoreError>;
    /// Gives place `id` of the set `key` back (giving back a place not held succeeds).
    async fn free_place(&self, key: &str, id: &str) -> Result<(), StoreError>;
}

// ------------------------------------------------------------------ client push

/// A connection to send to, and the API Gateway endpoint that owns it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// API Gateway's connection id.
    pub connection_id: String,
    /// The API's domain (`abc.execute-api.eu-west-1.amazonaws.com`, or `localhost:3000`).
    pub domain_name: String,
    /// The stage.
    pub stage: String,
}

/// Why a push failed: the `@connections` API's typed errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// 410 `GoneException`: the client is gone (or not yet connected).
    #[error("the connection is gone")]
    Gone,
    /// 413 `PayloadTooLargeException`.
    #[error("the frame is larger than the 128 KB message limit")]
    PayloadTooLarge,
    /// 429 `LimitExceededException`.
    #[error("the @connections API throttled the post")]
    Throttled,
    /// 403 `ForbiddenException`: bad signature or no permission.
    #[error("the @connections API refused the call (403)")]
    Forbidden,
    /// 400 `BadRequestException`: malformed connection id.
    #[error("the @connections API rejected the connection id (400)")]
    BadRequest,
    /// Anything else (network, 5xx).
    #[error("posting to the connection failed: {0}")]
    Other(String),
}

/// Sends frames to clients (`POST @connections/{id}` in AWS).
#[async_trait]
pub trait ClientPush: Send + Sync {
    /// Sends one text message.
    async fn post(&self, to: &Target, data: &str) -> Result<(), PushError>;
    /// Closes a connection.
    async fn disconnect(&self, to: &Target) -> Result<(), PushError>;
}

// ------------------------------------------------------------------ LLM provider

/// An API key. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key; `None` when it is empty.
    pub fn new(key: impl Into<String>) -> Option<ApiKey> {
        let key = key.into();
        let key = key.trim().to_owned();
        (!key.is_empty()).then_some(ApiKey(key))
    }

    /// The key, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced, for logging upstream messages.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.0, "[redacted]")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// Who said a message of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The user.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// The role's name in the OpenAI, Anthropic and Bedrock APIs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Who said it.
    pub role: Role,
    /// What was said (never empty).
    pub text: String,
}

/// What the model is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmRequest {
    /// Instructions, if any.
    pub system: Option<String>,
    /// The conversation: earlier turns, oldest first, then the user's new message. It starts
    /// with a user message and alternates, as every provider requires.
    pub messages: Vec<ChatMessage>,
    /// The most tokens to generate.
    pub max_tokens: u32,
}

impl LlmRequest {
    /// A request of one user message.
    pub fn ask(system: Option<String>, input: impl Into<String>, max_tokens: u32) -> LlmRequest {
        LlmRequest {
            system,
            messages: vec![ChatMessage {
                role: Role::User,
                text: input.into(),
            }],
            max_tokens,
        }
    }

    /// The user's new message (the last one).
    pub fn input(&self) -> &str {
        self.messages.last().map_or("", |m| m.text.as_str())
    }

    /// Bytes of text sent: the system prompt and every message.
    pub fn prompt_bytes(&self) -> usize {
        self.system.as_ref().map_or(0, String::len)
            + self.messages.iter().map(|m| m.text.len()).sum::<usize>()
    }
}

/// One event of an answer stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmEvent {
    /// Text to append to the answer.
    Delta(String),
    /// Token counts (may come more than once: the last one wins).
    Usage(Usage),
}

/// Why the provider failed. Messages are safe to log: they never carry the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// 401/403: the key is missing, wrong or not allowed.
    #[error("the model provider refused the credentials ({0})")]
    Auth(String),
    /// 429.
    #[error("the model provider is rate limiting ({message})")]
    RateLimited {
        /// What the provider said, redacted.
        message: String,
        /// How long it asked us to wait.
        retry_after: Option<Duration>,
    },
    /// 400/404/413/422: the request itself is wrong (too long, unknown model).
    #[error("the model provider rejected the request ({0})")]
    Rejected(String),
    /// 408/409/5xx/529, a connection failure, or an error event in the stream.
    #[error("the model provider is unavailable ({message})")]
    Unavailable {
        /// What happened, redacted.
        message: String,
        /// Whether a new attempt may succeed.
        retryable: bool,
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The provider did not answer, or stopped sending, within the timeout.
    #[error("the model provider timed out ({0})")]
    Timeout(String),
    /// The provider sent something that is not its protocol.
    #[error("the model provider sent an unreadable stream ({0})")]
    Protocol(String),
}

impl LlmError {
    /// Whether a new attempt may succeed.
    pub fn retryable(&self) -> bool {
        match self {
            LlmError::RateLimited { .. } | LlmError::Timeout(_) => true,
            LlmError::Unavailable { retryable, .. } => *retryable,
            LlmError::Auth(_) | LlmError::Rejected(_) | LlmError::Protocol(_) => false,
        }
    }

    /// The wait the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::RateLimited { retry_after, .. }
            | LlmError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A stream of answer events; it ends after the last event. Dropping it cancels the request.
pub type LlmStream = BoxStream<'static, Result<LlmEvent, LlmError>>;

/// A model provider (OpenAI-compatible, Anthropic, echo).
#[async_trait]
pub trait LlmProvider: Send + Sync {
    /// Short name for logs (`openai`, `anthropic`, `echo`).
    fn name(&self) -> &'static str;
    /// Starts one attempt at an answer. Retrying is the caller's choice (see
    /// [`crate::retry`]), because only the caller knows whether anything reached the client.
    async fn stream(&self, request: &LlmRequest) -> Result<LlmStream, LlmError>;
}

// ------------------------------------------------------------------ not granted

/// What a function holds in place of a dependency its contract does not grant (a `connect`
/// function has no `@connections` access and no model key). Calls fail as they would in AWS
/// without the IAM grant: pushes with [`PushError::Forbidden`], the model with
/// [`LlmError::Auth`]. [`crate::ChatApp::handle`] never routes a function to a handler that
/// needs more than its contract grants, so in a correct build these calls never happen.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotGranted;

#[async_trait]
impl ClientPush for NotGranted {
    async fn post(&self, _to: &Target, _data: &str) -> Result<(), PushError> {
        Err(PushError::Forbidden)
    }

    async fn disconnect(&self, _to: &Target) -> Result<(), PushError> {
        Err(PushError::Forbidden)
    }
}

#[async_trait]
impl LlmProvider for NotGranted {
    fn name(&self) -> &'static str {
        "not-granted"
    }

    async fn stream(&self, _request: &LlmRequest) -> Result<LlmStream, LlmError> {
        Err(LlmError::Auth(
            "this function is not granted the model provider's key".into(),
        ))
    }
}

#[async_trait]
impl QuotaStore for NotGranted {
    async fn spend(&self, _: &str, _: u64, _: u64, _: u64) -> Result<bool, StoreError> {
        Err(not_granted_quotas())
    }

    async fn adjust(&self, _: &str, _: i64, _: u64) -> Result<(), StoreError> {
        Err(not_granted_quotas())
    }

    async fn take_place(
        &self,
        _: &str,
        _: &str,
        _: u32,
        _: u64,
        _: u64,
    ) -> Result<bool, StoreError> {
        Err(not_granted_quotas())
    }

    async fn free_place(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Err(not_granted_quotas())
    }
}

fn not_granted_quotas() -> StoreError {
    StoreError::Unavailable("this function is not granted the quotas table".into())
}
