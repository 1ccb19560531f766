//! Where a client's token is in a `$connect` event (API Gateway's REQUEST authorizer event or
//! the CONNECT event, which carry the same `headers` and `queryStringParameters`), and the
//! authorizer's answers.

use serde_json::{Value, json};
use streamgate_contract::access::{CONTEXT_USER_ID, TOKEN_QUERY_PARAMETER};

/// The token: `Authorization: Bearer TOKEN` (any case), else the `token` query parameter
/// (browsers cannot set headers on a WebSocket).
pub fn token_from_event(event: &Value) -> Option<&str> {
    let from_header = event["headers"].as_object().and_then(|headers| {
        headers.iter().find_map(|(name, value)| {
            if !name.eq_ignore_ascii_case("authorization") {
                return None;
            }
            let value = value.as_str()?.trim();
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim())
                .filter(|t| !t.is_empty())
        })
    });
    from_header.or_else(|| {
        event["queryStringParameters"][TOKEN_QUERY_PARAMETER]
            .as_str()
            .filter(|t| !t.is_empty())
    })
}

/// The policy that lets `user_id` in: `principalId` is the user, the context carries the
/// user id (strings only, as API Gateway requires).
pub fn allow(user_id: &str, method_arn: &str) -> Value {
    json!({
        "principalId": user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}]
        },
        "context": { CONTEXT_USER_ID: user_id }
    })
}

/// The policy that refuses a genuine token (API Gateway answers 403).
pub fn deny(principal: &str, method_arn: &str) -> Value {
    json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": method_arn}]
        }
    })
}

/// The error message that makes API Gateway answer 401.
pub const UNAUTHORIZED: &str = "Unauthorized";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_bearer_header_or_the_query() {
        let e = json!({"headers": {"authorization": "Bearer abc"}, "queryStringParameters": {"token": "q"}});
        assert_eq!(token_from_event(&e), Some("abc"));
        let e = json!({"headers": {"Authorization": "bearer   xyz "}});
        assert_eq!(token_from_event(&e), Some("xyz"));
        let e = json!({"headers": {"Authorization": "Basic abc"}, "queryStringParameters": {"token": "q"}});
        assert_eq!(token_from_event(&e), Some("q"));
        assert_eq!(
            token_from_event(&json!({"queryStringParameters": {"token": ""}})),
            None
        );
        assert_eq!(token_from_event(&json!({})), None);
        let p = allow("u1", "arn:x");
        assert_eq!(p["context"][CONTEXT_USER_ID], "u1");
        assert_eq!(p["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert_eq!(
            deny("u1", "arn:x")["policyDocument"]["Statement"][0]["Effect"],
            "Deny"
        );
    }
}
