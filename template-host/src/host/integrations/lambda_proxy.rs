//! `AWS_PROXY` to a function (the Lambda proxy integration): the event goes to the function's
//! pool as it is, and the function's answer is read as API Gateway reads a Lambda proxy
//! response ([`proxy_response`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::encodings::Body;
use base64::Engine;
use serde_json::Value;

use crate::runtime::pool::Pool;
use streamgate_emulator::api::ApiRoute;
use streamgate_emulator::integration::{Integration, IntegrationError, WsResponse};

/// A route integrated with a function through Lambda's proxy integration.
pub struct LambdaProxy {
    /// The function's pool.
    pub pool: Arc<Pool>,
}

#[async_trait]
impl Integration for LambdaProxy {
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, IntegrationError> {
        let pool = &self.pool;
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
            IntegrationError::Failed(e.to_string())
        })?;
        proxy_response(payload).inspect_err(|e| {
            tracing::warn!(route = %route.key, error = %e, "the function's answer is not a proxy response");
        })
    }
}

/// A Lambda proxy integration's answer: `statusCode` (200 when absent), `headers`,
/// `multiValueHeaders`, `body` (a string, else its JSON text) and `isBase64Encoded`. An
/// answer that is not a JSON object is taken as the body of a 200; one API Gateway cannot
/// read is [`IntegrationError::Malformed`].
pub fn proxy_response(payload: Value) -> Result<WsResponse, IntegrationError> {
    let malformed = |what: String| {
        IntegrationError::Malformed(format!("malformed Lambda proxy response: {what}"))
    };
    let mut response = WsResponse::default();
    response.status_code = 200;
    let Value::Object(map) = payload else {
        if !payload.is_null() {
            response.body = Some(Body::Text(match payload {
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
            .ok_or_else(|| malformed(format!("statusCode {code}")))?;
        response.status_code = code;
    }
    let mut add = |name: &str, value: &Value| -> Result<(), IntegrationError> {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| malformed(format!("header {name:?}")))?;
        let value = http::HeaderValue::from_str(&text)
            .map_err(|_| malformed(format!("header value {text:?}")))?;
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
        Some(Value::String(s)) if base64 => Some(Body::Binary(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| malformed("body is not base64".to_owned()))?,
        )),
        Some(Value::String(s)) => Some(Body::Text(s.clone())),
        Some(other) => Some(Body::Text(other.to_string())),
    };
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn proxy_responses_read_as_api_gateway_reads_them() {
        let r = proxy_response(json!({"statusCode": 403})).unwrap();
        assert_eq!(r.status_code, 403);
        let r = proxy_response(
            json!({"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chat"}, "body": "hi"}),
        )
        .unwrap();
        assert_eq!(r.headers["sec-websocket-protocol"], "chat");
        assert!(matches!(r.body, Some(Body::Text(ref t)) if t == "hi"));
        let r = proxy_response(Value::Null).unwrap();
        assert_eq!(r.status_code, 200);
        assert!(matches!(
            proxy_response(json!({"statusCode": "x"})),
            Err(IntegrationError::Malformed(ref m)) if m == "malformed Lambda proxy response: statusCode \"x\""
        ));
        assert!(proxy_response(json!({"headers": {"bad name": "x"}})).is_err());
    }
}
