//! The local server reproduces API Gateway's WebSocket behaviour: one test (at least) per
//! point of the parity list in `tests/PARITY.md` (1 to 18), named `pN_...`, each run on both
//! hosts (below). One module per part of the list; here, what they share.

mod asynchronous;
mod connection;
mod events;
mod identity;
mod management;
mod routing;

use connection::*;
use events::*;
use identity::*;
use management::*;
use routing::*;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use serde_json::{Value, json};
use streamgate_contract::{Route, RouteKind};
use streamgate_emulator::api::{ApiRoute, RouteIntegration};
use streamgate_emulator::{AuthDecision, Authorizer, GatewayConfig};
use streamgate_tests::encode_id;
use streamgate_tests::local::{
    Behaviour, Client, Host, LocalServer, Recorder, closed, connect, next_json, next_text, send,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

/// The contract's routes, each a proxy integration: the parity points are about proxy
/// events (the asynchronous `message` integration has its own test at the end).
fn proxy_api() -> GatewayConfig {
    GatewayConfig {
        routes: Route::ALL
            .iter()
            .map(|r| ApiRoute {
                integration: RouteIntegration::Proxy,
                ..ApiRoute::contract(*r)
            })
            .collect(),
        ..GatewayConfig::default()
    }
}

fn action(key: &str, data: &str) -> String {
    json!({"action": key, "data": data}).to_string()
}

fn message_key() -> &'static str {
    Route::Message.key()
}

async fn handshake_status(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected handshake error {e}"),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A signed-looking management call (the server accepts any signature, as the SDK signs),
/// with the session token a template host hands its functions.
fn management(
    server: &LocalServer,
    method: reqwest::Method,
    url: String,
) -> reqwest::RequestBuilder {
    let call = http().request(method, url).header(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=local/x/us-east-1/execute-api/aws4_request",
    );
    match &server.gateway_config().aws_token {
        Some(token) => call.header("x-amz-security-token", token.expose()),
        None => call,
    }
}

/// The API's routes but the one of `kind`.
fn routes_without(kind: RouteKind) -> Vec<ApiRoute> {
    proxy_api()
        .routes
        .into_iter()
        .filter(|r| r.kind() != kind)
        .collect()
}

/// A header of an event's `headers` or `multiValueHeaders`, by name in any case (API
/// Gateway presents names as the client sent them).
fn header(event: &Value, map: &str, name: &str) -> Value {
    event[map]
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .map_or(Value::Null, |(_, v)| v.clone())
}

/// A connection id as it goes in a URL path.
fn connection_id(event: &Value) -> String {
    event["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Each parity test on both hosts: the handlers in this process, and real function
/// processes under the Lambda Runtime API, served from a template.
macro_rules! on_both_hosts {
    ($($name:ident),+ $(,)?) => {
        mod in_process {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Host::InProcess).await
            })+
        }
        mod runtime_api {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Host::RuntimeApi).await
            })+
        }
    };
}

on_both_hosts!(
    p1_connect_status_decides_the_upgrade,
    p2_works_without_a_connect_route,
    p3_subprotocol_from_connect_reaches_the_101,
    p4_connect_events_carry_headers_and_query_maps_only_with_a_query,
    p5_only_message_events_carry_message_id_and_body_and_no_headers,
    p8_route_selection_is_exact_with_stringified_values,
    p9_non_json_goes_to_default_and_without_default_the_forbidden_frame,
    p10_crash_and_timeout_frames_while_the_handler_keeps_posting,
    p11_return_values_are_discarded_on_one_way_routes_and_sent_on_two_way,
    p12_binary_frames_close_1003_and_oversize_closes_1009,
    p13_idle_and_lifetime_closes,
    p14_disconnect_runs_exactly_once_with_code_and_reason,
    p15_post_get_delete_on_connections,
    p16_management_errors_are_typed,
    p17_authorizer_context_reaches_later_events,
    p18_connection_ids_are_realistic_and_unique,
    graceful_shutdown_closes_with_1001_and_runs_disconnect_for_each,
    the_root_url_and_the_stage_url_both_serve_the_api,
);
