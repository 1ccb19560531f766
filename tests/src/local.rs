//! The local server in process, on a free port, with a scripted integration that records
//! the events it gets, and a WebSocket client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use streamgate_contract::Route;
use streamgate_core::event::{WsEvent, WsResponse, status, status_with_body};
use streamgate_emulator::api::ApiRoute;
use streamgate_emulator::{
    Authorizer, Gateway, GatewayConfig, Integration, IntegrationError, Registry,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What a scripted integration does for one invocation.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer 200 with no body.
    Ok,
    /// Answer this status.
    Status(u16),
    /// Answer 200 with this header.
    Header(&'static str, String),
    /// Answer 200 with this body.
    Body(String),
    /// Fail (a crashed function).
    Crash,
    /// Panic.
    Panic,
    /// Wait, then answer 200.
    Sleep(Duration),
    /// Wait, then answer 200 with this body.
    SleepThenBody(Duration, String),
    /// Wait, then post this text to the caller through the registry, then answer 200.
    SleepThenPost(Duration, String),
}

type Script = dyn Fn(Route, &WsEvent) -> Behaviour + Send + Sync;

/// An integration that records every event (as JSON) and behaves as its script says.
pub struct Recorder {
    events: Mutex<Vec<(Route, Value)>>,
    script: Box<Script>,
    registry: Mutex<Option<Arc<Registry>>>,
}

impl Recorder {
    /// A recorder that behaves as `script` says.
    pub fn new(
        script: impl Fn(Route, &WsEvent) -> Behaviour + Send + Sync + 'static,
    ) -> Arc<Recorder> {
        Arc::new(Recorder {
            events: Mutex::new(Vec::new()),
            script: Box::new(script),
            registry: Mutex::new(None),
        })
    }

    /// A recorder that answers 200 to everything.
    pub fn ok() -> Arc<Recorder> {
        Recorder::new(|_, _| Behaviour::Ok)
    }

    /// Where the recorder posts `SleepThenPost` frames: the serving gateway's registry.
    pub fn registry_slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Registry>>> {
        self.registry.lock().unwrap()
    }

    /// Every event received, in order.
    pub fn events(&self) -> Vec<(Route, Value)> {
        self.events.lock().unwrap().clone()
    }

    /// The events of one route.
    pub fn events_of(&self, route: Route) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|(r, _)| *r == route)
            .map(|(_, e)| e)
            .collect()
    }

    /// Waits until `route` has had `n` events (or panics after 5 s).
    pub async fn wait_for(&self, route: Route, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let events = self.events_of(route);
            if events.len() >= n {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} {route:?} events within 5 s, saw {}",
                n,
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[async_trait]
impl Integration for Recorder {
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, IntegrationError> {
        let route = Route::from_key(&route.key).expect("recorded APIs use the contract's routes");
        self.events.lock().unwrap().push((route, event.clone()));
        let event: WsEvent = serde_json::from_value(event)
            .map_err(|e| IntegrationError::Malformed(e.to_string()))?;
        match (self.script)(route, &event) {
            Behaviour::Ok => Ok(status(200)),
            Behaviour::Status(s) => Ok(status(s)),
            Behaviour::Header(name, value) => {
                let mut r = status(200);
                r.headers.insert(name, value.parse().unwrap());
                Ok(r)
            }
            Behaviour::Body(b) => Ok(status_with_body(200, b)),
            Behaviour::Crash => Err(IntegrationError::Failed("injected crash".into())),
            Behaviour::Panic => panic!("injected panic"),
            Behaviour::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(status(200))
            }
            Behaviour::SleepThenBody(d, body) => {
                tokio::time::sleep(d).await;
                Ok(status_with_body(200, body))
            }
            Behaviour::SleepThenPost(d, text) => {
                tokio::time::sleep(d).await;
                let registry = self.registry.lock().unwrap().clone().expect("registry");
                let id = event.request_context.connection_id.clone().unwrap();
                registry
                    .post(&id, text)
                    .expect("the connection is still open");
                Ok(status(200))
            }
        }
    }
}

/// Where a scripted API's functions run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// As calls in this process (the chat server's way).
    InProcess,
    /// As `provided.al2023` processes under the Lambda Runtime API, from a template
    /// (`streamgate-server --template`'s way).
    RuntimeApi,
    /// The same processes, from a SAM template (`AWS::Serverless::WebSocketApi`).
    SamTemplate,
}

/// A server running in this process.
pub struct LocalServer {
    /// The emulator.
    pub gateway: Arc<Gateway>,
    /// `127.0.0.1:PORT`.
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
    hosted: Option<crate::template_host::ProcessHost>,
}

impl LocalServer {
    /// Starts a server over `integration`.
    pub async fn start(
        config: GatewayConfig,
        integration: Arc<dyn Integration>,
        registry: Arc<Registry>,
        authorizer: Option<Arc<dyn Authorizer>>,
    ) -> LocalServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gateway = Gateway::builder(config)
            .chat(integration, registry)
            .authorizer(authorizer)
            .build();
        let task = tokio::spawn(gateway.clone().serve(listener));
        LocalServer {
            gateway,
            addr,
            task,
            hosted: None,
        }
    }

    /// Starts a server over a recorder on `host`, with an optional `$connect` authorizer.
    pub async fn on(
        host: Host,
        config: GatewayConfig,
        recorder: &Arc<Recorder>,
        authorizer: Option<Arc<dyn Authorizer>>,
    ) -> LocalServer {
        match host {
            Host::InProcess => {
                let registry = Arc::new(Registry::new(config.management_rate_limit));
                *recorder.registry.lock().unwrap() = Some(registry.clone());
                LocalServer::start(config, recorder.clone(), registry, authorizer).await
            }
            Host::RuntimeApi | Host::SamTemplate => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let hosted = crate::template_host::ProcessHost::start(
                    config,
                    recorder,
                    authorizer,
                    &listener,
                    host == Host::SamTemplate,
                )
                .await;
                let gateway = hosted.server.gateway.clone();
                let task = tokio::spawn(gateway.clone().serve(listener));
                LocalServer {
                    gateway,
                    addr,
                    task,
                    hosted: Some(hosted),
                }
            }
        }
    }

    /// A server already serving (`task` runs `gateway.serve`) on `addr`.
    pub fn from_parts(
        gateway: Arc<Gateway>,
        addr: std::net::SocketAddr,
        task: tokio::task::JoinHandle<()>,
    ) -> LocalServer {
        LocalServer {
            gateway,
            addr,
            task,
            hosted: None,
        }
    }

    /// Starts a server over a recorder.
    pub async fn with_recorder(config: GatewayConfig, recorder: &Arc<Recorder>) -> LocalServer {
        let registry = Arc::new(Registry::new(config.management_rate_limit));
        *recorder.registry.lock().unwrap() = Some(registry.clone());
        LocalServer::start(config, recorder.clone(), registry, None).await
    }

    /// How the emulated API is configured.
    pub fn gateway_config(&self) -> &GatewayConfig {
        self.gateway.config()
    }

    /// `ws://127.0.0.1:PORT/{stage}`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.gateway.config().stage)
    }

    /// `http://127.0.0.1:PORT/{stage}` (the management endpoint).
    pub fn management_url(&self) -> String {
        format!("http://{}/{}", self.addr, self.gateway.config().stage)
    }

    /// Shuts down gracefully and waits for it.
    pub async fn stop(self) {
        self.gateway.shutdown();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops within 10 s")
            .unwrap();
        drop(self.hosted);
    }
}

/// A WebSocket client.
pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects to `url`.
pub async fn connect(url: &str) -> Client {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("the handshake succeeds")
        .0
}

/// The next text frame (panics after 5 s or on anything else).
pub async fn next_text(ws: &mut Client) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The next text frame as JSON.
pub async fn next_json(ws: &mut Client) -> Value {
    serde_json::from_str(&next_text(ws).await).expect("a JSON frame")
}

/// Reads until the server closes; returns its close frame.
pub async fn closed(ws: &mut Client) -> Option<CloseFrame> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => panic!("socket error before the close frame: {e}"),
            Ok(None) => return None,
            Err(_) => panic!("the server did not close within 5 s"),
        }
    }
}

/// Sends a text frame.
pub async fn send(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// Reads one answer: the `chunk` contents concatenated, up to its `done` (panics on anything
/// else).
pub async fn answer(ws: &mut Client) -> String {
    let mut answer = String::new();
    loop {
        let f = next_json(ws).await;
        match f["type"].as_str() {
            Some("chunk") => answer.push_str(f["content"].as_str().unwrap()),
            Some("done") => return answer,
            _ => panic!("expected chunk or done: {f}"),
        }
    }
}

/// A server with the voice relay over `realtime`, writing records to `store`.
pub async fn start_voice(
    realtime: streamgate_voice_relay::RealtimeConfig,
    store: Arc<dyn streamgate_core::ConnectionStore>,
) -> (LocalServer, Arc<streamgate_voice_relay::RealtimeService>) {
    let service = streamgate_voice_relay::RealtimeService::new(realtime, store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = Gateway::builder(GatewayConfig::default())
        .chat(Recorder::ok(), Arc::new(Registry::new(None)))
        .voice(service.clone())
        .build();
    let task = tokio::spawn(gateway.clone().serve(listener));
    (
        LocalServer {
            gateway,
            addr,
            task,
            hosted: None,
        },
        service,
    )
}

impl LocalServer {
    /// A server hosting the real chat handlers with the echo provider (`echo_delay` between
    /// words) and an in-memory store; `push` is how handlers reach clients (`None`: the
    /// server's in-process push).
    pub async fn chat(
        push: Option<Arc<dyn streamgate_core::ClientPush>>,
        echo_delay: Duration,
    ) -> LocalServer {
        LocalServer::chat_with(GatewayConfig::default(), push, echo_delay).await
    }

    /// [`LocalServer::chat`] with an API configured by `config`.
    pub async fn chat_with(
        config: GatewayConfig,
        push: Option<Arc<dyn streamgate_core::ClientPush>>,
        echo_delay: Duration,
    ) -> LocalServer {
        let registry = Arc::new(Registry::new(None));
        let push = push.unwrap_or_else(|| {
            Arc::new(streamgate_server::in_process::LocalPush(registry.clone()))
        });
        let app = streamgate_core::ChatApp {
            store: Arc::new(streamgate_core::memory::MemoryStore::new()),
            push,
            llm: Arc::new(streamgate_llm::EchoProvider::new(echo_delay)),
            quotas: Arc::new(streamgate_core::memory::MemoryQuotas::new()),
            conversations: Arc::new(
                streamgate_core::conversation::memory::MemoryConversations::new(),
            ),
            settings: streamgate_core::ChatSettings::default(),
        };
        LocalServer::start(
            config,
            Arc::new(streamgate_server::ChatIntegration(app)),
            registry,
            None,
        )
        .await
    }
}

/// Debian's Chromium (or `$CHROMIUM`) and playwright-core, as the browser tests need them.
///
/// # Panics
/// When either is missing, with the setup step that installs it.
pub fn browser_tools() -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).is_file(),
        "Chromium is not installed at {chromium}: run `just setup` (it installs Debian's chromium package)"
    );
    assert!(
        crate::workspace_root()
            .join("tests/node/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is not installed: run `just setup`"
    );
    chromium
}
