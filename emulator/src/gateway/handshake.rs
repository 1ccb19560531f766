//! The upgrade request and `$connect`: the CONNECT event, the authorizer hook, and the
//! route's answer deciding the upgrade (2xx upgrades, other statuses refuse with that status,
//! a crash gives 502, a timeout 504).

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::Either;
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::json;
use streamgate_contract::RouteKind;
use tracing::info;

use super::Gateway;
use super::http::{Body, query_pairs, refusal};
use super::upgrade::{bad_handshake, switching_protocols, websocket_key};
use crate::events::{self, ConnectionInfo};
use crate::integration::AuthDecision;
use crate::{clock, ids};

impl Gateway {
    pub(super) async fn handshake(
        self: Arc<Gateway>,
        mut req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let Some(key) = websocket_key(&req) else {
            return bad_handshake();
        };
        let mut info = self.connection_info(req.headers(), peer);
        let event_headers = event_headers(req.headers(), &info, peer);
        let query = req.uri().query().map(query_pairs);

        // The CONNECT event names the `$connect` route even when this API has none (an
        // authorizer still sees it).
        let connect_key = crate::api::reserved::CONNECT;
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
            refusal(status)
        };

        match self.authorize(&connect_event(&info)).await {
            Ok(context) => info.authorizer = context,
            Err(status) => return refuse(status, &self, &info.connection_id),
        }

        let mut subprotocol = None;
        if let Some(route) = self.route(RouteKind::Connect) {
            let mut invocation = self.invoke(&route, connect_event(&info));
            let outcome =
                tokio::time::timeout(self.config.integration_timeout(&route), &mut invocation)
                    .await;
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
        let conn_info = Arc::new(info.clone());
        // The socket is split here and its halves handed over: what a connection's task
        // keeps for its whole life stays small (the socket itself lives in the halves' lock).
        self.on_upgrade(&mut req, move |ws| match ws {
            Some(ws) => {
                let (sink, stream) = ws.split();
                Either::Left(gw.run_connection(sink, stream, conn_info, last_active))
            }
            None => {
                gw.registry.remove(&conn_info.connection_id);
                Either::Right(std::future::ready(()))
            }
        });
        info!(connection_id = %info.connection_id, "connected");
        switching_protocols(&key, subprotocol)
    }

    /// The authorizer's verdict on a CONNECT event: the context later events carry (`None`
    /// without an authorizer), or the status the handshake is refused with.
    pub async fn authorize(
        &self,
        connect_event: &serde_json::Value,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, StatusCode> {
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
    pub fn connection_info(&self, headers: &http::HeaderMap, peer: SocketAddr) -> ConnectionInfo {
        let header = |name: header::HeaderName| headers.get(name).and_then(|h| h.to_str().ok());
        ConnectionInfo {
            connection_id: ids::new_id(),
            connected_at: clock::now_ms(),
            api_id: self.api_id.clone(),
            stage: self.config.stage.clone(),
            domain_name: header(header::HOST).unwrap_or("localhost").to_owned(),
            source_ip: super::http::client_address(
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
pub fn event_headers(
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
}
