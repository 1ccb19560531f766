//! Holding under abuse, each case bounded to a few seconds. `sockets.rs`: slow and silent
//! clients are cut off, a connection cap answers 503, pages from other origins are refused on
//! both socket endpoints, protocol violations get RFC 6455's close codes, pings and closes
//! never wait behind busy integrations, a client too slow to read gets a terminal outcome.
//! `voice.rs`: the voice relay has caps, timers, an authorizer and instructions only the
//! catalog writes. Here: what both use.

mod sockets;
mod voice;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use streamgate_contract::Route;
use streamgate_core::ApiKey;
use streamgate_core::memory::MemoryStore;
use streamgate_emulator::gateway::origin::AllowedOrigins;
use streamgate_emulator::{AuthDecision, Authorizer, Gateway, GatewayConfig, Registry};
use streamgate_tests::local::{Behaviour, LocalServer, Recorder, connect, send};
use streamgate_tests::mock_realtime::MockRealtime;
use streamgate_voice_relay::{Catalog, RealtimeConfig, RealtimeService};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Reads until the server closes the connection; the bytes it sent, or `None` when it is
/// still open after `within`.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|_| all)
}

/// A WebSocket handshake by hand on a raw socket, so the test can then write any bytes.
async fn raw_socket(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "the handshake answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// A client frame: FIN, the opcode, the mask bit and key, the payload masked.
fn client_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    let key = [0x11, 0x22, 0x33, 0x44];
    if masked {
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// The close code of the server's close frame among `bytes` (its first frame).
fn close_code(bytes: &[u8]) -> Option<u16> {
    (bytes.len() >= 4 && bytes[0] == 0x88).then(|| u16::from_be_bytes([bytes[2], bytes[3]]))
}

fn recorder_config() -> GatewayConfig {
    GatewayConfig {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        ..GatewayConfig::default()
    }
}

async fn handshake_with_origin(url: &str, origin: Option<&str>) -> u16 {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

fn voice_config(mock: &MockRealtime) -> RealtimeConfig {
    let mut c = RealtimeConfig::new(Catalog::sample(), ApiKey::new(mock.key()));
    c.base_url = mock.url();
    c
}

/// A server with the chat API and the voice relay, configured by `config` and `realtime`.
async fn voice_server(
    config: GatewayConfig,
    realtime: RealtimeConfig,
    authorizer: Option<Arc<dyn Authorizer>>,
) -> (LocalServer, Arc<RealtimeService>) {
    let service = RealtimeService::new(realtime, Arc::new(MemoryStore::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gateway = Gateway::builder(config)
        .chat(Recorder::ok(), Arc::new(Registry::new(None)))
        .authorizer(authorizer)
        .voice(service.clone())
        .build();
    let task = tokio::spawn(gateway.clone().serve(listener));
    (LocalServer::from_parts(gateway, addr, task), service)
}

struct DenyAll;

#[async_trait::async_trait]
impl Authorizer for DenyAll {
    async fn authorize(&self, event: &Value) -> AuthDecision {
        match event["queryStringParameters"]["token"].as_str() {
            Some("good") => AuthDecision::Allow {
                principal_id: "guest".into(),
                context: serde_json::Map::new(),
            },
            Some(_) => AuthDecision::Deny,
            None => AuthDecision::Unauthorized,
        }
    }
}

async fn voice_status(server: &LocalServer, query: &str) -> u16 {
    handshake_with_origin(&format!("ws://{}/realtime?{query}", server.addr), None).await
}
