//! The chat app the handler tests drive, always through `ChatApp::handle`: in-memory stores,
//! the echo provider and the default settings, each replaced as a test needs
//! (`ChatApp { llm: ..., ..chat_app(push) }`).

use std::sync::Arc;
use std::time::Duration;

use streamgate_core::conversation::memory::MemoryConversations;
use streamgate_core::memory::{MemoryQuotas, MemoryStore};
use streamgate_core::{ChatApp, ChatSettings, ClientPush};
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
