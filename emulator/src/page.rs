//! The browser test page, served at `/`.

use serde_json::{Value, json};
use streamgate_contract::RouteKind;

use crate::api::ApiRoute;

/// The page (self-contained HTML, CSS and JavaScript).
pub const HTML: &str = include_str!("page.html");

/// What the page reads from `/streamgate.json`: the local URL and the actions it offers.
pub fn config(host: &str, stage: &str, routes: &[ApiRoute]) -> Value {
    let actions: Vec<&str> = routes
        .iter()
        .filter(|r| r.kind() == RouteKind::Action)
        .map(|r| r.key.as_str())
        .collect();
    json!({
        "url": format!("ws://{host}/{stage}"),
        "stage": stage,
        "actions": actions,
    })
}
