//! What serving a template takes: the template, parameters, secrets, the DynamoDB endpoint,
//! the process limits, the gateway's settings, where output goes, the runtime cache, `--watch`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::runtime::config::LogSink;
use streamgate_auth::dev::DevIssuer;
use streamgate_emulator::gateway::GatewayConfig;

/// What serving a template needs.
#[derive(Clone)]
pub struct TemplateOptions {
    /// The template (YAML or JSON).
    pub template: PathBuf,
    /// A folder of packaged functions (one folder per function) instead of the template's
    /// `Code` paths.
    pub artifacts: Option<PathBuf>,
    /// Parameter values.
    pub parameters: BTreeMap<String, String>,
    /// Secrets served to the functions (ARN or name → value).
    pub secrets: BTreeMap<String, String>,
    /// A DynamoDB endpoint; without one, DynamoDB Local is started when the template has
    /// tables.
    pub dynamodb_endpoint: Option<String>,
    /// Where `DynamoDBLocal.jar` is (default: searched under the working directory).
    pub dynamodb_local_dir: Option<PathBuf>,
    /// Processes per function at most.
    pub max_concurrency: usize,
    /// Idle processes are stopped after this long.
    pub idle_process_timeout: Duration,
    /// The gateway's own settings (timers, limits); routes, stage and selection come from
    /// the template.
    pub gateway: GatewayConfig,
    /// Where function output goes.
    pub logs: LogSink,
    /// Variables every function gets besides Lambda's, the function's and the endpoints.
    pub extra_environment: BTreeMap<String, String>,
    /// Values for parameters the template declares and [`parameters`](Self::parameters)
    /// does not set, in place of their defaults (the development issuer's `AuthIssuer` and
    /// `AuthAudience`, so a stack that would create a Cognito pool uses it instead).
    pub local_parameters: BTreeMap<String, String>,
    /// The development issuer, served on the same port.
    pub dev_issuer: Option<Arc<DevIssuer>>,
    /// `GET /metrics` from this registry, which takes in the functions' EMF lines (those
    /// lines then leave the output: they are metrics, not logs).
    pub metrics: Option<&'static streamgate_telemetry::Registry>,
    /// Where the managed runtimes' SDKs and loops are kept.
    pub cache_dir: PathBuf,
    /// Start-up progress (an SDK being installed), one line at a time.
    pub progress: Arc<dyn Fn(&str) + Send + Sync>,
    /// Retire a function's warm processes when its code changes.
    pub watch: bool,
}

impl TemplateOptions {
    /// Options for `template` with local defaults (output printed with the function name).
    pub fn new(template: impl Into<PathBuf>) -> TemplateOptions {
        TemplateOptions {
            template: template.into(),
            artifacts: None,
            parameters: BTreeMap::new(),
            secrets: BTreeMap::new(),
            dynamodb_endpoint: None,
            dynamodb_local_dir: None,
            max_concurrency: 32,
            idle_process_timeout: Duration::from_secs(600),
            gateway: GatewayConfig::default(),
            logs: crate::runtime::output::stdout_sink(),
            extra_environment: BTreeMap::new(),
            local_parameters: BTreeMap::new(),
            dev_issuer: None,
            metrics: None,
            cache_dir: crate::runtime::managed::default_cache_dir(),
            progress: Arc::new(|line: &str| eprintln!("{line}")),
            watch: false,
        }
    }
}
