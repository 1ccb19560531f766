//! Running a template's functions as Lambda runs them: each function's real `bootstrap` in
//! its own processes, talking to an embedded Runtime API ([`runtime_api`]), managed by a
//! [`pool::Pool`] (warm reuse, cold starts, concurrency, timeouts, idle stops). The
//! [`FunctionHost`] is the gateway's [`Integration`] over those pools, and
//! [`LambdaAuthorizer`] runs a REQUEST authorizer function.

pub mod artifact;
pub mod cargo_lambda;
pub mod config;
pub mod managed;
pub mod mirror;
pub mod output;
pub mod pool;
pub mod process;
pub mod runtime_api;
mod tool;
pub mod watch;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde_json::{Map, Value, json};
use streamgate_core::event::WsResponse;

use crate::template::AuthorizerDef;
pub use pool::{InvokeError, Pool, PoolConfig, Timing};
use streamgate_emulator::api::ApiRoute;
use streamgate_emulator::integration::{AuthDecision, Authorizer, Integration};

/// The gateway's integration over function processes: each route to its function's pool.
pub struct FunctionHost {
    pools: BTreeMap<String, Arc<Pool>>,
    routes: BTreeMap<String, String>,
}

impl FunctionHost {
    /// A host over `pools` (by logical id), with `routes` (route key → logical id).
    pub fn new(pools: BTreeMap<String, Arc<Pool>>, routes: BTreeMap<String, String>) -> Self {
        FunctionHost { pools, routes }
    }

    /// The pools, by logical id.
    pub fn pools(&self) -> &BTreeMap<String, Arc<Pool>> {
        &self.pools
    }

    /// The pool serving `route_key`.
    pub fn pool_of(&self, route_key: &str) -> Option<&Arc<Pool>> {
        self.routes.get(route_key).and_then(|id| self.pools.get(id))
    }

    /// Stops every idle process.
    pub fn stop_all_idle(&self) {
        for pool in self.pools.values() {
            pool.stop_all_idle();
        }
    }
}

#[async_trait]
impl Integration for FunctionHost {
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, String> {
        let pool = self
            .pool_of(&route.key)
            .ok_or_else(|| format!("no function serves {:?}", route.key))?;
        // A synchronous integration waits for a process hardly longer than API Gateway waits
        // for it (just past, so the client gets the gateway's own timeout answer), and then
        // nothing runs for a caller that has gone; an event invocation as long as the pool
        // lets it.
        let invoked = match route.integration_timeout {
            Some(wait) if !route.is_asynchronous() => {
                pool.invoke_waiting(event, wait + Duration::from_millis(250))
                    .await
            }
            _ => pool.invoke(event).await,
        };
        let (payload, _) = invoked.map_err(|e| {
            tracing::warn!(route = %route.key, function = %pool.function().name, error = %e, "the invocation failed");
            e.to_string()
        })?;
        proxy_response(payload).inspect_err(|e| {
            tracing::warn!(route = %route.key, error = %e, "the function's answer is not a proxy response");
        })
    }
}

/// A Lambda proxy integration's answer: `statusCode` (200 when absent), `headers`,
/// `multiValueHeaders`, `body` (a string, else its JSON text) and `isBase64Encoded`. An
/// answer that is not a JSON object is taken as the body of a 200.
pub fn proxy_response(payload: Value) -> Result<WsResponse, String> {
    let mut response = streamgate_core::event::status(200);
    let Value::Object(map) = payload else {
        if !payload.is_null() {
            response.body = Some(aws_lambda_events::encodings::Body::Text(match payload {
                Value::String(s) => s,
                other => other.to_string(),
            }));
        }
        return Ok(response);
    };
    if let Some(code) = map.get("statusCode") {
        let code = code
            .as_i64()
            .or_else(|| code.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| format!("malformed Lambda proxy response: statusCode {code}"))?;
        response.status_code = code;
    }
    let mut add = |name: &str, value: &Value| -> Result<(), String> {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("malformed Lambda proxy response: header {name:?}"))?;
        let value = http::HeaderValue::from_str(&text)
            .map_err(|_| format!("malformed Lambda proxy response: header value {text:?}"))?;
        response.headers.append(name, value);
        Ok(())
    };
    if let Some(Value::Object(headers)) = map.get("headers") {
        for (k, v) in headers {
            add(k, v)?;
        }
    }
    if let Some(Value::Object(headers)) = map.get("multiValueHeaders") {
        for (k, values) in headers {
            for v in values.as_array().into_iter().flatten() {
                add(k, v)?;
            }
        }
    }
    let base64 = map.get("isBase64Encoded") == Some(&Value::Bool(true));
    response.body = match map.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if base64 => Some(aws_lambda_events::encodings::Body::Binary(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| "malformed Lambda proxy response: body is not base64".to_owned())?,
        )),
        Some(Value::String(s)) => Some(aws_lambda_events::encodings::Body::Text(s.clone())),
        Some(other) => Some(aws_lambda_events::encodings::Body::Text(other.to_string())),
    };
    Ok(response)
}

/// A REQUEST authorizer backed by a function: API Gateway answers 401 without calling it when
/// an identity source is missing; the function's policy allows (its `principalId` and
/// `context` then reach every event) or denies (403); an `Unauthorized` error is 401, any
/// other failure 500.
pub struct LambdaAuthorizer {
    /// The authorizer.
    pub def: AuthorizerDef,
    /// Its function's pool.
    pub pool: Arc<Pool>,
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/$connect`.
    pub method_arn: String,
}

#[async_trait]
impl Authorizer for LambdaAuthorizer {
    async fn authorize(&self, connect_event: &Value) -> AuthDecision {
        if !identity_present(&self.def.identity_source, connect_event) {
            return AuthDecision::Unauthorized;
        }
        let mut event = Map::new();
        event.insert("type".into(), json!("REQUEST"));
        event.insert("methodArn".into(), json!(self.method_arn));
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
        match self.pool.invoke(Value::Object(event)).await {
            Ok((policy, _)) => decide(&policy),
            Err(InvokeError::Function { message, .. }) if message == "Unauthorized" => {
                AuthDecision::Unauthorized
            }
            Err(e) => {
                tracing::warn!(authorizer = %self.def.name, error = %e, "the authorizer failed");
                AuthDecision::Error
            }
        }
    }
}

/// Whether every identity source (`route.request.header.X`,
/// `route.request.querystring.x`) is in the CONNECT event.
pub fn identity_present(sources: &[String], event: &Value) -> bool {
    sources.iter().all(|source| {
        if let Some(name) = source.strip_prefix("route.request.header.") {
            event["headers"]
                .as_object()
                .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case(name)))
        } else if let Some(name) = source.strip_prefix("route.request.querystring.") {
            event["queryStringParameters"].get(name).is_some()
        } else {
            true
        }
    })
}

/// An authorizer's policy: allowed when a statement allows `execute-api:Invoke` and none
/// denies it.
pub fn decide(policy: &Value) -> AuthDecision {
    let statements: Vec<&Value> = match &policy["policyDocument"]["Statement"] {
        Value::Array(s) => s.iter().collect(),
        Value::Object(_) => vec![&policy["policyDocument"]["Statement"]],
        _ => Vec::new(),
    };
    let effect = |e: &str| {
        statements.iter().any(|s| {
            s["Effect"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(e))
        })
    };
    let Some(principal) = policy["principalId"].as_str() else {
        return AuthDecision::Error;
    };
    if effect("Deny") || !effect("Allow") {
        return AuthDecision::Deny;
    }
    AuthDecision::Allow {
        principal_id: principal.to_owned(),
        context: policy["context"].as_object().cloned().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_responses_read_as_api_gateway_reads_them() {
        let r = proxy_response(json!({"statusCode": 403})).unwrap();
        assert_eq!(r.status_code, 403);
        let r = proxy_response(
            json!({"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chat"}, "body": "hi"}),
        )
        .unwrap();
        assert_eq!(r.headers["sec-websocket-protocol"], "chat");
        assert!(
            matches!(r.body, Some(aws_lambda_events::encodings::Body::Text(ref t)) if t == "hi")
        );
        let r = proxy_response(Value::Null).unwrap();
        assert_eq!(r.status_code, 200);
        assert!(proxy_response(json!({"statusCode": "x"})).is_err());
        assert!(proxy_response(json!({"headers": {"bad name": "x"}})).is_err());
    }

    #[test]
    fn policies_allow_deny_and_identity_sources() {
        let allow = json!({"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]}, "context": {"plan": "pro"}});
        assert!(
            matches!(decide(&allow), AuthDecision::Allow { ref principal_id, .. } if principal_id == "u")
        );
        let deny =
            json!({"principalId": "u", "policyDocument": {"Statement": [{"Effect": "Deny"}]}});
        assert_eq!(decide(&deny), AuthDecision::Deny);
        assert_eq!(decide(&json!({})), AuthDecision::Error);
        let event = json!({"headers": {"Auth": "x"}, "queryStringParameters": {"token": "t"}});
        assert!(identity_present(
            &[
                "route.request.header.auth".into(),
                "route.request.querystring.token".into()
            ],
            &event
        ));
        assert!(!identity_present(
            &["route.request.querystring.other".into()],
            &event
        ));
    }
}
