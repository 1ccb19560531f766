//! The providers against mock servers that speak the exact wire formats, failures included.

use std::time::Duration;

use futures::StreamExt;
use streamgate_contract::Usage;
use streamgate_core::{ApiKey, LlmError, LlmEvent, LlmProvider, LlmRequest};
use streamgate_llm::{AnthropicProvider, OpenAiProvider, Timeouts};
use streamgate_tests::mock_http::{MockServer, Part, Reply, pause, text};
use streamgate_tests::sse::{OPENAI_DONE, OPENAI_STOP, anthropic_event, openai_chunk};

const KEY: &str = "sk-test-0123456789abcdef";

fn request() -> LlmRequest {
    LlmRequest::ask(Some("You are a waiter.".into()), "What is on the menu?", 64)
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        idle: Duration::from_millis(300),
    }
}

fn openai(server: &MockServer) -> OpenAiProvider {
    OpenAiProvider::new(
        reqwest::Client::new(),
        &server.url(),
        "gpt-test",
        ApiKey::new(KEY),
        timeouts(),
    )
}

fn anthropic(server: &MockServer) -> AnthropicProvider {
    AnthropicProvider::new(
        reqwest::Client::new(),
        &server.url(),
        "claude-test",
        ApiKey::new(KEY),
        timeouts(),
    )
}

/// All events of one attempt; the error, if the stream ended with one.
async fn run(p: &dyn LlmProvider) -> Result<(String, Option<Usage>, Option<LlmError>), LlmError> {
    let mut stream = p.stream(&request()).await?;
    let (mut text, mut usage, mut error) = (String::new(), None, None);
    while let Some(item) = stream.next().await {
        match item {
            Ok(LlmEvent::Delta(d)) => text.push_str(&d),
            Ok(LlmEvent::Usage(u)) => usage = Some(u),
            Err(e) => {
                assert!(error.is_none(), "nothing follows an error");
                error = Some(e);
            }
        }
    }
    Ok((text, usage, error))
}

const ROLE: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n";
const NULL_CONTENT: &str = "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null},\"finish_reason\":null}]}\n\n";
const USAGE: &str = "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":9,\"total_tokens\":21}}\n\n";

#[tokio::test]
async fn openai_normal_stream_with_usage() {
    let server = MockServer::start(vec![Reply::sse(vec![
        text(ROLE),
        text(NULL_CONTENT),
        text(&openai_chunk("Today we have")),
        pause(20),
        text(&openai_chunk(" a mushroom risotto.")),
        text(OPENAI_STOP),
        text(USAGE),
        text(OPENAI_DONE),
    ])])
    .await;
    let (answer, usage, error) = run(&openai(&server)).await.unwrap();
    assert_eq!(answer, "Today we have a mushroom risotto.");
    assert_eq!(
        usage,
        Some(Usage {
            input_tokens: 12,
            output_tokens: 9
        })
    );
    assert_eq!(error, None);

    let req = &server.received()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = req.json();
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "What is on the menu?");
}

#[tokio::test]
async fn openai_stream_without_usage_or_final_blank_line() {
    // A broken-off usage chunk, and llama.cpp's `[DONE]` with no blank line after it.
    let server = MockServer::start(vec![Reply::sse(vec![
        text(&openai_chunk("hi")),
        text(OPENAI_STOP),
        text("data: [DONE]"),
    ])])
    .await;
    let (answer, usage, error) = run(&openai(&server)).await.unwrap();
    assert_eq!((answer.as_str(), usage, error), ("hi", None, None));
}

#[tokio::test]
async fn openai_stream_cut_before_done_is_an_error() {
    let server = MockServer::start(vec![Reply::sse(vec![text(&openai_chunk("partial"))])]).await;
    let (answer, _, error) = run(&openai(&server)).await.unwrap();
    assert_eq!(answer, "partial");
    assert!(
        matches!(error, Some(LlmError::Unavailable { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn openai_mid_stream_errors_with_string_and_integer_codes() {
    let openai_style = "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}\n\n";
    let vllm_style = "data: {\"error\":{\"message\":\"engine died\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}\n\n";
    let server = MockServer::start(vec![
        // `[DONE]` after the error: a parser that skipped the error would end cleanly.
        Reply::sse(vec![
            text(&openai_chunk("a")),
            text(openai_style),
            text(OPENAI_DONE),
        ]),
        Reply::sse(vec![
            text(&openai_chunk("b")),
            text(vllm_style),
            text(OPENAI_DONE),
        ]),
    ])
    .await;
    let p = openai(&server);
    let (answer, _, error) = run(&p).await.unwrap();
    assert_eq!(answer, "a");
    assert!(
        matches!(error, Some(LlmError::RateLimited { .. })),
        "{error:?}"
    );
    let (answer, _, error) = run(&p).await.unwrap();
    assert_eq!(answer, "b");
    assert!(
        matches!(&error, Some(e @ LlmError::Unavailable { .. }) if e.retryable()),
        "{error:?}"
    );
    assert!(
        error
            .unwrap()
            .to_string()
            .contains("InternalServerError/500")
    );
}

#[tokio::test]
async fn llama_cpp_error_field() {
    let server = MockServer::start(vec![Reply::sse(vec![
        text(&openai_chunk("x")),
        text(
            "error: {\"code\":500,\"message\":\"slot unavailable\",\"type\":\"server_error\"}\n\n",
        ),
        text(OPENAI_DONE),
    ])])
    .await;
    let (_, _, error) = run(&openai(&server)).await.unwrap();
    assert!(
        matches!(&error, Some(LlmError::Unavailable { .. })),
        "{error:?}"
    );
    assert!(error.unwrap().to_string().contains("server_error"));
}

#[tokio::test]
async fn openai_http_errors_are_typed_and_never_carry_the_key() {
    let leaky = |code: &str| serde_json::json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "type": "invalid_request_error", "param": null, "code": code}});
    let server = MockServer::start(vec![
        Reply::json(401, leaky("invalid_api_key")),
        Reply::json(429, leaky("rate_limit_exceeded")).header("retry-after", "2"),
        Reply::json(429, leaky("rate_limit_exceeded")).header("retry-after-ms", "150"),
        Reply::json(500, leaky("server_error")),
        Reply::json(400, leaky("context_length_exceeded")),
    ])
    .await;
    let p = openai(&server);
    let errors: Vec<LlmError> =
        futures::future::join_all((0..5).map(|_| async { run(&p).await.unwrap_err() })).await;
    let mut errors = errors;
    // Requests may interleave; sort by kind for the assertions.
    errors.sort_by_key(|e| format!("{e:?}"));
    for e in &errors {
        assert!(!e.to_string().contains(KEY), "the key leaked into {e}");
        assert!(!format!("{e:?}").contains(KEY), "the key leaked into {e:?}");
    }
    assert!(errors.iter().any(|e| matches!(e, LlmError::Auth(_))));
    assert!(errors.iter().any(|e| matches!(e, LlmError::Rejected(_))));
    assert!(errors.iter().any(|e| matches!(
        e,
        LlmError::Unavailable {
            retryable: true,
            ..
        }
    )));
    let waits: Vec<Option<Duration>> = errors
        .iter()
        .filter(|e| matches!(e, LlmError::RateLimited { .. }))
        .map(|e| e.retry_after())
        .collect();
    assert_eq!(waits.len(), 2);
    assert!(waits.contains(&Some(Duration::from_secs(2))));
    assert!(waits.contains(&Some(Duration::from_millis(150))));
}

#[tokio::test]
async fn a_stall_past_the_idle_timeout_is_a_timeout_and_closes_the_request() {
    let server = MockServer::start(vec![Reply::sse(vec![
        text(&openai_chunk("slow")),
        Part::Stall,
    ])])
    .await;
    let started = std::time::Instant::now();
    let (answer, _, error) = run(&openai(&server)).await.unwrap();
    assert_eq!(answer, "slow");
    assert!(matches!(error, Some(LlmError::Timeout(_))), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.wait_closed_early(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn no_response_headers_within_the_idle_timeout_is_a_timeout() {
    // A listener that accepts connections (the kernel's backlog) but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let p = OpenAiProvider::new(reqwest::Client::new(), &url, "m", None, timeouts());
    let err = p.stream(&request()).await.err().expect("a timeout");
    assert!(matches!(err, LlmError::Timeout(_)), "{err:?}");
    drop(listener);
}

#[tokio::test]
async fn connection_refused_is_retryable_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let p = OpenAiProvider::new(reqwest::Client::new(), &url, "m", None, timeouts());
    let err = p.stream(&request()).await.err().expect("an error");
    assert!(
        matches!(
            err,
            LlmError::Unavailable {
                retryable: true,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn anthropic_normal_stream_with_pings_and_unknown_events() {
    use serde_json::json;
    let server = MockServer::start(vec![Reply::sse(vec![
        text(&anthropic_event("message_start", json!({"type":"message_start","message":{"id":"m1","type":"message","role":"assistant","content":[],"model":"claude-test","usage":{"input_tokens":25,"output_tokens":1}}}))),
        text(&anthropic_event("content_block_start", json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}))),
        text(&anthropic_event("ping", json!({"type":"ping"}))),
        text(&anthropic_event("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}))),
        text(&anthropic_event("future_event_type", json!({"type":"future_event_type","x":1}))),
        text(&anthropic_event("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}))),
        text(&anthropic_event("content_block_stop", json!({"type":"content_block_stop","index":0}))),
        text(&anthropic_event("message_delta", json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}))),
        text(&anthropic_event("message_stop", json!({"type":"message_stop"}))),
    ])])
    .await;
    let (answer, usage, error) = run(&anthropic(&server)).await.unwrap();
    assert_eq!(answer, "Hello there");
    assert_eq!(
        usage,
        Some(Usage {
            input_tokens: 25,
            output_tokens: 15
        })
    );
    assert_eq!(error, None);
    let req = &server.received()[0];
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.header("x-api-key"), Some(KEY));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(req.header("authorization"), None);
    let body = req.json();
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["system"], "You are a waiter.");
}

#[tokio::test]
async fn anthropic_error_event_mid_stream() {
    use serde_json::json;
    let server = MockServer::start(vec![Reply::sse(vec![
        text(&anthropic_event("message_start", json!({"type":"message_start","message":{"usage":{"input_tokens":3}}}))),
        text(&anthropic_event("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}))),
        text(&anthropic_event("error", json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}))),
        text(&anthropic_event("message_stop", json!({"type":"message_stop"}))),
    ])])
    .await;
    let (answer, _, error) = run(&anthropic(&server)).await.unwrap();
    assert_eq!(answer, "Hi");
    assert!(
        matches!(&error, Some(e @ LlmError::Unavailable { .. }) if e.retryable()),
        "{error:?}"
    );
    assert!(error.unwrap().to_string().contains("overloaded_error"));
}

#[tokio::test]
async fn anthropic_http_errors() {
    let body = |ty: &str| serde_json::json!({"type":"error","error":{"type":ty,"message":"m"}});
    let cases = [
        (Reply::json(401, body("authentication_error")), "auth"),
        (
            Reply::json(429, body("rate_limit_error")).header("retry-after", "3"),
            "rate",
        ),
        (Reply::json(500, body("api_error")), "unavailable"),
        (Reply::json(529, body("overloaded_error")), "unavailable"),
        (Reply::json(413, body("request_too_large")), "rejected"),
    ];
    for (reply, kind) in cases {
        let server = MockServer::start(vec![reply]).await;
        let err = run(&anthropic(&server)).await.unwrap_err();
        let ok = match kind {
            "auth" => matches!(err, LlmError::Auth(_)),
            "rate" => {
                matches!(err, LlmError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3))
            }
            "unavailable" => matches!(
                err,
                LlmError::Unavailable {
                    retryable: true,
                    ..
                }
            ),
            _ => matches!(err, LlmError::Rejected(_)),
        };
        assert!(ok, "{kind}: {err:?}");
    }
}

#[tokio::test]
async fn anthropic_stream_cut_before_message_stop_is_an_error() {
    let server = MockServer::start(vec![Reply::sse(vec![text(&anthropic_event(
        "content_block_delta",
        serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}),
    ))])])
    .await;
    let (_, _, error) = run(&anthropic(&server)).await.unwrap();
    assert!(
        matches!(error, Some(LlmError::Unavailable { .. })),
        "{error:?}"
    );
}
