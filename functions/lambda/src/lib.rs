//! What the Lambda binaries share: start-up (logging, configuration, SDK clients built once)
//! and the runtime loop. Each route's binary is one line:
//! `streamgate_lambda::main::<Grants>(Function::X)`, its [`Grants`] deciding which clients it
//! links; the `$connect` authorizer's is [`authorizer::main`].

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{LambdaEvent, service_fn};
use streamgate_aws::{DynamoQuotas, DynamoStore};
use streamgate_contract::config as env;
use streamgate_contract::{Function, Permission};
use streamgate_core::{ChatApp, ChatSettings, NotGranted, QuotaStore, SettingError};

pub mod authorizer;
pub mod grants;
pub mod sdk;

// lambda_runtime turns a panicking handler into an invocation error (API Gateway's
// `Internal server error`) and keeps the process warm only if panics unwind, as they do in
// the tested build. A profile with `panic = "abort"` would crash the process instead.
#[cfg(panic = "abort")]
compile_error!("the Lambda functions need panic = \"unwind\" (see [profile.lambda-release])");

pub use grants::{Answering, Conversing, Grants, Posting, StoreOnly};

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
    /// The binary was built with other grants than the contract gives its function.
    #[error(
        "the {function} function was built with grants {grants:?}, which are not its contract's"
    )]
    Grants {
        /// The function.
        function: &'static str,
        /// The binary's grants.
        grants: &'static str,
    },
}

pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Logging as Lambda's log controls ask (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`,
/// else `RUST_LOG`): JSON lines with `timestamp`, `level`, `message` and the invocation's ids
/// at the top level ([`streamgate_telemetry::logs`]).
pub fn init_tracing() {
    streamgate_telemetry::logs::init_lambda();
}

/// The metrics recorder, and the `Service` dimension its EMF lines carry (the stack's name);
/// none when `STREAMGATE_METRICS` is `off` (recording then does nothing).
pub fn init_metrics() -> Metrics {
    let off = env::metrics_off(env_var(env::METRICS).as_deref());
    Metrics {
        registry: (!off).then(streamgate_telemetry::Registry::install),
        service: env_var(env::METRICS_SERVICE)
            .unwrap_or_else(|| "streamgate".to_owned())
            .into(),
    }
}

/// What an invocation recorded leaves as EMF lines on standard output when it ends (the
/// function's log group turns them into CloudWatch metrics).
#[derive(Clone)]
pub struct Metrics {
    registry: Option<&'static streamgate_telemetry::Registry>,
    service: Arc<str>,
}

impl Metrics {
    /// Writes what was recorded since the last flush.
    pub fn flush(&self) {
        if let Some(registry) = self.registry {
            registry.flush_emf(&self.service);
        }
    }
}

/// The function's handlers with what `G` grants it: the store always, the `@connections`
/// client and the model provider when the grants include them. SDK clients and the key are
/// made once, at start-up.
async fn app<G: Grants>(function: Function) -> Result<ChatApp, StartError> {
    if !G::fit(function) {
        return Err(StartError::Grants {
            function: function.name(),
            grants: G::NAME,
        });
    }
    let sdk = sdk::lambda_sdk_config();
    let table = env_var(env::TABLE_NAME).ok_or(StartError::Missing(env::TABLE_NAME))?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let store = G::store(DynamoStore::new(dynamodb.clone(), table));
    let quotas: Arc<dyn QuotaStore> = if function.may(Permission::UpdateQuota) {
        let table =
            env_var(env::QUOTA_TABLE_NAME).ok_or(StartError::Missing(env::QUOTA_TABLE_NAME))?;
        Arc::new(DynamoQuotas::new(dynamodb.clone(), table))
    } else {
        Arc::new(NotGranted)
    };
    let conversations = G::conversations(dynamodb)?;
    let settings = ChatSettings::from_lookup(&env_var)?;
    Ok(ChatApp {
        store,
        push: G::push(&sdk),
        llm: G::llm(&sdk).await?,
        quotas,
        conversations,
        settings,
    })
}

/// Starts the function and serves invocations until the runtime stops it.
///
/// The binaries run it on a current-thread Tokio runtime: Lambda hands a process one
/// invocation at a time, and without worker threads every socket event is handled where it
/// is noticed (no thread to wake). Measured on the packaged x86_64 bootstraps: init (exec to
/// the first `/next`) 4 ms instead of 6, and 15-25% more warm invocations per second of CPU.
pub async fn main<G: Grants>(function: Function) -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let metrics = init_metrics();
    let app = match app::<G>(function).await {
        Ok(app) => Arc::new(app),
        Err(e) => {
            tracing::error!(function = function.name(), error = %e, "cannot start");
            return Err(e.into());
        }
    };
    tracing::info!(function = function.name(), "started");
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let (app, metrics) = (app.clone(), metrics.clone());
            async move {
                let response = app.handle(function, &event.payload).await;
                metrics.flush();
                Ok::<_, lambda_runtime::Error>(response)
            }
        },
    ))
    .await
}
