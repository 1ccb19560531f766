//! The `@connections` management API: `POST`, `GET` and `DELETE /{stage}/@connections/{id}`,
//! with errors typed by `x-amzn-ErrorType` as the AWS SDKs expect.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::json;
use streamgate_contract::limits::{self, close};

use super::Gateway;
use super::http::{
    Body, BodyError, content_length, decode_segment, json_response, read_body, respond,
};
use crate::registry::PostError;
use crate::{clock, ids};

/// Why an `@connections` call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ManagementError {
    /// The registry's answer on the connection.
    Post(PostError),
    /// 403 `ForbiddenException`: an unsigned call, or a method the API has not.
    Forbidden,
    /// 400 `BadRequestException`: a malformed connection id or body.
    BadRequest,
}

impl From<PostError> for ManagementError {
    fn from(e: PostError) -> Self {
        ManagementError::Post(e)
    }
}

/// An `@connections` error, typed by `x-amzn-ErrorType` as the AWS SDKs expect.
fn management_error(e: impl Into<ManagementError>) -> Response<Body> {
    let (status, kind, message) = match e.into() {
        ManagementError::Post(PostError::Gone) => {
            (StatusCode::GONE, "GoneException", "The connection is gone")
        }
        ManagementError::Post(PostError::PayloadTooLarge) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            "Message too long",
        ),
        ManagementError::Post(PostError::Throttled) => (
            StatusCode::TOO_MANY_REQUESTS,
            "LimitExceededException",
            "Rate exceeded",
        ),
        ManagementError::Forbidden => (StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden"),
        ManagementError::BadRequest => (
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            "Invalid connectionId",
        ),
    };
    let mut r = json_response(status, json!({ "message": message }));
    r.headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(kind));
    r
}

impl Gateway {
    pub(super) async fn management(&self, req: Request<Incoming>, raw_id: &str) -> Response<Body> {
        if !req.headers().contains_key(header::AUTHORIZATION) {
            // API Gateway refuses unsigned calls.
            return management_error(ManagementError::Forbidden);
        }
        let Some(id) = decode_segment(raw_id).filter(|id| ids::is_well_formed(id)) else {
            return management_error(ManagementError::BadRequest);
        };
        match *req.method() {
            Method::POST => {
                let announced = content_length(req.headers());
                let body = match read_body(
                    req.into_body(),
                    announced,
                    limits::MESSAGE_PAYLOAD_MAX_BYTES,
                    self.config.body_read_timeout,
                )
                .await
                {
                    Ok(b) => b,
                    Err(BodyError::TooLarge) => {
                        return management_error(PostError::PayloadTooLarge);
                    }
                    Err(BodyError::TimedOut) => {
                        return json_response(
                            StatusCode::REQUEST_TIMEOUT,
                            json!({"message": "Request Timeout"}),
                        );
                    }
                    Err(BodyError::Broken) => return management_error(ManagementError::BadRequest),
                };
                let Ok(text) = String::from_utf8(body.to_vec()) else {
                    return management_error(ManagementError::BadRequest);
                };
                match self.registry.post(&id, text) {
                    Ok(()) => respond(StatusCode::OK, "application/json", Bytes::new()),
                    Err(e) => management_error(e),
                }
            }
            Method::GET => match self.registry.describe(&id) {
                Ok(d) => {
                    let mut identity = serde_json::Map::new();
                    identity.insert("sourceIp".into(), json!(d.source_ip));
                    if let Some(ua) = d.user_agent {
                        identity.insert("userAgent".into(), json!(ua));
                    }
                    json_response(
                        StatusCode::OK,
                        json!({
                            "connectedAt": clock::iso8601(d.connected_at),
                            "identity": identity,
                            "lastActiveAt": clock::iso8601(d.last_active_at),
                        }),
                    )
                }
                Err(e) => management_error(e),
            },
            Method::DELETE => match self.registry.close(&id, close::NORMAL) {
                Ok(()) => respond(StatusCode::NO_CONTENT, "application/json", Bytes::new()),
                Err(e) => management_error(e),
            },
            _ => management_error(ManagementError::Forbidden),
        }
    }
}
