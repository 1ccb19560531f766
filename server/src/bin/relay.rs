//! `streamgate-relay`: the voice waiter alone, as it runs on ECS Fargate behind a load
//! balancer: `/realtime` (one OpenAI Realtime session per socket), the voice page on `/`,
//! `/restaurants.json` and `/healthz`. The catalog is read from a file or an S3 object and
//! refreshed when it changes. On SIGTERM it drains: `/healthz` turns 503, new sessions are
//! refused, every session gets a `server_draining` frame and a 1001 close, and the process
//! exits 0 once all are closed (1 if the drain timeout passes first).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use streamgate_contract::relay;
use streamgate_core::ApiKey;
use streamgate_core::memory::MemoryStore;
use streamgate_server::Gateway;
use streamgate_server::realtime::{
    CatalogReader, CatalogSource, RealtimeConfig, RealtimeService, spawn_refresh,
};

/// Serve the voice waiter (the OpenAI Realtime relay) alone.
///
/// Every flag can also come from the environment variable named beside it, which is how the
/// ECS task definition sets them.
#[derive(Parser, Debug)]
#[command(name = "streamgate-relay", version)]
struct Cli {
    /// Address to listen on (0.0.0.0 in the container).
    #[arg(long, default_value = "127.0.0.1", env = "STREAMGATE_HOST")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = relay::PORT, env = "STREAMGATE_PORT")]
    port: u16,
    /// The restaurant catalog: a JSON file, or s3://BUCKET/KEY; default: the shipped sample.
    #[arg(long, env = "STREAMGATE_CATALOG")]
    catalog: Option<String>,
    /// Read the catalog again this often, in seconds, and use it when it changed (0: never).
    #[arg(long, default_value_t = 60, env = "STREAMGATE_CATALOG_REFRESH_S")]
    catalog_refresh_s: u64,
    /// Realtime endpoint.
    #[arg(
        long,
        default_value = "wss://api.openai.com/v1/realtime",
        env = "STREAMGATE_REALTIME_URL"
    )]
    realtime_url: String,
    /// Realtime model.
    #[arg(
        long,
        default_value = "gpt-realtime",
        env = "STREAMGATE_REALTIME_MODEL"
    )]
    realtime_model: String,
    /// The waiter's voice.
    #[arg(long, default_value = "marin", env = "STREAMGATE_REALTIME_VOICE")]
    realtime_voice: String,
    /// Environment variable holding the Realtime API key (a task secret on ECS).
    #[arg(
        long,
        default_value = "OPENAI_API_KEY",
        env = "STREAMGATE_REALTIME_KEY_ENV"
    )]
    realtime_key_env: String,
    /// Seconds between pings to each client; keep it under the load balancer's idle timeout.
    #[arg(long, default_value_t = relay::PING_INTERVAL.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600), env = "STREAMGATE_PING_INTERVAL_S")]
    ping_interval_s: u64,
    /// Seconds the drain may take after SIGTERM; keep it under the container's stop timeout.
    #[arg(long, default_value_t = relay::DRAIN_TIMEOUT.as_secs(), env = "STREAMGATE_DRAIN_TIMEOUT_S")]
    drain_timeout_s: u64,
    /// Web pages allowed to open sessions, by origin (`https://d111.cloudfront.net`; repeat
    /// it or separate with commas; `*` for any). Pages served from localhost, 127.0.0.1 or
    /// [::1] and clients that send no Origin are always allowed.
    #[arg(
        long = "allow-origin",
        value_name = "ORIGIN",
        env = "STREAMGATE_ALLOWED_ORIGINS"
    )]
    allowed_origins: Vec<String>,
    /// Proxies in front that append to X-Forwarded-For (2 behind CloudFront and a load
    /// balancer): the client address per-client caps count comes from there.
    #[arg(long, default_value_t = 0, env = "STREAMGATE_TRUSTED_PROXY_HOPS")]
    trusted_proxy_hops: usize,
    /// Sessions open at once (each holds an upstream Realtime session); the next gets 503.
    #[arg(long, default_value_t = 100, env = "STREAMGATE_VOICE_MAX_SESSIONS")]
    max_sessions: usize,
    /// Sessions one client address may hold at once; the next gets 429.
    #[arg(
        long,
        default_value_t = 4,
        env = "STREAMGATE_VOICE_MAX_SESSIONS_PER_CLIENT"
    )]
    max_sessions_per_client: usize,
    /// Seconds a session may go without a frame from its client before it is closed.
    #[arg(long, default_value_t = 600, env = "STREAMGATE_IDLE_TIMEOUT_S")]
    idle_timeout_s: u64,
    /// Longest session, in seconds.
    #[arg(long, default_value_t = 7200, env = "STREAMGATE_MAX_LIFETIME_S")]
    max_lifetime_s: u64,
    /// Log as JSON lines (for CloudWatch) or text.
    #[arg(long, default_value = "json", value_parser = ["json", "text"], env = "STREAMGATE_LOG_FORMAT")]
    log_format: String,
}

async fn run(cli: Cli) -> Result<(), String> {
    let source = CatalogSource::parse(cli.catalog.as_deref()).map_err(|e| e.to_string())?;
    let mut reader = CatalogReader::new(source).await;
    let catalog = reader
        .read()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the catalog could not be read")?;
    let restaurants = catalog.restaurants.len();
    let api_key = std::env::var(&cli.realtime_key_env)
        .ok()
        .and_then(ApiKey::new);
    if api_key.is_none() {
        tracing::warn!(
            "{} is not set: sessions will answer missing_api_key",
            cli.realtime_key_env
        );
    }
    let mut config = RealtimeConfig::new(catalog, api_key);
    config.base_url = cli.realtime_url.clone();
    config.model = cli.realtime_model.clone();
    config.voice = cli.realtime_voice.clone();
    config.api_key_var = cli.realtime_key_env.clone();
    config.ping_interval = Duration::from_secs(cli.ping_interval_s);
    config.max_sessions = cli.max_sessions;
    config.max_sessions_per_client = cli.max_sessions_per_client;
    config.idle_timeout = Duration::from_secs(cli.idle_timeout_s);
    config.max_lifetime = Duration::from_secs(cli.max_lifetime_s);
    let origins = streamgate_server::gateway::origin::AllowedOrigins::with(&cli.allowed_origins)
        .map_err(|e| format!("--allow-origin: {e}"))?;
    let service = RealtimeService::new(config, Arc::new(MemoryStore::new()));
    let live = service.clone();
    spawn_refresh(&service, reader, Duration::from_secs(cli.catalog_refresh_s));
    let gateway = Gateway::relay_only(service, origins, cli.trusted_proxy_hops);

    let addr: SocketAddr = format!("{}:{}", cli.host, cli.port)
        .parse()
        .map_err(|e| format!("bad --host/--port: {e}"))?;
    let listener = streamgate_server::gateway::listener::bind(addr)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        address = %local,
        restaurants,
        catalog = cli.catalog.as_deref().unwrap_or("sample"),
        "streamgate-relay listening: /realtime, / (voice page), /healthz"
    );
    let server = tokio::spawn(gateway.clone().serve(listener));
    let sockets = gateway.clone();
    streamgate_server::process::spawn_memory_trim(
        move || sockets.open_sockets(),
        Duration::from_secs(2),
    );
    streamgate_server::process::stop_signal().await;
    let sessions = live.sessions();
    tracing::info!(
        drain_timeout_s = cli.drain_timeout_s,
        "draining: /healthz answers 503, new sessions are refused, live sessions are told and closed"
    );
    gateway.shutdown();
    match tokio::time::timeout(Duration::from_secs(cli.drain_timeout_s), server).await {
        Ok(_) => {
            tracing::info!(sessions_closed = sessions, "drained");
            Ok(())
        }
        Err(_) => Err(format!(
            "sessions were still open after {} s",
            cli.drain_timeout_s
        )),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    streamgate_server::process::init_logs(cli.log_format == "json");
    // Before any default that depends on it (the connection cap) is computed.
    streamgate_server::gateway::listener::raise_descriptor_limit();
    let outcome = run(cli).await;
    if let Err(e) = &outcome {
        tracing::error!("{e}");
    }
    // What is still queued for standard output, written before the process ends.
    streamgate_server::stdout::flush(Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamgate-relay: {e}");
            ExitCode::FAILURE
        }
    }
}
