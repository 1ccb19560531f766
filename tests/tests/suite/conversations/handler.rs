//! The `message` handler with a conversation: what the model is sent (earlier turns, oldest
//! first, trimmed to the history budget from the oldest), and an event delivered twice.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use streamgate_contract::{ErrorCode, Function, Route, ServerFrame, Usage};
use streamgate_core::conversation::memory::MemoryConversations;
use streamgate_core::ports::Role;
use streamgate_core::{ChatApp, LlmError, LlmEvent, LlmProvider, LlmRequest, LlmStream};
use streamgate_tests::doubles::{PushBehaviour, RecordingPush};
use streamgate_tests::message_event_with;

use crate::chat_app::chat_app;

/// Answers `answer {n}` to its n-th request, and keeps every request.
#[derive(Default)]
struct Recording {
    requests: Mutex<Vec<LlmRequest>>,
}

#[async_trait]
impl LlmProvider for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }

    async fn stream(&self, request: &LlmRequest) -> Result<LlmStream, LlmError> {
        let n = {
            let mut requests = self.requests.lock().unwrap();
            requests.push(request.clone());
            requests.len()
        };
        let events = vec![
            Ok(LlmEvent::Delta(format!("answer {n}"))),
            Ok(LlmEvent::Usage(Usage {
                input_tokens: 1,
                output_tokens: 2,
            })),
        ];
        Ok(futures::stream::iter(events).boxed())
    }
}

/// A `message` event: its own delivery (API Gateway's request id), in `conversation`.
fn event(
    delivery: &str,
    data: &str,
    conversation: Option<&str>,
) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
    let mut body =
        serde_json::json!({"action": Route::Message.key(), "data": data, "requestId": delivery});
    if let Some(id) = conversation {
        body["conversationId"] = id.into();
    }
    let mut e = message_event_with(body.to_string());
    e.request_context.request_id = Some(format!("apigw-{delivery}"));
    e
}

/// The app, with the parts the tests look into.
struct Chat {
    app: ChatApp,
    push: Arc<RecordingPush>,
    llm: Arc<Recording>,
    conversations: Arc<MemoryConversations>,
}

impl Chat {
    fn new(history_tokens: u64) -> Chat {
        let push = RecordingPush::new(PushBehaviour::Accept);
        let llm = Arc::new(Recording::default());
        let conversations = Arc::new(MemoryConversations::new());
        let mut app = ChatApp {
            llm: llm.clone(),
            conversations: conversations.clone(),
            ..chat_app(push.clone())
        };
        app.settings.conversations.history_tokens = history_tokens;
        Chat {
            app,
            push,
            llm,
            conversations,
        }
    }

    async fn send(&self, e: &aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest) {
        let response = self.app.handle(Function::Message, e).await;
        assert_eq!(response.status_code, 200);
    }

    fn last_done_conversation(&self) -> String {
        self.push
            .frames()
            .iter()
            .rev()
            .find_map(|f| match f {
                ServerFrame::Done {
                    conversation_id, ..
                } => conversation_id.clone(),
                _ => None,
            })
            .expect("a done frame names its conversation")
    }
}

#[tokio::test]
async fn earlier_turns_are_replayed_oldest_first_and_trimmed_from_the_oldest() {
    // Each turn is "question N" + "answer N": 18 bytes, 5 estimated tokens; 12 keep two.
    let chat = Chat::new(12);
    chat.send(&event("m1", "question 1", None)).await;
    let id = chat.last_done_conversation();
    for n in 2..=4 {
        chat.send(&event(
            &format!("m{n}"),
            &format!("question {n}"),
            Some(&id),
        ))
        .await;
        assert_eq!(chat.last_done_conversation(), id, "the same conversation");
    }
    let requests = chat.llm.requests.lock().unwrap().clone();
    let said = |r: &LlmRequest| {
        r.messages
            .iter()
            .map(|m| format!("{}: {}", m.role.as_str(), m.text))
            .collect::<Vec<_>>()
    };
    assert_eq!(said(&requests[0]), ["user: question 1"]);
    assert_eq!(
        said(&requests[1]),
        [
            "user: question 1",
            "assistant: answer 1",
            "user: question 2"
        ]
    );
    // The fourth question: three turns before it, the budget holds the newest two.
    assert_eq!(
        said(&requests[3]),
        [
            "user: question 2",
            "assistant: answer 2",
            "user: question 3",
            "assistant: answer 3",
            "user: question 4"
        ]
    );
    assert!(requests.iter().all(|r| r.messages[0].role == Role::User));
    assert_eq!(chat.conversations.turn_count(), 4);
}

#[tokio::test]
async fn an_event_delivered_twice_is_answered_and_stored_once() {
    let chat = Chat::new(1000);
    let first = event("m1", "hello", None);
    chat.send(&first).await;
    let posts = chat.push.posts().len();
    chat.send(&first).await;
    assert_eq!(chat.push.posts().len(), posts, "nothing more is posted");
    assert_eq!(
        chat.llm.requests.lock().unwrap().len(),
        1,
        "the model is asked once"
    );
    assert_eq!(chat.conversations.turn_count(), 1);
    // The same with a conversation already going.
    let id = chat.last_done_conversation();
    let second = event("m2", "again", Some(&id));
    chat.send(&second).await;
    chat.send(&second).await;
    assert_eq!(chat.llm.requests.lock().unwrap().len(), 2);
    assert_eq!(chat.conversations.turn_count(), 2);
}

#[tokio::test]
async fn someone_elses_conversation_is_not_found() {
    let chat = Chat::new(1000);
    chat.send(&event("m1", "mine", None)).await;
    let id = chat.last_done_conversation();
    // Another user (the authorizer's) names it.
    let mut theirs = event("m2", "let me in", Some(&id));
    theirs.request_context.authorizer.fields.insert(
        streamgate_contract::access::CONTEXT_USER_ID.into(),
        "mallory".into(),
    );
    chat.send(&theirs).await;
    match chat.push.frames().last() {
        Some(ServerFrame::Error(e)) => {
            assert_eq!(e.code, ErrorCode::NotFound);
            assert_eq!(
                e.conversation_id, None,
                "the id is not echoed as if it existed"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(chat.llm.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_cancelled_answer_closes_its_upstream_request_and_returns() {
    use streamgate_core::ConversationStore;
    use streamgate_tests::mock_http::{MockServer, Reply, pause, text};
    use streamgate_tests::sse::openai_chunk;
    // An upstream that would stream for ten seconds.
    let mut parts = Vec::new();
    for i in 0..500 {
        parts.push(text(&openai_chunk(&format!(" t{i}"))));
        parts.push(pause(20));
    }
    let server = MockServer::start(vec![Reply::sse(parts)]).await;
    let openai = streamgate_llm::OpenAiProvider::new(
        reqwest::Client::new(),
        &server.url(),
        "m",
        None,
        streamgate_llm::Timeouts::default(),
    );
    let chat = Chat::new(1000);
    let e = event("long", "talk for a while", None);
    let app = ChatApp {
        llm: Arc::new(openai),
        ..chat.app.clone()
    };
    let answering = app.handle(Function::Message, &e);
    let stopping = async {
        while chat.push.first_post_at().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let connection = e.request_context.connection_id.clone().unwrap();
        chat.conversations
            .request_stop(
                &connection,
                "long",
                streamgate_core::clock::now_ms(),
                i64::MAX,
            )
            .await
            .unwrap();
    };
    // The handler itself returns (nothing of the answer is left running)...
    let (response, ()) = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        tokio::join!(answering, stopping)
    })
    .await
    .expect("the answer stops long before the upstream would end");
    assert_eq!(response.status_code, 200);
    // ...and the upstream saw its response closed early.
    server
        .wait_closed_early(std::time::Duration::from_secs(2))
        .await;
    match chat.push.frames().last() {
        Some(ServerFrame::Done { stop_reason, .. }) => {
            assert_eq!(
                *stop_reason,
                Some(streamgate_contract::conversation::StopReason::Cancelled)
            )
        }
        other => panic!("{other:?}"),
    }
}
