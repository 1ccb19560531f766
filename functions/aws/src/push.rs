//! Frames to clients through API Gateway's `@connections` management API.

use std::collections::HashMap;
use std::sync::Mutex;
use streamgate_sync::Locked;

use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::config::http::HttpResponse;
use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use streamgate_core::{ClientPush, PushError, Target};

/// Where the management endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointMode {
    /// `{scheme}://{domainName}/{stage}` from each event (API Gateway's own domain).
    FromEvent {
        /// `https` in AWS, `http` against the local server.
        scheme: &'static str,
    },
    /// A fixed endpoint (custom domains, or a management endpoint elsewhere).
    Fixed(String),
}

/// The `@connections` API through the AWS SDK. SDK clients are built once per endpoint and
/// reused. The SDK does not retry: whether to post again is the handler's decision (it backs
/// off on throttling, and a blind retry of a post could deliver a frame twice).
#[derive(Debug)]
pub struct ApiGatewayPush {
    config: aws_config::SdkConfig,
    mode: EndpointMode,
    clients: Mutex<HashMap<String, Client>>,
}

impl ApiGatewayPush {
    /// A push over `config` (credentials, region) to the endpoints `mode` names.
    pub fn new(config: aws_config::SdkConfig, mode: EndpointMode) -> ApiGatewayPush {
        ApiGatewayPush {
            config,
            mode,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The management endpoint of a target.
    pub fn endpoint(&self, to: &Target) -> String {
        match &self.mode {
            EndpointMode::FromEvent { scheme } => {
                format!("{scheme}://{}/{}", to.domain_name, to.stage)
            }
            EndpointMode::Fixed(url) => url.trim_end_matches('/').to_owned(),
        }
    }

    fn client(&self, to: &Target) -> Client {
        let endpoint = self.endpoint(to);
        let mut clients = self.clients.locked();
        clients
            .entry(endpoint.clone())
            .or_insert_with(|| {
                let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&self.config)
                    .endpoint_url(endpoint)
                    .retry_config(RetryConfig::disabled())
                    .build();
                Client::from_conf(conf)
            })
            .clone()
    }
}

/// Maps an SDK error to a push error by its `x-amzn-ErrorType` code, else its HTTP status.
fn push_error<E>(e: SdkError<E, HttpResponse>) -> PushError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    match (e.code(), status) {
        (Some("GoneException"), _) | (_, Some(410)) => PushError::Gone,
        (Some("PayloadTooLargeException"), _) | (_, Some(413)) => PushError::PayloadTooLarge,
        (Some("LimitExceededException"), _) | (_, Some(429)) => PushError::Throttled,
        (Some("ForbiddenException"), _) | (_, Some(403)) => PushError::Forbidden,
        (Some("BadRequestException"), _) | (_, Some(400)) => PushError::BadRequest,
        _ => PushError::Other(crate::describe(&e)),
    }
}

#[async_trait]
impl ClientPush for ApiGatewayPush {
    async fn post(&self, to: &Target, data: &str) -> Result<(), PushError> {
        self.client(to)
            .post_to_connection()
            .connection_id(&to.connection_id)
            .data(Blob::new(data.as_bytes()))
            .send()
            .await
            .map_err(push_error)?;
        Ok(())
    }

    async fn disconnect(&self, to: &Target) -> Result<(), PushError> {
        self.client(to)
            .delete_connection()
            .connection_id(&to.connection_id)
            .send()
            .await
            .map_err(push_error)?;
        Ok(())
    }
}
