//! How API Gateway invokes a route's function, and the event an asynchronous invocation
//! delivers.
//!
//! A synchronous (proxy) integration makes API Gateway wait for the function, at most its
//! 29-second integration timeout: a longer answer gets the `Endpoint request timed out` frame
//! mid-stream. An asynchronous integration (`X-Amz-Invocation-Type: 'Event'`) hands the event
//! to Lambda's queue and returns at once; the function runs up to its own timeout, is never
//! retried (a retried answer would repeat its chunks), and nothing API Gateway says reaches
//! the client. The template and the local server both read [`Route::invocation`] and
//! [`CONTEXT_FIELDS`], so the event the function gets is the same in both.

use crate::access::CONTEXT_USER_ID;
use crate::routes::Route;

/// How API Gateway invokes a route's function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invocation {
    /// A Lambda proxy integration: API Gateway waits, up to its integration timeout.
    Synchronous,
    /// An event invocation: API Gateway returns at once; the function runs to its own timeout.
    Asynchronous,
}

impl Route {
    /// How API Gateway invokes this route's function. `$connect` must be synchronous (its
    /// answer decides the upgrade); `message` is asynchronous so answers may stream for longer
    /// than 29 s.
    pub const fn invocation(self) -> Invocation {
        match self {
            Route::Message => Invocation::Asynchronous,
            Route::Connect
            | Route::Disconnect
            | Route::History
            | Route::Conversations
            | Route::Cancel
            | Route::Default => Invocation::Synchronous,
        }
    }
}

/// One `requestContext` field of the asynchronous event, filled from an API Gateway context
/// variable. Keys are those of proxy events, so handlers read both alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextField {
    /// The key under `requestContext`.
    pub key: &'static str,
    /// The context variable (`$context.{variable}`).
    pub variable: &'static str,
    /// Whether the value is a JSON number (else a string).
    pub number: bool,
}

const fn text(key: &'static str) -> ContextField {
    ContextField {
        key,
        variable: key,
        number: false,
    }
}

const fn number(key: &'static str) -> ContextField {
    ContextField {
        key,
        variable: key,
        number: true,
    }
}

/// The `requestContext` of the asynchronous event: what `aws_lambda_events` requires
/// (`connectedAt`, `requestTimeEpoch`) and what the handlers read.
pub const CONTEXT_FIELDS: &[ContextField] = &[
    text("routeKey"),
    text("eventType"),
    text("messageId"),
    text("extendedRequestId"),
    text("requestTime"),
    text("stage"),
    number("connectedAt"),
    number("requestTimeEpoch"),
    text("requestId"),
    text("domainName"),
    text("connectionId"),
    text("apiId"),
];

/// `requestContext.identity.sourceIp`, the one identity field the event carries (a user
/// agent may hold quotes, which a mapping template cannot escape for JSON).
pub const SOURCE_IP_VARIABLE: &str = "identity.sourceIp";

/// The key of the one request template of an asynchronous integration, and the value its
/// template selection expression always yields (`\$default` selects it for every frame).
pub const REQUEST_TEMPLATE_KEY: &str = "$default";

/// The request template of an asynchronous integration (API Gateway's template language):
/// a JSON event with [`CONTEXT_FIELDS`], the source address, and the frame base64-encoded as
/// `body` with `isBase64Encoded: true` (so no character of the frame needs escaping).
pub fn request_template() -> String {
    let mut fields: Vec<String> = CONTEXT_FIELDS
        .iter()
        .map(|f| {
            if f.number {
                format!("\"{}\":$context.{}", f.key, f.variable)
            } else {
                format!("\"{}\":\"$context.{}\"", f.key, f.variable)
            }
        })
        .collect();
    fields.push(format!(
        "\"identity\":{{\"sourceIp\":\"$context.{SOURCE_IP_VARIABLE}\"}}"
    ));
    // The authorizer's principal and user (empty on an API without an authorizer): the
    // answer's quotas and logs need them as much as a proxy event's handler does.
    fields.push(format!(
        "\"authorizer\":{{\"principalId\":\"$context.authorizer.principalId\",\"{CONTEXT_USER_ID}\":\"$context.authorizer.{CONTEXT_USER_ID}\"}}"
    ));
    format!(
        "{{\"requestContext\":{{{}}},\"body\":\"$util.base64Encode($input.body)\",\"isBase64Encoded\":true}}",
        fields.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_json_once_its_variables_are_filled() {
        let mut filled =
            request_template().replace("$util.base64Encode($input.body)", "eyJhIjoxfQ==");
        // Longest names first, as a template engine reads `$context.requestTimeEpoch` whole.
        let mut fields = CONTEXT_FIELDS.to_vec();
        fields.sort_by_key(|f| std::cmp::Reverse(f.variable.len()));
        for f in fields {
            let value = if f.number { "1700000000000" } else { "x" };
            filled = filled.replace(&format!("$context.{}", f.variable), value);
        }
        filled = filled.replace(&format!("$context.{SOURCE_IP_VARIABLE}"), "192.0.2.1");
        filled = filled.replace("$context.authorizer.principalId", "user-1");
        filled = filled.replace(&format!("$context.authorizer.{CONTEXT_USER_ID}"), "user-1");
        let v: serde_json::Value = serde_json::from_str(&filled).expect(&filled);
        assert_eq!(v["requestContext"]["connectedAt"], 1_700_000_000_000_i64);
        assert_eq!(v["requestContext"]["identity"]["sourceIp"], "192.0.2.1");
        assert_eq!(v["isBase64Encoded"], true);
        assert_eq!(v["requestContext"]["authorizer"][CONTEXT_USER_ID], "user-1");
        assert!(!filled.contains('$'), "every variable is filled: {filled}");
    }

    #[test]
    fn only_the_message_route_is_asynchronous() {
        for r in Route::ALL {
            assert_eq!(
                r.invocation() == Invocation::Asynchronous,
                *r == Route::Message
            );
        }
    }
}
