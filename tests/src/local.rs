//! The local server in process, on a free port, with a scripted integration that records
//! the events it gets ([`crate::recorder`]), and a WebSocket client.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;

use streamgate_emulator::{Authorizer, Gateway, GatewayConfig, Integration, Registry};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub use crate::recorder::{Behaviour, Recorder};

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
                *recorder.registry_slot() = Some(registry.clone());
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
        *recorder.registry_slot() = Some(registry.clone());
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
        LocalServer::chat_settings(
            config,
            push,
            echo_delay,
            streamgate_core::ChatSettings::default(),
        )
        .await
    }

    /// [`LocalServer::chat_with`], the handlers configured by `settings`.
    pub async fn chat_settings(
        config: GatewayConfig,
        push: Option<Arc<dyn streamgate_core::ClientPush>>,
        echo_delay: Duration,
        settings: streamgate_core::ChatSettings,
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
            settings,
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
