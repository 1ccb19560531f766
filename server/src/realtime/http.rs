//! The voice relay's HTTP surface: the `/realtime` handshake (400 without a restaurant, 404
//! for an unknown one), the voice page and its restaurant list. The gateway's URL table
//! points here.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::RealtimeService;
use super::session::Refusal;
use crate::gateway::Gateway;
use crate::gateway::http::{Body, json_response, query_pairs, respond};
use crate::gateway::upgrade::{bad_handshake, switching_protocols, websocket_key};
use crate::page;

/// Upgrades a `/realtime` request into a voice session, or refuses it.
pub(crate) fn handshake(
    gateway: &Arc<Gateway>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    service: Arc<RealtimeService>,
) -> Response<Body> {
    let Some(key) = websocket_key(&req) else {
        return bad_handshake();
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
    let info = gateway.connection_info(req.headers(), peer);
    let stop = gateway.shutdown_signal();
    gateway.on_upgrade(&mut req, move |ws| async move {
        if let Some(ws) = ws {
            service.run(ws, info, restaurant, language, stop).await;
        }
    });
    switching_protocols(&key, None)
}

/// The voice page.
pub(crate) fn voice_page() -> Response<Body> {
    respond(StatusCode::OK, "text/html; charset=utf-8", page::VOICE_HTML)
}

/// The restaurants the voice page offers, each with its menu (shown beside the cart).
pub(crate) fn restaurants(service: &RealtimeService) -> Response<Body> {
    let list: Vec<serde_json::Value> = service
        .catalog()
        .restaurants
        .iter()
        .map(|r| json!({"id": r.id, "name": r.name, "menu": r.menu}))
        .collect();
    json_response(StatusCode::OK, serde_json::Value::Array(list))
}
