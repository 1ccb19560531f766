//! The voice surface: the socket the URL table mounts at the contract's `relay::SOCKET_PATH`,
//! with its page and restaurant list. The voice relay's crate implements it; the emulator
//! routes to it and knows nothing else of the relay (Cargo forbids the other direction).

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use http::{Request, Response};
use hyper::body::Incoming;

use super::Gateway;
use super::http::Body;

/// A WebSocket product served beside (or instead of) the chat API.
#[async_trait]
pub trait VoiceSurface: Send + Sync {
    /// Answers an upgrade on the socket path: 101 and a session, or a refusal. The surface
    /// goes through the socket door first ([`Gateway::admit`]: the key, the caller, the
    /// authorizer), then its own admission, then [`Gateway::on_upgrade`].
    async fn handshake(
        self: Arc<Self>,
        gateway: Arc<Gateway>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body>;

    /// The surface's page (`GET /voice`, and `GET /` on a server without a chat API).
    fn page(&self) -> Response<Body>;

    /// The restaurants the page offers (`GET /restaurants.json`).
    fn restaurants(&self) -> Response<Body>;

    /// Sessions open now (reported by `/healthz`).
    fn sessions(&self) -> u64;
}
