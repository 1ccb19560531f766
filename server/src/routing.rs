//! Route selection with `$request.body.action`, as API Gateway does it.

use streamgate_contract::routes::api::ACTION_FIELD;
use streamgate_contract::{Route, RouteKind};

/// The value the selection expression yields for a frame: the `action` field, stringified
/// when it is not a string, `""` when missing; `None` when the frame is not a JSON object.
pub fn selection_value(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let object = value.as_object()?;
    Some(match object.get(ACTION_FIELD) {
        None => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    })
}

/// The route a frame goes to among `routes`: the action route whose key equals the value
/// exactly, else `$default`, else none (the client then gets `Forbidden`).
pub fn select(body: &str, routes: &[Route]) -> Option<Route> {
    let by_action = selection_value(body).and_then(|value| {
        routes
            .iter()
            .copied()
            .find(|r| r.kind() == RouteKind::Action && r.key() == value)
    });
    by_action.or_else(|| {
        routes
            .iter()
            .copied()
            .find(|r| r.kind() == RouteKind::Default)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(action: &str) -> String {
        format!(r#"{{"{ACTION_FIELD}": {action}, "data": "x"}}"#)
    }

    #[test]
    fn exact_match_stringified_values_and_missing_paths() {
        let all = Route::ALL;
        let key = Route::Message.key();
        assert_eq!(
            select(&body(&format!("\"{key}\"")), all),
            Some(Route::Message)
        );
        assert_eq!(
            select(&body(&format!("\"{}\"", key.to_uppercase())), all),
            Some(Route::Default)
        );
        assert_eq!(
            select(&body(&format!("\" {key}\"")), all),
            Some(Route::Default)
        );
        assert_eq!(selection_value(&body("42")).as_deref(), Some("42"));
        assert_eq!(selection_value(&body("true")).as_deref(), Some("true"));
        assert_eq!(
            selection_value(&body("{\"a\":1}")).as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(selection_value(r#"{"data":"x"}"#).as_deref(), Some(""));
        assert_eq!(selection_value("not json"), None);
        assert_eq!(selection_value("[1,2]"), None);
        // Special routes are never selected by the body.
        let special = format!("\"{}\"", Route::Connect.key());
        assert_eq!(select(&body(&special), all), Some(Route::Default));
    }

    #[test]
    fn without_default_unmatched_frames_have_no_route() {
        let no_default = [Route::Connect, Route::Disconnect, Route::Message];
        assert_eq!(select("not json", &no_default), None);
        assert_eq!(select(&body("\"dance\""), &no_default), None);
        let key = Route::Message.key();
        assert_eq!(
            select(&body(&format!("\"{key}\"")), &no_default),
            Some(Route::Message)
        );
    }
}
