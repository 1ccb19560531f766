//! Reading what handlers need from API Gateway WebSocket events.

use std::borrow::Cow;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use base64::Engine;

use crate::ports::Target;

/// The event type handlers receive.
pub type WsEvent = ApiGatewayWebsocketProxyRequest;
/// The response handlers return (its status decides `$connect`; other routes discard it).
pub type WsResponse = ApiGatewayProxyResponse;

/// A field the handler needs is missing from the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event has no requestContext.{0}")]
pub struct MissingField(pub &'static str);

/// The connection the event came from, and its management endpoint.
pub fn target(event: &WsEvent) -> Result<Target, MissingField> {
    let ctx = &event.request_context;
    Ok(Target {
        connection_id: ctx
            .connection_id
            .clone()
            .ok_or(MissingField("connectionId"))?,
        domain_name: ctx.domain_name.clone().ok_or(MissingField("domainName"))?,
        stage: ctx.stage.clone().ok_or(MissingField("stage"))?,
    })
}

/// The target of a MESSAGE event; `None` (logged) for a malformed one, which gets a 400.
pub fn message_target(event: &WsEvent) -> Option<Target> {
    target(event)
        .map_err(|e| tracing::error!(error = %e, "malformed MESSAGE event"))
        .ok()
}

/// The frame the client sent: the body as it is, or decoded when the event carries it
/// base64-encoded (as the asynchronous integration's template does). `None` when there is no
/// body, or it does not decode to UTF-8 text.
pub fn body(event: &WsEvent) -> Option<Cow<'_, str>> {
    let raw = event.body.as_deref()?;
    if !event.is_base64_encoded {
        return Some(Cow::Borrowed(raw));
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    String::from_utf8(bytes).ok().map(Cow::Owned)
}

/// API Gateway's id of this request.
pub fn request_id(event: &WsEvent) -> Option<&str> {
    event.request_context.request_id.as_deref()
}

/// The user the authorizer named (`requestContext.authorizer.userId`), if any.
pub fn user_id(event: &WsEvent) -> Option<&str> {
    event
        .request_context
        .authorizer
        .fields
        .get(streamgate_contract::access::CONTEXT_USER_ID)
        .and_then(|v| v.as_str())
        .filter(|u| !u.is_empty())
}

/// A response with this status and no body.
pub fn status(code: u16) -> WsResponse {
    let mut r = WsResponse::default();
    r.status_code = i64::from(code);
    r
}

/// A response with this status and a text body.
pub fn status_with_body(code: u16, body: impl Into<String>) -> WsResponse {
    let mut r = status(code);
    r.body = Some(Body::Text(body.into()));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_bodies_are_decoded() {
        let frame = r#"{"data":"héllo 'quoted' \"text\""}"#;
        let mut e = WsEvent::default();
        e.body = Some(frame.into());
        assert_eq!(body(&e).as_deref(), Some(frame));
        e.body = Some(base64::engine::general_purpose::STANDARD.encode(frame));
        e.is_base64_encoded = true;
        assert_eq!(body(&e).as_deref(), Some(frame));
        e.body = Some("not base64!".into());
        assert_eq!(body(&e), None);
        e.body = None;
        assert_eq!(body(&e), None);
    }
}
