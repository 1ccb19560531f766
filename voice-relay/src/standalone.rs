//! `streamgate relay` (and `streamgate-relay`, the same flags): the voice waiter alone, as it runs on ECS Fargate behind a load
//! balancer: `/realtime` (one OpenAI Realtime session per socket), the voice page on `/`,
//! `/restaurants.json` and `/healthz`. The catalog is read from a file or an S3 object and
//! refreshed when it changes. On SIGTERM it drains: `/healthz` turns 503, new sessions are
//! refused, every session gets a `server_draining` frame and a 1001 close, and the process
//! exits 0 once all are closed (1 if the drain timeout passes first).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::{CatalogReader, CatalogSource, RealtimeService, VoiceArgs, spawn_refresh};
use clap::Args;
use streamgate_aws::DynamoQuotas;
use streamgate_contract::relay;
use streamgate_core::QuotaStore;
use streamgate_core::memory::{MemoryQuotas, MemoryStore};
use streamgate_emulator::access::{Access, AccessArgs};
use streamgate_emulator::process::{StopSignal, serve_until_stopped};
use streamgate_emulator::serve_args::{LogFormat, ServeArgs, ServeDefaults};
use streamgate_emulator::{Gateway, GatewayConfig};

/// What `streamgate relay` and `streamgate-relay` do, in their `--help`.
pub const ABOUT: &str = "Serve the voice waiter (the OpenAI Realtime relay) alone, as on ECS";

/// The rest of their `--help`.
pub const LONG_ABOUT: &str = "Serve the voice waiter (the OpenAI Realtime relay) alone, as on ECS.

Every flag can also come from the environment variable named beside it, which is how the ECS task definition sets them.";

/// The flags of `streamgate relay` (and `streamgate-relay`); parse them with
/// [`SERVE_DEFAULTS`] applied.
#[derive(Args, Debug)]
pub struct RelayArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Read the catalog again this often, in seconds, and use it when it changed (0: never).
    #[arg(long, default_value_t = 60, env = relay::env::CATALOG_REFRESH_S)]
    catalog_refresh_s: u64,
    /// Seconds between pings to each client; keep it under the load balancer's idle timeout.
    #[arg(long, default_value_t = relay::PING_INTERVAL.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600), env = relay::env::PING_INTERVAL_S)]
    ping_interval_s: u64,
    /// Seconds the drain may take after SIGTERM; keep it under the container's stop timeout.
    #[arg(long, default_value_t = relay::DRAIN_TIMEOUT.as_secs(), env = relay::env::DRAIN_TIMEOUT_S)]
    drain_timeout_s: u64,
    /// Proxies in front that append to X-Forwarded-For (2 behind CloudFront and a load
    /// balancer): the client address per-client caps count comes from there.
    #[arg(long, default_value_t = 0, env = relay::env::TRUSTED_PROXY_HOPS)]
    trusted_proxy_hops: usize,
    #[command(flatten)]
    voice: VoiceArgs,
    #[command(flatten)]
    access: AccessArgs,
    /// The DynamoDB table holding each user's daily voice seconds (the relay stack's); none:
    /// in this process's memory.
    #[arg(long, env = relay::env::QUOTA_TABLE)]
    quota_table: Option<String>,
    /// The `Service` dimension of the metrics (the stack's name). With JSON logs the metrics
    /// leave as CloudWatch EMF lines, at most a minute apart and at exit.
    #[arg(long, default_value = "streamgate-relay", env = streamgate_contract::config::METRICS_SERVICE)]
    metrics_service: String,
}

/// The relay's own defaults for the serve flags: the container's port, JSON logs.
pub const SERVE_DEFAULTS: ServeDefaults = ServeDefaults {
    port: relay::PORT,
    log_format: LogFormat::Json,
};

/// The longest time between two EMF flushes.
const METRICS_INTERVAL: Duration = Duration::from_secs(60);

/// Writes the metrics as EMF lines through the log queue: every [`METRICS_INTERVAL`], or
/// sooner when a histogram holds as many values as one line reports.
fn spawn_metrics(service: String) -> tokio::task::JoinHandle<()> {
    let registry = streamgate_telemetry::Registry::install();
    tokio::spawn(async move {
        let mut last = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if last.elapsed() >= METRICS_INTERVAL || registry.wants_flush() {
                emit_metrics(registry, &service);
                last = tokio::time::Instant::now();
            }
        }
    })
}

/// Through the log queue, so that EMF lines and log lines never interleave.
fn emit_metrics(registry: &streamgate_telemetry::Registry, service: &str) {
    for line in registry.emf_lines_now(service) {
        streamgate_emulator::stdout::line(line + "\n");
    }
}

async fn run(cli: RelayArgs) -> Result<(), String> {
    // Caught from the start: a stop while the catalog loads ends the process cleanly.
    let mut stop = StopSignal::install();
    let source = CatalogSource::parse(cli.voice.catalog.as_deref()).map_err(|e| e.to_string())?;
    let mut reader = CatalogReader::new(source).await;
    let catalog = reader
        .read()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the catalog could not be read")?;
    let restaurants = catalog.restaurants.len();
    let mut config = cli
        .voice
        .config(catalog, cli.serve.idle_timeout(), cli.serve.max_lifetime());
    if config.api_key.is_none() {
        tracing::warn!(
            "{} is not set: sessions will answer missing_api_key",
            cli.voice.realtime_key_env
        );
    }
    config.ping_interval = Duration::from_secs(cli.ping_interval_s);
    let gateway_config = cli
        .serve
        .gateway_config(GatewayConfig {
            trusted_proxy_hops: cli.trusted_proxy_hops,
            ..GatewayConfig::default()
        })
        .map_err(|e| e.to_string())?;
    let quotas: Arc<dyn QuotaStore> = match &cli.quota_table {
        Some(table) => {
            let sdk = aws_config::load_from_env().await;
            Arc::new(DynamoQuotas::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                table,
            ))
        }
        None => Arc::new(MemoryQuotas::new()),
    };
    let service = RealtimeService::with_quotas(config, Arc::new(MemoryStore::new()), quotas);
    let live = service.clone();
    spawn_refresh(&service, reader, Duration::from_secs(cli.catalog_refresh_s));

    let addr = cli.serve.address().map_err(|e| e.to_string())?;
    let listener = cli.serve.bind().map_err(|e| e.to_string())?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let access = cli.access.resolve(
        &format!("http://127.0.0.1:{}", local.port()),
        rand::random(),
    )?;
    if let Access::Dev(dev) = &access {
        // A development issuer is for this machine only: its token is printed below.
        if !addr.ip().is_loopback() {
            return Err(format!(
                "--host {} serves other machines: name the issuer (--auth-issuer and --auth-audience, or {} and {}) or turn checks off with --auth none",
                cli.serve.host,
                relay::env::AUTH_ISSUER,
                relay::env::AUTH_AUDIENCE
            ));
        }
        streamgate_emulator::stdout::line(format!(
            "streamgate-relay: signed-in voice page http://localhost:{}/#token={}\n",
            local.port(),
            dev.token("local-user", streamgate_emulator::access::DEV_TOKEN_TTL)
        ));
    }
    tracing::info!(access = %access.describe(), "who may open sessions");
    let gateway = Gateway::builder(gateway_config)
        .authorizer(access.authorizer()?)
        .dev_issuer(access.dev_issuer())
        .voice(service)
        .build();
    tracing::info!(
        address = %local,
        restaurants,
        catalog = cli.voice.catalog.as_deref().unwrap_or("sample"),
        "streamgate-relay listening: /realtime, / (voice page), /healthz"
    );
    let drain = Duration::from_secs(cli.drain_timeout_s);
    // The sessions live when the stop came, for the closing log line.
    let closing = std::cell::Cell::new(0);
    let outcome = serve_until_stopped(gateway, listener, &mut stop, drain, || {
        closing.set(live.sessions());
        tracing::info!(
            drain_timeout_s = cli.drain_timeout_s,
            "draining: /healthz answers 503, new sessions are refused, live sessions are told and closed"
        );
    })
    .await;
    match outcome {
        Ok(()) => {
            tracing::info!(sessions_closed = closing.get(), "drained");
            Ok(())
        }
        Err(_) => Err(format!(
            "sessions were still open after {} s",
            cli.drain_timeout_s
        )),
    }
}

/// Runs the relay as `cli` asks until it is stopped and drained: the process's exit code.
/// `binary` prefixes the error printed when it fails.
pub async fn main(cli: RelayArgs, binary: &str) -> ExitCode {
    streamgate_emulator::process::init_logs(cli.serve.json_logs());
    // Before any default that depends on it (the connection cap) is computed.
    streamgate_emulator::gateway::listener::raise_descriptor_limit();
    let emit = cli.serve.json_logs() && cli.serve.metrics_on();
    let metrics = emit.then(|| {
        let service = cli.metrics_service.clone();
        (spawn_metrics(service.clone()), service)
    });
    let outcome = run(cli).await;
    if let Err(e) = &outcome {
        tracing::error!("{e}");
    }
    if let Some((task, service)) = metrics {
        task.abort();
        emit_metrics(streamgate_telemetry::Registry::install(), &service);
    }
    streamgate_emulator::process::finish(binary, outcome.map(|()| None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct Relay {
        #[command(flatten)]
        args: RelayArgs,
    }

    fn parse(args: &[&str]) -> RelayArgs {
        let mut command = SERVE_DEFAULTS.apply(Relay::command());
        let mut matches = command
            .try_get_matches_from_mut(
                std::iter::once("streamgate-relay").chain(args.iter().copied()),
            )
            .expect("the arguments parse");
        Relay::from_arg_matches_mut(&mut matches)
            .expect("the matches fit")
            .args
    }

    #[test]
    fn the_flags_are_well_formed() {
        SERVE_DEFAULTS.apply(Relay::command()).debug_assert();
    }

    #[test]
    fn the_relay_listens_on_the_containers_port_and_logs_json() {
        let cli = parse(&[]);
        assert_eq!(cli.serve.port, relay::PORT);
        assert!(cli.serve.json_logs());
        assert!(cli.serve.metrics_on());
        let cli = parse(&["--metrics", "off", "--log-format", "text"]);
        assert!(!cli.serve.metrics_on());
        assert!(!cli.serve.json_logs());
    }
}
