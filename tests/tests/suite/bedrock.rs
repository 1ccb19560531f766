//! Amazon Bedrock `ConverseStream` through the AWS SDK against a mock on loopback writing
//! the event-stream frames: the answer streamed with its usage, the request signed for
//! `bedrock`, the conversation mapped to `system` and `messages`, each failure before and
//! during the stream mapped to the stable errors, and one `error` frame for an in-stream
//! exception.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use streamgate_contract::{ErrorCode, ServerFrame, Usage};
use streamgate_core::ports::{ChatMessage, Role};
use streamgate_core::{ChatApp, LlmError, LlmEvent, LlmProvider, LlmRequest};
use streamgate_llm::{BedrockProvider, Timeouts};
use streamgate_tests::bedrock::{answer, delta, error, event, exception, stream};
use streamgate_tests::doubles::{PushBehaviour, RecordingPush};
use streamgate_tests::message_event_with;
use streamgate_tests::mock_http::{MockServer, Reply};

const MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

fn provider(server: &MockServer) -> BedrockProvider {
    let sdk = streamgate_local_services::loopback_sdk_config(
        "AKIDBEDROCKTEST",
        "bedrock-test-secret",
        "eu-west-1",
    );
    BedrockProvider::new(
        &sdk,
        Some(&server.url()),
        MODEL,
        Timeouts {
            connect: Duration::from_secs(2),
            idle: Duration::from_secs(2),
        },
    )
}

async fn events(
    p: &BedrockProvider,
    request: &LlmRequest,
) -> Result<Vec<Result<LlmEvent, LlmError>>, LlmError> {
    Ok(p.stream(request).await?.collect().await)
}

#[tokio::test]
async fn an_answer_streams_with_its_usage_from_a_signed_request() {
    let server = MockServer::start(vec![stream(answer(&["Soup", " of the", " day"], 21, 4))]).await;
    let request = LlmRequest {
        system: Some("You are a waiter.".into()),
        messages: vec![
            ChatMessage {
                role: Role::User,
                text: "Hello".into(),
            },
            ChatMessage {
                role: Role::Assistant,
                text: "Hi!".into(),
            },
            ChatMessage {
                role: Role::User,
                text: "What is on the menu?".into(),
            },
        ],
        max_tokens: 64,
    };
    let got = events(&provider(&server), &request).await.unwrap();
    let got: Vec<_> = got.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        got,
        [
            LlmEvent::Delta("Soup".into()),
            LlmEvent::Delta(" of the".into()),
            LlmEvent::Delta(" day".into()),
            LlmEvent::Usage(Usage {
                input_tokens: 21,
                output_tokens: 4
            }),
        ]
    );
    let received = server.received();
    let r = &received[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"
    );
    let auth = r.header("authorization").expect("a signed request");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDBEDROCKTEST/"),
        "{auth}"
    );
    assert!(
        auth.contains("/eu-west-1/bedrock/aws4_request"),
        "signed for bedrock: {auth}"
    );
    assert!(!auth.contains("bedrock-test-secret"));
    assert_eq!(
        r.json(),
        json!({
            "messages": [
                {"role": "user", "content": [{"text": "Hello"}]},
                {"role": "assistant", "content": [{"text": "Hi!"}]},
                {"role": "user", "content": [{"text": "What is on the menu?"}]}
            ],
            "system": [{"text": "You are a waiter."}],
            "inferenceConfig": {"maxTokens": 64}
        })
    );
}

#[tokio::test]
async fn failures_before_the_stream_map_to_the_stable_errors() {
    type Expected = fn(&LlmError) -> bool;
    let cases: Vec<(Reply, Expected)> = vec![
        (
            error(
                403,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            ),
            |e| matches!(e, LlmError::Auth(_)),
        ),
        (
            error(
                429,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            ),
            |e| matches!(e, LlmError::RateLimited { .. }),
        ),
        (
            error(
                400,
                "ValidationException",
                "The provided model identifier is invalid.",
            ),
            |e| matches!(e, LlmError::Rejected(_)),
        ),
        (
            error(404, "ResourceNotFoundException", "Model not found."),
            |e| matches!(e, LlmError::Rejected(_)),
        ),
        (
            error(503, "ServiceUnavailableException", "Service unavailable."),
            |e| e.retryable(),
        ),
        (
            error(408, "ModelTimeoutException", "The model took too long."),
            |e| matches!(e, LlmError::Timeout(_)),
        ),
    ];
    for (reply, expected) in cases {
        let server = MockServer::start(vec![reply.clone()]).await;
        let request = LlmRequest::ask(None, "hi", 8);
        let e = match provider(&server).stream(&request).await {
            Err(e) => e,
            Ok(_) => panic!("{reply:?} streamed"),
        };
        assert!(expected(&e), "{reply:?} became {e:?}");
        assert!(
            !e.to_string().contains("access to the model"),
            "the message text stays out: {e}"
        );
    }
}

#[tokio::test]
async fn an_exception_during_the_stream_ends_it_with_a_typed_error() {
    for (kind, rate_limited) in [
        ("throttlingException", true),
        ("modelStreamErrorException", false),
        ("internalServerException", false),
    ] {
        let mut parts = vec![
            event("messageStart", json!({"role": "assistant"})),
            delta("Half"),
        ];
        parts.push(exception(kind, "something went wrong"));
        parts.push(delta(" never read"));
        let server = MockServer::start(vec![stream(parts)]).await;
        let got = events(&provider(&server), &LlmRequest::ask(None, "hi", 8))
            .await
            .unwrap();
        assert_eq!(got.len(), 2, "{kind}: {got:?}");
        assert_eq!(got[0], Ok(LlmEvent::Delta("Half".into())));
        let e = got[1].clone().unwrap_err();
        assert_eq!(
            matches!(e, LlmError::RateLimited { .. }),
            rate_limited,
            "{kind}: {e:?}"
        );
    }
}

#[tokio::test]
async fn the_message_handler_streams_bedrock_and_ends_an_in_stream_failure_with_one_error_frame() {
    let server = MockServer::start(vec![
        stream(answer(&["Tomato", " soup"], 9, 2)),
        stream(vec![
            delta("Par"),
            exception("modelStreamErrorException", "boom"),
        ]),
    ])
    .await;
    let push = RecordingPush::new(PushBehaviour::Accept);
    let app = ChatApp {
        llm: std::sync::Arc::new(provider(&server)),
        ..crate::chat_app::chat_app(push.clone())
    };
    for (n, data) in ["what is the soup?", "and the dessert?"].iter().enumerate() {
        let mut e = message_event_with(
            json!({"action": streamgate_contract::Route::Message.key(), "data": data, "requestId": format!("b{n}")}).to_string(),
        );
        e.request_context.request_id = Some(format!("apigw-b{n}"));
        app.handle(streamgate_contract::Function::Message, &e).await;
    }
    let frames = push.frames();
    let terminal: Vec<_> = frames.iter().filter(|f| f.is_terminal()).collect();
    assert_eq!(terminal.len(), 2, "{frames:?}");
    match terminal[0] {
        ServerFrame::Done { usage, .. } => assert_eq!(
            *usage,
            Some(Usage {
                input_tokens: 9,
                output_tokens: 2
            })
        ),
        other => panic!("{other:?}"),
    }
    match terminal[1] {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::LlmUnavailable),
        other => panic!("{other:?}"),
    }
    assert_eq!(push.answer(), "Tomato soupPar");
}

/// `streamgate-server --provider bedrock`: the environment's credentials and region, the
/// endpoint from `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` as any SDK reads it; a conversation's
/// second message reaches Bedrock with the first turn.
#[tokio::test]
async fn the_local_server_streams_bedrock_with_the_environments_credentials() {
    use streamgate_contract::Route;
    use streamgate_tests::local::{connect, next_json, send};
    use streamgate_tests::server_process::ServerProcess;
    let server = MockServer::start(vec![
        stream(answer(&["Tomato", " soup"], 9, 2)),
        stream(answer(&["Sorbet"], 15, 1)),
    ])
    .await;
    let (mut cmd, port) = ServerProcess::command();
    cmd.args(["--auth", "none", "--provider", "bedrock", "--model", MODEL])
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url())
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCALSERVER")
        .env("AWS_SECRET_ACCESS_KEY", "local-server-secret")
        .env_remove("AWS_PROFILE");
    let mut process = ServerProcess::start(cmd, port);
    process.until("provider: bedrock").await;
    let mut ws = connect(&format!("ws://127.0.0.1:{port}/dev")).await;
    let mut conversation: Option<String> = None;
    for (n, question) in ["soup?", "dessert?"].iter().enumerate() {
        let mut m =
            json!({"action": Route::Message.key(), "data": question, "requestId": format!("q{n}")});
        if let Some(id) = &conversation {
            m["conversationId"] = serde_json::Value::String(id.clone());
        }
        send(&mut ws, &m.to_string()).await;
        loop {
            let f = next_json(&mut ws).await;
            match f["type"].as_str() {
                Some("chunk") => continue,
                Some("done") => {
                    conversation = f["conversationId"].as_str().map(str::to_owned);
                    break;
                }
                _ => panic!("{f}"),
            }
        }
    }
    let received = server.received();
    assert_eq!(received.len(), 2);
    let auth = received[1].header("authorization").unwrap_or_default();
    assert!(auth.contains("Credential=AKIDLOCALSERVER/"), "{auth}");
    assert_eq!(
        received[1].json()["messages"],
        json!([
            {"role": "user", "content": [{"text": "soup?"}]},
            {"role": "assistant", "content": [{"text": "Tomato soup"}]},
            {"role": "user", "content": [{"text": "dessert?"}]}
        ])
    );
    let stderr = process.terminate().await;
    assert!(!stderr.contains("local-server-secret"));
    assert!(!process.output.join("\n").contains("local-server-secret"));
}
