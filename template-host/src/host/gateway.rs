//! Start-up, the gateway: the emulator's gateway for the template's stage, routes and
//! selection expression, over the functions, with the authorizer, the local secrets, the
//! development issuer and the metrics joined on the same port.

use std::sync::Arc;

use super::function_host::FunctionHost;
use super::options::TemplateOptions;
use crate::template::LocalApi;
use streamgate_emulator::callers::LocalToken;
use streamgate_emulator::gateway::{Gateway, GatewayConfig};
use streamgate_emulator::integration::Authorizer;
use streamgate_emulator::registry::Registry;
use streamgate_local_services::SecretStore;

/// What the gateway serves besides the options.
pub(super) struct Served {
    /// The functions.
    pub(super) host: Arc<FunctionHost>,
    /// The `$connect` authorizer.
    pub(super) authorizer: Option<Arc<dyn Authorizer>>,
    /// This run's API id.
    pub(super) api_id: String,
    /// The functions' credential for the local AWS endpoints.
    pub(super) token: LocalToken,
}

/// The gateway serving `api`.
pub(super) fn build(options: &TemplateOptions, api: &LocalApi, served: Served) -> Arc<Gateway> {
    let config = GatewayConfig {
        stage: api.stage.clone(),
        routes: api.routes.iter().map(|r| r.route.clone()).collect(),
        selection: api.selection.clone(),
        aws_token: Some(served.token),
        ..options.gateway.clone()
    };
    let registry = Arc::new(Registry::new(config.management_rate_limit));
    let gateway = Gateway::builder(config)
        .chat(served.host, registry)
        .authorizer(served.authorizer)
        .api_id(served.api_id)
        .secrets(Arc::new(SecretStore::new(options.secrets.clone())))
        .dev_issuer(options.dev_issuer.clone());
    match options.metrics {
        Some(registry) => gateway.metrics(registry),
        None => gateway,
    }
    .build()
}
