//! What the parity tests share: the imports, the contract's API as proxy routes, and helpers.

pub(super) use std::collections::{BTreeSet, HashSet};
pub(super) use std::sync::Arc;
pub(super) use std::time::Duration;

pub(super) use futures::SinkExt;
pub(super) use serde_json::{Value, json};
pub(super) use streamgate_contract::{Route, RouteKind};
pub(super) use streamgate_emulator::api::{ApiRoute, RouteIntegration};
pub(super) use streamgate_emulator::{AuthDecision, Authorizer, GatewayConfig};
pub(super) use streamgate_tests::encode_id;
pub(super) use streamgate_tests::local::{
    Behaviour, Client, Host, LocalServer, Recorder, closed, connect, next_json, next_text, send,
};
pub(super) use tokio_tungstenite::tungstenite::Message;
pub(super) use tokio_tungstenite::tungstenite::client::IntoClientRequest;
pub(super) use tokio_tungstenite::tungstenite::protocol::CloseFrame;
pub(super) use tokio_tungstenite::tungstenite::protocol::frame::Frame;
pub(super) use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

/// The contract's routes, each a proxy integration: the parity points are about proxy
/// events (the asynchronous `message` integration has its own test at the end).
pub(super) fn proxy_api() -> GatewayConfig {
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

pub(super) fn action(key: &str, data: &str) -> String {
    json!({"action": key, "data": data}).to_string()
}

pub(super) fn message_key() -> &'static str {
    Route::Message.key()
}

pub(super) async fn handshake_status(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected handshake error {e}"),
    }
}

pub(super) fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A signed-looking management call (the server accepts any signature, as the SDK signs),
/// with the session token a template host hands its functions.
pub(super) fn management(
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
pub(super) fn routes_without(kind: RouteKind) -> Vec<ApiRoute> {
    proxy_api()
        .routes
        .into_iter()
        .filter(|r| r.kind() != kind)
        .collect()
}

/// A header of an event's `headers` or `multiValueHeaders`, by name in any case (API
/// Gateway presents names as the client sent them).
pub(super) fn header(event: &Value, map: &str, name: &str) -> Value {
    event[map]
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
        .map_or(Value::Null, |(_, v)| v.clone())
}

/// A connection id as it goes in a URL path.
pub(super) fn connection_id(event: &Value) -> String {
    event["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned()
}
