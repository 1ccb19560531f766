//! Start-up, the tables: the DynamoDB endpoint the functions use (the one given, or DynamoDB
//! Local started when the template declares tables), the template's tables created there,
//! and the client that creates them ([`dynamodb_client`]).

use std::path::{Path, PathBuf};

use super::environment::{LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY};
use super::error::StartError;
use super::options::TemplateOptions;
use crate::runtime::managed;
use crate::tables;
use crate::template::LocalApi;
use streamgate_local_services::DynamoDbLocal;

/// The DynamoDB the functions use.
pub(super) struct Database {
    /// DynamoDB Local, when started here (stopped on drop).
    pub(super) local: Option<DynamoDbLocal>,
    /// Its endpoint, if there is one.
    pub(super) endpoint: Option<String>,
}

/// The DynamoDB for `api` with its tables created; `setup` gets a line for each thing done.
pub(super) async fn start(
    api: &LocalApi,
    options: &TemplateOptions,
    region: &str,
    setup: &mut Vec<String>,
) -> Result<Database, StartError> {
    let database = match (&options.dynamodb_endpoint, api.tables.is_empty()) {
        (Some(url), _) => Database {
            local: None,
            endpoint: Some(url.clone()),
        },
        (None, true) => Database {
            local: None,
            endpoint: None,
        },
        (None, false) => {
            let dir = jar_dir(options).await.map_err(|e| {
                StartError::one(format!(
                    "the template declares {} table(s) and DynamoDB Local is not installed: {e}; `streamgate doctor --fetch` fetches it into the cache, or pass --dynamodb-endpoint URL or --dynamodb-local-dir DIR",
                    api.tables.len()
                ))
            })?;
            let db = DynamoDbLocal::start(&dir)
                .await
                .map_err(|e| StartError::one(e.to_string()))?;
            let endpoint = db.endpoint();
            setup.push(format!("DynamoDB Local at {endpoint}"));
            Database {
                local: Some(db),
                endpoint: Some(endpoint),
            }
        }
    };
    if let Some(endpoint) = &database.endpoint {
        let client = dynamodb_client(endpoint, region);
        for table in &api.tables {
            setup.push(
                tables::create(&client, table)
                    .await
                    .map_err(|e| StartError::one(e.to_string()))?,
            );
        }
    }
    Ok(database)
}

/// Where `DynamoDBLocal.jar` is: the folder given, else an install found on this machine
/// ([`installed_jar_dir`]), else the cache's, fetched there on first use.
async fn jar_dir(options: &TemplateOptions) -> Result<PathBuf, String> {
    if let Some(dir) = &options.dynamodb_local_dir {
        return Ok(dir.clone());
    }
    if let Some(dir) = installed_jar_dir(&options.cache_dir) {
        return Ok(dir);
    }
    let cached = managed::dynamodb_local(&options.cache_dir, &*options.progress).await?;
    DynamoDbLocal::find_jar_dir(&cached)
        .ok_or_else(|| format!("{} holds no DynamoDBLocal.jar", cached.display()))
}

/// DynamoDB Local already on this machine: under the working directory's `node_modules`,
/// under this server's own checkout (`just setup` installs it there), or in `cache`.
pub fn installed_jar_dir(cache: &Path) -> Option<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_default();
    DynamoDbLocal::find_jar_dir(&cwd)
        .or_else(|| {
            std::env::current_exe()
                .ok()?
                .ancestors()
                .find_map(DynamoDbLocal::find_jar_dir)
        })
        .or_else(|| {
            managed::cached(&managed::DYNAMODB_LOCAL, cache)
                .and_then(|dir| DynamoDbLocal::find_jar_dir(&dir))
        })
}

/// A DynamoDB client for a local endpoint, with the functions' credentials.
pub fn dynamodb_client(endpoint: &str, region: &str) -> aws_sdk_dynamodb::Client {
    let sdk =
        streamgate_local_services::loopback_sdk_config(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, region);
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}
