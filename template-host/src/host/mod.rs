//! Serving a template's WebSocket API with its functions' real code, started in phases, one
//! file each: `read.rs` reads the template (SAM and CDK included, [`crate::template`]),
//! `code.rs` prepares the functions' code (cargo-lambda builds, managed runtimes, every
//! artifact located), `database.rs` the DynamoDB (DynamoDB Local or a given endpoint, the
//! tables created), `environment.rs` the functions' environment (credentials, endpoints),
//! `functions.rs` the pools and the authorizer, and `gateway.rs` the gateway, joining the API,
//! the function pools and the local services on one port. Every problem is reported before
//! anything starts serving ([`StartError`], `error.rs`).
//!
//! The API Gateway side of the host: [`FunctionHost`] (`function_host.rs`: the gateway's
//! integration, each route to one of the [`integrations`]) and the template's
//! [`authorizer`]. Besides: `options.rs` ([`TemplateOptions`]) and `files.rs` (SAM's build
//! output, `--watch`'s private copies, stale scratch folders).

pub mod authorizer;
mod code;
mod database;
pub use database::installed_jar_dir;
mod environment;
mod error;
mod files;
mod function_host;
mod functions;
mod gateway;
pub mod integrations;
mod options;
mod read;

pub use database::dynamodb_client;
pub use environment::LOCAL_ACCESS_KEY;
pub use error::StartError;
pub use function_host::FunctionHost;
pub use options::TemplateOptions;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::runtime::watch::Watcher;
use crate::template::LocalApi;
use files::{SCRATCH_PREFIX, remove_stale_scratch};
use streamgate_emulator::callers::LocalToken;
use streamgate_emulator::gateway::Gateway;
use streamgate_local_services::{DynamoDbLocal, ScratchDir};

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
    /// What a command run beside the stack gets to reach its local AWS APIs as the functions
    /// do (`--run`): the local credentials, this run's session token, the endpoints, the
    /// region.
    pub client_environment: BTreeMap<String, String>,
    /// The code watcher (with `watch`).
    _watcher: Option<Watcher>,
    _dynamodb: Option<DynamoDbLocal>,
    _unpacked: ScratchDir,
}

impl TemplateHost {
    /// Reads and checks everything, then starts what serving takes; the error lists every
    /// problem found (and nothing is left running).
    pub async fn start(
        options: TemplateOptions,
        listener: &TcpListener,
    ) -> Result<TemplateHost, StartError> {
        let read::Read {
            mut api,
            pseudo,
            api_id,
            mut setup,
        } = read::read(&options)?;
        remove_stale_scratch(&std::env::temp_dir());
        let unpacked = ScratchDir(
            std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}-{api_id}", std::process::id())),
        );
        files::private_scratch(&unpacked.0)?;
        let port = listener
            .local_addr()
            .map_err(|e| StartError::one(format!("no local address: {e}")))?
            .port();
        let site = code::Site {
            api_id: &api_id,
            region: &pseudo.region,
            port,
        };
        let code = code::prepare(&mut api, &options, &unpacked.0, &site).await?;
        setup.extend(code.notes.iter().cloned());
        let database = database::start(&api, &options, &pseudo.region, &mut setup).await?;
        let token = LocalToken::generate();
        let endpoints = environment::Endpoints {
            port,
            stage: &api.stage,
            dynamodb: database.endpoint.as_deref(),
        };
        let variables = environment::variables(&options, &token, &endpoints);
        let mut client_environment = environment::local_access(&token, &endpoints);
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            client_environment.insert(name.to_owned(), pseudo.region.clone());
        }
        let config = environment::pool_config(&options, &pseudo, variables);
        let functions = functions::start(&api, code, &config, &pseudo, &api_id, &options)?;
        let served = gateway::Served {
            host: functions.host.clone(),
            authorizer: functions.authorizer,
            api_id,
            token,
        };
        let gateway = gateway::build(&options, &api, served);
        Ok(TemplateHost {
            gateway,
            host: functions.host,
            api,
            dynamodb_endpoint: database.endpoint,
            setup,
            client_environment,
            _watcher: functions.watcher,
            _dynamodb: database.local,
            _unpacked: unpacked,
        })
    }
}
