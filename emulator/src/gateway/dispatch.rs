//! Dispatch: each endpoint [`super::urls::resolve`] names, answered (the origin check before
//! a socket, the session-token check before a local AWS endpoint, 503 on upgrades once
//! draining).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::json;
use tracing::info;

use super::Gateway;
use super::http::{Body, BodyError, content_length, json_response, read_body, respond};
use super::local_api::LocalApi;
use super::urls::{Endpoint, Surface, resolve};
use crate::callers;
use crate::page;

impl Gateway {
    /// The answer to a call of a local AWS endpoint that may not make it: a `Host` that DNS
    /// could rebind (a web page), or, when the server runs functions, a missing or wrong
    /// session token (another local user). AWS's own answer to a bad token.
    fn refuse_aws_caller<B>(&self, req: &Request<B>) -> Option<Response<Body>> {
        let headers = req.headers();
        if !callers::is_local_host(headers.get(header::HOST).map(|h| h.as_bytes())) {
            info!("refused a local AWS call whose Host is not localhost or an address");
            return Some(json_response(
                StatusCode::FORBIDDEN,
                json!({"message": "Forbidden"}),
            ));
        }
        let token = self.config.aws_token.as_ref()?;
        if token.admits(headers.get("x-amz-security-token").map(|v| v.as_bytes())) {
            return None;
        }
        info!("refused a local AWS call without this run's session token");
        // Unsigned calls get AWS's answer to unsigned calls; signed ones its answer to a bad
        // token.
        let (kind, message) = if headers.contains_key(header::AUTHORIZATION) {
            (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        } else {
            ("ForbiddenException", "Forbidden")
        };
        let mut refusal = json_response(StatusCode::FORBIDDEN, json!({ "message": message }));
        refusal
            .headers_mut()
            .insert("x-amzn-errortype", http::HeaderValue::from_static(kind));
        Some(refusal)
    }
}

/// Whether a request asks for a WebSocket upgrade.
fn wants_websocket<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

impl Gateway {
    /// Answers one HTTP request.
    pub(super) async fn handle(
        self: Arc<Gateway>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let amz_target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let endpoint = resolve(
            req.method(),
            req.uri().path(),
            wants_websocket(&req),
            amz_target.as_deref(),
            &Surface {
                stage: &self.config.stage,
                chat: self.integration.is_some(),
                voice: self.voice.as_ref(),
                local_apis: &self.local_apis,
                issuer: self.dev_issuer.as_deref(),
                metrics: self.metrics,
            },
        );
        if self.draining() && endpoint.is_socket() {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"message": "Service Unavailable"}),
            );
        }
        if endpoint.is_socket() {
            let origin = req.headers().get(header::ORIGIN).map(|v| v.as_bytes());
            if !self.config.allowed_origins.admits(origin) {
                info!(
                    origin = %String::from_utf8_lossy(origin.unwrap_or_default()).chars().take(200).collect::<String>(),
                    "refused a socket from a page whose origin is not allowed (--allow-origin)"
                );
                return json_response(StatusCode::FORBIDDEN, json!({"message": "Forbidden"}));
            }
        }
        if matches!(
            endpoint,
            Endpoint::Management { .. } | Endpoint::LocalApi(_)
        ) && let Some(refusal) = self.refuse_aws_caller(&req)
        {
            return refusal;
        }
        match endpoint {
            Endpoint::Health => {
                if self.draining() {
                    json_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        json!({"status": "draining"}),
                    )
                } else {
                    json_response(
                        StatusCode::OK,
                        json!({
                            "status": "ok",
                            "connections": self.registry.len(),
                            "voiceSessions": self.voice.as_ref().map_or(0, |v| v.sessions()),
                        }),
                    )
                }
            }
            Endpoint::Metrics(registry) => respond(
                StatusCode::OK,
                streamgate_telemetry::PROMETHEUS_CONTENT_TYPE,
                registry.prometheus(),
            ),
            Endpoint::ChatSocket => self.handshake(req, peer).await,
            Endpoint::WrongStage => {
                json_response(StatusCode::FORBIDDEN, json!({"message": "Forbidden"}))
            }
            Endpoint::Management { raw_id } => self.management(req, &raw_id).await,
            Endpoint::VoiceSocket(voice) => {
                let voice = voice.clone();
                voice.handshake(self, req, peer).await
            }
            Endpoint::TestPage => respond(StatusCode::OK, "text/html; charset=utf-8", page::HTML),
            Endpoint::PageSettings => {
                let host = req
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("localhost");
                json_response(
                    StatusCode::OK,
                    page::config(host, &self.config.stage, &self.config.routes),
                )
            }
            Endpoint::IssuerDiscovery(dev) => json_response(StatusCode::OK, dev.discovery()),
            Endpoint::IssuerKeys(dev) => json_response(StatusCode::OK, dev.jwks()),
            Endpoint::VoicePage(voice) => voice.page(),
            Endpoint::Restaurants(voice) => voice.restaurants(),
            Endpoint::LocalApi(api) => {
                let api = api.clone();
                self.serve_local_api(api.as_ref(), req).await
            }
            Endpoint::NotFound => not_found(),
        }
    }

    /// A local AWS API's call, its body read first (within the body timeout: else 408; a
    /// body over the API's limit, or broken off, reaches it empty).
    async fn serve_local_api(&self, api: &dyn LocalApi, req: Request<Incoming>) -> Response<Body> {
        let (head, body) = req.into_parts();
        let announced = content_length(&head.headers);
        let body = match read_body(
            body,
            announced,
            api.body_limit(),
            self.config.body_read_timeout,
        )
        .await
        {
            Ok(body) => body,
            Err(BodyError::TimedOut) => {
                return json_response(
                    StatusCode::REQUEST_TIMEOUT,
                    json!({"message": "Request Timeout"}),
                );
            }
            Err(_) => Bytes::new(),
        };
        api.serve(Request::from_parts(head, body)).await
    }
}

fn not_found() -> Response<Body> {
    json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
}
