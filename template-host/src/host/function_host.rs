//! [`FunctionHost`]: the gateway's integration for a template's API, over the functions'
//! pools: every route to its integration ([`super::integrations`]), and the pools kept by
//! logical id (for `--watch`, idle stops and what the tests and benches look at).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::integrations::{LambdaProxy, Routes};
use crate::runtime::pool::Pool;
use streamgate_emulator::api::ApiRoute;
use streamgate_emulator::integration::{Integration, IntegrationError, WsResponse};

/// The gateway's integration over function processes: each route to its function's pool.
pub struct FunctionHost {
    pools: BTreeMap<String, Arc<Pool>>,
    functions: BTreeMap<String, String>,
    routes: Routes,
}

impl FunctionHost {
    /// A host over `pools` (by logical id), with `routes` (route key → logical id), each route
    /// a Lambda proxy integration with its function (a route whose function has no pool is
    /// answered as one no integration serves).
    pub fn new(pools: BTreeMap<String, Arc<Pool>>, routes: BTreeMap<String, String>) -> Self {
        let mut integrations = Routes::new();
        for (key, id) in &routes {
            if let Some(pool) = pools.get(id) {
                let pool = pool.clone();
                integrations.insert(key.clone(), Arc::new(LambdaProxy { pool }));
            }
        }
        FunctionHost {
            pools,
            functions: routes,
            routes: integrations,
        }
    }

    /// The pools, by logical id.
    pub fn pools(&self) -> &BTreeMap<String, Arc<Pool>> {
        &self.pools
    }

    /// The pool serving `route_key`.
    pub fn pool_of(&self, route_key: &str) -> Option<&Arc<Pool>> {
        self.functions
            .get(route_key)
            .and_then(|id| self.pools.get(id))
    }

    /// Stops every idle process.
    pub fn stop_all_idle(&self) {
        for pool in self.pools.values() {
            pool.stop_all_idle();
        }
    }
}

#[async_trait]
impl Integration for FunctionHost {
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, IntegrationError> {
        self.routes.invoke(route, event).await
    }
}
