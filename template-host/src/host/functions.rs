//! Start-up, the functions: a pool for each function, the [`FunctionHost`] over them (each
//! route to its integration), the `$connect` authorizer, and with `--watch` the code watcher.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::authorizer::LambdaAuthorizer;
use super::code::Code;
use super::error::StartError;
use super::function_host::FunctionHost;
use super::options::TemplateOptions;
use crate::runtime::pool::{Pool, PoolConfig};
use crate::runtime::watch::{self, Watcher};
use crate::template::{LocalApi, Pseudo};
use streamgate_emulator::integration::Authorizer;

/// The functions, ready to be invoked.
pub(super) struct Functions {
    /// The routes' integration over the pools.
    pub(super) host: Arc<FunctionHost>,
    /// The `$connect` authorizer, if the template has one.
    pub(super) authorizer: Option<Arc<dyn Authorizer>>,
    /// The code watcher (with `--watch`).
    pub(super) watcher: Option<Watcher>,
}

/// Pools for `api`'s functions started as `code` says, with `config`.
pub(super) fn start(
    api: &LocalApi,
    code: Code,
    config: &PoolConfig,
    pseudo: &Pseudo,
    api_id: &str,
    options: &TemplateOptions,
) -> Result<Functions, StartError> {
    let Code {
        mut launches,
        crates,
        mirrors,
        ..
    } = code;
    let mut pools: BTreeMap<String, Arc<Pool>> = BTreeMap::new();
    for (id, f) in &api.functions {
        let launch = launches
            .remove(id)
            .ok_or_else(|| StartError::one(format!("{id}: its code was not located")))?;
        pools.insert(id.clone(), Pool::new(f.clone(), launch, config.clone()));
    }
    let routes: BTreeMap<String, String> = api
        .routes
        .iter()
        .map(|r| (r.route.key.clone(), r.function.clone()))
        .collect();
    let authorizer = LambdaAuthorizer::of_connect(api, &pools, pseudo, api_id)?
        .map(|a| Arc::new(a) as Arc<dyn Authorizer>);
    let watcher = options
        .watch
        .then(|| watch::start(&pools, &crates, &mirrors, options.progress.clone()));
    Ok(Functions {
        host: Arc::new(FunctionHost::new(pools, routes)),
        authorizer,
        watcher,
    })
}
