//! The asynchronous `message` route: a 40-second answer streams whole past API Gateway's
//! 29-second integration timeout.

use super::support::*;

/// Every frame of one answer: chunks joined, whether `done` came, and API Gateway's own
/// frames (`{"message": ...}`).
async fn answer(ws: &mut Client, within: Duration) -> (String, bool, Vec<String>) {
    let mut text = String::new();
    let mut gateway = Vec::new();
    let done = tokio::time::timeout(within, async {
        loop {
            let frame = next_json(ws).await;
            match frame["type"].as_str() {
                Some("chunk") => text.push_str(frame["content"].as_str().unwrap_or("")),
                Some("done") => return true,
                Some(_) => return false,
                None => gateway.push(frame["message"].as_str().unwrap_or("").to_owned()),
            }
        }
    })
    .await
    .unwrap_or(false);
    (text, done, gateway)
}

#[tokio::test]
async fn a_40_second_answer_streams_whole_on_the_asynchronous_message_route() {
    // The echo provider answers one word a second: 40 words take 40 s, past API Gateway's
    // 29-second integration timeout.
    let words: Vec<String> = (1..=40).map(|i| format!("w{i}")).collect();
    let question =
        json!({"action": message_key(), "data": words.join(" "), "requestId": "long"}).to_string();
    let asynchronous = LocalServer::chat(None, Duration::from_secs(1)).await;
    assert!(
        asynchronous
            .gateway_config()
            .routes
            .iter()
            .any(|r| r.key == message_key() && r.is_asynchronous()),
        "the contract's message route is asynchronous"
    );
    let synchronous = LocalServer::chat_with(proxy_api(), None, Duration::from_secs(1)).await;
    let run = |url: String| {
        let question = question.clone();
        async move {
            let mut ws = connect(&url).await;
            send(&mut ws, &question).await;
            answer(&mut ws, Duration::from_secs(60)).await
        }
    };
    let (a, s) = tokio::join!(run(asynchronous.ws_url()), run(synchronous.ws_url()));
    assert_eq!(a.0, words.join(" "), "the whole answer, in order");
    assert!(a.1, "one done frame");
    assert!(a.2.is_empty(), "no API Gateway frame: {:?}", a.2);
    // On a synchronous route API Gateway stops waiting at 29 s (the function streams on).
    assert_eq!(s.2, ["Endpoint request timed out"]);
    assert_eq!(s.0, words.join(" "));
    asynchronous.stop().await;
    synchronous.stop().await;
}
