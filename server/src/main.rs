//! `streamgate-server`: serves the chat API locally (or on any host), faithful to API
//! Gateway's WebSocket behaviour, with the same handlers that run in Lambda.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use streamgate_aws::DynamoStore;
use streamgate_contract::config as env;
use streamgate_core::memory::MemoryStore;
use streamgate_core::{ApiKey, ChatApp, ChatSettings, ClientPush, ConnectionStore};
use streamgate_llm::{ProviderConfig, Timeouts};
use streamgate_server::gateway::origin::AllowedOrigins;
use streamgate_server::in_process::LocalPush;
use streamgate_server::process::{StopSignal, serve_until_stopped};
use streamgate_server::realtime::{Catalog, RealtimeService, VoiceArgs};
use streamgate_server::{ChatIntegration, Gateway, GatewayConfig, Registry};

/// Prints a line on standard output, in order with the logs; when that is closed (`... |
/// head`) or full the line is lost and nothing else happens (`println!` would panic or wait).
macro_rules! say {
    ($($arg:tt)*) => {{
        streamgate_server::stdout::line(format!("{}\n", format_args!($($arg)*)));
    }};
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StoreKind {
    /// Records in memory (lost on exit).
    Memory,
    /// The DynamoDB table named by --table (DynamoDB Local with --dynamodb-endpoint).
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
    /// Where connection records live.
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
    voice: VoiceArgs,
    /// Serve this CloudFormation template's WebSocket API (YAML or JSON) by running each
    /// function's packaged `bootstrap` under a local Lambda Runtime API, instead of the
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
    /// Log format.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "STREAMGATE_LOG_FORMAT"
    )]
    log_format: LogFormat,
}

async fn store(cli: &Cli) -> Arc<dyn ConnectionStore> {
    match cli.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Dynamodb => {
            let sdk = aws_config::load_from_env().await;
            let mut conf = aws_sdk_dynamodb::config::Builder::from(&sdk);
            if let Some(endpoint) = &cli.dynamodb_endpoint {
                conf = conf.endpoint_url(endpoint);
            }
            Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::from_conf(conf.build()),
                &cli.table,
            ))
        }
    }
}

fn push(cli: &Cli, registry: &Arc<Registry>) -> Arc<dyn ClientPush> {
    match cli.push {
        PushKind::InProcess => Arc::new(LocalPush(registry.clone())),
        PushKind::Sdk => streamgate_server::in_process::sdk_push_to_self(),
    }
}

/// The listening socket of `--host`/`--port`.
async fn listen(cli: &Cli) -> Result<tokio::net::TcpListener, String> {
    let addr: SocketAddr = format!("{}:{}", cli.host, cli.port)
        .parse()
        .map_err(|e| format!("bad --host/--port: {e}"))?;
    streamgate_server::gateway::listener::bind(addr)
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// The host name the banner shows for `--host`.
fn shown_host(host: &str) -> String {
    if host == "127.0.0.1" || host == "0.0.0.0" {
        "localhost".to_owned()
    } else {
        host.to_owned()
    }
}

/// `NAME=VALUE` pairs.
fn pairs(values: &[String], flag: &str) -> Result<BTreeMap<String, String>, String> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| format!("--{flag} takes NAME=VALUE"))
        })
        .collect()
}

async fn run_template(cli: Cli, template: PathBuf) -> Result<(), String> {
    use streamgate_server::template_server::{TemplateOptions, TemplateServer};
    let mut secrets = BTreeMap::new();
    if let Some(file) = &cli.secrets_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let map: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|_| {
            format!(
                "{} is not a JSON object of secret ids to string values",
                file.display()
            )
        })?;
        secrets.extend(map);
    }
    for (arn, var) in pairs(&cli.secrets_from_env, "secret-from-env")? {
        let value = std::env::var(&var).map_err(|_| {
            format!("--secret-from-env {arn}={var}: the variable {var} is not set (or not UTF-8)")
        })?;
        secrets.insert(arn, value);
    }
    if !cli.secrets.is_empty() {
        tracing::warn!(
            "--secret puts a value on the command line, where other users of this machine can read it (ps): prefer --secret-from-env ARN=VAR or --secrets-file FILE"
        );
    }
    secrets.extend(pairs(&cli.secrets, "secret")?);
    let mut options = TemplateOptions::new(&template);
    options.artifacts = cli.artifacts.clone();
    options.parameters = pairs(&cli.parameters, "parameter")?;
    options.secrets = secrets;
    options.dynamodb_endpoint = cli.dynamodb_endpoint.clone();
    options.dynamodb_local_dir = cli.dynamodb_local_dir.clone();
    options.max_concurrency = cli.max_concurrency;
    options.idle_process_timeout = Duration::from_secs(cli.idle_process_timeout_s);
    options.gateway = gateway_config(&cli)?;
    // Caught before anything starts: a stop during start-up drops what was started.
    let mut stop = StopSignal::install();
    let listener = listen(&cli).await?;
    let starting = TemplateServer::start(options, &listener);
    let server = tokio::select! {
        started = starting => started.map_err(|problems| {
            format!(
                "cannot serve {}:\n  - {}",
                template.display(),
                problems.join("\n  - ")
            )
        })?,
        () = stop.wait() => {
            tracing::info!("stopped during start-up");
            return Ok(());
        }
    };
    let (port, stage) = (cli.port, &server.api.stage);
    let shown = shown_host(&cli.host);
    say!(
        "streamgate: {} from {} (API Gateway WebSocket emulation, functions under a local Lambda Runtime API)",
        server.api.logical_id,
        template.display()
    );
    say!("  WebSocket:       ws://{shown}:{port}/{stage}   (or ws://{shown}:{port})");
    say!("  @connections:    http://{shown}:{port}/{stage}/@connections/{{connectionId}}");
    say!("  test page:       http://{shown}:{port}/");
    for r in &server.api.routes {
        let f = &server.api.functions[&r.function];
        say!(
            "  route {:<12} -> {} ({}, {}, {} s, {} MB){}",
            r.route.key,
            f.name,
            f.runtime,
            f.architecture,
            f.timeout.as_secs(),
            f.memory_mb,
            if r.route.is_asynchronous() {
                "  [event invocation]"
            } else {
                ""
            }
        );
    }
    for line in server.setup.iter().chain(&server.api.notes) {
        say!("  {line}");
    }
    let outcome = serve_until_stopped(
        server.gateway.clone(),
        listener,
        &mut stop,
        SHUTDOWN_WITHIN,
        shutting_down,
    )
    .await;
    // The functions' processes and DynamoDB Local stop with it.
    drop(server);
    outcome.map_err(still_open)
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

async fn run(cli: Cli) -> Result<(), String> {
    if let Some(template) = cli.template.clone() {
        return run_template(cli, template).await;
    }
    let mut stop = StopSignal::install();
    // Flags win over the environment; both feed the same lookups the Lambda functions use.
    let mut overrides: HashMap<&str, String> = HashMap::new();
    let flags = [
        (env::LLM_PROVIDER, &cli.provider),
        (env::LLM_MODEL, &cli.model),
        (env::LLM_BASE_URL, &cli.base_url),
        (env::LLM_API_KEY_ENV, &cli.api_key_env),
    ];
    for (name, value) in flags {
        if let Some(v) = value {
            overrides.insert(name, v.clone());
        }
    }
    let lookup = |name: &str| {
        overrides
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
    };
    let settings = ChatSettings::from_lookup(&lookup).map_err(|e| e.to_string())?;
    let mut provider = ProviderConfig::from_lookup(&lookup).map_err(|e| e.to_string())?;
    provider.echo_delay = Duration::from_millis(cli.echo_delay_ms);
    provider.timeouts = Timeouts::default();
    let key_var = streamgate_llm::api_key_variable(provider.kind, &lookup);
    provider.api_key = key_var
        .as_deref()
        .and_then(|v| std::env::var(v).ok())
        .and_then(ApiKey::new);
    if let (Some(var), None) = (&key_var, &provider.api_key) {
        tracing::warn!(
            "{var} is not set: the {} provider will answer llm_auth unless the server needs no key",
            provider.kind.as_str()
        );
    }
    let llm = streamgate_llm::build(&provider).map_err(|e| e.to_string())?;

    let registry = Arc::new(Registry::new(cli.management_rate_limit));
    let app = ChatApp {
        store: store(&cli).await,
        push: push(&cli, &registry),
        llm,
        settings,
    };
    let config = GatewayConfig {
        stage: cli.stage.clone(),
        ..gateway_config(&cli)?
    };
    let catalog = match &cli.voice.catalog {
        Some(path) => Catalog::load(path).map_err(|e| e.to_string())?,
        None => Catalog::sample(),
    };
    let restaurants = catalog.restaurants.len();
    let first_restaurant = catalog
        .restaurants
        .first()
        .map(|r| r.id.clone())
        .unwrap_or_default();
    let realtime = cli
        .voice
        .config(catalog, config.idle_timeout, config.max_lifetime);
    let voice_ready = realtime.api_key.is_some();
    let realtime = RealtimeService::new(realtime, app.store.clone());
    let gateway = Gateway::builder(config)
        .chat(Arc::new(ChatIntegration(app)), registry)
        .voice(realtime)
        .build();
    let listener = listen(&cli).await?;
    let shown = shown_host(&cli.host);
    let (port, stage) = (cli.port, &cli.stage);
    say!("streamgate: chat API (API Gateway WebSocket emulation)");
    say!("  WebSocket:       ws://{shown}:{port}/{stage}   (or ws://{shown}:{port})");
    say!("  @connections:    http://{shown}:{port}/{stage}/@connections/{{connectionId}}");
    say!("  test page:       http://{shown}:{port}/");
    say!(
        "  voice relay:     ws://{shown}:{port}/realtime?restaurantId={first_restaurant}   ({restaurants} restaurants; page http://{shown}:{port}/voice{})",
        if voice_ready {
            String::new()
        } else {
            format!("; set {} to talk to the model", cli.voice.realtime_key_env)
        }
    );
    say!(
        "  provider: {}   store: {:?}   push: {:?}   (Ctrl-C stops; sockets close with 1001)",
        provider.kind.as_str(),
        cli.store,
        cli.push
    );
    serve_until_stopped(gateway, listener, &mut stop, SHUTDOWN_WITHIN, shutting_down)
        .await
        .map_err(still_open)
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
    streamgate_server::process::init_logs(cli.log_format == LogFormat::Json);
    // Before any default that depends on it (the connection cap) is computed.
    streamgate_server::gateway::listener::raise_descriptor_limit();
    let outcome = run(cli).await;
    // What is still queued for standard output, written before the process ends.
    streamgate_server::stdout::flush(Duration::from_secs(1));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("streamgate-server: {e}");
            ExitCode::FAILURE
        }
    }
}
