//! The voice relay's HTTP surface: the `/realtime` handshake (its refusals below), the voice
//! page and its restaurant list, as the emulator's [`VoiceSurface`]; the gateway's URL table
//! points here.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use async_trait::async_trait;
use streamgate_emulator::gateway::VoiceSurface;

use super::RealtimeService;
use super::admission::Refusal;
use streamgate_emulator::gateway::http::{Body, json_response, respond};
use streamgate_emulator::gateway::upgrade::switching_protocols;
use streamgate_emulator::gateway::{Admitted, Gateway};

/// The voice waiter page (self-contained HTML, CSS and JavaScript), served at `/voice`.
pub const VOICE_HTML: &str = include_str!("voice.html");

#[async_trait]
impl VoiceSurface for RealtimeService {
    async fn handshake(
        self: Arc<Self>,
        gateway: Arc<Gateway>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Body> {
        handshake(&gateway, req, peer, self).await
    }

    fn page(&self) -> Response<Body> {
        respond(StatusCode::OK, "text/html; charset=utf-8", VOICE_HTML)
    }

    fn restaurants(&self) -> Response<Body> {
        restaurants(self)
    }

    fn sessions(&self) -> u64 {
        RealtimeService::sessions(self)
    }
}

/// Upgrades a `/realtime` request into a voice session, or refuses it: first the socket
/// door's status when it refuses (400 for a bad handshake; the authorizer's 401, 403, 500),
/// then 400 without a restaurant or with a language that is not a language tag, 404 for an
/// unknown restaurant, 429 when this client holds as many sessions as one may, 503 when the
/// server holds as many as it may.
async fn handshake(
    gateway: &Arc<Gateway>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
    service: Arc<RealtimeService>,
) -> Response<Body> {
    // Who it is first: a client without a valid token learns nothing else (not even
    // whether a restaurant exists) and holds no place.
    let Admitted {
        key, info, query, ..
    } = match gateway.admit(&req, peer).await {
        Ok(admitted) => admitted,
        Err(door) => return door.response(),
    };
    let query = query.unwrap_or_default();
    // Caps count per user when the authorizer named one (an address may be many people
    // behind one NAT, or one person with many addresses), else per address.
    let user = super::budget::user_of(&info).map(str::to_owned);
    let client = user.clone().unwrap_or_else(|| info.source_ip.clone());
    let admission = match service.admit(&query, &client) {
        Ok(admitted) => admitted,
        Err(refusal) => return refused(&refusal),
    };
    // The first step of the user's voice budget, before any upstream is opened.
    if let Some(user) = &user
        && let Err(refusal) = service.charge_voice(user).await
    {
        return refused(&refusal);
    }
    let stop = gateway.shutdown_signal();
    gateway.on_upgrade(&mut req, move |ws| async move {
        // Without a socket the admission is dropped here, and its place given back.
        if let Some(ws) = ws {
            service.run(ws, info, admission, stop).await;
        }
    });
    switching_protocols(&key, None)
}

/// The answer to a refused handshake.
fn refused(refusal: &Refusal) -> Response<Body> {
    streamgate_telemetry::count(
        streamgate_contract::metrics::Metric::VoiceRefusals,
        &[refusal.as_str()],
    );
    let (status, message) = match refusal {
        Refusal::MissingRestaurant => (
            StatusCode::BAD_REQUEST,
            "restaurantId is required".to_owned(),
        ),
        Refusal::UnknownRestaurant(id) => (StatusCode::NOT_FOUND, format!("no restaurant {id:?}")),
        Refusal::BadLanguage => (
            StatusCode::BAD_REQUEST,
            "language must be a language tag such as en or pt-BR".to_owned(),
        ),
        Refusal::TooManyForClient => (
            StatusCode::TOO_MANY_REQUESTS,
            "too many voice sessions from this client".to_owned(),
        ),
        Refusal::Full => (
            StatusCode::SERVICE_UNAVAILABLE,
            "every voice session is in use; try again shortly".to_owned(),
        ),
        Refusal::BudgetSpent {
            retry_after_seconds,
        } => {
            return json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({
                    "message": "today's voice budget is spent",
                    "retryAfterSeconds": retry_after_seconds
                }),
            );
        }
        Refusal::BudgetUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the voice budget cannot be checked; try again shortly".to_owned(),
        ),
    };
    json_response(status, json!({ "message": message }))
}

/// The restaurants the voice page offers, each with its menu (shown beside the cart).
fn restaurants(service: &RealtimeService) -> Response<Body> {
    let list: Vec<serde_json::Value> = service
        .catalog()
        .restaurants
        .iter()
        .map(|r| json!({"id": r.id, "name": r.name, "menu": r.menu}))
        .collect();
    json_response(StatusCode::OK, serde_json::Value::Array(list))
}
