//! Invoking a route's integration as API Gateway does: route selection, the MESSAGE event,
//! the integration timeout (the function runs on after it), and API Gateway's own frames
//! (`Forbidden`, `Internal server error`, `Endpoint request timed out`).

use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;
use streamgate_contract::Route;
use streamgate_core::event::{WsEvent, WsResponse};
use tracing::warn;

use super::Gateway;
use crate::events::{self, ConnectionInfo};
use crate::{clock, ids, routing};

/// API Gateway's own frames: `{"message": ..., "connectionId": ..., "requestId": ...}`.
fn gateway_frame(message: &str, connection_id: &str, request_id: &str) -> String {
    json!({"message": message, "connectionId": connection_id, "requestId": request_id}).to_string()
}

impl Gateway {
    /// One invocation of a route's integration; a panic is a crash, as a Lambda error is.
    pub(super) fn invoke(
        &self,
        route: Route,
        event: WsEvent,
    ) -> BoxFuture<'static, Result<WsResponse, String>> {
        let integration = self.integration.clone();
        Box::pin(async move {
            AssertUnwindSafe(integration.invoke(route, event))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("the integration panicked".to_owned()))
        })
    }

    pub(super) async fn on_message(&self, info: &ConnectionInfo, text: &str) {
        let id = &info.connection_id;
        let Some(route) = routing::select(text, &self.config.routes) else {
            self.registry
                .send_raw(id, gateway_frame("Forbidden", id, &ids::new_id()));
            return;
        };
        let event_json = events::message(info, route.key(), text, clock::now_ms());
        if self.config.asynchronous_routes.contains(&route) {
            self.invoke_asynchronously(route, events::asynchronous_message(&event_json, text))
                .await;
            return;
        }
        let request_id = event_json["requestContext"]["requestId"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let event = events::typed(event_json);
        let mut invocation = self.invoke(route, event);
        match tokio::time::timeout(self.config.integration_timeout, &mut invocation).await {
            Ok(Ok(response)) => {
                if self.config.two_way_routes.contains(&route)
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
    /// in-flight slots, which bounds how many run at once.
    async fn invoke_asynchronously(&self, route: Route, event_json: serde_json::Value) {
        let invocation = self.invoke(route, events::typed(event_json));
        match tokio::time::timeout(self.config.function_timeout(route), invocation).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                warn!(route = route.key(), error = %e, "the asynchronous invocation failed")
            }
            Err(_) => warn!(route = route.key(), "the asynchronous invocation timed out"),
        }
    }
}
