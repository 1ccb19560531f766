//! The routes' integrations: each route key to the integration behind it, every kind behind
//! the emulator's one [`Integration`] trait. A kind of integration is one file here
//! ([`lambda_proxy`]: `AWS_PROXY` to a function's pool); [`Routes`] dispatches a route's event
//! to its own.

pub mod lambda_proxy;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use streamgate_emulator::api::ApiRoute;
use streamgate_emulator::integration::{Integration, IntegrationError, WsResponse};

pub use lambda_proxy::{LambdaProxy, proxy_response};

/// The integration of every route, by route key.
#[derive(Clone, Default)]
pub struct Routes(BTreeMap<String, Arc<dyn Integration>>);

impl Routes {
    /// No routes yet.
    pub fn new() -> Routes {
        Routes::default()
    }

    /// `route_key` served by `integration` (in place of an earlier one).
    pub fn insert(&mut self, route_key: impl Into<String>, integration: Arc<dyn Integration>) {
        self.0.insert(route_key.into(), integration);
    }

    /// The integration serving `route_key`.
    pub fn get(&self, route_key: &str) -> Option<&Arc<dyn Integration>> {
        self.0.get(route_key)
    }
}

#[async_trait]
impl Integration for Routes {
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, IntegrationError> {
        let integration = self
            .get(&route.key)
            .ok_or_else(|| IntegrationError::NoRoute(route.key.clone()))?;
        integration.invoke(route, event).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(i64);

    #[async_trait]
    impl Integration for Fixed {
        async fn invoke(&self, _: &ApiRoute, _: Value) -> Result<WsResponse, IntegrationError> {
            let mut response = WsResponse::default();
            response.status_code = self.0;
            Ok(response)
        }
    }

    #[tokio::test]
    async fn each_route_goes_to_its_own_integration() {
        let mut routes = Routes::new();
        routes.insert(
            streamgate_emulator::api::reserved::CONNECT,
            Arc::new(Fixed(200)),
        );
        routes.insert("sendMessage", Arc::new(Fixed(204)));
        let route = |key: &str| ApiRoute::proxy(key);
        let answered = routes.invoke(&route("sendMessage"), Value::Null).await;
        assert_eq!(answered.unwrap().status_code, 204);
        assert!(matches!(
            routes.invoke(&route(streamgate_emulator::api::reserved::DEFAULT), Value::Null).await,
            Err(IntegrationError::NoRoute(ref k)) if k == streamgate_emulator::api::reserved::DEFAULT
        ));
    }
}
