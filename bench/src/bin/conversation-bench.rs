//! Benchmark of conversations, stop requests and the Bedrock provider, through the real
//! `message` handler:
//!
//! - the time a message spends on its conversation (the claim, the history read, the turn
//!   written with the claim given back) against DynamoDB Local, beside the in-memory store;
//! - the time from `cancel` to the stopped answer's `done`, with each store;
//! - the first-token latency through the Bedrock provider (the AWS SDK, event-stream frames)
//!   beside the OpenAI-compatible provider (SSE), each against a loopback mock.
//!
//! `cargo run --release -p streamgate-bench --bin conversation-bench [RUNS]` (Markdown).

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a step that fails ends the run, saying where"
)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use streamgate_aws::DynamoConversations;
use streamgate_contract::{Function, Route, ServerFrame};
use streamgate_core::conversation::memory::MemoryConversations;
use streamgate_core::memory::{MemoryQuotas, MemoryStore};
use streamgate_core::{ChatApp, ChatSettings, ClientPush, ConversationStore, LlmProvider};
use streamgate_llm::{BedrockProvider, EchoProvider, OpenAiProvider, Timeouts};
use streamgate_tests::doubles::{PushBehaviour, RecordingPush};
use streamgate_tests::dynamodb_local::{DynamoDbLocal, create_conversations_table};
use streamgate_tests::message_event_with;
use streamgate_tests::mock_http::{MockServer, Reply, pause, text};
use streamgate_tests::sse::{OPENAI_DONE, OPENAI_STOP, openai_chunk};
use tokio::time::Instant;

type Event = streamgate_core::event::WsEvent;

fn event(route: Route, body: serde_json::Value, delivery: &str) -> Event {
    let mut e = message_event_with(body.to_string());
    e.request_context.request_id = Some(delivery.to_owned());
    e.request_context.route_key = Some(route.key().to_owned());
    e
}

/// An app posting through `push` to the answers of `llm`, its conversations in
/// `conversations`, the rest in memory.
fn app(
    push: Arc<dyn ClientPush>,
    llm: Arc<dyn LlmProvider>,
    conversations: Arc<dyn ConversationStore>,
    settings: ChatSettings,
) -> ChatApp {
    ChatApp {
        store: Arc::new(MemoryStore::new()),
        push,
        llm,
        quotas: Arc::new(MemoryQuotas::new()),
        conversations,
        settings,
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Median time of one message (echo, no delay) in a conversation of `runs` turns, replaying
/// the history each time.
async fn per_message(conversations: Arc<dyn ConversationStore>, runs: usize) -> Duration {
    let push = RecordingPush::new(PushBehaviour::Accept);
    let llm = Arc::new(EchoProvider::new(Duration::ZERO));
    let app = app(push.clone(), llm, conversations, ChatSettings::default());
    let mut conversation: Option<String> = None;
    let mut samples = Vec::new();
    for run in 0..=runs {
        let mut body = json!({"action": Route::Message.key(), "data": "what is on the menu today, and what would you pair with it?", "requestId": format!("m{run}")});
        if let Some(id) = &conversation {
            body["conversationId"] = id.clone().into();
        }
        let e = event(Route::Message, body, &format!("d{run}"));
        let started = Instant::now();
        app.handle(Function::Message, &e).await;
        if run > 0 {
            samples.push(started.elapsed());
        }
        conversation = push.frames().iter().rev().find_map(|f| match f {
            ServerFrame::Done {
                conversation_id, ..
            } => conversation_id.clone(),
            _ => None,
        });
    }
    percentile(&mut samples, 0.5)
}

/// `cancel` → `done` of a streaming answer (echo, 20 ms between words), `runs` times:
/// (median, max).
async fn cancel_to_done(
    conversations: Arc<dyn ConversationStore>,
    check: Duration,
    runs: usize,
    label: &str,
) -> (Duration, Duration) {
    let store: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let quotas = Arc::new(MemoryQuotas::new());
    let llm = Arc::new(EchoProvider::new(Duration::from_millis(20)));
    let mut settings = ChatSettings::default();
    settings.conversations.cancel_check = check;
    let words = vec!["word"; 200].join(" ");
    let mut samples = Vec::new();
    for run in 0..runs {
        let push = RecordingPush::new(PushBehaviour::Accept);
        // Every delivery its own (a repeated one would be recognised and not answered).
        let request_id = format!("{label}-{}-{run}", check.as_millis());
        let ask = event(
            Route::Message,
            json!({"action": Route::Message.key(), "data": words, "requestId": request_id}),
            &format!("ask-{request_id}"),
        );
        let stop = event(
            Route::Cancel,
            json!({"action": Route::Cancel.key(), "requestId": request_id}),
            &format!("stop-{request_id}"),
        );
        let app = ChatApp {
            store: store.clone(),
            quotas: quotas.clone(),
            ..app(
                push.clone(),
                llm.clone(),
                conversations.clone(),
                settings.clone(),
            )
        };
        let answering = app.handle(Function::Message, &ask);
        let stopping = async {
            while push.first_post_at().is_none() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // Part-way through, as a person would, at no fixed phase of the looks.
            let after = 100 + (run as u64 * 37) % 100;
            tokio::time::sleep(Duration::from_millis(after)).await;
            let asked = Instant::now();
            app.handle(Function::Conversations, &stop).await;
            loop {
                if push
                    .frames()
                    .iter()
                    .any(|f| matches!(f, ServerFrame::Done { .. }))
                {
                    return asked.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let (_, took) = tokio::join!(answering, stopping);
        samples.push(took);
    }
    let max = *samples.iter().max().unwrap();
    (percentile(&mut samples, 0.5), max)
}

/// First upstream token → first `chunk` frame: (p50, p99).
async fn first_token(
    provider: Arc<dyn LlmProvider>,
    server: &MockServer,
    reply: impl Fn() -> Reply,
    first_token_part: usize,
    runs: usize,
) -> (Duration, Duration) {
    let store: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let quotas = Arc::new(MemoryQuotas::new());
    let mut samples = Vec::new();
    for run in 0..runs {
        server.push_script(vec![reply()]);
        let push = RecordingPush::new(PushBehaviour::Accept);
        let e = event(
            Route::Message,
            json!({"action": Route::Message.key(), "data": "hi", "requestId": "f"}),
            &format!("f-{}-{run}", provider.name()),
        );
        let app = ChatApp {
            store: store.clone(),
            quotas: quotas.clone(),
            ..app(
                push.clone(),
                provider.clone(),
                Arc::new(MemoryConversations::new()),
                ChatSettings::default(),
            )
        };
        app.handle(Function::Message, &e).await;
        let token_at = server.sent_at(run)[first_token_part];
        let first_post = push.first_post_at().expect("a chunk was posted").into_std();
        samples.push(first_post.saturating_duration_since(token_at));
    }
    let p99 = percentile(&mut samples, 0.99);
    (percentile(&mut samples, 0.5), p99)
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let db = DynamoDbLocal::start().await;
    let client = db.client();
    create_conversations_table(&client, "conversations").await;
    let dynamo: Arc<dyn ConversationStore> =
        Arc::new(DynamoConversations::new(client, "conversations"));
    let memory: Arc<dyn ConversationStore> = Arc::new(MemoryConversations::new());

    println!("## Conversations, stop requests and Bedrock\n");
    println!(
        "The `message` handler (echo provider, in-process push) with each conversation store; DynamoDB Local (Java, on loopback) stands in for DynamoDB, so its times are an upper bound of the work and not of AWS's network.\n"
    );
    let in_memory = per_message(memory.clone(), runs).await;
    let in_dynamo = per_message(dynamo.clone(), runs).await;
    println!(
        "| per message, in a conversation ({runs} turns, history replayed) | median (ms) |\n|---|---:|"
    );
    println!("| in-memory conversations | {} |", ms(in_memory));
    println!(
        "| DynamoDB Local: claim, history `Query`, turn `TransactWriteItems` | {} |",
        ms(in_dynamo)
    );
    println!(
        "\nTime added by the conversation's reads and writes against DynamoDB Local: {} ms per message.\n",
        ms(in_dynamo.saturating_sub(in_memory))
    );

    let stops = 20;
    println!(
        "| `cancel` → `done` ({stops} answers stopped part-way) | look every | median (ms) | max (ms) |\n|---|---:|---:|---:|"
    );
    for (name, store) in [("in-memory", &memory), ("DynamoDB Local", &dynamo)] {
        for check in [Duration::from_millis(50), Duration::from_millis(100)] {
            let (p50, max) = cancel_to_done(store.clone(), check, stops, name).await;
            println!(
                "| {name} | {} ms | {} | {} |",
                check.as_millis(),
                ms(p50),
                ms(max)
            );
        }
    }

    let timeouts = Timeouts::default();
    let openai_server = MockServer::start(vec![]).await;
    let openai = Arc::new(OpenAiProvider::new(
        reqwest::Client::new(),
        &openai_server.url(),
        "m",
        None,
        timeouts,
    ));
    let openai_reply = || {
        let mut parts = vec![
            text(": keep-alive\n\n"),
            pause(20),
            text(&openai_chunk("Hello")),
        ];
        parts.extend((0..20).map(|_| text(&openai_chunk(" word"))));
        parts.extend([text(OPENAI_STOP), text(OPENAI_DONE)]);
        Reply::sse(parts)
    };
    let bedrock_server = MockServer::start(vec![]).await;
    let sdk =
        streamgate_local_services::loopback_sdk_config("AKIDBENCH", "bench-secret", "us-east-1");
    let bedrock = Arc::new(BedrockProvider::new(
        &sdk,
        Some(&bedrock_server.url()),
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        timeouts,
    ));
    let bedrock_reply = || {
        use streamgate_tests::bedrock::{delta, event as frame, stream};
        let mut parts = vec![
            frame("messageStart", json!({"role": "assistant"})),
            pause(20),
            delta("Hello"),
        ];
        parts.extend((0..20).map(|_| delta(" word")));
        parts.push(frame("messageStop", json!({"stopReason": "end_turn"})));
        stream(parts)
    };
    let (o50, o99) = first_token(openai, &openai_server, openai_reply, 1, runs).await;
    let (b50, b99) = first_token(bedrock, &bedrock_server, bedrock_reply, 1, runs).await;
    println!(
        "\n| first upstream token → first `chunk` frame ({runs} answers, loopback mock) | p50 (ms) | p99 (ms) |\n|---|---:|---:|"
    );
    println!(
        "| OpenAI-compatible (SSE, reqwest) | {} | {} |",
        ms(o50),
        ms(o99)
    );
    println!(
        "| Amazon Bedrock `ConverseStream` (event stream, AWS SDK, SigV4) | {} | {} |",
        ms(b50),
        ms(b99)
    );
}
