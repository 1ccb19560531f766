//! The `$connect` authorizer function: the bearer token from the `Authorization` header or the
//! `token` query parameter, checked against the issuer's keys (cached across warm
//! invocations); an Allow policy naming the user, `Unauthorized` (401), a Deny policy (403),
//! or a failure (500) when the issuer's keys are out of reach. The token never reaches a log.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use streamgate_auth::request::{UNAUTHORIZED, allow, deny, token_from_event};
use streamgate_auth::{JwtSettings, OidcKeySource, Verdict, Verifier};
use streamgate_contract::Function;

use crate::env_var;

/// What the authorizer answers for `event` (API Gateway's REQUEST authorizer event).
pub async fn authorize(verifier: &Verifier, event: &Value) -> Result<Value, lambda_runtime::Error> {
    let method_arn = event["methodArn"].as_str().unwrap_or("*");
    match verifier.verify(token_from_event(event)).await {
        Ok(identity) => {
            tracing::info!(user_id = %identity.user_id, "allowed");
            Ok(allow(&identity.user_id, method_arn))
        }
        Err(reason) => {
            tracing::info!(reason = reason.as_str(), "refused");
            match reason.verdict() {
                Verdict::Unauthorized => Err(UNAUTHORIZED.into()),
                Verdict::Forbidden => Ok(deny("refused", method_arn)),
                Verdict::Failed => Err(reason.to_string().into()),
            }
        }
    }
}

/// Starts the authorizer and serves invocations until the runtime stops it.
pub async fn main() -> Result<(), lambda_runtime::Error> {
    crate::init_tracing();
    let metrics = crate::init_metrics();
    let function = Function::Authorize.name();
    let verifier = match JwtSettings::from_lookup(&env_var)
        .map_err(|e| e.to_string())
        .and_then(|settings| {
            let source = OidcKeySource::new(&settings.issuer).map_err(|e| e.to_string())?;
            Ok(Verifier::new(settings, Arc::new(source)))
        }) {
        Ok(v) => Arc::new(v),
        Err(e) => {
            tracing::error!(function, error = %e, "cannot start");
            return Err(e.into());
        }
    };
    tracing::info!(function, issuer = %verifier.settings().issuer, "started");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (verifier, metrics) = (verifier.clone(), metrics.clone());
        async move {
            let answer = authorize(&verifier, &event.payload).await;
            metrics.flush();
            answer
        }
    }))
    .await
}
