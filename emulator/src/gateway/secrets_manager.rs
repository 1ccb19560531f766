//! Secrets Manager (`GetSecretValue`) as a [`LocalApi`]: `POST /` with an `X-Amz-Target` of
//! `secretsmanager.*`, answered from the values given to the server (a template's functions
//! read their keys by ARN, unchanged).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use streamgate_local_services::SecretStore;

use super::http::{Body, respond};
use super::local_api::{AwsRequest, LocalApi};

/// The Secrets Manager calls a server answers from its store.
pub struct SecretsManager(pub Arc<SecretStore>);

#[async_trait]
impl LocalApi for SecretsManager {
    fn name(&self) -> &'static str {
        "secretsmanager"
    }

    fn claims(&self, request: &AwsRequest<'_>) -> bool {
        *request.method == Method::POST
            && request.path.split('/').all(str::is_empty)
            && request
                .target
                .is_some_and(|t| t.starts_with("secretsmanager."))
    }

    async fn serve(&self, request: Request<Bytes>) -> Response<Body> {
        let target = request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (status, answer) = self.0.answer(target, request.body());
        respond(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            "application/x-amz-json-1.1",
            answer.to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(method: Method, path: &str, target: Option<&str>) -> bool {
        SecretsManager(Arc::default()).claims(&AwsRequest {
            method: &method,
            path,
            target,
        })
    }

    #[test]
    fn it_claims_secrets_manager_calls_on_the_root_only() {
        let get = Some("secretsmanager.GetSecretValue");
        assert!(claims(Method::POST, "/", get));
        assert!(claims(Method::POST, "//", get));
        assert!(!claims(Method::GET, "/", get));
        assert!(!claims(Method::POST, "/dev", get));
        assert!(!claims(
            Method::POST,
            "/",
            Some("DynamoDB_20120810.GetItem")
        ));
        assert!(!claims(Method::POST, "/", None));
    }

    #[tokio::test]
    async fn it_answers_from_the_store() {
        let store = SecretStore::new(
            [(
                "arn:aws:secretsmanager:r:1:secret:k-AbCdEf".to_owned(),
                "v".to_owned(),
            )]
            .into(),
        );
        let request = Request::builder()
            .method(Method::POST)
            .uri("/")
            .header("x-amz-target", "secretsmanager.GetSecretValue")
            .body(Bytes::from_static(br#"{"SecretId":"k"}"#))
            .expect("a request");
        let answer = SecretsManager(Arc::new(store)).serve(request).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
}
