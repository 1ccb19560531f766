//! Benchmark: time from the first upstream token to the first `chunk` frame, through the
//! real OpenAI-compatible provider and the `message` handler, against a loopback mock.
//!
//! `cargo run --release -p streamgate-tests --bin first-chunk-latency [RUNS]`

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a step that fails ends the run, saying where"
)]

use std::sync::Arc;

use streamgate_contract::Function;
use streamgate_core::conversation::memory::MemoryConversations;
use streamgate_core::memory::{MemoryQuotas, MemoryStore};
use streamgate_core::{ChatApp, ChatSettings, LlmProvider};
use streamgate_llm::{OpenAiProvider, Timeouts};
use streamgate_tests::doubles::{PushBehaviour, RecordingPush};
use streamgate_tests::message_event_with;
use streamgate_tests::mock_http::{MockServer, Reply, pause, text};
use streamgate_tests::sse::{OPENAI_DONE, OPENAI_STOP, openai_chunk};

fn reply() -> Reply {
    let mut parts = vec![
        text(": keep-alive\n\n"),
        pause(20),
        text(&openai_chunk("Hello")),
    ];
    for _ in 0..20 {
        parts.push(text(&openai_chunk(" word")));
    }
    parts.push(text(OPENAI_STOP));
    parts.push(text(OPENAI_DONE));
    Reply::sse(parts)
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let server = MockServer::start(vec![]).await;
    let provider: Arc<dyn LlmProvider> = Arc::new(OpenAiProvider::new(
        reqwest::Client::new(),
        &server.url(),
        "m",
        None,
        Timeouts::default(),
    ));
    let store = Arc::new(MemoryStore::new());
    let settings = ChatSettings::default();
    let event = message_event_with(r#"{"data":"hi"}"#);
    let mut samples = Vec::with_capacity(runs);
    for run in 0..runs {
        // The keep-alive comment opens the body; the first token follows 20 ms later.
        server.push_script(vec![reply()]);
        let push = RecordingPush::new(PushBehaviour::Accept);
        let app = ChatApp {
            store: store.clone(),
            push: push.clone(),
            llm: provider.clone(),
            quotas: Arc::new(MemoryQuotas::new()),
            conversations: Arc::new(MemoryConversations::new()),
            settings: settings.clone(),
        };
        app.handle(Function::Message, &event).await;
        // Piece 0 is the comment; piece 1 the first token.
        let token_at = server.sent_at(run)[1];
        let first_post = push.first_post_at().expect("a chunk was posted").into_std();
        samples.push(first_post.saturating_duration_since(token_at));
    }
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    println!(
        "first upstream token -> first chunk frame over {runs} runs: p50 {:?}, p99 {:?}, max {:?}",
        pct(0.5),
        pct(0.99),
        samples.last().unwrap()
    );
}
