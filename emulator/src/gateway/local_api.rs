//! A local AWS API served on the gateway's port, as one router the URL table joins: it
//! says which requests are its own (method, path, `X-Amz-Target`) and answers them once
//! their body is read. Secrets Manager is one ([`super::secrets_manager`]); a Lambda API, a
//! Bedrock Runtime or a queue is another implementation given to
//! [`GatewayBuilder::local_api`](super::GatewayBuilder::local_api), with no new row in the
//! table. Every call passes the local-caller check first (a `Host` that cannot rebind, this
//! run's session token).

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, Response};

use super::http::Body;

/// The part of a request a local API claims it by (its body is not read yet).
#[derive(Debug, Clone, Copy)]
pub struct AwsRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path, still percent-encoded.
    pub path: &'a str,
    /// `X-Amz-Target`, which names the operation of a JSON-protocol API.
    pub target: Option<&'a str>,
}

/// The body size a local API reads by default (the JSON-protocol APIs' requests are small).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// One local AWS API.
#[async_trait]
pub trait LocalApi: Send + Sync {
    /// The API's name, for logs.
    fn name(&self) -> &'static str;

    /// Whether `request` is a call of this API. The URL table asks it, so it decides from
    /// the request alone (no state, no I/O).
    fn claims(&self, request: &AwsRequest<'_>) -> bool;

    /// The most bytes a request's body may have (a longer one reaches
    /// [`serve`](LocalApi::serve) empty).
    fn body_limit(&self) -> usize {
        DEFAULT_BODY_LIMIT
    }

    /// Answers a call this API claimed, its body read.
    async fn serve(&self, request: Request<Bytes>) -> Response<Body>;
}
