//! The voice relay's command-line settings, shared by `streamgate-server` (the relay beside
//! the chat API) and `streamgate-relay` (the relay alone, as ECS runs it): one definition,
//! flattened into both, each flag also read from the variable `streamgate_contract::relay::env`
//! names.

use std::time::Duration;

use clap::Args;
use streamgate_contract::relay::env;
use streamgate_core::ApiKey;

use super::catalog::Catalog;
use super::settings::{
    DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_CLIENT, DEFAULT_MODEL, DEFAULT_URL,
    DEFAULT_VOICE, RealtimeConfig,
};

/// The voice relay's settings.
#[derive(Args, Debug, Clone)]
pub struct VoiceArgs {
    /// The restaurant catalog: a JSON file (`streamgate-relay` also takes s3://BUCKET/KEY);
    /// default: the shipped sample.
    #[arg(long, env = env::CATALOG)]
    pub catalog: Option<String>,
    /// Realtime endpoint.
    #[arg(long, default_value = DEFAULT_URL, env = env::REALTIME_URL)]
    pub realtime_url: String,
    /// Realtime model.
    #[arg(long, default_value = DEFAULT_MODEL, env = env::REALTIME_MODEL)]
    pub realtime_model: String,
    /// The waiter's voice.
    #[arg(long, default_value = DEFAULT_VOICE, env = env::REALTIME_VOICE)]
    pub realtime_voice: String,
    /// Environment variable holding the Realtime API key (a task secret on ECS).
    #[arg(long, default_value = env::OPENAI_API_KEY, env = env::REALTIME_KEY_ENV)]
    pub realtime_key_env: String,
    /// Voice sessions open at once (each holds an upstream Realtime session); the next gets
    /// 503.
    #[arg(
        long = "voice-max-sessions",
        visible_alias = "max-sessions",
        default_value_t = DEFAULT_MAX_SESSIONS,
        env = env::MAX_SESSIONS
    )]
    pub max_sessions: usize,
    /// Voice sessions one client address may hold at once; the next gets 429.
    #[arg(
        long = "voice-max-sessions-per-client",
        visible_alias = "max-sessions-per-client",
        default_value_t = DEFAULT_MAX_SESSIONS_PER_CLIENT,
        env = env::MAX_SESSIONS_PER_CLIENT
    )]
    pub max_sessions_per_client: usize,
    /// Seconds of voice each signed-in user may spend per UTC day (0: no budget); charged in
    /// steps of 10 s, the first before the upstream opens.
    #[arg(
        long = "daily-voice-seconds",
        default_value_t = streamgate_contract::relay::DEFAULT_DAILY_VOICE_SECONDS,
        env = env::DAILY_VOICE_SECONDS
    )]
    pub daily_voice_seconds: u64,
}

impl VoiceArgs {
    /// The key, from the variable `--realtime-key-env` names.
    pub fn api_key(&self) -> Option<ApiKey> {
        std::env::var(&self.realtime_key_env)
            .ok()
            .and_then(ApiKey::new)
    }

    /// The relay's configuration over `catalog`, with these settings and the given session
    /// timers.
    pub fn config(
        &self,
        catalog: Catalog,
        idle_timeout: Duration,
        max_lifetime: Duration,
    ) -> RealtimeConfig {
        let mut config = RealtimeConfig::new(catalog, self.api_key());
        config.base_url = self.realtime_url.clone();
        config.model = self.realtime_model.clone();
        config.voice = self.realtime_voice.clone();
        config.api_key_var = self.realtime_key_env.clone();
        config.max_sessions = self.max_sessions;
        config.max_sessions_per_client = self.max_sessions_per_client;
        config.daily_voice_seconds = self.daily_voice_seconds;
        config.idle_timeout = idle_timeout;
        config.max_lifetime = max_lifetime;
        config
    }
}
