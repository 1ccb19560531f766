//! `message` end to end: a mock OpenAI-compatible server → the real provider → the handler
//! → a recording push.

use std::sync::Arc;
use std::time::Duration;

use streamgate_contract::{ErrorCode, Function, ServerFrame};
use streamgate_core::coalesce::CoalesceSettings;
use streamgate_core::handlers::connection_record;
use streamgate_core::retry::RetryPolicy;
use streamgate_core::{ApiKey, ChatApp, ChatSettings, ConnectionStore, LlmProvider};
use streamgate_llm::{OpenAiProvider, Timeouts};
use streamgate_tests::doubles::{GuardedStore, PushBehaviour, RecordingPush};
use streamgate_tests::mock_http::{MockServer, Part, Reply, pause, text};
use streamgate_tests::sse::{OPENAI_DONE, OPENAI_STOP, openai_chunk, openai_usage};
use streamgate_tests::{fixture_event, message_event_with};

use crate::chat_app::chat_app;

fn provider(server: &MockServer) -> OpenAiProvider {
    OpenAiProvider::new(
        reqwest::Client::new(),
        &server.url(),
        "m",
        ApiKey::new("sk-test"),
        Timeouts {
            connect: Duration::from_secs(2),
            idle: Duration::from_secs(2),
        },
    )
}

fn settings() -> ChatSettings {
    ChatSettings {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
        },
        ..ChatSettings::default()
    }
}

fn message_event(data: &str) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
    message_event_with(
        serde_json::json!({"action": streamgate_contract::Route::Message.key(), "data": data, "requestId": "c-1"})
            .to_string(),
    )
}

/// A store holding the sender's record, as after `$connect`.
async fn store_with_sender() -> Arc<GuardedStore> {
    let store = GuardedStore::new(Function::Message);
    let mut record = connection_record(&fixture_event("connect"), Duration::from_secs(60)).unwrap();
    record.connection_id = "R1kmxc2VNjMCFIA=".into();
    store.inner.put(&record).await.unwrap();
    Arc::new(store)
}

/// The app of one answer: posting through `push`, the connection records in `store`, the
/// model `llm`.
fn app(
    push: &Arc<RecordingPush>,
    store: Arc<GuardedStore>,
    llm: impl LlmProvider + 'static,
    settings: ChatSettings,
) -> ChatApp {
    ChatApp {
        store,
        llm: Arc::new(llm),
        settings,
        ..chat_app(push.clone())
    }
}

fn terminal_frames(frames: &[ServerFrame]) -> usize {
    frames.iter().filter(|f| f.is_terminal()).count()
}

#[tokio::test]
async fn a_long_answer_arrives_whole_in_order_in_few_posts() {
    // 1,000 tokens, streamed in bursts with short gaps, as a real model does.
    let tokens: Vec<String> = (0..1000).map(|i| format!(" tok{i}")).collect();
    let mut parts = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        parts.push(text(&openai_chunk(t)));
        if i % 50 == 49 {
            parts.push(pause(10));
        }
    }
    parts.extend([
        text(OPENAI_STOP),
        text(&openai_usage(12, 1000)),
        text(OPENAI_DONE),
    ]);
    let server = MockServer::start(vec![Reply::sse(parts)]).await;
    let push = RecordingPush::new(PushBehaviour::Accept);
    let store = store_with_sender().await;
    let started = std::time::Instant::now();
    app(&push, store.clone(), provider(&server), settings())
        .handle(Function::Message, &message_event("tell me a long story"))
        .await;
    let elapsed = started.elapsed();

    let frames = push.frames();
    assert_eq!(
        push.answer(),
        tokens.concat(),
        "the chunks concatenate to the whole answer, in order"
    );
    assert_eq!(terminal_frames(&frames), 1, "exactly one terminal frame");
    match frames.last().unwrap() {
        ServerFrame::Done {
            request_id, usage, ..
        } => {
            assert_eq!(request_id, "c-1");
            assert_eq!(usage.map(|u| u.output_tokens), Some(1000));
        }
        other => panic!("the last frame is {other:?}"),
    }
    // Coalescing: at most one frame per window, plus one per byte budget, plus the edges.
    let c = CoalesceSettings::default();
    let bytes = tokens.concat().len();
    let bound =
        elapsed.as_millis() as usize / c.window.as_millis() as usize + bytes / c.max_bytes + 3;
    let chunks = frames.len() - 1;
    println!(
        "1,000-token answer: {chunks} chunk frames ({bytes} bytes) in {elapsed:?}; bound {bound}"
    );
    assert!(
        chunks <= bound,
        "{chunks} chunk frames for {bytes} bytes in {elapsed:?} (bound {bound})"
    );
    assert!(chunks < 100, "not one post per token: {chunks}");
}

#[tokio::test]
async fn gone_mid_answer_cancels_the_upstream_request_and_deletes_the_record() {
    let mut parts = vec![];
    for i in 0..5 {
        parts.push(text(&openai_chunk(&format!(" part{i}"))));
        parts.push(pause(80));
    }
    parts.push(Part::Stall);
    let server = MockServer::start(vec![Reply::sse(parts)]).await;
    let push = RecordingPush::new(PushBehaviour::GoneAfter(2));
    let store = store_with_sender().await;
    let started = std::time::Instant::now();
    app(&push, store.clone(), provider(&server), settings())
        .handle(Function::Message, &message_event("hi"))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the handler stopped at once: {:?}",
        started.elapsed()
    );
    server.wait_closed_early(Duration::from_secs(1)).await;
    assert_eq!(push.posts().len(), 2, "nothing is posted after the 410");
    assert!(
        store.inner.is_empty(),
        "the gone connection's record is deleted"
    );
}

#[tokio::test]
async fn retries_before_the_first_delta_then_answers() {
    let server = MockServer::start(vec![
        Reply::json(503, serde_json::json!({"error": {"message": "busy", "type": "server_error", "code": "overloaded"}}))
            .header("retry-after-ms", "20"),
        // Opens, then fails before any text: still safe to retry.
        Reply::sse(vec![text("data: {\"error\":{\"message\":\"x\",\"type\":\"server_error\",\"code\":502}}\n\n")]),
        Reply::sse(vec![text(&openai_chunk("Hello")), text(OPENAI_STOP), text(OPENAI_DONE)]),
    ])
    .await;
    let push = RecordingPush::new(PushBehaviour::Accept);
    app(
        &push,
        store_with_sender().await,
        provider(&server),
        settings(),
    )
    .handle(Function::Message, &message_event("hi"))
    .await;
    assert_eq!(server.received().len(), 3);
    assert_eq!(push.answer(), "Hello");
    assert!(matches!(
        push.frames().last(),
        Some(ServerFrame::Done { usage: None, .. })
    ));
}

#[tokio::test]
async fn no_retry_once_text_reached_the_client() {
    let server = MockServer::start(vec![Reply::sse(vec![
        text(&openai_chunk("Half an ans")),
        pause(100),
        text("data: {\"error\":{\"message\":\"x\",\"type\":\"server_error\",\"code\":500}}\n\n"),
    ])])
    .await;
    server.otherwise(Reply::sse(vec![
        text(&openai_chunk("SECOND ATTEMPT")),
        text(OPENAI_STOP),
        text(OPENAI_DONE),
    ]));
    let push = RecordingPush::new(PushBehaviour::Accept);
    app(
        &push,
        store_with_sender().await,
        provider(&server),
        settings(),
    )
    .handle(Function::Message, &message_event("hi"))
    .await;
    assert_eq!(server.received().len(), 1, "no second attempt");
    let frames = push.frames();
    assert_eq!(
        push.answer(),
        "Half an ans",
        "what was received is flushed before the error"
    );
    assert_eq!(terminal_frames(&frames), 1);
    match frames.last().unwrap() {
        ServerFrame::Error(e) => {
            assert_eq!(e.code, ErrorCode::LlmUnavailable);
            assert_eq!(e.request_id.as_deref(), Some("c-1"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn provider_failures_become_stable_error_codes_without_secrets() {
    let cases = [
        (Reply::json(401, serde_json::json!({"error": {"message": "Incorrect API key provided: sk-test", "type": "invalid_request_error", "code": "invalid_api_key"}})), ErrorCode::LlmAuth, 1),
        (Reply::json(400, serde_json::json!({"error": {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}})), ErrorCode::LlmRejected, 1),
        (Reply::json(429, serde_json::json!({"error": {"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}})).header("retry-after-ms", "5"), ErrorCode::LlmRateLimited, 3),
        (Reply::sse(vec![Part::Stall]), ErrorCode::LlmTimeout, 3),
    ];
    for (reply, code, attempts) in cases {
        let server = MockServer::start(vec![]).await;
        server.otherwise(reply);
        let push = RecordingPush::new(PushBehaviour::Accept);
        let mut s = settings();
        if code == ErrorCode::LlmTimeout {
            s.retry.max_delay = Duration::from_millis(10);
        }
        let p = OpenAiProvider::new(
            reqwest::Client::new(),
            &server.url(),
            "m",
            ApiKey::new("sk-test"),
            Timeouts {
                connect: Duration::from_secs(1),
                idle: Duration::from_millis(200),
            },
        );
        app(&push, store_with_sender().await, p, s)
            .handle(Function::Message, &message_event("hi"))
            .await;
        assert_eq!(server.received().len(), attempts, "{code:?}: attempts");
        let frames = push.frames();
        assert_eq!(frames.len(), 1, "{code:?}");
        match &frames[0] {
            ServerFrame::Error(e) => {
                assert_eq!(e.code, code);
                assert!(!e.error.contains("sk-test"));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn throttled_posts_are_retried_in_order() {
    let server = MockServer::start(vec![Reply::sse(vec![
        text(&openai_chunk("a")),
        pause(60),
        text(&openai_chunk("b")),
        text(OPENAI_STOP),
        text(OPENAI_DONE),
    ])])
    .await;
    let push = RecordingPush::new(PushBehaviour::ThrottleFirst(1));
    app(
        &push,
        store_with_sender().await,
        provider(&server),
        settings(),
    )
    .handle(Function::Message, &message_event("hi"))
    .await;
    assert_eq!(push.answer(), "ab");
    assert_eq!(terminal_frames(&push.frames()), 1);
}

/// An answer the client reads too slowly: chunk posts stay throttled past the retry budget.
async fn too_slow(throttle: usize) -> std::sync::Arc<RecordingPush> {
    let server = MockServer::start(vec![Reply::sse(vec![
        text(&openai_chunk("a")),
        pause(60),
        text(&openai_chunk("b")),
        text(OPENAI_STOP),
        text(OPENAI_DONE),
    ])])
    .await;
    let push = RecordingPush::new(PushBehaviour::ThrottleAfter {
        accept: 1,
        throttle,
    });
    app(
        &push,
        store_with_sender().await,
        provider(&server),
        settings(),
    )
    .handle(Function::Message, &message_event("hi"))
    .await;
    push
}

#[tokio::test]
async fn a_client_too_slow_for_its_answer_gets_client_too_slow() {
    // The chunk's tries run out; the terminal frame's first try is throttled, its second
    // gets through.
    let push = too_slow(settings().post_attempts as usize + 1).await;
    let frames = push.frames();
    match frames.last() {
        Some(ServerFrame::Error(e)) => {
            assert_eq!(e.code, ErrorCode::ClientTooSlow);
            assert_eq!(e.code.as_str(), "client_too_slow");
        }
        other => panic!("the request ends with client_too_slow: {other:?}"),
    }
    assert_eq!(terminal_frames(&frames), 1);
    assert_eq!(
        push.disconnects(),
        0,
        "the client was told; its connection stays"
    );
}

#[tokio::test]
async fn a_client_that_cannot_take_even_the_error_frame_is_disconnected() {
    let push = too_slow(usize::MAX).await;
    assert_eq!(terminal_frames(&push.frames()), 0);
    assert_eq!(
        push.disconnects(),
        1,
        "the connection is closed, so the client does not wait for an answer that will not come"
    );
}
