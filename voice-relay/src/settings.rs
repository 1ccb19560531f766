//! The voice relay's settings and their defaults (the one place they are written: the
//! command lines take theirs from here).

use std::sync::Arc;
use std::time::Duration;

use streamgate_core::ApiKey;

use super::catalog::Catalog;

/// How often a client gets a ping by default: well under an Application Load Balancer's
/// default idle timeout (60 s).
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(25);

/// OpenAI's Realtime endpoint.
pub const DEFAULT_URL: &str = "wss://api.openai.com/v1/realtime";
/// The Realtime model.
pub const DEFAULT_MODEL: &str = "gpt-realtime";
/// The waiter's voice.
pub const DEFAULT_VOICE: &str = "marin";
/// Voice sessions open at once.
pub const DEFAULT_MAX_SESSIONS: usize = 100;
/// Voice sessions one client may hold at once.
pub const DEFAULT_MAX_SESSIONS_PER_CLIENT: usize = 4;

/// Settings of the voice relay.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// The Realtime endpoint, without the query (`wss://api.openai.com/v1/realtime`).
    pub base_url: String,
    /// The model (`gpt-realtime`).
    pub model: String,
    /// The waiter's voice.
    pub voice: String,
    /// The input transcription model.
    pub transcription_model: String,
    /// The API key; `None` makes `start_session` answer an error naming `api_key_var`.
    pub api_key: Option<ApiKey>,
    /// The environment variable the key comes from.
    pub api_key_var: String,
    /// The restaurants.
    pub catalog: Arc<Catalog>,
    /// Frames waiting to be written to the client.
    pub frames_to_client: usize,
    /// Events waiting to be sent to the upstream.
    pub events_to_upstream: usize,
    /// Events received from the upstream and not yet handled.
    pub events_from_upstream: usize,
    /// Seconds a connection record lives.
    pub record_ttl: Duration,
    /// A WebSocket ping goes to each client this often, so a load balancer in front (whose
    /// idle timeout must be longer) never sees a quiet socket.
    pub ping_interval: Duration,
    /// Sessions open at once (each may hold an upstream session billed to the key); the
    /// next handshake gets 503.
    pub max_sessions: usize,
    /// Sessions one client (its user when the authorizer named one, else its address) may
    /// hold at once; the next handshake gets 429.
    pub max_sessions_per_client: usize,
    /// Seconds of voice each signed-in user may spend per UTC day (0: no budget).
    pub daily_voice_seconds: u64,
    /// A session whose client sends no frame for this long is closed with 1001 (the
    /// server's pings and their pongs do not count).
    pub idle_timeout: Duration,
    /// A session is closed with 1001 after this long.
    pub max_lifetime: Duration,
}

impl RealtimeConfig {
    /// Settings with OpenAI's public endpoint and the sample catalog.
    pub fn new(catalog: Catalog, api_key: Option<ApiKey>) -> RealtimeConfig {
        RealtimeConfig {
            base_url: DEFAULT_URL.into(),
            model: DEFAULT_MODEL.into(),
            voice: DEFAULT_VOICE.into(),
            transcription_model: "whisper-1".into(),
            api_key,
            api_key_var: streamgate_contract::relay::env::OPENAI_API_KEY.into(),
            catalog: Arc::new(catalog),
            frames_to_client: 256,
            events_to_upstream: 64,
            events_from_upstream: 256,
            record_ttl: Duration::from_secs(
                streamgate_contract::config::DEFAULT_CONNECTION_TTL_SECONDS,
            ),
            ping_interval: DEFAULT_PING_INTERVAL,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_sessions_per_client: DEFAULT_MAX_SESSIONS_PER_CLIENT,
            daily_voice_seconds: streamgate_contract::relay::DEFAULT_DAILY_VOICE_SECONDS,
            idle_timeout: streamgate_contract::limits::IDLE_TIMEOUT,
            max_lifetime: streamgate_contract::limits::MAX_CONNECTION_DURATION,
        }
    }
}
