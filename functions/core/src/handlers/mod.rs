//! The four handlers of the chat API, and [`ChatApp`], the one dispatch from a contract
//! function to its handler (used by Lambda, the local server and the tests alike).

mod connection;
mod conversations;
mod default;
mod message;
mod stream;

use std::sync::Arc;

use streamgate_contract::{Function, Route};

use crate::conversation::ConversationStore;
use crate::event::{self, WsEvent, WsResponse};
use crate::ports::{ClientPush, ConnectionStore, LlmProvider, QuotaStore};
use crate::settings::ChatSettings;

pub use connection::{connect, connection_record, disconnect};
pub use conversations::conversation_action;
pub use default::{default, unknown_action_frame};
pub use message::{llm_error_frame, message};

/// All the handlers with all their dependencies: what the local server hosts.
#[derive(Clone)]
pub struct ChatApp {
    /// Connection records.
    pub store: Arc<dyn ConnectionStore>,
    /// Frames to clients.
    pub push: Arc<dyn ClientPush>,
    /// The model.
    pub llm: Arc<dyn LlmProvider>,
    /// Per-user quotas.
    pub quotas: Arc<dyn QuotaStore>,
    /// Conversations and their turns.
    pub conversations: Arc<dyn ConversationStore>,
    /// Settings.
    pub settings: ChatSettings,
}

impl ChatApp {
    /// Runs the handler of `function` on `event`.
    pub async fn handle(&self, function: Function, event: &WsEvent) -> WsResponse {
        match function {
            Function::Connect => {
                connect(
                    event,
                    self.store.as_ref(),
                    self.quotas.as_ref(),
                    &self.settings,
                )
                .await
            }
            Function::Disconnect => {
                disconnect(event, self.store.as_ref(), self.quotas.as_ref()).await
            }
            Function::Message => {
                message(
                    event,
                    self.push.as_ref(),
                    self.store.as_ref(),
                    self.llm.as_ref(),
                    self.quotas.as_ref(),
                    self.conversations.as_ref(),
                    &self.settings,
                )
                .await
            }
            Function::Conversations => {
                let route = event
                    .request_context
                    .route_key
                    .as_deref()
                    .and_then(Route::from_key)
                    .filter(|r| r.function() == Function::Conversations);
                let Some(route) = route else {
                    tracing::error!("the conversations function got another route's event");
                    return event::status(500);
                };
                conversation_action(
                    route,
                    event,
                    self.push.as_ref(),
                    self.store.as_ref(),
                    self.conversations.as_ref(),
                )
                .await
            }
            Function::Default => default(event, self.push.as_ref(), self.store.as_ref()).await,
            // No route reaches the authorizer (`Route::function` never names it): a host
            // that asks for it is told so, as a failed integration.
            Function::Authorize => {
                tracing::error!("the authorizer is not a route's function");
                event::status(500)
            }
        }
    }
}

/// The span every handler runs in: its function, route, API Gateway's request id
/// (`apiRequestId`; Lambda's own is the runtime span's `requestId`), the user and the
/// connection. Field names are camelCase, as Lambda's own log fields.
fn span(name: &'static str, event: &WsEvent) -> tracing::Span {
    tracing::info_span!(
        "handler",
        function = name,
        route = event.request_context.route_key.as_deref().unwrap_or("-"),
        apiRequestId = event::request_id(event).unwrap_or("-"),
        userId = event::user_id(event).unwrap_or("-"),
        connectionId = event
            .request_context
            .connection_id
            .as_deref()
            .unwrap_or("-"),
    )
}
