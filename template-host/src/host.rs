//! Serving a CloudFormation template's WebSocket API with its functions' real bootstraps:
//! reads the template ([`crate::template`]), finds every artifact, starts DynamoDB Local
//! (or uses a given endpoint) and creates the tables, then joins the gateway, the function
//! pools and the local services on one port. Every problem is reported before anything
//! starts serving.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::runtime::pool::{LogSink, Pool, PoolConfig};
use crate::runtime::{FunctionHost, LambdaAuthorizer};
use crate::runtime::{artifact, cargo_lambda, managed};
use streamgate_auth::dev::DevIssuer;
use streamgate_emulator::api::ApiRoute;
use streamgate_emulator::callers::LocalToken;
use streamgate_emulator::gateway::{Gateway, GatewayConfig};
use streamgate_emulator::ids;
use streamgate_emulator::integration::Authorizer;
use streamgate_emulator::registry::Registry;
use streamgate_local_services::{DynamoDbLocal, ScratchDir, SecretStore};

use crate::tables;
use crate::template::{self, LocalApi, Pseudo, ReadOptions};
use streamgate_contract::RouteKind;

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

/// A template's API being served.
pub struct TemplateHost {
    /// The gateway.
    pub gateway: Arc<Gateway>,
    /// The functions' processes.
    pub host: Arc<FunctionHost>,
    /// What the template declares.
    pub api: LocalApi,
    /// The DynamoDB endpoint the functions use, if any.
    pub dynamodb_endpoint: Option<String>,
    /// What was done at start-up (tables created...), for the banner.
    pub setup: Vec<String>,
    /// The code watcher (with `watch`).
    _watcher: Option<crate::runtime::watch::Watcher>,
    _dynamodb: Option<DynamoDbLocal>,
    _unpacked: ScratchDir,
}

/// With `--watch`, each `provided.*` function in a folder runs from a private copy (a rebuild
/// can then replace the bootstrap a warm process runs); returns each one's own folder.
fn mirror_bootstraps(
    functions: &mut BTreeMap<String, template::FunctionDef>,
    scratch: &std::path::Path,
) -> Result<BTreeMap<String, PathBuf>, Vec<String>> {
    let mut own = BTreeMap::new();
    for (id, f) in functions.iter_mut() {
        let template::Code::Path(dir) = &f.code else {
            continue;
        };
        if f.family != template::rules::Family::Provided || !dir.is_dir() {
            continue;
        }
        let copy = scratch.join(format!("{id}-watched"));
        crate::runtime::mirror::refresh(dir, &copy).map_err(|e| {
            vec![format!(
                "{id}: cannot copy {} to run it: {e}",
                dir.display()
            )]
        })?;
        own.insert(id.clone(), dir.clone());
        f.code = template::Code::Path(copy);
    }
    Ok(own)
}

/// `sam build`'s output beside `template` (`.aws-sam/build/template.yaml`), used in its place
/// when present, as `sam local` does.
fn sam_build_output(template: &std::path::Path) -> Option<PathBuf> {
    if template.components().any(|c| c.as_os_str() == ".aws-sam") {
        return None;
    }
    let built = template
        .parent()?
        .join(".aws-sam")
        .join("build")
        .join("template.yaml");
    built.is_file().then_some(built)
}

/// Scratch folders are named `{SCRATCH_PREFIX}{pid}-{api id}`.
const SCRATCH_PREFIX: &str = "streamgate-functions-";

/// Removes the scratch folders of servers that are no longer running (one that was killed
/// could not remove its own).
fn remove_stale_scratch(temp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let running = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !running {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl TemplateHost {
    /// Reads and checks everything; the error lists every problem found.
    pub async fn start(
        options: TemplateOptions,
        listener: &TcpListener,
    ) -> Result<TemplateHost, Vec<String>> {
        let mut setup = Vec::new();
        let template_path = match sam_build_output(&options.template) {
            Some(built) => {
                setup.push(format!(
                    "serving SAM's build output {} (run `sam build` again after a change, or remove .aws-sam)",
                    built.display()
                ));
                built
            }
            None => options.template.clone(),
        };
        let text = std::fs::read_to_string(&template_path)
            .map_err(|e| vec![format!("cannot read {}: {e}", template_path.display())])?;
        let base_dir = template_path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        let pseudo = Pseudo::default();
        let api_id = ids::new_api_id();
        let mut parameters = options.parameters.clone();
        if !options.local_parameters.is_empty()
            && let Ok(doc) = template::document::parse(&text)
            && let Some(declared) = doc["Parameters"].as_object()
        {
            for (name, value) in &options.local_parameters {
                if declared.contains_key(name) && !parameters.contains_key(name) {
                    parameters.insert(name.clone(), value.clone());
                }
            }
        }
        let mut api = template::read(
            &text,
            &ReadOptions {
                parameters,
                pseudo: pseudo.clone(),
                base_dir,
                api_id: api_id.clone(),
            },
        )?;
        remove_stale_scratch(&std::env::temp_dir());
        let unpacked = ScratchDir(
            std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}-{api_id}", std::process::id())),
        );
        let port = listener
            .local_addr()
            .map_err(|e| vec![format!("no local address: {e}")])?
            .port();
        let progress = options.progress.clone();
        let crates =
            cargo_lambda::prepare(&mut api.functions, &move |line: &str| progress(line)).await?;
        let mirrors = if options.watch && options.artifacts.is_none() {
            mirror_bootstraps(&mut api.functions, &unpacked.0)?
        } else {
            BTreeMap::new()
        };
        let progress = options.progress.clone();
        let (toolchains, notes) = managed::prepare_all(
            api.functions.values(),
            &options.cache_dir,
            &move |line: &str| progress(line),
        )
        .await?;
        setup.extend(notes);
        let managed_environment = managed::local_api_environment(&api_id, &pseudo.region, port);
        let managed = artifact::Managed {
            toolchains: &toolchains,
            cache: &options.cache_dir,
            environment: &managed_environment,
        };
        let mut problems = Vec::new();
        let mut launches = BTreeMap::new();
        for (id, f) in &api.functions {
            match artifact::locate(f, options.artifacts.as_deref(), &unpacked.0, &managed) {
                Ok(launch) => {
                    launches.insert(id.clone(), launch);
                }
                Err(e) => problems.push(e),
            }
        }
        for arn in &api.secret_arns {
            if !options.secrets.contains_key(arn) {
                problems.push(format!(
                    "a parameter names the secret {arn}: give its value with --secret {arn}=VALUE (or --secrets-file)"
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }

        let (dynamodb, dynamodb_endpoint) = match (
            &options.dynamodb_endpoint,
            api.tables.is_empty(),
        ) {
            (Some(url), _) => (None, Some(url.clone())),
            (None, true) => (None, None),
            (None, false) => {
                let cwd = std::env::current_dir().unwrap_or_default();
                let dir = options
                    .dynamodb_local_dir
                    .clone()
                    .or_else(|| DynamoDbLocal::find_jar_dir(&cwd))
                    .ok_or_else(|| {
                        vec![format!(
                            "the template declares {} table(s): pass --dynamodb-endpoint URL, or install DynamoDB Local (`just setup` puts it under tests/node)",
                            api.tables.len()
                        )]
                    })?;
                let db = DynamoDbLocal::start(&dir).await.map_err(|e| vec![e])?;
                let endpoint = db.endpoint();
                setup.push(format!("DynamoDB Local at {endpoint}"));
                (Some(db), Some(endpoint))
            }
        };
        if let Some(endpoint) = &dynamodb_endpoint {
            let client = dynamodb_client(endpoint, &pseudo.region);
            for table in &api.tables {
                setup.push(tables::create(&client, table).await.map_err(|e| vec![e])?);
            }
        }

        // The session token is this run's credential for the local AWS endpoints: only the
        // functions get it (crate::callers).
        let token = LocalToken::generate();
        let mut environment = BTreeMap::from([
            ("AWS_ACCESS_KEY_ID".to_owned(), LOCAL_ACCESS_KEY.to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY".to_owned(),
                LOCAL_SECRET_KEY.to_owned(),
            ),
            ("AWS_SESSION_TOKEN".to_owned(), token.expose().to_owned()),
            (
                "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI".to_owned(),
                format!("http://127.0.0.1:{port}/{}", api.stage),
            ),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
                format!("http://127.0.0.1:{port}"),
            ),
        ]);
        if let Some(endpoint) = &dynamodb_endpoint {
            environment.insert("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), endpoint.clone());
        }
        environment.extend(options.extra_environment.clone());
        let pool_config = PoolConfig {
            max_concurrency: options.max_concurrency,
            idle_timeout: options.idle_process_timeout,
            queue_timeout: options.gateway.integration_timeout + Duration::from_millis(250),
            region: pseudo.region.clone(),
            account_id: pseudo.account_id.clone(),
            extra_environment: environment,
            logs: match options.metrics {
                Some(registry) => {
                    crate::runtime::output::taking_metrics(options.logs.clone(), registry)
                }
                None => options.logs.clone(),
            },
        };
        let pools: BTreeMap<String, Arc<Pool>> = api
            .functions
            .iter()
            .map(|(id, f)| {
                let launch = launches.remove(id).expect("located above");
                (
                    id.clone(),
                    Pool::new(f.clone(), launch, pool_config.clone()),
                )
            })
            .collect();
        let routes: BTreeMap<String, String> = api
            .routes
            .iter()
            .map(|r| (r.route.key.clone(), r.function.clone()))
            .collect();
        let authorizer: Option<Arc<dyn Authorizer>> = api
            .routes
            .iter()
            .find(|r| r.route.kind() == RouteKind::Connect)
            .and_then(|r| r.authorizer.clone())
            .map(|def| {
                let pool = pools[&def.function].clone();
                Arc::new(LambdaAuthorizer {
                    method_arn: format!(
                        "arn:aws:execute-api:{}:{}:{api_id}/{}/$connect",
                        pseudo.region, pseudo.account_id, api.stage
                    ),
                    def,
                    pool,
                }) as Arc<dyn Authorizer>
            });
        let watcher = options.watch.then(|| {
            crate::runtime::watch::start(&pools, &crates, &mirrors, options.progress.clone())
        });
        let host = Arc::new(FunctionHost::new(pools, routes));
        let config = GatewayConfig {
            stage: api.stage.clone(),
            routes: api
                .routes
                .iter()
                .map(|r| r.route.clone())
                .collect::<Vec<ApiRoute>>(),
            selection: api.selection.clone(),
            aws_token: Some(token),
            ..options.gateway.clone()
        };
        let registry = Arc::new(Registry::new(config.management_rate_limit));
        let gateway = Gateway::builder(config)
            .chat(host.clone(), registry)
            .authorizer(authorizer)
            .api_id(api_id)
            .secrets(Arc::new(SecretStore::new(options.secrets.clone())))
            .dev_issuer(options.dev_issuer.clone());
        let gateway = match options.metrics {
            Some(registry) => gateway.metrics(registry),
            None => gateway,
        }
        .build();
        Ok(TemplateHost {
            gateway,
            host,
            api,
            dynamodb_endpoint,
            setup,
            _watcher: watcher,
            _dynamodb: dynamodb,
            _unpacked: unpacked,
        })
    }
}

/// The credentials functions get, with this run's session token (DynamoDB Local keeps one
/// database per access key unless shared, so tables are created with the same one).
pub const LOCAL_ACCESS_KEY: &str = "ASIALOCALSTREAMGATE0";
const LOCAL_SECRET_KEY: &str = "local";

/// A DynamoDB client for a local endpoint, with the functions' credentials.
pub fn dynamodb_client(endpoint: &str, region: &str) -> aws_sdk_dynamodb::Client {
    let sdk =
        streamgate_local_services::loopback_sdk_config(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, region);
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_folders_of_servers_that_are_gone_are_removed() {
        let temp = std::env::temp_dir().join(format!(
            "streamgate-scratch-test-{}-{}",
            std::process::id(),
            ids::new_api_id()
        ));
        // A pid above the kernel's largest is never running; this process is.
        let gone = temp.join(format!("{SCRATCH_PREFIX}4194305-abc"));
        let ours = temp.join(format!("{SCRATCH_PREFIX}{}-abc", std::process::id()));
        let other = temp.join("unrelated-4194305-abc");
        for dir in [&gone, &ours, &other] {
            std::fs::create_dir_all(dir.join("Function")).unwrap();
        }
        remove_stale_scratch(&temp);
        assert!(
            !gone.exists(),
            "a killed server's unpacked zips are removed"
        );
        assert!(ours.exists(), "a running server's are kept");
        assert!(other.exists(), "other folders are left alone");
        let _ = std::fs::remove_dir_all(&temp);
    }
}
