//! The events API Gateway delivers to a proxy integration, built in one place for all three
//! kinds. They are written as JSON, as API Gateway sends them, then deserialized into
//! `aws_lambda_events` types, so a field the Rust handlers need cannot go missing.

use crate::clock;
use crate::ids;
use crate::integration::WsEvent;
use serde_json::{Map, Value, json};

/// What every event of a connection carries.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// API Gateway's connection id.
    pub connection_id: String,
    /// Epoch ms of the connection.
    pub connected_at: i64,
    /// The API's id.
    pub api_id: String,
    /// The stage.
    pub stage: String,
    /// The host the client connected to (and the management endpoint's).
    pub domain_name: String,
    /// Client address.
    pub source_ip: String,
    /// Client user agent, if sent.
    pub user_agent: Option<String>,
    /// The authorizer's principal and context, copied to every event after `$connect`.
    pub authorizer: Option<Map<String, Value>>,
}

fn request_context(
    info: &ConnectionInfo,
    route_key: &str,
    event_type: &str,
    now_ms: i64,
    request_id: &str,
) -> Map<String, Value> {
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), json!(info.source_ip));
    if let Some(ua) = &info.user_agent {
        identity.insert("userAgent".into(), json!(ua));
    }
    let mut ctx = Map::new();
    ctx.insert("routeKey".into(), json!(route_key));
    ctx.insert("eventType".into(), json!(event_type));
    ctx.insert("extendedRequestId".into(), json!(request_id));
    ctx.insert("requestTime".into(), json!(clock::clf(now_ms)));
    ctx.insert("messageDirection".into(), json!("IN"));
    ctx.insert("stage".into(), json!(info.stage));
    ctx.insert("connectedAt".into(), json!(info.connected_at));
    ctx.insert("requestTimeEpoch".into(), json!(now_ms));
    ctx.insert("identity".into(), Value::Object(identity));
    ctx.insert("requestId".into(), json!(request_id));
    ctx.insert("domainName".into(), json!(info.domain_name));
    ctx.insert("connectionId".into(), json!(info.connection_id));
    ctx.insert("apiId".into(), json!(info.api_id));
    if let Some(auth) = &info.authorizer {
        ctx.insert("authorizer".into(), Value::Object(auth.clone()));
    }
    ctx
}

fn header_maps(headers: &[(String, String)]) -> (Map<String, Value>, Map<String, Value>) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in headers {
        single.insert(name.clone(), json!(value));
        match multi.get_mut(name) {
            Some(Value::Array(values)) => values.push(json!(value)),
            _ => {
                multi.insert(name.clone(), json!([value]));
            }
        }
    }
    (single, multi)
}

/// A CONNECT event. `query` is `None` when the URL had no query string (the maps are then
/// absent, as in API Gateway).
pub fn connect(
    info: &ConnectionInfo,
    route_key: &str,
    headers: &[(String, String)],
    query: Option<&[(String, String)]>,
    now_ms: i64,
) -> Value {
    let (single, multi) = header_maps(headers);
    let mut event = Map::new();
    event.insert("headers".into(), Value::Object(single));
    event.insert("multiValueHeaders".into(), Value::Object(multi));
    if let Some(query) = query {
        let (single, multi) = header_maps(query);
        event.insert("queryStringParameters".into(), Value::Object(single));
        event.insert(
            "multiValueQueryStringParameters".into(),
            Value::Object(multi),
        );
    }
    event.insert(
        "requestContext".into(),
        Value::Object(request_context(
            info,
            route_key,
            "CONNECT",
            now_ms,
            &ids::new_id(),
        )),
    );
    event.insert("isBase64Encoded".into(), json!(false));
    Value::Object(event)
}

/// A MESSAGE event: `messageId` and `body`, no headers.
pub fn message(info: &ConnectionInfo, route_key: &str, body: &str, now_ms: i64) -> Message {
    let request_id = ids::new_id();
    let mut ctx = request_context(info, route_key, "MESSAGE", now_ms, &request_id);
    ctx.insert("messageId".into(), json!(ids::new_id()));
    Message {
        event: json!({
            "requestContext": ctx,
            "body": body,
            "isBase64Encoded": false,
        }),
        request_id,
    }
}

/// A MESSAGE event and its request id (which API Gateway's own frames about it carry).
#[derive(Debug, Clone)]
pub struct Message {
    /// The event.
    pub event: Value,
    /// Its `requestContext.requestId`.
    pub request_id: String,
}

/// A DISCONNECT event, with the close code and reason and API Gateway's fixed dummy headers.
pub fn disconnect(
    info: &ConnectionInfo,
    route_key: &str,
    status: u16,
    reason: &str,
    now_ms: i64,
) -> Value {
    let mut ctx = request_context(info, route_key, "DISCONNECT", now_ms, &ids::new_id());
    ctx.insert("disconnectStatusCode".into(), json!(status));
    ctx.insert("disconnectReason".into(), json!(reason));
    let headers = [
        ("Host".to_owned(), info.domain_name.clone()),
        ("x-api-key".to_owned(), String::new()),
        ("X-Forwarded-For".to_owned(), String::new()),
        ("x-restapi".to_owned(), String::new()),
    ];
    let (single, multi) = header_maps(&headers);
    json!({
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": ctx,
        "isBase64Encoded": false,
    })
}

/// The REQUEST authorizer event API Gateway sends a Lambda authorizer on `$connect`, built
/// from the CONNECT event: its headers, query maps and `requestContext` (when present), the
/// route's `methodArn` and empty `stageVariables`.
pub fn authorizer_request(connect_event: &Value, method_arn: &str) -> Value {
    let mut event = Map::new();
    event.insert("type".into(), json!("REQUEST"));
    event.insert("methodArn".into(), json!(method_arn));
    for key in [
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "requestContext",
    ] {
        if let Some(v) = connect_event.get(key) {
            event.insert(key.into(), v.clone());
        }
    }
    event.insert("stageVariables".into(), json!({}));
    Value::Object(event)
}

/// The typed event the handlers take.
///
/// # Panics
/// If an event built here does not deserialize: a bug, caught by the tests.
pub fn typed(event: Value) -> WsEvent {
    serde_json::from_value(event).expect("events built by the server deserialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ConnectionInfo {
        ConnectionInfo {
            connection_id: "c1".into(),
            connected_at: 1,
            api_id: "api".into(),
            stage: "local".into(),
            domain_name: "localhost".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            authorizer: None,
        }
    }

    #[test]
    fn the_authorizer_request_copies_the_connect_event_in_api_gateways_order() {
        let headers = [("Host".to_owned(), "localhost".to_owned())];
        let query = [("token".to_owned(), "t".to_owned())];
        let connect = connect(
            &info(),
            crate::api::reserved::CONNECT,
            &headers,
            Some(&query),
            1,
        );
        let arn = "arn:aws:execute-api:us-east-1:000000000000:api/local/$connect";
        let request = authorizer_request(&connect, arn);
        let keys: Vec<&str> = request
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "type",
                "methodArn",
                "headers",
                "multiValueHeaders",
                "queryStringParameters",
                "multiValueQueryStringParameters",
                "requestContext",
                "stageVariables",
            ]
        );
        assert_eq!(request["type"], "REQUEST");
        assert_eq!(request["methodArn"], arn);
        assert_eq!(request["headers"], connect["headers"]);
        assert_eq!(request["queryStringParameters"]["token"], "t");
        assert_eq!(request["requestContext"], connect["requestContext"]);
        assert_eq!(request["stageVariables"], json!({}));
    }

    #[test]
    fn the_authorizer_request_omits_query_maps_the_connect_event_lacks() {
        let connect = connect(&info(), crate::api::reserved::CONNECT, &[], None, 1);
        let request = authorizer_request(&connect, "arn");
        assert!(request.get("queryStringParameters").is_none());
        assert!(request.get("multiValueQueryStringParameters").is_none());
        assert_eq!(request["stageVariables"], json!({}));
    }
}
