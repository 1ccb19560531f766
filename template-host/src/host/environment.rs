//! Start-up, the functions' environment: the local credentials (with this run's session
//! token), the endpoints of the local AWS APIs (`@connections`, Secrets Manager, DynamoDB),
//! and the pools' settings that carry them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::options::TemplateOptions;
use crate::runtime::output;
use crate::runtime::pool::PoolConfig;
use crate::template::Pseudo;
use streamgate_emulator::callers::LocalToken;

/// The credentials functions get, with this run's session token (DynamoDB Local keeps one
/// database per access key unless shared, so tables are created with the same one).
pub const LOCAL_ACCESS_KEY: &str = "ASIALOCALSTREAMGATE0";
/// The secret key beside [`LOCAL_ACCESS_KEY`].
pub(super) const LOCAL_SECRET_KEY: &str = "local";

/// Where the functions reach the local APIs.
pub(super) struct Endpoints<'a> {
    /// The server's port.
    pub(super) port: u16,
    /// The stage (`@connections` is under it).
    pub(super) stage: &'a str,
    /// DynamoDB, if the functions have one.
    pub(super) dynamodb: Option<&'a str>,
}

/// The variables every function gets besides Lambda's own and its template's: the local
/// credentials (the session token is this run's credential for the local AWS endpoints:
/// only the functions get it, [`streamgate_emulator::callers`]), the endpoints, then the
/// options' extra ones.
pub(super) fn variables(
    options: &TemplateOptions,
    token: &LocalToken,
    endpoints: &Endpoints<'_>,
) -> BTreeMap<String, String> {
    let mut environment = local_access(token, endpoints);
    environment.extend(options.extra_environment.clone());
    environment
}

/// The local credentials and the endpoints of the local AWS APIs: what the functions get,
/// and what a command run beside the stack gets to reach them (`--run`).
pub(super) fn local_access(
    token: &LocalToken,
    endpoints: &Endpoints<'_>,
) -> BTreeMap<String, String> {
    let port = endpoints.port;
    let mut environment = BTreeMap::from([
        ("AWS_ACCESS_KEY_ID".to_owned(), LOCAL_ACCESS_KEY.to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            LOCAL_SECRET_KEY.to_owned(),
        ),
        ("AWS_SESSION_TOKEN".to_owned(), token.expose().to_owned()),
        (
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI".to_owned(),
            format!("http://127.0.0.1:{port}/{}", endpoints.stage),
        ),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
            format!("http://127.0.0.1:{port}"),
        ),
    ]);
    if let Some(endpoint) = endpoints.dynamodb {
        environment.insert("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), endpoint.to_owned());
    }
    environment
}

/// The pools' settings: the options' limits, a queue wait just past the gateway's, the
/// pseudo-parameters, `environment`, and the output (EMF lines taken as metrics with
/// `options.metrics`).
pub(super) fn pool_config(
    options: &TemplateOptions,
    pseudo: &Pseudo,
    environment: BTreeMap<String, String>,
) -> PoolConfig {
    PoolConfig {
        max_concurrency: options.max_concurrency,
        idle_timeout: options.idle_process_timeout,
        queue_timeout: options.gateway.integration_timeout + Duration::from_millis(250),
        region: pseudo.region.clone(),
        account_id: pseudo.account_id.clone(),
        extra_environment: environment,
        logs: match options.metrics {
            Some(registry) => output::taking_metrics(options.logs.clone(), registry),
            None => options.logs.clone(),
        },
    }
}
