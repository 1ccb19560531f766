//! The chat API's upgrade: the socket door ([`Gateway::admit`]), the connection recorded
//! while `$connect` runs, and the route's answer deciding the upgrade (2xx upgrades, other
//! statuses refuse with that status, a crash gives 502, a timeout 504).

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::Either;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use streamgate_contract::RouteKind;
use tracing::info;

use super::Gateway;
use super::door::Admitted;
use super::http::{Body, refusal};
use super::upgrade::switching_protocols;

impl Gateway {
    pub(super) async fn handshake(
        self: Arc<Gateway>,
        mut req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        // The connection is recorded before the authorizer runs (`@connections` answers it
        // as gone until it is open).
        let mut begun = None;
        let admitted = self
            .admit_holding(&req, peer, |info| {
                begun = Some((
                    info.connection_id.clone(),
                    self.registry.begin(info.clone()),
                ));
            })
            .await;
        let admitted = match admitted {
            Ok(admitted) => admitted,
            Err(refused) => {
                if let Some((id, _)) = &begun {
                    self.registry.remove(id);
                }
                return refused.response();
            }
        };
        let Admitted {
            key,
            info,
            connect_event,
            ..
        } = admitted;
        let last_active = match begun {
            Some((_, last_active)) => last_active,
            // `hold` runs for every socket the door admits; recorded here all the same.
            None => self.registry.begin(info.clone()),
        };
        let refuse = |status: StatusCode, gw: &Gateway, id: &str| {
            gw.registry.remove(id);
            refusal(status)
        };

        let mut subprotocol = None;
        if let Some(route) = self.route(RouteKind::Connect) {
            let mut invocation = self.invoke(&route, connect_event);
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
}
