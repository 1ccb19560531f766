//! The API Gateway WebSocket emulator. One room per concern:
//!
//! * [`urls`]: the URL table, every path the server answers in one place;
//! * `handshake`: the upgrade request and `$connect` (the 101 waits for it);
//! * `connection`: an open socket's read loop (limits, idle and lifetime timers, close codes)
//!   and `$disconnect`;
//! * `invoke`: a route's integration with API Gateway's timeout and error frames;
//! * `management`: the `@connections` API;
//! * `upgrade`: turning an HTTP upgrade into a WebSocket;
//! * `http`: small HTTP helpers.
//!
//! The voice relay's HTTP surface is in [`crate::realtime::http`]; the URL table points at it.

mod connection;
mod handshake;
pub(crate) mod http;
mod invoke;
mod management;
pub(crate) mod upgrade;
pub mod urls;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use streamgate_contract::limits;
use streamgate_contract::{Invocation, Route, RouteKind};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::ids;
use crate::integration::{Authorizer, SharedIntegration};
use crate::realtime::RealtimeService;
use crate::registry::Registry;

/// How the emulated API behaves. Defaults are API Gateway's.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The stage (`ws://host/{stage}`; `ws://host/` works too).
    pub stage: String,
    /// The routes the API has (a subset of the contract's; all by default).
    pub routes: Vec<Route>,
    /// Routes with a route response: their integration's `body` goes to the client.
    pub two_way_routes: Vec<Route>,
    /// Routes whose integration is asynchronous (an event invocation): no timeout frame, the
    /// function runs to its own timeout. By default the contract's
    /// ([`Route::invocation`]).
    pub asynchronous_routes: Vec<Route>,
    /// API Gateway stops waiting for a synchronous integration after this long.
    pub integration_timeout: Duration,
    /// A connection with no frame either way for this long is closed.
    pub idle_timeout: Duration,
    /// A connection is closed after this long.
    pub max_lifetime: Duration,
    /// `@connections` posts per second (none: unlimited).
    pub management_rate_limit: Option<u32>,
    /// Integrations running at once for one connection; further frames wait.
    pub max_in_flight_per_connection: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            stage: "dev".into(),
            routes: Route::ALL.to_vec(),
            two_way_routes: Vec::new(),
            asynchronous_routes: Route::ALL
                .iter()
                .copied()
                .filter(|r| r.invocation() == Invocation::Asynchronous)
                .collect(),
            integration_timeout: limits::INTEGRATION_TIMEOUT,
            idle_timeout: limits::IDLE_TIMEOUT,
            max_lifetime: limits::MAX_CONNECTION_DURATION,
            management_rate_limit: None,
            max_in_flight_per_connection: 64,
        }
    }
}

/// The emulator.
pub struct Gateway {
    config: GatewayConfig,
    api_id: String,
    registry: Arc<Registry>,
    integration: SharedIntegration,
    authorizer: Option<Arc<dyn Authorizer>>,
    realtime: Option<Arc<RealtimeService>>,
    shutdown: watch::Sender<bool>,
    tasks: TaskTracker,
}

impl GatewayConfig {
    /// How long an asynchronous invocation of `route` may run: its function's timeout.
    pub fn function_timeout(&self, route: Route) -> Duration {
        Duration::from_secs(u64::from(route.function().spec().timeout_seconds))
    }
}

impl Gateway {
    /// A gateway over `integration`.
    pub fn new(
        config: GatewayConfig,
        integration: SharedIntegration,
        registry: Arc<Registry>,
        authorizer: Option<Arc<dyn Authorizer>>,
    ) -> Arc<Gateway> {
        Gateway::with_realtime(config, integration, registry, authorizer, None)
    }

    /// A gateway that also serves the voice relay on `/realtime`.
    pub fn with_realtime(
        config: GatewayConfig,
        integration: SharedIntegration,
        registry: Arc<Registry>,
        authorizer: Option<Arc<dyn Authorizer>>,
        realtime: Option<Arc<RealtimeService>>,
    ) -> Arc<Gateway> {
        let (shutdown, _) = watch::channel(false);
        Arc::new(Gateway {
            config,
            api_id: ids::new_api_id(),
            registry,
            integration,
            authorizer,
            realtime,
            shutdown,
            tasks: TaskTracker::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The live connections.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub(super) fn route(&self, kind: RouteKind) -> Option<Route> {
        self.config
            .routes
            .iter()
            .copied()
            .find(|r| r.kind() == kind)
    }

    /// Serves on `listener` until [`Gateway::shutdown`]; then closes every socket with 1001,
    /// runs `$disconnect` for each, and returns when all are done.
    pub async fn serve(self: Arc<Gateway>, listener: TcpListener) {
        let mut stop = self.shutdown.subscribe();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let gw = self.clone();
                    let mut stop_conn = self.shutdown.subscribe();
                    self.tasks.spawn(async move {
                        let service = service_fn(move |req| {
                            let gw = gw.clone();
                            async move { Ok::<_, Infallible>(gw.handle(req, peer).await) }
                        });
                        let conn = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades();
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => {}
                            _ = stop_conn.changed() => {
                                // Idle keep-alive connections (the SDK's pool) end now;
                                // requests in flight finish first.
                                conn.as_mut().graceful_shutdown();
                                let _ = conn.await;
                            }
                        }
                    });
                }
                _ = stop.changed() => break,
            }
        }
        drop(listener);
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Starts a graceful shutdown.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// A receiver that changes when shutdown starts.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}
