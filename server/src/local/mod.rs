//! `streamgate local` (and `streamgate-server`, the same flags): serves the chat API locally
//! (or on any host), faithful to API Gateway's WebSocket behaviour, with the same handlers
//! that run in Lambda ([`chat`]), or a template's API with its functions under a local Lambda
//! Runtime API ([`template`]), and with `--run` a command beside it ([`run_command`]). This
//! file holds the flags and what both modes share.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use streamgate_contract::limits;
use streamgate_emulator::GatewayConfig;
use streamgate_emulator::access::{Access, AccessArgs};
use streamgate_emulator::serve_args::ServeArgs;
use streamgate_template_host::cli::TemplateArgs;
use streamgate_voice_relay::VoiceArgs;

/// Prints a line on standard output, in order with the logs; when that is closed (`... |
/// head`) or full the line is lost and nothing else happens (`println!` would panic or wait).
macro_rules! say {
    ($($arg:tt)*) => {{
        streamgate_emulator::stdout::line(format!("{}\n", format_args!($($arg)*)));
    }};
}

mod chat;
mod run_command;
mod template;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StoreKind {
    /// Records and conversations in memory (lost on exit).
    Memory,
    /// The DynamoDB tables named by --table and --conversations-table (DynamoDB Local with
    /// --dynamodb-endpoint).
    Dynamodb,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PushKind {
    /// Frames go straight to the sockets.
    InProcess,
    /// Frames go through this server's @connections API with the AWS SDK, as in Lambda.
    Sdk,
}

/// What `streamgate local` and `streamgate-server` do, in their `--help`.
pub const ABOUT: &str = "Serve the streamgate chat API, or any template's WebSocket API (--template), like API Gateway does, with the same handlers as Lambda";

/// The rest of their `--help`.
pub const LONG_ABOUT: &str = "Serve the streamgate chat API, or any template's WebSocket API (--template), like API Gateway does, with the same handlers as Lambda.

Every LLM setting can also come from the environment (STREAMGATE_LLM_PROVIDER, STREAMGATE_LLM_MODEL, STREAMGATE_LLM_BASE_URL, STREAMGATE_LLM_API_KEY_ENV, ...); the API key itself is read from the variable the provider uses (OPENAI_API_KEY, ANTHROPIC_API_KEY) or the one STREAMGATE_LLM_API_KEY_ENV names.";

/// The flags of `streamgate local` (and `streamgate-server`).
#[derive(Args, Debug)]
pub struct LocalArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Stage name (ws://host:port/STAGE; ws://host:port/ works too).
    #[arg(long, default_value = "dev", env = "STREAMGATE_STAGE")]
    stage: String,
    /// Where connection records and conversations live.
    #[arg(long, value_enum, default_value = "memory", env = "STREAMGATE_STORE")]
    store: StoreKind,
    /// DynamoDB endpoint (e.g. DynamoDB Local at http://localhost:8000); default: AWS.
    #[arg(long, env = "STREAMGATE_DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
    /// DynamoDB table for --store dynamodb.
    #[arg(
        long,
        default_value = "streamgate-connections",
        env = "STREAMGATE_TABLE"
    )]
    table: String,
    /// DynamoDB conversations table for --store dynamodb (key `pk`, sort key `sk`, strings).
    #[arg(
        long,
        default_value = "streamgate-conversations",
        env = "STREAMGATE_CONVERSATIONS_TABLE"
    )]
    conversations_table: String,
    /// Milliseconds between two looks for a `cancel` while an answer streams.
    #[arg(long, default_value_t = 50)]
    cancel_check_ms: u64,
    /// How handlers reach clients.
    #[arg(
        long,
        value_enum,
        default_value = "in-process",
        env = "STREAMGATE_PUSH"
    )]
    push: PushKind,
    /// LLM provider: echo, openai or anthropic.
    #[arg(long)]
    provider: Option<String>,
    /// Model name.
    #[arg(long)]
    model: Option<String>,
    /// Provider base URL (vLLM, Ollama, llama.cpp, a proxy...).
    #[arg(long)]
    base_url: Option<String>,
    /// Instructions given to the model before every question (also STREAMGATE_SYSTEM_PROMPT).
    #[arg(long)]
    system_prompt: Option<String>,
    /// Name of the environment variable that holds the API key.
    #[arg(long)]
    api_key_env: Option<String>,
    /// Delay between words of the echo provider, in ms.
    #[arg(long, default_value_t = 20)]
    echo_delay_ms: u64,
    /// API Gateway's integration timeout, in ms (50 to 29000).
    #[arg(
        long,
        default_value_t = INTEGRATION_TIMEOUT_MS,
        value_parser = clap::value_parser!(u64).range(INTEGRATION_TIMEOUT_MIN_MS..=INTEGRATION_TIMEOUT_MS)
    )]
    integration_timeout_ms: u64,
    /// @connections posts per second (default: unlimited).
    #[arg(long)]
    management_rate_limit: Option<u32>,
    /// Client sockets open at once, HTTP and WebSocket (default: the open-file limit less a
    /// reserve); the next one gets a 503.
    #[arg(long, env = "STREAMGATE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    #[command(flatten)]
    access: AccessArgs,
    /// Tokens (prompt and answer) each signed-in user may spend per UTC day (0: no budget).
    #[arg(long, env = streamgate_contract::config::DAILY_TOKEN_BUDGET)]
    daily_token_budget: Option<u64>,
    #[command(flatten)]
    voice: VoiceArgs,
    #[command(flatten)]
    template: TemplateArgs,
    /// Runs CMD with `sh -c` once the server listens (a CI step: your own tests against the
    /// API), with STREAMGATE_WS_URL, STREAMGATE_HTTP_URL, STREAMGATE_MANAGEMENT_URL and
    /// STREAMGATE_TOKEN (with the development issuer) in its environment, and with --template
    /// the local AWS credentials and endpoints the functions get. The server stops when CMD
    /// ends and exits with its status.
    #[arg(long, value_name = "CMD")]
    run: Option<String>,
}

/// API Gateway's integration timeout, in ms.
const INTEGRATION_TIMEOUT_MS: u64 = limits::INTEGRATION_TIMEOUT.as_millis() as u64;
/// The shortest integration timeout API Gateway accepts, in ms.
const INTEGRATION_TIMEOUT_MIN_MS: u64 = limits::INTEGRATION_TIMEOUT_MIN.as_millis() as u64;

/// The listening socket of `--host`/`--port`.
async fn listen(cli: &LocalArgs) -> Result<tokio::net::TcpListener, String> {
    cli.serve.bind().map_err(|e| e.to_string())
}

/// Who may connect to the server listening at `listener`, as the flags ask.
fn access(cli: &LocalArgs, listener: &tokio::net::TcpListener) -> Result<Access, String> {
    let port = listening(listener)?.port();
    cli.access
        .resolve(&format!("http://127.0.0.1:{port}"), rand::random())
}

/// The banner's lines about access: in plain words who may connect, and with the development
/// issuer a token and the page's address carrying it (in the fragment, which browsers never
/// send to a server).
fn access_lines(access: &Access, page: &str) -> Vec<String> {
    let mut lines = vec![format!("  {}", access.describe())];
    if let Some(token) = dev_token(access) {
        lines.push(format!("  token:           {token}"));
        lines.push(format!("  signed-in page:  {page}#token={token}"));
        lines.push(
            "                   (clients send it as ?token=... or Authorization: Bearer ...)"
                .to_owned(),
        );
    }
    lines
}

/// A development token for the local user, with the development issuer.
fn dev_token(access: &Access) -> Option<String> {
    access
        .dev_issuer()
        .map(|dev| dev.token("local-user", streamgate_emulator::access::DEV_TOKEN_TTL))
}

/// The listening address `listener` has.
fn listening(listener: &tokio::net::TcpListener) -> Result<std::net::SocketAddr, String> {
    listener
        .local_addr()
        .map_err(|e| format!("the listening socket has no address: {e}"))
}

/// The metrics registry, unless `--metrics off`.
fn metrics(cli: &LocalArgs) -> Option<&'static streamgate_telemetry::Registry> {
    cli.serve
        .metrics_on()
        .then(streamgate_telemetry::Registry::install)
}

/// The banner's line about the metrics.
fn metrics_line(registry: Option<&streamgate_telemetry::Registry>, base: &str) -> String {
    match registry {
        Some(_) => format!("  metrics:         {base}metrics   (Prometheus text)"),
        None => "  metrics:         off (--metrics off)".to_owned(),
    }
}

/// The host name the banner shows for `--host`.
fn shown_host(host: &str) -> String {
    if host == "127.0.0.1" || host == "0.0.0.0" {
        "localhost".to_owned()
    } else {
        host.to_owned()
    }
}

/// How long the sockets get to close after Ctrl-C or SIGTERM.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(35);

fn shutting_down() {
    tracing::info!("shutting down: closing every socket with 1001 and running $disconnect");
}

fn still_open(within: Duration) -> String {
    format!(
        "some connections did not close within {} s",
        within.as_secs()
    )
}

/// How the server ends: with the `--run` command's code when it ran to its end (sockets
/// still open then are only logged), else with the shutdown's outcome.
fn outcome_of(
    ended: Result<Option<u8>, String>,
    closed: Result<(), Duration>,
) -> Result<Option<u8>, String> {
    match (ended?, closed) {
        (Some(code), Err(within)) => {
            tracing::warn!("{}", still_open(within));
            Ok(Some(code))
        }
        (code, closed) => closed.map(|()| code).map_err(still_open),
    }
}

/// The mode the flags ask for; `Some` exit code with `--run` (the command's).
async fn run(cli: LocalArgs) -> Result<Option<u8>, String> {
    match cli.template.options().map_err(|e| e.to_string())? {
        Some(options) => template::run(cli, options).await,
        None => chat::run(cli).await,
    }
}

/// The gateway settings the flags give, shared by the built-in and the template APIs.
fn gateway_config(cli: &LocalArgs) -> Result<GatewayConfig, String> {
    let defaults = GatewayConfig::default();
    let base = GatewayConfig {
        integration_timeout: Duration::from_millis(cli.integration_timeout_ms),
        management_rate_limit: cli.management_rate_limit,
        max_connections: cli.max_connections.unwrap_or(defaults.max_connections),
        ..defaults
    };
    cli.serve.gateway_config(base).map_err(|e| e.to_string())
}

/// Runs the server as `args` ask until it is stopped (or its `--run` command ends): the
/// process's exit code. `binary` prefixes the error printed when it cannot start.
pub async fn main(cli: LocalArgs, binary: &str) -> ExitCode {
    streamgate_emulator::process::init_logs(cli.serve.json_logs());
    // Before any default that depends on it (the connection cap) is computed.
    streamgate_emulator::gateway::listener::raise_descriptor_limit();
    streamgate_emulator::process::finish(binary, run(cli).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct Local {
        #[command(flatten)]
        args: LocalArgs,
    }

    fn parse(args: &[&str]) -> Result<LocalArgs, clap::Error> {
        Local::try_parse_from(std::iter::once("streamgate-server").chain(args.iter().copied()))
            .map(|l| l.args)
    }

    #[test]
    fn the_flags_are_well_formed() {
        Local::command().debug_assert();
    }

    #[test]
    fn the_defaults_are_api_gateways_and_a_local_servers() {
        let cli = parse(&[]).expect("no flag is required");
        assert_eq!(
            cli.serve.port,
            streamgate_emulator::serve_args::DEFAULT_PORT
        );
        assert!(!cli.serve.json_logs());
        assert!(cli.serve.metrics_on());
        assert!(cli.template.template.is_none());
        let config = gateway_config(&cli).expect("no origin to refuse");
        assert_eq!(config.integration_timeout, limits::INTEGRATION_TIMEOUT);
        assert_eq!(config.idle_timeout, limits::IDLE_TIMEOUT);
        assert_eq!(config.max_lifetime, limits::MAX_CONNECTION_DURATION);
    }

    #[test]
    fn metrics_are_switched_off_with_the_relays_spelling() {
        let cli = parse(&["--metrics", "off"]).expect("parses");
        assert!(metrics(&cli).is_none());
        assert!(parse(&["--no-metrics"]).is_err());
    }

    #[test]
    fn the_integration_timeout_stays_within_api_gateways_range() {
        assert!(parse(&["--integration-timeout-ms", "50"]).is_ok());
        assert!(parse(&["--integration-timeout-ms", "49"]).is_err());
        assert!(parse(&["--integration-timeout-ms", "29001"]).is_err());
    }
}
