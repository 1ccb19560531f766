//! The API Gateway WebSocket emulator. One room per concern:
//!
//! * [`urls`]: the URL table, every path the server answers in one place;
//! * [`door`]: the socket door every WebSocket surface goes through first (the key, the
//!   caller, the CONNECT event, the authorizer): [`Gateway::admit`];
//! * `handshake`: the chat API's upgrade and `$connect` (the 101 waits for it);
//! * `connection`: an open socket's read loop (limits, idle and lifetime timers, close codes)
//!   and `$disconnect`;
//! * `invoke`: a route's integration with API Gateway's timeout and error frames;
//! * `management`: the `@connections` API;
//! * [`local_api`]: a local AWS API the URL table joins as one router
//!   ([`secrets_manager`] is the first);
//! * `upgrade`: turning an HTTP upgrade into a WebSocket;
//! * [`listener`]: the connection cap and accept backoff;
//! * [`origin`]: the `Origin` allow-list both socket endpoints check;
//! * `http`: small HTTP helpers.
//!
//! * [`VoiceSurface`]: what the URL table mounts on `/realtime` (the voice relay implements it).

mod connection;
mod dispatch;
pub mod door;
mod handshake;
pub mod http;
mod invoke;
pub mod listener;
pub mod local_api;
mod management;
pub mod origin;
pub mod secrets_manager;
pub mod upgrade;
pub mod urls;
mod voice;

pub use door::{Admitted, Refused};
pub use voice::VoiceSurface;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use streamgate_contract::RouteKind;
use streamgate_contract::limits;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::api::{ApiRoute, SelectionExpression};
use crate::ids;
use crate::integration::{Authorizer, SharedIntegration};
use crate::registry::Registry;
use local_api::LocalApi;
use streamgate_auth::dev::DevIssuer;
use streamgate_local_services::SecretStore;

/// How the emulated API behaves. Defaults are API Gateway's.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The stage (`ws://host/{stage}`; `ws://host/` works too).
    pub stage: String,
    /// The routes the API has, each with its integration and route response (by default
    /// the contract's, as the generated template deploys them).
    pub routes: Vec<ApiRoute>,
    /// The route selection expression.
    pub selection: SelectionExpression,
    /// API Gateway stops waiting for a synchronous integration after this long (a route's
    /// own `integration_timeout` wins).
    pub integration_timeout: Duration,
    /// A connection with no frame either way for this long is closed.
    pub idle_timeout: Duration,
    /// A connection is closed after this long.
    pub max_lifetime: Duration,
    /// `@connections` posts per second (none: unlimited).
    pub management_rate_limit: Option<u32>,
    /// Integrations running at once for one connection; further frames wait.
    pub max_in_flight_per_connection: usize,
    /// A request's headers (the upgrade's included) must arrive within this long of its
    /// first byte, or of the connection's opening; an idle keep-alive connection is closed
    /// after it too.
    pub header_read_timeout: Duration,
    /// A request's body (an `@connections` post) must arrive within this long.
    pub body_read_timeout: Duration,
    /// Client sockets open at once (HTTP and WebSocket); the next one gets a 503.
    pub max_connections: usize,
    /// The pages that may open sockets (`Origin`), on both endpoints.
    pub allowed_origins: origin::AllowedOrigins,
    /// Proxies in front that append to `X-Forwarded-For` (0: clients connect directly; the
    /// relay behind CloudFront and a load balancer: 2). Decides the client address that
    /// `sourceIp` shows and per-client caps count.
    pub trusted_proxy_hops: usize,
    /// When set, `@connections` and the local AWS APIs (Secrets Manager) answer only requests carrying this
    /// session token (`X-Amz-Security-Token`): the server hands it to the functions it runs,
    /// and nobody else has it (`crate::callers`).
    pub aws_token: Option<crate::callers::LocalToken>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            stage: "dev".into(),
            routes: ApiRoute::contract_routes(),
            selection: SelectionExpression::default(),
            integration_timeout: limits::INTEGRATION_TIMEOUT,
            idle_timeout: limits::IDLE_TIMEOUT,
            max_lifetime: limits::MAX_CONNECTION_DURATION,
            management_rate_limit: None,
            max_in_flight_per_connection: 64,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: listener::default_max_connections(),
            allowed_origins: origin::AllowedOrigins::default(),
            trusted_proxy_hops: 0,
            aws_token: None,
        }
    }
}

/// The emulator.
pub struct Gateway {
    config: GatewayConfig,
    api_id: String,
    registry: Arc<Registry>,
    /// What chat routes invoke (none on a relay-only server, which serves no chat route).
    integration: Option<SharedIntegration>,
    authorizer: Option<Arc<dyn Authorizer>>,
    voice: Option<Arc<dyn VoiceSurface>>,
    local_apis: Vec<Arc<dyn LocalApi>>,
    dev_issuer: Option<Arc<DevIssuer>>,
    metrics: Option<&'static streamgate_telemetry::Registry>,
    shutdown: watch::Sender<bool>,
    tasks: TaskTracker,
    occupancy: Arc<listener::Occupancy>,
    refusing: Arc<listener::Occupancy>,
}

impl GatewayConfig {
    /// How long API Gateway waits for `route`'s proxy integration.
    pub fn integration_timeout(&self, route: &ApiRoute) -> Duration {
        route
            .integration_timeout
            .unwrap_or(self.integration_timeout)
    }

    /// The route of `kind`, if the API has one.
    pub fn route(&self, kind: RouteKind) -> Option<&ApiRoute> {
        self.routes.iter().find(|r| r.kind() == kind)
    }
}

/// What a gateway serves, put together one part at a time: `Gateway::builder(config)`, then
/// [`chat`](GatewayBuilder::chat) (the chat API over an integration),
/// [`authorizer`](GatewayBuilder::authorizer) (the `$connect` hook),
/// [`voice`](GatewayBuilder::voice) (the voice relay on `/realtime`),
/// [`secrets`](GatewayBuilder::secrets) (or any [`local_api`](GatewayBuilder::local_api))
/// and [`api_id`](GatewayBuilder::api_id) (a template's API),
/// [`metrics`](GatewayBuilder::metrics) (`GET /metrics`), then
/// [`build`](GatewayBuilder::build).
pub struct GatewayBuilder {
    config: GatewayConfig,
    chat: Option<(SharedIntegration, Arc<Registry>)>,
    authorizer: Option<Arc<dyn Authorizer>>,
    voice: Option<Arc<dyn VoiceSurface>>,
    local_apis: Vec<Arc<dyn LocalApi>>,
    dev_issuer: Option<Arc<DevIssuer>>,
    metrics: Option<&'static streamgate_telemetry::Registry>,
    api_id: Option<String>,
}

impl GatewayBuilder {
    /// The chat API: routes invoke `integration`; `registry` holds the connections.
    pub fn chat(mut self, integration: SharedIntegration, registry: Arc<Registry>) -> Self {
        self.chat = Some((integration, registry));
        self
    }

    /// The hook `$connect` asks first (none: every connection reaches `$connect`).
    pub fn authorizer(mut self, authorizer: Option<Arc<dyn Authorizer>>) -> Self {
        self.authorizer = authorizer;
        self
    }

    /// The voice relay on `/realtime`, with its page and restaurant list.
    pub fn voice(mut self, surface: Arc<dyn VoiceSurface>) -> Self {
        self.voice = Some(surface);
        self
    }

    /// Secrets Manager's `GetSecretValue`, served on the same port (a template's functions).
    pub fn secrets(self, secrets: Arc<SecretStore>) -> Self {
        self.local_api(Arc::new(secrets_manager::SecretsManager(secrets)))
    }

    /// A local AWS API served on the same port: the URL table asks it (after the ones given
    /// before) whether a request is its own.
    pub fn local_api(mut self, api: Arc<dyn LocalApi>) -> Self {
        self.local_apis.push(api);
        self
    }

    /// The development issuer's discovery document and JWKS, served on the same port.
    pub fn dev_issuer(mut self, issuer: Option<Arc<DevIssuer>>) -> Self {
        self.dev_issuer = issuer;
        self
    }

    /// `GET /metrics`: `registry` in Prometheus' text format.
    pub fn metrics(mut self, registry: &'static streamgate_telemetry::Registry) -> Self {
        self.metrics = Some(registry);
        self
    }

    /// The API id events carry (default: a new one).
    pub fn api_id(mut self, api_id: String) -> Self {
        self.api_id = Some(api_id);
        self
    }

    /// The gateway. Without a chat API it serves only what was given (the relay alone, as on
    /// ECS: `/realtime`, the voice page at `/` and `/voice`, the restaurants, `/healthz`).
    pub fn build(self) -> Arc<Gateway> {
        let mut config = self.config;
        let (integration, registry) = match self.chat {
            Some((integration, registry)) => (Some(integration), registry),
            None => {
                config.routes = Vec::new();
                (None, Arc::new(Registry::new(None)))
            }
        };
        let (shutdown, _) = watch::channel(false);
        Arc::new(Gateway {
            config,
            api_id: self.api_id.unwrap_or_else(ids::new_api_id),
            registry,
            integration,
            authorizer: self.authorizer,
            voice: self.voice,
            local_apis: self.local_apis,
            dev_issuer: self.dev_issuer,
            metrics: self.metrics,
            shutdown,
            tasks: TaskTracker::new(),
            occupancy: Arc::default(),
            refusing: Arc::default(),
        })
    }
}

impl Gateway {
    /// A gateway with `config`'s settings, serving what the builder is given.
    pub fn builder(config: GatewayConfig) -> GatewayBuilder {
        GatewayBuilder {
            config,
            chat: None,
            authorizer: None,
            voice: None,
            local_apis: Vec::new(),
            dev_issuer: None,
            metrics: None,
            api_id: None,
        }
    }

    /// The API id (`requestContext.apiId`).
    pub fn api_id(&self) -> &str {
        &self.api_id
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The live connections.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub(super) fn route(&self, kind: RouteKind) -> Option<ApiRoute> {
        self.config.route(kind).cloned()
    }

    /// Serves on `listener` until [`Gateway::shutdown`]; then drains: every socket closes
    /// with 1001 (chat sockets after `$disconnect`, voice sessions after a `server_draining`
    /// frame), while new connections are still answered (health checks get 503, upgrades
    /// 503); returns when every socket is done.
    pub async fn serve(self: Arc<Gateway>, listener: TcpListener) {
        let mut stop = self.shutdown.subscribe();
        let mut draining = false;
        let mut backoff = listener::AcceptBackoff::default();
        let mut refused: u64 = 0;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) if listener::is_resource_error(&e) => {
                            // Out of descriptors or memory: the pending connection stays
                            // queued and accept would fail again at once. Wait, say so once.
                            let pause = backoff.failed(std::time::Instant::now());
                            if pause.first {
                                warn!(error = %e, open = self.occupancy.open(), "cannot accept connections; backing off");
                            }
                            tokio::time::sleep(pause.wait).await;
                            continue;
                        }
                        Err(e) => {
                            debug!(error = %e, "a connection failed before it was accepted");
                            continue;
                        }
                    };
                    backoff.succeeded();
                    let Some(slot) = self.occupancy.try_take(self.config.max_connections) else {
                        // Over the cap: a clear refusal, without reading the request, and the
                        // socket closed at once (nothing waits on a client that may not read).
                        refused += 1;
                        if refused == 1 {
                            warn!(max_connections = self.config.max_connections, "connection cap reached; refusing new connections with 503");
                        }
                        listener::refuse(stream, &self.refusing);
                        continue;
                    };
                    if refused > 0 {
                        info!(refused, "below the connection cap again");
                        refused = 0;
                    }
                    let _ = stream.set_nodelay(true);
                    let stream = listener::CountedStream::new(stream, slot);
                    let gw = self.clone();
                    let mut stop_conn = self.shutdown.subscribe();
                    let keep_alive = !draining;
                    let header_read_timeout = self.config.header_read_timeout;
                    self.tasks.spawn(async move {
                        let service = service_fn(move |req| {
                            let gw = gw.clone();
                            async move { Ok::<_, Infallible>(gw.handle(req, peer).await) }
                        });
                        let conn = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(header_read_timeout)
                            .keep_alive(keep_alive)
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades();
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => {}
                            _ = stop_conn.changed(), if keep_alive => {
                                // Idle keep-alive connections (the SDK's pool) end now;
                                // requests in flight finish first.
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                            }
                        }
                    });
                }
                _ = stop.changed(), if !draining => {
                    draining = true;
                    self.tasks.close();
                }
                _ = self.tasks.wait(), if draining => break,
            }
        }
        drop(listener);
        self.tasks.wait().await;
    }

    /// Client sockets open now (HTTP and WebSocket).
    pub fn open_sockets(&self) -> usize {
        self.occupancy.open()
    }

    /// Starts a graceful shutdown.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Whether shutdown has started.
    pub fn draining(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// A receiver that changes when shutdown starts.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}
