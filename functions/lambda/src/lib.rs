//! What the Lambda binaries share: start-up (logging, configuration, SDK clients built once)
//! and the runtime loop. Each binary is one line: `streamgate_lambda::main(Function::X)`.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{LambdaEvent, service_fn};
use streamgate_aws::{ApiGatewayPush, DynamoStore, EndpointMode};
use streamgate_contract::config::{self as env, LlmProviderKind};
use streamgate_contract::{Function, Permission};
use streamgate_core::{
    ApiKey, ChatApp, ChatSettings, ClientPush, LlmProvider, NotGranted, SettingError,
};
use streamgate_llm::ProviderConfig;

/// Why a function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A required variable is not set.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A setting is unusable.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// The provider is unknown.
    #[error(transparent)]
    Provider(#[from] streamgate_llm::UnknownProvider),
    /// The provider cannot be built.
    #[error(transparent)]
    ProviderConfig(#[from] streamgate_llm::ConfigError),
    /// The API key cannot be read.
    #[error(transparent)]
    Secret(#[from] streamgate_aws::SecretError),
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// JSON logs (CloudWatch parses them; `LoggingConfig.LogFormat` is JSON), carrying the
/// handler span's request and connection ids.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time() // CloudWatch stamps each line
        .init();
}

async fn api_key(
    kind: LlmProviderKind,
    sdk: &aws_config::SdkConfig,
) -> Result<Option<ApiKey>, StartError> {
    if kind == LlmProviderKind::Echo {
        return Ok(None);
    }
    if let Some(arn) = env_var(env::LLM_API_KEY_SECRET_ARN).filter(|a| !a.trim().is_empty()) {
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        return Ok(Some(
            streamgate_aws::read_api_key(&client, arn.trim()).await?,
        ));
    }
    Ok(streamgate_llm::api_key_variable(kind, &env_var)
        .and_then(|var| env_var(&var))
        .and_then(ApiKey::new))
}

/// The function's handlers with what its contract grants it: the store always, the
/// `@connections` client when it may post, the model provider when it uses one. SDK clients
/// and the key are made once, at start-up.
async fn app(function: Function) -> Result<ChatApp, StartError> {
    let sdk = aws_config::load_from_env().await;
    let table = env_var(env::TABLE_NAME).ok_or(StartError::Missing(env::TABLE_NAME))?;
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
    let push: Arc<dyn ClientPush> = if function.may(Permission::PostToConnection) {
        let mode = match env_var(env::MANAGEMENT_ENDPOINT).filter(|v| !v.trim().is_empty()) {
            Some(url) => EndpointMode::Fixed(url),
            None => EndpointMode::FromEvent { scheme: "https" },
        };
        Arc::new(ApiGatewayPush::new(sdk.clone(), mode))
    } else {
        Arc::new(NotGranted)
    };
    let settings = ChatSettings::from_lookup(&env_var)?;
    let llm: Arc<dyn LlmProvider> = if function.spec().uses_llm {
        let mut config = ProviderConfig::from_lookup(&env_var)?;
        config.api_key = api_key(config.kind, &sdk).await?;
        streamgate_llm::build(&config)?
    } else {
        Arc::new(NotGranted)
    };
    Ok(ChatApp {
        store,
        push,
        llm,
        settings,
    })
}

/// Starts the function and serves invocations until the runtime stops it.
pub async fn main(function: Function) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let app = match app(function).await {
        Ok(app) => Arc::new(app),
        Err(e) => {
            tracing::error!(function = function.name(), error = %e, "cannot start");
            return Err(e.into());
        }
    };
    tracing::info!(function = function.name(), "started");
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let app = app.clone();
            async move { Ok::<_, lambda_runtime::Error>(app.handle(function, &event.payload).await) }
        },
    ))
    .await
}
