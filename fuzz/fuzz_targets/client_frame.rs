//! A client's text frame on the chat API: route selection (`$request.body.action`, and
//! expressions a template may give) and the `message` request parser. Neither may panic, and
//! whatever they answer must be one of the API's routes or a typed error frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamgate_contract::{MessageRequest, ServerFrame};
use streamgate_emulator::api::{ApiRoute, SelectionExpression};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let routes = ApiRoute::contract_routes();
    if let Some(route) = SelectionExpression::default().select(text, &routes) {
        assert!(routes.iter().any(|r| r.key == route.key));
    }
    // The first line as an expression, the rest as the body.
    if let Some((expression, body)) = text.split_once('\n')
        && let Ok(selection) = SelectionExpression::parse(expression)
    {
        let _ = selection.evaluate(body);
        let _ = selection.select(body, &routes);
    }
    match MessageRequest::parse(Some(text)) {
        Ok(request) => assert!(!request.data.is_empty()),
        Err(frame) => {
            let json = ServerFrame::Error(frame).to_json();
            assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
        }
    }
});
