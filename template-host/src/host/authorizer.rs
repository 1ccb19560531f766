//! The template's `$connect` REQUEST authorizer, run by its function: [`LambdaAuthorizer`]
//! (the event is built by [`streamgate_emulator::events::authorizer_request`]), whether the
//! identity sources are there ([`identity_present`]) and what the returned policy decides
//! ([`decide`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use crate::runtime::pool::{InvokeError, Pool};
use crate::template::{AuthorizerDef, LocalApi, Pseudo};
use streamgate_contract::RouteKind;
use streamgate_emulator::events;
use streamgate_emulator::integration::{AuthDecision, Authorizer};

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

impl LambdaAuthorizer {
    /// The authorizer of `api`'s `$connect` route, if it has one, run by its function's pool;
    /// an authorizer whose function has no pool is refused (never a `$connect` let in
    /// unchecked).
    pub fn of_connect(
        api: &LocalApi,
        pools: &BTreeMap<String, Arc<Pool>>,
        pseudo: &Pseudo,
        api_id: &str,
    ) -> Result<Option<LambdaAuthorizer>, String> {
        let Some(def) = api
            .routes
            .iter()
            .find(|r| r.route.kind() == RouteKind::Connect)
            .and_then(|r| r.authorizer.clone())
        else {
            return Ok(None);
        };
        // The template reader puts the authorizer's function among the API's.
        let pool = pools.get(&def.function).cloned().ok_or_else(|| {
            format!(
                "the authorizer {} names the function {}, which is not served",
                def.name, def.function
            )
        })?;
        Ok(Some(LambdaAuthorizer {
            method_arn: format!(
                "arn:aws:execute-api:{}:{}:{api_id}/{}/$connect",
                pseudo.region, pseudo.account_id, api.stage
            ),
            def,
            pool,
        }))
    }
}

#[async_trait]
impl Authorizer for LambdaAuthorizer {
    async fn authorize(&self, connect_event: &Value) -> AuthDecision {
        if !identity_present(&self.def.identity_source, connect_event) {
            return AuthDecision::Unauthorized;
        }
        let event = events::authorizer_request(connect_event, &self.method_arn);
        match self.pool.invoke(event).await {
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
    use serde_json::json;

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
