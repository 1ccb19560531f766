//! The URL table: every path the server answers, resolved in one place by [`resolve`] (pure,
//! so it is tested without sockets), then dispatched by `Gateway::handle` (`dispatch.rs`).
//!
//! | request                                   | endpoint                                 |
//! |-------------------------------------------|------------------------------------------|
//! | a call a [`LocalApi`] claims (`POST /` with `X-Amz-Target: secretsmanager.*`, ...) | that local AWS API (template APIs) |
//! | WebSocket upgrade on `/` or `/{stage}`    | the chat API (`$connect`, then frames)    |
//! | WebSocket upgrade on `/{other}`           | 403, as API Gateway answers a wrong stage |
//! | any method on `/{stage}/@connections/{id}`| the management API                       |
//! | WebSocket upgrade on `/realtime`          | the voice relay (when configured)         |
//! | `GET /`                                   | the test page                            |
//! | `GET /streamgate.json`                    | the test page's settings                 |
//! | `GET /voice`, `GET /restaurants.json`     | the voice page and its restaurants       |
//! | `GET /healthz`                            | 200, or 503 once draining (load balancers) |
//! | `GET /metrics`                            | the metrics, Prometheus text (when given) |
//! | `GET /dev-issuer/.well-known/*`           | the development issuer's discovery and JWKS (`--auth dev`) |
//! | anything else                             | 404                                      |
//!
//! A relay-only server (no chat API, as on ECS) answers none of the chat rows and serves the
//! voice page on `GET /` too. While the server drains, upgrades are refused with 503. An
//! endpoint of a part the server may lack carries that part, so the dispatcher never finds
//! it missing.

use std::fmt;
use std::sync::Arc;

use http::Method;
use streamgate_auth::dev::DevIssuer;
use streamgate_contract::relay;

use super::local_api::{AwsRequest, LocalApi};
use super::voice::VoiceSurface;

/// What a request asks for.
pub enum Endpoint<'a> {
    /// Open a chat socket.
    ChatSocket,
    /// A chat socket on another stage: 403.
    WrongStage,
    /// The management API on a connection (the id as it appears in the path, still encoded).
    Management {
        /// The raw path segment.
        raw_id: String,
    },
    /// Open a voice relay socket.
    VoiceSocket(&'a Arc<dyn VoiceSurface>),
    /// The test page.
    TestPage,
    /// The test page's settings.
    PageSettings,
    /// The voice page.
    VoicePage(&'a Arc<dyn VoiceSurface>),
    /// The voice page's restaurants and their menus.
    Restaurants(&'a Arc<dyn VoiceSurface>),
    /// A call of a local AWS API (Secrets Manager, ...).
    LocalApi(&'a Arc<dyn LocalApi>),
    /// The health check.
    Health,
    /// The metrics in Prometheus' text format.
    Metrics(&'a streamgate_telemetry::Registry),
    /// The development issuer's discovery document.
    IssuerDiscovery(&'a DevIssuer),
    /// The development issuer's key set.
    IssuerKeys(&'a DevIssuer),
    /// Nothing here: 404.
    NotFound,
}

impl Endpoint<'_> {
    /// Whether the endpoint opens a socket (origin-checked; refused while draining).
    pub fn is_socket(&self) -> bool {
        matches!(self, Endpoint::ChatSocket | Endpoint::VoiceSocket(_))
    }
}

impl fmt::Debug for Endpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::ChatSocket => f.write_str("ChatSocket"),
            Endpoint::WrongStage => f.write_str("WrongStage"),
            Endpoint::Management { raw_id } => f
                .debug_struct("Management")
                .field("raw_id", raw_id)
                .finish(),
            Endpoint::VoiceSocket(_) => f.write_str("VoiceSocket"),
            Endpoint::TestPage => f.write_str("TestPage"),
            Endpoint::PageSettings => f.write_str("PageSettings"),
            Endpoint::VoicePage(_) => f.write_str("VoicePage"),
            Endpoint::Restaurants(_) => f.write_str("Restaurants"),
            Endpoint::LocalApi(api) => f.debug_tuple("LocalApi").field(&api.name()).finish(),
            Endpoint::Health => f.write_str("Health"),
            Endpoint::Metrics(_) => f.write_str("Metrics"),
            Endpoint::IssuerDiscovery(_) => f.write_str("IssuerDiscovery"),
            Endpoint::IssuerKeys(_) => f.write_str("IssuerKeys"),
            Endpoint::NotFound => f.write_str("NotFound"),
        }
    }
}

/// What a server serves, as the URL table sees it.
#[derive(Clone, Copy)]
pub struct Surface<'a> {
    /// The chat API's stage.
    pub stage: &'a str,
    /// The chat API, its `@connections` API and the test page.
    pub chat: bool,
    /// The voice relay, its page and restaurant list.
    pub voice: Option<&'a Arc<dyn VoiceSurface>>,
    /// The local AWS APIs, asked in order (template APIs: Secrets Manager).
    pub local_apis: &'a [Arc<dyn LocalApi>],
    /// The development issuer, whose documents are served.
    pub issuer: Option<&'a DevIssuer>,
    /// The metrics `GET /metrics` gives.
    pub metrics: Option<&'a streamgate_telemetry::Registry>,
}

/// Resolves a request: its method, path, whether it asks for a WebSocket upgrade, its
/// `X-Amz-Target` header (AWS JSON-protocol calls), and what this server serves.
pub fn resolve<'a>(
    method: &Method,
    path: &str,
    upgrade: bool,
    amz_target: Option<&str>,
    on: &Surface<'a>,
) -> Endpoint<'a> {
    let call = AwsRequest {
        method,
        path,
        target: amz_target,
    };
    if let Some(api) = on.local_apis.iter().find(|api| api.claims(&call)) {
        return Endpoint::LocalApi(api);
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get = method == Method::GET;
    let chat = on.chat;
    let issuer = &crate::access::DEV_ISSUER_PATH[1..];
    match (segments.as_slice(), on.voice, on.issuer, on.metrics) {
        ([i, ".well-known", "openid-configuration"], _, Some(dev), _) if get && *i == issuer => {
            Endpoint::IssuerDiscovery(dev)
        }
        ([i, ".well-known", "jwks.json"], _, Some(dev), _) if get && *i == issuer => {
            Endpoint::IssuerKeys(dev)
        }
        ([p], ..) if get && !upgrade && *p == &relay::HEALTH_PATH[1..] => Endpoint::Health,
        (["metrics"], _, _, Some(metrics)) if get && !upgrade => Endpoint::Metrics(metrics),
        ([p], Some(voice), ..) if upgrade && *p == &relay::SOCKET_PATH[1..] => {
            Endpoint::VoiceSocket(voice)
        }
        ([s, "@connections", id], ..) if chat && *s == on.stage => Endpoint::Management {
            raw_id: (*id).to_owned(),
        },
        ([], ..) if upgrade && chat => Endpoint::ChatSocket,
        ([s], ..) if upgrade && chat && *s == on.stage => Endpoint::ChatSocket,
        ([_], ..) if upgrade && chat => Endpoint::WrongStage,
        ([], ..) if get && chat => Endpoint::TestPage,
        ([], Some(voice), ..) if get && !upgrade => Endpoint::VoicePage(voice),
        (["streamgate.json"], ..) if get && chat => Endpoint::PageSettings,
        (["voice"], Some(voice), ..) if get => Endpoint::VoicePage(voice),
        (["restaurants.json"], Some(voice), ..) if get => Endpoint::Restaurants(voice),
        _ => Endpoint::NotFound,
    }
}

#[cfg(test)]
mod tests;
