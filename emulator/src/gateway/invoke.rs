//! Invoking a route's integration as API Gateway does: route selection, the MESSAGE event,
//! the integration timeout (the function runs on after it), and API Gateway's own frames
//! (`Forbidden`, `Internal server error`, `Endpoint request timed out`).

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tracing::warn;

use super::Gateway;
use crate::api::{ApiRoute, RouteIntegration};
use crate::events::{self, ConnectionInfo};
use crate::integration::{IntegrationError, WsResponse};
use crate::{clock, ids};

/// API Gateway's own frames: `{"message": ..., "connectionId": ..., "requestId": ...}`.
fn gateway_frame(message: &str, connection_id: &str, request_id: &str) -> String {
    json!({"message": message, "connectionId": connection_id, "requestId": request_id}).to_string()
}

impl Gateway {
    /// One invocation of a route's integration; a panic is a crash, as a Lambda error is.
    pub(super) fn invoke(
        &self,
        route: &ApiRoute,
        event: Value,
    ) -> BoxFuture<'static, Result<WsResponse, IntegrationError>> {
        let integration = self.integration.clone();
        let route = route.clone();
        Box::pin(async move {
            let Some(integration) = integration else {
                return Err(IntegrationError::NoRoute(route.key.clone()));
            };
            AssertUnwindSafe(integration.invoke(&route, event))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    Err(IntegrationError::Failed(
                        "the integration panicked".to_owned(),
                    ))
                })
        })
    }

    /// A frame over the connection's in-flight and waiting limits: the frame API Gateway
    /// sends for a throttled route.
    pub(super) fn throttled(&self, connection_id: &str) {
        self.registry.send_raw(
            connection_id,
            gateway_frame("Too Many Requests", connection_id, &ids::new_id()),
        );
    }

    pub(super) async fn on_message(&self, info: &ConnectionInfo, text: &str) {
        let id = &info.connection_id;
        let Some(route) = self.config.selection.select(text, &self.config.routes) else {
            self.registry
                .send_raw(id, gateway_frame("Forbidden", id, &ids::new_id()));
            return;
        };
        let events::Message { event, request_id } =
            events::message(info, &route.key, text, clock::now_ms());
        if let RouteIntegration::Event(template) = &route.integration {
            let rendered = template.render(&event, text);
            self.invoke_asynchronously(route, rendered).await;
            return;
        }
        let mut invocation = self.invoke(route, event);
        match tokio::time::timeout(self.config.integration_timeout(route), &mut invocation).await {
            Ok(Ok(response)) => {
                if route.two_way
                    && let Some(body) = response.body
                {
                    let text = match body {
                        aws_lambda_events::encodings::Body::Text(t) => t,
                        aws_lambda_events::encodings::Body::Binary(b) => {
                            String::from_utf8_lossy(&b).into_owned()
                        }
                        _ => return,
                    };
                    self.registry.send_raw(id, text);
                }
            }
            Ok(Err(_)) => {
                self.registry
                    .send_raw(id, gateway_frame("Internal server error", id, &request_id));
            }
            Err(_) => {
                // API Gateway stops waiting; the function runs on (and may keep posting).
                self.registry.send_raw(
                    id,
                    gateway_frame("Endpoint request timed out", id, &request_id),
                );
                let _ = invocation.await;
            }
        }
    }

    /// An event invocation: API Gateway has nothing more to say to the client, whatever the
    /// function does; the function runs up to its own timeout (then it is stopped, as Lambda
    /// stops it) and is not retried. It runs while its frame holds one of the connection's
    /// in-flight slots, which bounds how many run at once. `rendered` is the request
    /// template's output; Lambda takes it only if it is JSON.
    async fn invoke_asynchronously(&self, route: &ApiRoute, rendered: String) {
        let event = match serde_json::from_str::<Value>(&rendered) {
            Ok(event) => event,
            Err(e) => {
                warn!(route = %route.key, error = %e, "the request template did not render JSON");
                return;
            }
        };
        let invocation = self.invoke(route, event);
        match tokio::time::timeout(route.function_timeout, invocation).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                warn!(route = %route.key, error = %e, "the asynchronous invocation failed")
            }
            Err(_) => warn!(route = %route.key, "the asynchronous invocation timed out"),
        }
    }
}
