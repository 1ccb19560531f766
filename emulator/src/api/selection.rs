//! Route selection as API Gateway does it: the route selection expression
//! (`$request.body.action`, or any `$request.body.{path}`) evaluated on the frame parsed as
//! JSON, then an exact match on an action route's key, else `$default`.

use streamgate_contract::RouteKind;
use streamgate_contract::routes::api::ROUTE_SELECTION_EXPRESSION;

use super::ApiRoute;

/// A parsed route selection expression: the path into the frame's JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionExpression {
    path: Vec<String>,
}

impl Default for SelectionExpression {
    /// The contract's expression (`$request.body.action`).
    fn default() -> Self {
        SelectionExpression::parse(ROUTE_SELECTION_EXPRESSION)
            .expect("the contract's selection expression parses")
    }
}

impl SelectionExpression {
    /// Parses `$request.body.a.b` (or `${request.body.a.b}`); anything else is an expression
    /// the emulator does not evaluate, named in the error.
    pub fn parse(expression: &str) -> Result<SelectionExpression, UnsupportedSelection> {
        let trimmed = expression.trim();
        let inner = trimmed
            .strip_prefix("${")
            .and_then(|s| s.strip_suffix('}'))
            .or_else(|| trimmed.strip_prefix('$'))
            .ok_or_else(|| unsupported(expression))?;
        let path = inner
            .strip_prefix("request.body.")
            .ok_or_else(|| unsupported(expression))?;
        let path: Vec<String> = path.split('.').map(str::to_owned).collect();
        if path.iter().any(|p| {
            p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }) {
            return Err(unsupported(expression));
        }
        Ok(SelectionExpression { path })
    }

    /// The value the expression yields for a frame: the field, stringified when it is not a
    /// string, `""` when missing; `None` when the frame is not a JSON object.
    pub fn evaluate(&self, body: &str) -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        value.as_object()?;
        let mut at = &value;
        for part in &self.path {
            match at.get(part) {
                Some(v) => at = v,
                None => return Some(String::new()),
            }
        }
        Some(match at {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// The route a frame goes to among `routes`: the action route whose key equals the value
    /// exactly, else `$default`, else none (the client then gets `Forbidden`).
    pub fn select<'a>(&self, body: &str, routes: &'a [ApiRoute]) -> Option<&'a ApiRoute> {
        let by_action = self.evaluate(body).and_then(|value| {
            routes
                .iter()
                .find(|r| r.kind() == RouteKind::Action && r.key == value)
        });
        by_action.or_else(|| routes.iter().find(|r| r.kind() == RouteKind::Default))
    }
}

fn unsupported(expression: &str) -> UnsupportedSelection {
    UnsupportedSelection(expression.to_owned())
}

/// A route selection expression the emulator does not evaluate (only
/// `$request.body.{path}` is).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route selection expression {0:?}: only $request.body.{{path}} is evaluated")]
pub struct UnsupportedSelection(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use streamgate_contract::Route;
    use streamgate_contract::routes::api::ACTION_FIELD;

    fn body(action: &str) -> String {
        format!(r#"{{"{ACTION_FIELD}": {action}, "data": "x"}}"#)
    }

    fn key_of(selected: Option<&ApiRoute>) -> Option<&str> {
        selected.map(|r| r.key.as_str())
    }

    #[test]
    fn exact_match_stringified_values_and_missing_paths() {
        let all = ApiRoute::contract_routes();
        let expr = SelectionExpression::default();
        let key = Route::Message.key();
        let select = |b: &str| key_of(expr.select(b, &all)).map(str::to_owned);
        assert_eq!(select(&body(&format!("\"{key}\""))).as_deref(), Some(key));
        assert_eq!(
            select(&body(&format!("\"{}\"", key.to_uppercase()))).as_deref(),
            Some(crate::api::reserved::DEFAULT)
        );
        assert_eq!(
            select(&body(&format!("\" {key}\""))).as_deref(),
            Some(crate::api::reserved::DEFAULT)
        );
        assert_eq!(expr.evaluate(&body("42")).as_deref(), Some("42"));
        assert_eq!(expr.evaluate(&body("true")).as_deref(), Some("true"));
        assert_eq!(
            expr.evaluate(&body("{\"a\":1}")).as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(expr.evaluate(r#"{"data":"x"}"#).as_deref(), Some(""));
        assert_eq!(expr.evaluate("not json"), None);
        assert_eq!(expr.evaluate("[1,2]"), None);
        // Special routes are never selected by the body.
        let special = format!("\"{}\"", Route::Connect.key());
        assert_eq!(
            select(&body(&special)).as_deref(),
            Some(crate::api::reserved::DEFAULT)
        );
    }

    #[test]
    fn without_default_unmatched_frames_have_no_route() {
        let no_default: Vec<ApiRoute> = ApiRoute::contract_routes()
            .into_iter()
            .filter(|r| r.kind() != RouteKind::Default)
            .collect();
        let expr = SelectionExpression::default();
        assert!(expr.select("not json", &no_default).is_none());
        assert!(expr.select(&body("\"dance\""), &no_default).is_none());
        let key = Route::Message.key();
        assert_eq!(
            key_of(expr.select(&body(&format!("\"{key}\"")), &no_default)),
            Some(key)
        );
    }

    #[test]
    fn nested_paths_and_the_braced_form() {
        let expr = SelectionExpression::parse("${request.body.meta.op}").unwrap();
        assert_eq!(
            expr.evaluate(r#"{"meta":{"op":"join"}}"#).as_deref(),
            Some("join")
        );
        assert_eq!(expr.evaluate(r#"{"meta":1}"#).as_deref(), Some(""));
        for bad in [
            "$request.header.x",
            "action",
            "$request.body.",
            "$context.routeKey",
        ] {
            assert!(SelectionExpression::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            SelectionExpression::parse("action").map_err(|e| e.to_string()),
            Err(
                r#"route selection expression "action": only $request.body.{path} is evaluated"#
                    .to_owned()
            )
        );
    }
}
