//! The socket door: what API Gateway does with every WebSocket upgrade before a surface's
//! own steps (the chat API's `$connect`, the voice relay's admission). The version-13 key,
//! the connection's id and caller, the CONNECT event, the authorizer's verdict: one call,
//! [`Gateway::admit`], which either lets the socket in ([`Admitted`]) or refuses it
//! ([`Refused`], with API Gateway's status).

use std::future::Future;
use std::net::SocketAddr;

use http::{Request, Response, StatusCode, header};
use serde_json::{Map, Value, json};

use super::Gateway;
use super::http::{Body, client_address, query_pairs, refusal};
use super::upgrade::{bad_handshake, websocket_key};
use crate::events::{self, ConnectionInfo};
use crate::integration::AuthDecision;
use crate::{clock, ids};

/// A socket the door let in: what its surface needs to go on.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The client's `Sec-WebSocket-Key`, which the 101 answers.
    pub key: Vec<u8>,
    /// The connection: its id, time and caller, and the authorizer's principal and context
    /// (`None` without an authorizer).
    pub info: ConnectionInfo,
    /// The query string's pairs, decoded, in order (`None` when the URL has none).
    pub query: Option<Vec<(String, String)>>,
    /// The CONNECT event as `$connect`'s integration gets it (the authorizer's context in
    /// `requestContext.authorizer`).
    pub connect_event: Value,
}

/// Why the door refused a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a valid version-13 WebSocket handshake: 400.
    #[error("bad WebSocket handshake")]
    BadHandshake,
    /// The authorizer refused (401, 403) or failed (500).
    #[error("the authorizer answered {0}")]
    Authorizer(StatusCode),
}

impl Refused {
    /// The status the handshake is refused with.
    pub fn status(self) -> StatusCode {
        match self {
            Refused::BadHandshake => StatusCode::BAD_REQUEST,
            Refused::Authorizer(status) => status,
        }
    }

    /// The answer API Gateway gives the client.
    pub fn response(self) -> Response<Body> {
        match self {
            Refused::BadHandshake => bad_handshake(),
            Refused::Authorizer(status) => refusal(status),
        }
    }
}

impl Gateway {
    /// Admits a WebSocket upgrade from `peer`, as API Gateway does before `$connect`: the
    /// handshake's key (else 400), the connection's id and caller, the CONNECT event (it
    /// names the `$connect` route even when the API has none), and the authorizer's verdict
    /// on it (401, 403, 500). The request is read at once; the future holds none of it.
    pub fn admit<B>(
        &self,
        req: &Request<B>,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Admitted, Refused>> + Send + use<'_, B> {
        self.admit_holding(req, peer, |_| {})
    }

    /// [`Gateway::admit`], calling `hold` with the new connection before the authorizer runs
    /// (the chat API records it in the registry there; it answers `@connections` as gone
    /// until it is open).
    pub(super) fn admit_holding<B, H>(
        &self,
        req: &Request<B>,
        peer: SocketAddr,
        hold: H,
    ) -> impl Future<Output = Result<Admitted, Refused>> + Send + use<'_, B, H>
    where
        H: FnOnce(&ConnectionInfo),
    {
        let prelude = websocket_key(req).map(|key| {
            let info = self.connection_info(req.headers(), peer);
            let headers = event_headers(req.headers(), &info, peer);
            let query = req.uri().query().map(query_pairs);
            hold(&info);
            (key, info, headers, query)
        });
        async move {
            let (key, mut info, headers, query) = prelude.ok_or(Refused::BadHandshake)?;
            let connect_event = |info: &ConnectionInfo| {
                events::connect(
                    info,
                    crate::api::reserved::CONNECT,
                    &headers,
                    query.as_deref(),
                    clock::now_ms(),
                )
            };
            info.authorizer = self
                .authorize(&connect_event(&info))
                .await
                .map_err(Refused::Authorizer)?;
            let connect_event = connect_event(&info);
            Ok(Admitted {
                key,
                info,
                query,
                connect_event,
            })
        }
    }

    /// The authorizer's verdict on a CONNECT event: the context later events carry (`None`
    /// without an authorizer), or the status the handshake is refused with.
    async fn authorize(
        &self,
        connect_event: &Value,
    ) -> Result<Option<Map<String, Value>>, StatusCode> {
        let Some(authorizer) = &self.authorizer else {
            return Ok(None);
        };
        match authorizer.authorize(connect_event).await {
            AuthDecision::Allow {
                principal_id,
                mut context,
            } => {
                context.insert("principalId".into(), json!(principal_id));
                Ok(Some(context))
            }
            AuthDecision::Unauthorized => Err(StatusCode::UNAUTHORIZED),
            AuthDecision::Deny => Err(StatusCode::FORBIDDEN),
            AuthDecision::Error => Err(StatusCode::INTERNAL_SERVER_ERROR),
        }
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
            source_ip: client_address(
                peer.ip(),
                headers.get("x-forwarded-for").map(|v| v.as_bytes()),
                self.config.trusted_proxy_hops,
            ),
            user_agent: header(header::USER_AGENT).map(str::to_owned),
            authorizer: None,
        }
    }
}

/// The CONNECT event's headers, as API Gateway passes them: the client's (less the
/// hop-by-hop upgrade headers) with canonical names, plus the ones it adds.
fn event_headers(
    headers: &http::HeaderMap,
    info: &ConnectionInfo,
    peer: SocketAddr,
) -> Vec<(String, String)> {
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
    event_headers
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
    fn refusals_answer_api_gateways_statuses() {
        assert_eq!(Refused::BadHandshake.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            Refused::BadHandshake.response().status(),
            StatusCode::BAD_REQUEST
        );
        let denied = Refused::Authorizer(StatusCode::FORBIDDEN);
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        assert_eq!(denied.response().status(), StatusCode::FORBIDDEN);
    }
}
