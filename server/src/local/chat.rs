//! The built-in chat API: the contract's routes served by the handlers in this process, with
//! the chosen store, push and provider, and the voice relay beside it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::ChatIntegration;
use crate::in_process::LocalPush;
use streamgate_aws::{DynamoConversations, DynamoStore};
use streamgate_contract::config as env;
use streamgate_core::conversation::memory::MemoryConversations;
use streamgate_core::memory::{MemoryQuotas, MemoryStore};
use streamgate_core::{
    ApiKey, ChatApp, ChatSettings, ClientPush, ConnectionStore, ConversationStore,
};
use streamgate_emulator::process::{StopSignal, serve_until};
use streamgate_emulator::{Gateway, GatewayConfig, Registry};
use streamgate_llm::{ProviderConfig, Timeouts};
use streamgate_voice_relay::{Catalog, RealtimeService};

use super::{
    LocalArgs, PushKind, SHUTDOWN_WITHIN, StoreKind, access, access_lines, dev_token,
    gateway_config, listen, listening, metrics, metrics_line, outcome_of, run_command, shown_host,
    shutting_down,
};

/// The connection records and conversations of `--store`.
async fn stores(cli: &LocalArgs) -> (Arc<dyn ConnectionStore>, Arc<dyn ConversationStore>) {
    match cli.store {
        StoreKind::Memory => (
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryConversations::new()),
        ),
        StoreKind::Dynamodb => {
            let sdk = aws_config::load_from_env().await;
            let mut conf = aws_sdk_dynamodb::config::Builder::from(&sdk);
            if let Some(endpoint) = &cli.dynamodb_endpoint {
                conf = conf.endpoint_url(endpoint);
            }
            let client = aws_sdk_dynamodb::Client::from_conf(conf.build());
            (
                Arc::new(DynamoStore::new(client.clone(), &cli.table)),
                Arc::new(DynamoConversations::new(client, &cli.conversations_table)),
            )
        }
    }
}

fn push(cli: &LocalArgs, registry: &Arc<Registry>) -> Arc<dyn ClientPush> {
    match cli.push {
        PushKind::InProcess => Arc::new(LocalPush(registry.clone())),
        PushKind::Sdk => crate::in_process::sdk_push_to_self(),
    }
}

/// The listening socket of `--host`/`--port`.
/// The built-in chat API (and the voice relay beside it), with the handlers in process.
pub(super) async fn run(cli: LocalArgs) -> Result<Option<u8>, String> {
    let mut stop = StopSignal::install();
    // Flags win over the environment; both feed the same lookups the Lambda functions use.
    let mut overrides: HashMap<&str, String> = HashMap::new();
    let flags = [
        (env::LLM_PROVIDER, &cli.provider),
        (env::LLM_MODEL, &cli.model),
        (env::LLM_BASE_URL, &cli.base_url),
        (env::LLM_API_KEY_ENV, &cli.api_key_env),
        (env::SYSTEM_PROMPT, &cli.system_prompt),
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
    let mut settings = ChatSettings::from_lookup(&lookup).map_err(|e| e.to_string())?;
    settings.conversations.cancel_check =
        Duration::from_millis(cli.cancel_check_ms.clamp(10, 10_000));
    if let Some(budget) = cli.daily_token_budget {
        settings.quotas.daily_token_budget = budget;
    }
    let mut provider = ProviderConfig::from_lookup(&lookup).map_err(|e| e.to_string())?;
    provider.echo_delay = Duration::from_millis(cli.echo_delay_ms);
    provider.timeouts = Timeouts::default();
    if provider.kind == streamgate_contract::config::LlmProviderKind::Bedrock {
        // The credentials and region of this environment (variables, profile), as the AWS
        // CLI would use them; AWS_ENDPOINT_URL_BEDROCK_RUNTIME or --base-url redirect it.
        provider.aws = Some(aws_config::load_from_env().await);
    }
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
    // One set of quotas for both doors: answers' tokens and voice seconds, per user.
    let quotas = Arc::new(MemoryQuotas::new());
    let (store, conversations) = stores(&cli).await;
    let app = ChatApp {
        store,
        conversations,
        push: push(&cli, &registry),
        llm,
        quotas: quotas.clone(),
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
    let realtime = RealtimeService::with_quotas(realtime, app.store.clone(), quotas);
    let listener = listen(&cli).await?;
    let access = access(&cli, &listener)?;
    let gateway = Gateway::builder(config)
        .chat(Arc::new(ChatIntegration(app)), registry)
        .authorizer(access.authorizer()?)
        .dev_issuer(access.dev_issuer())
        .voice(realtime);
    let registry = metrics(&cli);
    let gateway = match registry {
        Some(r) => gateway.metrics(r),
        None => gateway,
    }
    .build();
    let shown = shown_host(&cli.serve.host);
    let (port, stage) = (cli.serve.port, &cli.stage);
    say!(
        "streamgate {}: chat API (API Gateway WebSocket emulation)",
        env!("CARGO_PKG_VERSION")
    );
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
    for line in access_lines(&access, &format!("http://{shown}:{port}/")) {
        say!("{line}");
    }
    say!(
        "{}",
        metrics_line(registry, &format!("http://{shown}:{port}/"))
    );
    say!(
        "  provider: {}   store: {:?}   push: {:?}   (Ctrl-C stops; sockets close with 1001)",
        provider.kind.as_str(),
        cli.store,
        cli.push
    );
    let beside = run_command::environment(run_command::Reach {
        listening: listening(&listener)?,
        stage,
        token: dev_token(&access),
        extra: BTreeMap::new(),
    });
    let (ended, closed) = serve_until(
        gateway,
        listener,
        run_command::until_stopped_or_done(cli.run.as_deref(), beside, &mut stop),
        SHUTDOWN_WITHIN,
        shutting_down,
    )
    .await;
    outcome_of(ended, closed)
}
