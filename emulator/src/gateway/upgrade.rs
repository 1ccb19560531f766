//! From an HTTP upgrade request to a WebSocket: the key check, the 101, and the socket
//! with API Gateway's limits, handed to whoever serves it once the 101 has gone out.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use streamgate_contract::limits;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tracing::warn;

use super::Gateway;
use super::http::Body;

/// A server-side WebSocket over an upgraded HTTP connection.
pub(crate) type ServerSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Bytes a socket's read buffer starts with, and the most one read takes. Client frames are
/// small (a chat message is tens to hundreds of bytes); a larger frame grows the buffer for
/// its length. Each idle socket keeps this much, so it sets most of an idle connection's cost.
pub(crate) const READ_BUFFER_BYTES: usize = 256;

/// API Gateway's frame and message limits, and small per-socket buffers: an idle
/// connection costs a few KB, not the 2 × 128 KB of tungstenite's defaults.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(limits::FRAME_MAX_BYTES))
        .max_message_size(Some(limits::MESSAGE_PAYLOAD_MAX_BYTES))
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * limits::MESSAGE_PAYLOAD_MAX_BYTES)
}

/// The client's `Sec-WebSocket-Key`, if the request is a valid version-13 upgrade: a `GET`
/// over HTTP/1.1 (RFC 6455 §4.1; HTTP/1.0 has no upgrade, and answering it 101 would leave
/// the client with a dead socket).
pub fn websocket_key<B>(req: &Request<B>) -> Option<Vec<u8>> {
    let headers = req.headers();
    let version_ok = headers
        .get("sec-websocket-version")
        .is_some_and(|v| v.as_bytes() == b"13");
    headers
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec())
        .filter(|_| {
            version_ok && req.method() == Method::GET && req.version() == http::Version::HTTP_11
        })
}

/// The close code RFC 6455 asks for when a client breaks the protocol (§7.4.1): 1002 for a
/// malformed frame (reserved bits or opcodes, an unmasked frame, a control frame over 125
/// bytes or fragmented, a bad close frame), 1007 for text that is not UTF-8, 1009 for a frame
/// or message over the limits. `None` for errors after which nothing can be sent (the
/// connection is already gone).
pub fn violation_close_code(e: &tungstenite::Error) -> Option<u16> {
    use streamgate_contract::limits::close;
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Protocol(
            ProtocolError::ResetWithoutClosingHandshake
            | ProtocolError::ReceivedAfterClosing
            | ProtocolError::SendAfterClosing,
        ) => None,
        tungstenite::Error::Protocol(_) => Some(close::PROTOCOL_ERROR),
        tungstenite::Error::Utf8(_) => Some(close::INVALID_PAYLOAD),
        tungstenite::Error::Capacity(_) => Some(close::MESSAGE_TOO_BIG),
        _ => None,
    }
}

/// The answer to an upgrade request that is not a valid version-13 WebSocket handshake.
pub fn bad_handshake() -> Response<Body> {
    super::http::respond(
        StatusCode::BAD_REQUEST,
        "text/plain",
        "bad WebSocket handshake",
    )
}

/// The 101 that completes a handshake.
pub fn switching_protocols(key: &[u8], subprotocol: Option<String>) -> Response<Body> {
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

impl Gateway {
    /// Runs `serve` on the socket once the 101 has gone out (`None` when the upgrade failed).
    pub fn on_upgrade<F, Fut>(self: &Arc<Self>, req: &mut Request<Incoming>, serve: F)
    where
        F: FnOnce(Option<ServerSocket>) -> Fut + Send + 'static,
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
}
