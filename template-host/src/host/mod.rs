//! Serving a template's WebSocket API with its functions' real code: reads the template
//! ([`crate::template`], SAM and CDK included), builds cargo-lambda functions, prepares the
//! managed runtimes, finds every artifact, starts DynamoDB Local (or uses a given endpoint)
//! and creates the tables, then joins the gateway, the function pools and the local services
//! on one port. Every problem is reported before anything starts serving.
//! `options.rs`: [`TemplateOptions`]; `files.rs`: SAM's build output, `--watch`'s private
//! copies, stale scratch folders.

mod files;
mod options;

use files::{SCRATCH_PREFIX, mirror_bootstraps, remove_stale_scratch, sam_build_output};
pub use options::TemplateOptions;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::runtime::pool::{Pool, PoolConfig};
use crate::runtime::{FunctionHost, LambdaAuthorizer};
use crate::runtime::{artifact, cargo_lambda, managed};
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
                    // A stack in a folder of its own, served by this checkout's server
                    // (`cargo run` from anywhere): the checkout's `just setup` install.
                    .or_else(|| {
                        std::env::current_exe()
                            .ok()?
                            .ancestors()
                            .find_map(DynamoDbLocal::find_jar_dir)
                    })
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
