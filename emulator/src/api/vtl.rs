//! Request templates of non-proxy integrations: the subset of API Gateway's template
//! language (VTL) that WebSocket event integrations use. A template is parsed once, when the
//! API is loaded, so one the emulator cannot render is named at start-up, never mid-request.
//!
//! Supported: `$context.{name}` and `$context.identity.{name}` (any request-context field
//! of the proxy event), `$input.body`, `$input.json('$')`, `$util.base64Encode($input.body)`
//! and `$util.escapeJavaScript($input.body)`; `$$`-free text is copied as is.

use base64::Engine;
use serde_json::Value;

/// A construct of a request template outside the subset the emulator renders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A directive (`#set`, `#if`, ...).
    #[error("request template directive {0:?}... is not supported")]
    Directive(String),
    /// `$context.` with no name after it.
    #[error("request template: `$context.` without a name")]
    UnnamedContext,
    /// A variable other than the supported ones.
    #[error("request template variable {0:?}... is not supported")]
    Variable(String),
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// A request-context field, by its path under `requestContext`.
    Context(Vec<String>),
    Body,
    BodyBase64,
    BodyEscaped,
}

/// A parsed request template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTemplate {
    pieces: Vec<Piece>,
}

const FIXED: &[(&str, Piece)] = &[
    ("$util.base64Encode($input.body)", Piece::BodyBase64),
    ("$util.escapeJavaScript($input.body)", Piece::BodyEscaped),
    ("$input.json('$')", Piece::Body),
    ("$input.json(\"$\")", Piece::Body),
    ("$input.body", Piece::Body),
];

impl RequestTemplate {
    /// Parses `source`; the error names the first construct outside the subset.
    pub fn parse(source: &str) -> Result<RequestTemplate, TemplateError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(at) = rest.find(['$', '#']) {
            text.push_str(&rest[..at]);
            rest = &rest[at..];
            if rest.starts_with('#') {
                let directive: String = rest.chars().take(12).collect();
                if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '{') {
                    return Err(TemplateError::Directive(directive));
                }
                text.push('#');
                rest = &rest[1..];
                continue;
            }
            if let Some((literal, piece)) = FIXED.iter().find(|(l, _)| rest.starts_with(l)) {
                flush(&mut text, &mut pieces);
                pieces.push(piece.clone());
                rest = &rest[literal.len()..];
                continue;
            }
            if let Some(after) = rest.strip_prefix("$context.") {
                let len = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                    .unwrap_or(after.len());
                let name = after[..len].trim_end_matches('.');
                if name.is_empty() {
                    return Err(TemplateError::UnnamedContext);
                }
                flush(&mut text, &mut pieces);
                pieces.push(Piece::Context(name.split('.').map(str::to_owned).collect()));
                rest = &after[name.len()..];
                continue;
            }
            let next = rest[1..].chars().next();
            if next.is_some_and(|c| c.is_ascii_alphabetic() || c == '{' || c == '!') {
                let shown: String = rest.chars().take(24).collect();
                return Err(TemplateError::Variable(shown));
            }
            text.push('$');
            rest = &rest[1..];
        }
        text.push_str(rest);
        flush(&mut text, &mut pieces);
        Ok(RequestTemplate { pieces })
    }

    /// Renders the template for a frame: `proxy_event` is the MESSAGE event a proxy
    /// integration would get (its `requestContext` fills `$context`), `body` the frame.
    pub fn render(&self, proxy_event: &Value, body: &str) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Body => out.push_str(body),
                Piece::BodyBase64 => {
                    out.push_str(&base64::engine::general_purpose::STANDARD.encode(body))
                }
                Piece::BodyEscaped => {
                    let quoted = Value::String(body.to_owned()).to_string();
                    out.push_str(&quoted[1..quoted.len() - 1]);
                }
                Piece::Context(path) => {
                    let mut at = &proxy_event["requestContext"];
                    for p in path {
                        at = &at[p.as_str()];
                    }
                    match at {
                        Value::String(s) => out.push_str(s),
                        Value::Null => {}
                        other => out.push_str(&other.to_string()),
                    }
                }
            }
        }
        out
    }
}

fn flush(text: &mut String, pieces: &mut Vec<Piece>) {
    if !text.is_empty() {
        pieces.push(Piece::Text(std::mem::take(text)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The `message` event API Gateway really sent (`tests/fixtures/apigw-websocket/`).
    fn proxy_event() -> Value {
        serde_json::from_str(include_str!(
            "../../../tests/fixtures/apigw-websocket/message.json"
        ))
        .unwrap()
    }

    #[test]
    fn the_contracts_template_renders_the_event_the_handlers_read() {
        let template =
            RequestTemplate::parse(&streamgate_contract::invocation::request_template()).unwrap();
        let proxy = proxy_event();
        let body = json!({"action": streamgate_contract::Route::Message.key(), "data": "héllo \""})
            .to_string();
        let rendered = template.render(&proxy, &body);
        let event: Value = serde_json::from_str(&rendered).expect(&rendered);
        let context = &proxy["requestContext"];
        for field in [
            "connectionId",
            "connectedAt",
            "requestTimeEpoch",
            "routeKey",
            "stage",
        ] {
            assert_eq!(event["requestContext"][field], context[field], "{field}");
        }
        assert!(event["requestContext"]["connectedAt"].is_i64());
        assert_eq!(
            event["requestContext"]["identity"]["sourceIp"],
            context["identity"]["sourceIp"]
        );
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(event["body"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, body.as_bytes());
    }

    #[test]
    fn a_context_value_api_gateway_did_not_send_renders_empty() {
        // VTL renders an unknown `$context` variable as nothing, as API Gateway does.
        let t = RequestTemplate::parse(r#"{"e":"$context.notAField","r":"$context.routeKey"}"#)
            .unwrap();
        let v: Value = serde_json::from_str(&t.render(&proxy_event(), "{}")).unwrap();
        assert_eq!(v["e"], "");
        assert_eq!(v["r"], proxy_event()["requestContext"]["routeKey"]);
    }

    #[test]
    fn escaping_and_raw_bodies() {
        let t = RequestTemplate::parse(r#"{"b":"$util.escapeJavaScript($input.body)","raw":$input.json('$'),"c":"$context.routeKey"}"#).unwrap();
        let v: Value = serde_json::from_str(&t.render(&proxy_event(), r#"{"q":"a\"b"}"#)).unwrap();
        assert_eq!(v["b"], r#"{"q":"a\"b"}"#);
        assert_eq!(v["raw"]["q"], "a\"b");
        assert_eq!(v["c"], proxy_event()["requestContext"]["routeKey"]);
    }

    #[test]
    fn constructs_outside_the_subset_are_named() {
        for bad in [
            "#set($x = 1)",
            "$util.urlEncode($input.body)",
            "$input.params('x')",
            "${x}",
        ] {
            let e = RequestTemplate::parse(bad).unwrap_err();
            assert!(e.to_string().contains("not supported"), "{bad}: {e}");
        }
        assert!(RequestTemplate::parse("costs $5 # of items").is_ok());
    }
}
