//! The API Gateway WebSocket emulator: handshake and `$connect`, route selection,
//! integrations with their timeout, frame limits, idle and lifetime closes, `$disconnect`,
//! the `@connections` management API, and graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use std::panic::AssertUnwindSafe;

use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt, StreamExt};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use streamgate_contract::limits::{self, close};
use streamgate_contract::{Route, RouteKind};
use streamgate_core::PushError;
use streamgate_core::event::{WsEvent, WsResponse};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::clock;
use crate::events::{self, ConnectionInfo};
use crate::ids;
use crate::integration::{AuthDecision, Authorizer, SharedIntegration};
use crate::page;
use crate::realtime::RealtimeService;
use crate::realtime::session::Refusal;
use crate::registry::{CLIENT_BUFFER_FRAMES, Outgoing, Registry};
use crate::routing;

/// How the emulated API behaves. Defaults are API Gateway's.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The stage (`ws://host/{stage}`; `ws://host/` works too).
    pub stage: String,
    /// The routes the API has (a subset of the contract's; all by default).
    pub routes: Vec<Route>,
    /// Routes with a route response: their integration's `body` goes to the client.
    pub two_way_routes: Vec<Route>,
    /// API Gateway stops waiting for an integration after this long.
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

type Body = Full<Bytes>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    respond(status, "application/json", body.to_string())
}

/// An `@connections` error, typed by `x-amzn-ErrorType` as the AWS SDKs expect.
fn management_error(e: &PushError) -> Response<Body> {
    let (status, kind, message) = match e {
        PushError::Gone => (StatusCode::GONE, "GoneException", "The connection is gone"),
        PushError::PayloadTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "Message too long",
        ),
        PushError::Throttled => (
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            "Rate exceeded",
        ),
        PushError::Forbidden => (StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden"),
        PushError::BadRequest => (
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "Invalid connectionId",
        ),
        PushError::Other(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerErrorException",
            "Internal server error",
        ),
    };
    let mut r = json_response(status, json!({ "message": message }));
    r.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
    r
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode =
                |s: &str| percent_decode(&s.replace('+', " ")).unwrap_or_else(|| s.to_owned());
            (decode(k), decode(v))
        })
        .collect()
}

/// API Gateway's own frames: `{"message": ..., "connectionId": ..., "requestId": ...}`.
fn gateway_frame(message: &str, connection_id: &str, request_id: &str) -> String {
    json!({"message": message, "connectionId": connection_id, "requestId": request_id}).to_string()
}

/// API Gateway's frame and message limits, and small per-socket buffers: an idle
/// connection costs a few KB, not the 2 × 128 KB of tungstenite's defaults.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(limits::FRAME_MAX_BYTES))
        .max_message_size(Some(limits::MESSAGE_PAYLOAD_MAX_BYTES))
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * limits::MESSAGE_PAYLOAD_MAX_BYTES)
}

/// How a connection ended: the `$disconnect` status code and reason.
struct Ending {
    code: u16,
    reason: String,
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

    fn route(&self, kind: RouteKind) -> Option<Route> {
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

    async fn handle(
        self: Arc<Gateway>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let path = req.uri().path().to_owned();
        let segments: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let is_upgrade = req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        match segments.as_slice() {
            ["realtime"] if is_upgrade && self.realtime.is_some() => {
                let service = self.realtime.clone().expect("checked");
                self.realtime_handshake(req, peer, service).await
            }
            [stage, "@connections", id] if *stage == self.config.stage => {
                let id = (*id).to_owned();
                self.management(req, &id).await
            }
            [] | [_] if is_upgrade => {
                if let [stage] = segments.as_slice() {
                    if *stage != self.config.stage {
                        return json_response(
                            StatusCode::FORBIDDEN,
                            json!({"message": "Forbidden"}),
                        );
                    }
                }
                self.handshake(req, peer).await
            }
            [] if req.method() == Method::GET => {
                respond(StatusCode::OK, "text/html; charset=utf-8", page::HTML)
            }
            ["voice"] if req.method() == Method::GET && self.realtime.is_some() => {
                respond(StatusCode::OK, "text/html; charset=utf-8", page::VOICE_HTML)
            }
            ["restaurants.json"] if req.method() == Method::GET && self.realtime.is_some() => {
                let list: Vec<serde_json::Value> = self
                    .realtime
                    .as_ref()
                    .map(|r| {
                        r.catalog()
                            .restaurants
                            .iter()
                            .map(|r| json!({"id": r.id, "name": r.name}))
                            .collect()
                    })
                    .unwrap_or_default();
                json_response(StatusCode::OK, serde_json::Value::Array(list))
            }
            ["streamgate.json"] if req.method() == Method::GET => {
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
            _ => json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"})),
        }
    }

    // ------------------------------------------------------------ management API

    async fn management(&self, req: Request<Incoming>, raw_id: &str) -> Response<Body> {
        if !req.headers().contains_key(header::AUTHORIZATION) {
            // API Gateway refuses unsigned calls.
            return management_error(&PushError::Forbidden);
        }
        let Some(id) = percent_decode(raw_id).filter(|id| ids::is_well_formed(id)) else {
            return management_error(&PushError::BadRequest);
        };
        match *req.method() {
            Method::POST => {
                let body = match Limited::new(req.into_body(), limits::MESSAGE_PAYLOAD_MAX_BYTES)
                    .collect()
                    .await
                {
                    Ok(b) => b.to_bytes(),
                    Err(_) => return management_error(&PushError::PayloadTooLarge),
                };
                let Ok(text) = String::from_utf8(body.to_vec()) else {
                    return management_error(&PushError::BadRequest);
                };
                match self.registry.post(&id, text) {
                    Ok(()) => respond(StatusCode::OK, "application/json", Bytes::new()),
                    Err(e) => management_error(&e),
                }
            }
            Method::GET => match self.registry.describe(&id) {
                Ok(d) => {
                    let mut identity = serde_json::Map::new();
                    identity.insert("sourceIp".into(), json!(d.source_ip));
                    if let Some(ua) = d.user_agent {
                        identity.insert("userAgent".into(), json!(ua));
                    }
                    json_response(
                        StatusCode::OK,
                        json!({
                            "connectedAt": clock::iso8601(d.connected_at),
                            "identity": identity,
                            "lastActiveAt": clock::iso8601(d.last_active_at),
                        }),
                    )
                }
                Err(e) => management_error(&e),
            },
            Method::DELETE => match self.registry.close(&id, close::NORMAL, "") {
                Ok(()) => respond(StatusCode::NO_CONTENT, "application/json", Bytes::new()),
                Err(e) => management_error(&e),
            },
            _ => management_error(&PushError::Forbidden),
        }
    }

    // ------------------------------------------------------------ handshake and $connect

    async fn handshake(
        self: Arc<Gateway>,
        mut req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let Some(key) = websocket_key(&req) else {
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "bad WebSocket handshake",
            );
        };
        let headers = req.headers();
        let mut info = self.connection_info(headers, peer);
        let mut event_headers: Vec<(String, String)> = headers
            .iter()
            .filter(|(n, _)| !matches!(n.as_str(), "connection" | "upgrade"))
            .map(|(n, v)| {
                (
                    canonical_header(n.as_str()),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        event_headers.push((
            "X-Amzn-Trace-Id".into(),
            format!(
                "Root=1-{:08x}-{}",
                clock::now_ms() / 1000,
                ids::new_api_id()
            ),
        ));
        event_headers.push(("X-Forwarded-For".into(), info.source_ip.clone()));
        event_headers.push(("X-Forwarded-Port".into(), peer.port().to_string()));
        event_headers.push(("X-Forwarded-Proto".into(), "http".into()));
        let query = req.uri().query().map(query_pairs);

        // The CONNECT event names the contract's `$connect` route even when this API has none
        // (an authorizer still sees it).
        let connect_key = Route::ALL
            .iter()
            .find(|r| r.kind() == RouteKind::Connect)
            .map_or("", |r| r.key());
        let connect_event = |info: &ConnectionInfo| {
            events::connect(
                info,
                connect_key,
                &event_headers,
                query.as_deref(),
                clock::now_ms(),
            )
        };
        let last_active = self.registry.begin(info.clone());
        let refuse = |status: StatusCode, gw: &Gateway, id: &str| {
            gw.registry.remove(id);
            json_response(
                status,
                json!({"message": status.canonical_reason().unwrap_or("Refused")}),
            )
        };

        if let Some(authorizer) = &self.authorizer {
            match authorizer
                .authorize(&events::typed(connect_event(&info)))
                .await
            {
                AuthDecision::Allow {
                    principal_id,
                    mut context,
                } => {
                    context.insert("principalId".into(), json!(principal_id));
                    info.authorizer = Some(context);
                }
                AuthDecision::Unauthorized => {
                    return refuse(StatusCode::UNAUTHORIZED, &self, &info.connection_id);
                }
                AuthDecision::Deny => {
                    return refuse(StatusCode::FORBIDDEN, &self, &info.connection_id);
                }
            }
        }

        let mut subprotocol = None;
        if let Some(route) = self.route(RouteKind::Connect) {
            let event = events::typed(connect_event(&info));
            let mut invocation = self.invoke(route, event);
            let outcome =
                tokio::time::timeout(self.config.integration_timeout, &mut invocation).await;
            match outcome {
                Ok(Ok(response)) => {
                    let status = u16::try_from(response.status_code).unwrap_or(500);
                    if !(200..300).contains(&status) {
                        let status = StatusCode::from_u16(status)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                        return refuse(status, &self, &info.connection_id);
                    }
                    subprotocol = response
                        .headers
                        .get("sec-websocket-protocol")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                }
                Ok(Err(_)) => {
                    return refuse(StatusCode::BAD_GATEWAY, &self, &info.connection_id);
                }
                Err(_) => {
                    // The function runs on, as in Lambda; the handshake is refused.
                    self.tasks.spawn(invocation);
                    return refuse(StatusCode::GATEWAY_TIMEOUT, &self, &info.connection_id);
                }
            }
        }

        let gw = self.clone();
        let conn_info = info.clone();
        self.on_upgrade(&mut req, move |ws| async move {
            match ws {
                Some(ws) => gw.run_connection(ws, conn_info, last_active).await,
                None => gw.registry.remove(&conn_info.connection_id),
            }
        });
        info!(connection_id = %info.connection_id, "connected");
        switching_protocols(&key, subprotocol)
    }

    /// Runs `serve` on the socket once the 101 has gone out (`None` when the upgrade failed).
    fn on_upgrade<F, Fut>(&self, req: &mut Request<Incoming>, serve: F)
    where
        F: FnOnce(Option<WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>>) -> Fut
            + Send
            + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let upgrade = hyper::upgrade::on(req);
        self.tasks.spawn(async move {
            let ws = match upgrade.await {
                Ok(upgraded) => Some(
                    WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(ws_config()),
                    )
                    .await,
                ),
                Err(e) => {
                    warn!(error = %e, "the upgrade failed");
                    None
                }
            };
            serve(ws).await;
        });
    }

    /// A new connection's id, time and identity, from its handshake.
    fn connection_info(&self, headers: &http::HeaderMap, peer: SocketAddr) -> ConnectionInfo {
        let header = |name: header::HeaderName| headers.get(name).and_then(|h| h.to_str().ok());
        ConnectionInfo {
            connection_id: ids::new_id(),
            connected_at: clock::now_ms(),
            api_id: self.api_id.clone(),
            stage: self.config.stage.clone(),
            domain_name: header(header::HOST).unwrap_or("localhost").to_owned(),
            source_ip: peer.ip().to_string(),
            user_agent: header(header::USER_AGENT).map(str::to_owned),
            authorizer: None,
        }
    }

    // ------------------------------------------------------------ the voice relay

    async fn realtime_handshake(
        self: Arc<Gateway>,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        service: Arc<RealtimeService>,
    ) -> Response<Body> {
        let Some(key) = websocket_key(&req) else {
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "bad WebSocket handshake",
            );
        };
        let query = req.uri().query().map(query_pairs).unwrap_or_default();
        let (restaurant, language) = match service.admit(&query) {
            Ok(admitted) => admitted,
            Err(Refusal::MissingRestaurant) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"message": "restaurantId is required"}),
                );
            }
            Err(Refusal::UnknownRestaurant(id)) => {
                return json_response(
                    StatusCode::NOT_FOUND,
                    json!({"message": format!("no restaurant {id:?}")}),
                );
            }
        };
        let info = self.connection_info(req.headers(), peer);
        let stop = self.shutdown.subscribe();
        self.on_upgrade(&mut req, move |ws| async move {
            if let Some(ws) = ws {
                service.run(ws, info, restaurant, language, stop).await;
            }
        });
        switching_protocols(&key, None)
    }

    // ------------------------------------------------------------ the open connection

    async fn run_connection<S>(
        self: Arc<Gateway>,
        ws: WebSocketStream<S>,
        info: ConnectionInfo,
        last_active: Arc<std::sync::atomic::AtomicI64>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let id = info.connection_id.clone();
        let (tx, mut rx) = mpsc::channel::<Outgoing>(CLIENT_BUFFER_FRAMES);
        self.registry.open(&id, tx.clone(), info.clone());
        let (mut sink, mut stream) = ws.split();
        let (closed_tx, mut closed_rx) = watch::channel::<Option<u16>>(None);

        // Writer: frames in order; a Close frame ends it.
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                match out {
                    Outgoing::Text(t) => {
                        if sink.send(Message::text(t)).await.is_err() {
                            break;
                        }
                    }
                    Outgoing::Close { code, reason } => {
                        let _ = closed_tx.send(Some(code));
                        let frame = CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        };
                        let _ = sink.send(Message::Close(Some(frame))).await;
                        break;
                    }
                }
            }
        });

        let slots = Arc::new(Semaphore::new(
            self.config.max_in_flight_per_connection.max(1),
        ));
        let started = Instant::now();
        let lifetime_end = started + self.config.max_lifetime;
        let mut stop = self.shutdown.subscribe();
        let close_with = |code: u16, reason: &str| {
            let _ = tx.try_send(Outgoing::Close {
                code,
                reason: reason.to_owned(),
            });
            Ending {
                code,
                reason: reason.to_owned(),
            }
        };
        let ending: Ending = loop {
            let idle_end = {
                let last = last_active.load(Ordering::Relaxed);
                let idle_ms = self.config.idle_timeout.as_millis() as i64;
                let left = (last + idle_ms - clock::now_ms()).max(0) as u64;
                Instant::now() + Duration::from_millis(left)
            };
            tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        last_active.store(clock::now_ms(), Ordering::Relaxed);
                        let Ok(permit) = slots.clone().acquire_owned().await else { break close_with(close::GOING_AWAY, "") };
                        let gw = self.clone();
                        let info = info.clone();
                        self.tasks.spawn(async move {
                            gw.on_message(&info, text.as_str()).await;
                            drop(permit);
                        });
                    }
                    Some(Ok(Message::Binary(_))) => {
                        break close_with(close::UNSUPPORTED_DATA, "Binary frames are not supported");
                    }
                    Some(Ok(Message::Close(frame))) => {
                        break match frame {
                            Some(f) => Ending { code: u16::from(f.code), reason: f.reason.to_string() },
                            None => Ending { code: close::NO_STATUS, reason: String::new() },
                        };
                    }
                    Some(Ok(_)) => last_active.store(clock::now_ms(), Ordering::Relaxed),
                    Some(Err(tungstenite::Error::Capacity(_))) => {
                        break close_with(close::MESSAGE_TOO_BIG, "Message too big");
                    }
                    Some(Err(e)) => {
                        debug!(connection_id = %id, error = %e, "socket error");
                        break Ending { code: 1006, reason: String::new() };
                    }
                    None => break Ending { code: 1006, reason: String::new() },
                },
                _ = tokio::time::sleep_until(idle_end) => {
                    let idle_ms = self.config.idle_timeout.as_millis() as i64;
                    if clock::now_ms() - last_active.load(Ordering::Relaxed) >= idle_ms {
                        break close_with(close::GOING_AWAY, "Going away");
                    }
                }
                _ = tokio::time::sleep_until(lifetime_end) => break close_with(close::GOING_AWAY, "Going away"),
                _ = stop.changed() => break close_with(close::GOING_AWAY, "Going away"),
                _ = closed_rx.changed() => {
                    // The server closed it (DELETE @connections): wait for the client's reply.
                    let code = closed_rx.borrow().unwrap_or(close::NORMAL);
                    break Ending { code, reason: String::new() };
                }
            }
        };
        self.registry.remove(&id);
        drop(tx);
        // Let the close handshake finish, briefly.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = writer.await;
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
        info!(connection_id = %id, code = ending.code, "disconnected");
        if let Some(route) = self.route(RouteKind::Disconnect) {
            let event = events::typed(events::disconnect(
                &info,
                route.key(),
                ending.code,
                &ending.reason,
                clock::now_ms(),
            ));
            if tokio::time::timeout(self.config.integration_timeout, self.invoke(route, event))
                .await
                .is_err()
            {
                warn!(connection_id = %id, "$disconnect timed out");
            }
        }
    }

    /// One invocation of a route's integration; a panic is a crash, as a Lambda error is.
    fn invoke(
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

    async fn on_message(&self, info: &ConnectionInfo, text: &str) {
        let id = &info.connection_id;
        let Some(route) = routing::select(text, &self.config.routes) else {
            self.registry
                .send_raw(id, gateway_frame("Forbidden", id, &ids::new_id()));
            return;
        };
        let event_json = events::message(info, route.key(), text, clock::now_ms());
        let request_id = event_json["requestContext"]["requestId"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let event = events::typed(event_json);
        let mut invocation = self.invoke(route, event);
        match tokio::time::timeout(self.config.integration_timeout, &mut invocation).await {
            Ok(Ok(response)) => {
                if self.config.two_way_routes.contains(&route) {
                    if let Some(body) = response.body {
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
}

/// The client's `Sec-WebSocket-Key`, if the request is a valid version-13 upgrade.
fn websocket_key<B>(req: &Request<B>) -> Option<Vec<u8>> {
    let headers = req.headers();
    let version_ok = headers
        .get("sec-websocket-version")
        .is_some_and(|v| v.as_bytes() == b"13");
    headers
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec())
        .filter(|_| version_ok && req.method() == Method::GET)
}

/// The 101 that completes a handshake.
fn switching_protocols(key: &[u8], subprotocol: Option<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&tungstenite::handshake::derive_accept_key(key)) {
        h.insert("sec-websocket-accept", v);
    }
    if let Some(p) = subprotocol.and_then(|p| HeaderValue::from_str(&p).ok()) {
        h.insert("sec-websocket-protocol", p);
    }
    response
}

/// `sec-websocket-key` → `Sec-WebSocket-Key`, as API Gateway presents header names.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|w| match w {
            "websocket" => "WebSocket".to_owned(),
            _ => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header("sec-websocket-key"), "Sec-WebSocket-Key");
        assert_eq!(canonical_header("host"), "Host");
        assert_eq!(canonical_header("x-forwarded-for"), "X-Forwarded-For");
    }

    #[test]
    fn queries_and_ids_are_decoded() {
        assert_eq!(
            query_pairs("a=1&b=x%20y&a=2&c"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("a".into(), "2".into()),
                ("c".into(), "".into())
            ]
        );
        assert_eq!(
            percent_decode("R1kmxc2VNjMCFIA%3D").as_deref(),
            Some("R1kmxc2VNjMCFIA=")
        );
        assert_eq!(percent_decode("%zz"), None);
    }
}
