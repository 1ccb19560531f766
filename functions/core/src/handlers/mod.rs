//! The chat API's handlers, each a function of the app ([`ChatApp`]) and the event, and
//! [`ChatApp::handle`], the one dispatch from a contract function to its handler (used by
//! Lambda, the local server and the tests alike).

mod connection;
mod conversations;
mod default;
mod inbound;
mod message;
mod pages;
mod stream;

use std::sync::Arc;

use streamgate_contract::Function;

use crate::conversation::ConversationStore;
use crate::event::{self, WsEvent, WsResponse};
use crate::outbox::Outbox;
use crate::ports::{ClientPush, ConnectionStore, LlmProvider, QuotaStore, Target};
use crate::settings::ChatSettings;

pub use connection::connection_record;
pub use default::unknown_action_frame;
pub use message::llm_error_frame;

/// All the handlers with all their dependencies: what the local server hosts. Each handler
/// takes the app and the event; [`ChatApp::handle`] is the one way in.
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
            Function::Connect => connection::connect(self, event).await,
            Function::Disconnect => connection::disconnect(self, event).await,
            Function::Message => message::message(self, event).await,
            Function::Conversations => conversations::conversations(self, event).await,
            Function::Default => default::default(self, event).await,
            // No route reaches the authorizer (`Route::function` never names it): a host
            // that asks for it is told so, as a failed integration.
            Function::Authorize => {
                tracing::error!("the authorizer is not a route's function");
                event::status(500)
            }
        }
    }

    /// The outbox of a handler posting to `target` (`settings.post_attempts` tries at a
    /// throttled post).
    fn outbox<'a>(&'a self, target: &'a Target) -> Outbox<'a> {
        Outbox::new(
            self.push.as_ref(),
            self.store.as_ref(),
            target,
            &self.settings,
        )
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
