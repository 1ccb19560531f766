//! The voice relay as a container: what its process and its ECS stack must agree on. The
//! relay binary takes its defaults from here and infra-gen writes the task definition, target
//! group and load balancer from here, so they cannot drift.

use std::time::Duration;

/// The port the relay listens on in the container.
pub const PORT: u16 = 8080;

/// The health check path (200 while serving, 503 once draining).
pub const HEALTH_PATH: &str = "/healthz";

/// The voice socket path.
pub const SOCKET_PATH: &str = "/realtime";

/// Seconds between pings to each client.
pub const PING_INTERVAL: Duration = Duration::from_secs(25);

/// The load balancer's idle timeout: a session with pings never reaches it.
pub const LOAD_BALANCER_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long the drain after SIGTERM may take.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// The container's stop timeout: SIGKILL comes this long after SIGTERM (Fargate allows up to
/// 120 s). The drain ends first.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The user the relay runs as in the image (no shell, no root).
pub const USER: &str = "65532:65532";

/// Where the image keeps its catalog file.
pub const IMAGE_CATALOG: &str = "/etc/streamgate/catalog.json";

/// The binary's path in the image.
pub const IMAGE_BINARY: &str = "/streamgate-relay";

/// Environment variables the relay reads (flags have the same meaning).
pub mod env {
    /// Address to listen on.
    pub const HOST: &str = "STREAMGATE_HOST";
    /// Port to listen on.
    pub const PORT: &str = "STREAMGATE_PORT";
    /// The catalog: a file or `s3://BUCKET/KEY`.
    pub const CATALOG: &str = "STREAMGATE_CATALOG";
    /// Seconds between catalog reads.
    pub const CATALOG_REFRESH_S: &str = "STREAMGATE_CATALOG_REFRESH_S";
    /// Seconds between pings.
    pub const PING_INTERVAL_S: &str = "STREAMGATE_PING_INTERVAL_S";
    /// Seconds the drain may take.
    pub const DRAIN_TIMEOUT_S: &str = "STREAMGATE_DRAIN_TIMEOUT_S";
    /// `json` or `text`.
    pub const LOG_FORMAT: &str = "STREAMGATE_LOG_FORMAT";
    /// The Realtime model.
    pub const REALTIME_MODEL: &str = "STREAMGATE_REALTIME_MODEL";
    /// The Realtime endpoint.
    pub const REALTIME_URL: &str = "STREAMGATE_REALTIME_URL";
    /// The waiter's voice.
    pub const REALTIME_VOICE: &str = "STREAMGATE_REALTIME_VOICE";
    /// The name of the variable holding the key.
    pub const REALTIME_KEY_ENV: &str = "STREAMGATE_REALTIME_KEY_ENV";
    /// Seconds a session may go without a frame from its client.
    pub const IDLE_TIMEOUT_S: &str = "STREAMGATE_IDLE_TIMEOUT_S";
    /// Longest session, in seconds.
    pub const MAX_LIFETIME_S: &str = "STREAMGATE_MAX_LIFETIME_S";
    /// The variable holding the key.
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    /// Web pages (origins, comma-separated) allowed to open sessions besides loopback ones.
    pub const ALLOWED_ORIGINS: &str = "STREAMGATE_ALLOWED_ORIGINS";
    /// Proxies in front that append to `X-Forwarded-For`.
    pub const TRUSTED_PROXY_HOPS: &str = "STREAMGATE_TRUSTED_PROXY_HOPS";
    /// Sessions open at once.
    pub const MAX_SESSIONS: &str = "STREAMGATE_VOICE_MAX_SESSIONS";
    /// Sessions one client address may hold.
    pub const MAX_SESSIONS_PER_CLIENT: &str = "STREAMGATE_VOICE_MAX_SESSIONS_PER_CLIENT";
    /// Seconds of voice each signed-in user may spend per UTC day (0: no budget).
    pub const DAILY_VOICE_SECONDS: &str = "STREAMGATE_DAILY_VOICE_SECONDS";
    /// The DynamoDB table holding the voice budget (none: in memory).
    pub const QUOTA_TABLE: &str = crate::config::QUOTA_TABLE_NAME;
    /// The OIDC issuer whose tokens may open sessions.
    pub const AUTH_ISSUER: &str = crate::config::AUTH_ISSUER;
    /// The audiences (app clients) accepted.
    pub const AUTH_AUDIENCE: &str = crate::config::AUTH_AUDIENCE;
}

/// Proxies between a viewer and the relay on AWS: CloudFront, then the load balancer.
pub const PROXY_HOPS: usize = 2;

/// A session's voice is charged to its user's daily budget in steps of this many seconds,
/// the first before the upstream opens.
pub const VOICE_CHARGE_STEP: Duration = Duration::from_secs(10);

/// Default seconds of voice per signed-in user per UTC day.
pub const DEFAULT_DAILY_VOICE_SECONDS: u64 = 1_800;

// The timers fit inside each other, checked when the crate compiles.
const _: () = assert!(PING_INTERVAL.as_secs() < LOAD_BALANCER_IDLE_TIMEOUT.as_secs());
const _: () = assert!(DRAIN_TIMEOUT.as_secs() < STOP_TIMEOUT.as_secs());
const _: () = assert!(STOP_TIMEOUT.as_secs() <= 120, "Fargate's limit");
