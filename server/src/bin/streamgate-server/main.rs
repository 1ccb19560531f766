//! `streamgate-server`: serves the chat API locally (or on any host), faithful to API
//! Gateway's WebSocket behaviour, with the same handlers that run in Lambda ([`chat`]), or a
//! template's API with its functions under a local Lambda Runtime API ([`template`]). This
//! file holds the flags and what both modes share.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use streamgate_emulator::GatewayConfig;
use streamgate_emulator::access::{Access, AccessArgs};
use streamgate_emulator::gateway::origin::AllowedOrigins;
use streamgate_voice_relay::VoiceArgs;

/// Prints a line on standard output, in order with the logs; when that is closed (`... |
/// head`) or full the line is lost and nothing else happens (`println!` would panic or wait).
macro_rules! say {
    ($($arg:tt)*) => {{
        streamgate_emulator::stdout::line(format!("{}\n", format_args!($($arg)*)));
    }};
}

mod chat;
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

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum LogFormat {
    Text,
    Json,
}

/// Serve the streamgate chat API like API Gateway does, with the same handlers as Lambda.
///
/// Every LLM setting can also come from the environment (STREAMGATE_LLM_PROVIDER,
/// STREAMGATE_LLM_MODEL, STREAMGATE_LLM_BASE_URL, STREAMGATE_LLM_API_KEY_ENV, ...); the
/// API key itself is read from the variable the provider uses (OPENAI_API_KEY,
/// ANTHROPIC_API_KEY) or the one STREAMGATE_LLM_API_KEY_ENV names.
#[derive(Parser, Debug)]
#[command(name = "streamgate-server", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", env = "STREAMGATE_HOST")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 3000, env = "STREAMGATE_PORT")]
    port: u16,
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
    #[arg(long, default_value_t = 29_000, value_parser = clap::value_parser!(u64).range(50..=29_000))]
    integration_timeout_ms: u64,
    /// Idle timeout, in seconds.
    #[arg(long, default_value_t = 600)]
    idle_timeout_s: u64,
    /// Longest connection, in seconds.
    #[arg(long, default_value_t = 7200)]
    max_lifetime_s: u64,
    /// @connections posts per second (default: unlimited).
    #[arg(long)]
    management_rate_limit: Option<u32>,
    /// Web pages allowed to open sockets, by origin (`https://app.example.com`; repeat it or
    /// separate with commas; `*` for any). Pages served from localhost, 127.0.0.1 or [::1]
    /// (any port) and clients that send no Origin (not browsers) are always allowed.
    #[arg(
        long = "allow-origin",
        value_name = "ORIGIN",
        env = "STREAMGATE_ALLOWED_ORIGINS"
    )]
    allowed_origins: Vec<String>,
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
    /// Serve this template's WebSocket API (CloudFormation, SAM or CDK's `cdk.out/*.template.json`;
    /// YAML or JSON) by running each function (a `provided.*` bootstrap, or Node.js or Python
    /// on this machine's `node`/`python3`) under a local Lambda Runtime API, instead of the
    /// built-in chat API.
    #[arg(long, env = "STREAMGATE_TEMPLATE")]
    template: Option<PathBuf>,
    /// With --template: a folder of packaged functions (one folder or zip per function, named
    /// as the template's Code folder, or by logical id for a packaged template).
    #[arg(long, requires = "template")]
    artifacts: Option<PathBuf>,
    /// With --template: a parameter value (repeatable); others take their defaults.
    #[arg(long = "parameter", value_name = "NAME=VALUE", requires = "template")]
    parameters: Vec<String>,
    /// With --template: a secret the functions may read from Secrets Manager (repeatable).
    /// Its value shows in the process list: prefer --secret-from-env or --secrets-file.
    #[arg(long = "secret", value_name = "ARN=VALUE", requires = "template")]
    secrets: Vec<String>,
    /// With --template: a secret whose value is in this server's environment variable VAR
    /// (repeatable; the value never appears on the command line).
    #[arg(
        long = "secret-from-env",
        value_name = "ARN=VAR",
        requires = "template"
    )]
    secrets_from_env: Vec<String>,
    /// With --template: a JSON file of secrets (`{"ARN": "VALUE", ...}`).
    #[arg(long, requires = "template")]
    secrets_file: Option<PathBuf>,
    /// With --template: the folder holding DynamoDBLocal.jar (default: searched under
    /// the working directory's node_modules).
    #[arg(long, requires = "template")]
    dynamodb_local_dir: Option<PathBuf>,
    /// With --template: processes per function at most.
    #[arg(long, default_value_t = 32, requires = "template")]
    max_concurrency: usize,
    /// With --template: idle function processes are stopped after this many seconds.
    #[arg(long, default_value_t = 600, requires = "template")]
    idle_process_timeout_s: u64,
    /// With --template: when a function's code folder changes (a handler edited, a bootstrap
    /// rebuilt), retire its warm processes so the next event runs the new code.
    #[arg(long, requires = "template")]
    watch: bool,
    /// Record no metrics and serve no `GET /metrics` (to measure what they cost).
    #[arg(long)]
    no_metrics: bool,
    /// Log format.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "STREAMGATE_LOG_FORMAT"
    )]
    log_format: LogFormat,
}

async fn listen(cli: &Cli) -> Result<tokio::net::TcpListener, String> {
    let addr: SocketAddr = format!("{}:{}", cli.host, cli.port)
        .parse()
        .map_err(|e| format!("bad --host/--port: {e}"))?;
    streamgate_emulator::gateway::listener::bind(addr)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Who may connect to the server listening at `listener`, as the flags ask.
fn access(cli: &Cli, listener: &tokio::net::TcpListener) -> Result<Access, String> {
    let port = listener
        .local_addr()
        .map_err(|e| format!("the listening socket has no address: {e}"))?
        .port();
    cli.access
        .resolve(&format!("http://127.0.0.1:{port}"), rand::random())
}

/// The banner's lines about access: in plain words who may connect, and with the development
/// issuer a token and the page's address carrying it (in the fragment, which browsers never
/// send to a server).
fn access_lines(access: &Access, page: &str) -> Vec<String> {
    let mut lines = vec![format!("  {}", access.describe())];
    if let Some(dev) = access.dev_issuer() {
        let token = dev.token("local-user", streamgate_emulator::access::DEV_TOKEN_TTL);
        lines.push(format!("  token:           {token}"));
        lines.push(format!("  signed-in page:  {page}#token={token}"));
        lines.push(
            "                   (clients send it as ?token=... or Authorization: Bearer ...)"
                .to_owned(),
        );
    }
    lines
}

/// The metrics registry, unless `--no-metrics`.
fn metrics(cli: &Cli) -> Option<&'static streamgate_telemetry::Registry> {
    (!cli.no_metrics).then(streamgate_telemetry::Registry::install)
}

/// The banner's line about the metrics.
fn metrics_line(registry: Option<&streamgate_telemetry::Registry>, base: &str) -> String {
    match registry {
        Some(_) => format!("  metrics:         {base}metrics   (Prometheus text)"),
        None => "  metrics:         off (--no-metrics)".to_owned(),
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

/// The mode the flags ask for.
async fn run(cli: Cli) -> Result<(), String> {
    match cli.template.clone() {
        Some(template) => template::run(cli, template).await,
        None => chat::run(cli).await,
    }
}

/// The gateway settings the flags give, shared by the built-in and the template APIs.
fn gateway_config(cli: &Cli) -> Result<GatewayConfig, String> {
    let defaults = GatewayConfig::default();
    Ok(GatewayConfig {
        integration_timeout: Duration::from_millis(cli.integration_timeout_ms),
        idle_timeout: Duration::from_secs(cli.idle_timeout_s),
        max_lifetime: Duration::from_secs(cli.max_lifetime_s),
        management_rate_limit: cli.management_rate_limit,
        allowed_origins: AllowedOrigins::with(&cli.allowed_origins)
            .map_err(|e| format!("--allow-origin: {e}"))?,
        max_connections: cli.max_connections.unwrap_or(defaults.max_connections),
        ..defaults
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    streamgate_emulator::process::init_logs(cli.log_format == LogFormat::Json);
    // Before any default that depends on it (the connection cap) is computed.
    streamgate_emulator::gateway::listener::raise_descriptor_limit();
    let outcome = run(cli).await;
    // What is still queued for standard output, written before the process ends.
    streamgate_emulator::stdout::flush(Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamgate-server: {e}");
            ExitCode::FAILURE
        }
    }
}
