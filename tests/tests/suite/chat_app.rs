//! The chat app the handler tests drive, always through `ChatApp::handle`: in-memory stores,
//! the echo provider and the default settings, each replaced as a test needs
//! (`ChatApp { llm: ..., ..chat_app(push) }`).

use std::sync::Arc;
use std::time::Duration;

use streamgate_core::conversation::memory::MemoryConversations;
use streamgate_core::memory::{MemoryQuotas, MemoryStore};
use streamgate_core::{ChatApp, ChatSettings, ClientPush, QuotaSettings, QuotaStore};
use streamgate_llm::EchoProvider;

/// An app posting through `push`, everything else in memory.
pub fn chat_app(push: Arc<dyn ClientPush>) -> ChatApp {
    ChatApp {
        store: Arc::new(MemoryStore::new()),
        push,
        llm: Arc::new(EchoProvider::new(Duration::ZERO)),
        quotas: Arc::new(MemoryQuotas::new()),
        conversations: Arc::new(MemoryConversations::new()),
        settings: ChatSettings::default(),
    }
}

/// An app posting through `push`, its quotas in `quotas` with at most `max_answers` streaming
/// at once per user, the echo waiting `word_delay` before each word.
pub fn capped_app(
    push: Arc<dyn ClientPush>,
    quotas: Arc<dyn QuotaStore>,
    max_answers: u32,
    word_delay: Duration,
) -> ChatApp {
    ChatApp {
        llm: Arc::new(EchoProvider::new(word_delay)),
        quotas,
        settings: ChatSettings {
            quotas: QuotaSettings {
                max_answers,
                ..QuotaSettings::default()
            },
            ..ChatSettings::default()
        },
        ..chat_app(push)
    }
}

/// A MESSAGE event from `user` (as the authorizer context carries it) on `connection`, with
/// the client's `request_id`, as API Gateway delivers it (its own request id, `delivery`).
pub fn message_event(
    user: &str,
    connection: &str,
    request_id: &str,
    delivery: &str,
) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
    let mut e = streamgate_tests::fixture_json("message");
    e["body"] = serde_json::json!({
        "action": streamgate_contract::Route::Message.key(),
        "data": "four words of input",
        "requestId": request_id,
    })
    .to_string()
    .into();
    e["requestContext"]["connectionId"] = serde_json::json!(connection);
    e["requestContext"]["requestId"] = serde_json::json!(delivery);
    e["requestContext"]["authorizer"] = serde_json::json!({"principalId": user, "userId": user});
    serde_json::from_value(e).unwrap()
}

/// Runs `app`'s `function` on every one of `events` at once; each is answered 200.
pub async fn handle_all(
    app: &ChatApp,
    function: streamgate_contract::Function,
    events: &[aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest],
) {
    let runs = events.iter().map(|e| app.handle(function, e));
    for response in futures::future::join_all(runs).await {
        assert_eq!(response.status_code, 200);
    }
}
