//! The conversation protocol end to end on the local server (in-process handlers, echo
//! provider): a second message sees the first, `history` and `conversations` page what was
//! stored, another caller gets `not_found`, a second answer at once gets
//! `conversation_busy`, and `cancel` stops an answer, stored as delivered.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use streamgate_contract::Route;
use streamgate_tests::local::{Client, LocalServer, connect, next_json, send};

/// Sends `message` and reads its frames up to the terminal one: (the answer, that frame).
async fn ask(ws: &mut Client, body: Value) -> (String, Value) {
    send(ws, &body.to_string()).await;
    read_answer(ws).await
}

async fn read_answer(ws: &mut Client) -> (String, Value) {
    let mut text = String::new();
    loop {
        let f = next_json(ws).await;
        match f["type"].as_str() {
            Some("chunk") => text.push_str(f["content"].as_str().unwrap()),
            _ => return (text, f),
        }
    }
}

fn message(data: &str, request_id: &str, conversation: Option<&str>) -> Value {
    let mut m = json!({"action": Route::Message.key(), "data": data, "requestId": request_id});
    if let Some(id) = conversation {
        m["conversationId"] = id.into();
    }
    m
}

#[tokio::test]
async fn a_conversation_remembers_pages_and_belongs_to_its_connection() {
    let server = LocalServer::chat(None, Duration::ZERO).await;
    let mut ws = connect(&server.ws_url()).await;
    let (first, done) = ask(&mut ws, message("the soup of the day", "m1", None)).await;
    assert_eq!(first, "the soup of the day");
    assert_eq!(done["type"], "done", "{done}");
    let id = done["conversationId"]
        .as_str()
        .expect("done names the conversation")
        .to_owned();
    let (second, done) = ask(&mut ws, message("and dessert?", "m2", Some(&id))).await;
    assert_eq!(
        second, r#"and dessert? (before, you said: "the soup of the day")"#,
        "the second answer saw the first message"
    );
    assert_eq!(done["conversationId"], id.as_str());

    // history: oldest first; a page of one, then the page before it.
    send(
        &mut ws,
        &json!({"action": Route::History.key(), "conversationId": id, "requestId": "h1"})
            .to_string(),
    )
    .await;
    let h = next_json(&mut ws).await;
    assert_eq!(h["type"], "history", "{h}");
    assert_eq!(h["requestId"], "h1");
    let turns = h["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(
        (turns[0]["turn"].as_u64(), turns[0]["user"].as_str()),
        (Some(1), Some("the soup of the day"))
    );
    assert_eq!(turns[1]["answer"].as_str(), Some(second.as_str()));
    assert!(h.get("nextCursor").is_none(), "{h}");
    send(
        &mut ws,
        &json!({"action": Route::History.key(), "conversationId": id, "limit": 1}).to_string(),
    )
    .await;
    let page = next_json(&mut ws).await;
    assert_eq!(page["turns"][0]["turn"], 2);
    let cursor = page["nextCursor"]
        .as_str()
        .expect("an older page exists")
        .to_owned();
    send(
        &mut ws,
        &json!({"action": Route::History.key(), "conversationId": id, "cursor": cursor})
            .to_string(),
    )
    .await;
    let older = next_json(&mut ws).await;
    assert_eq!(older["turns"].as_array().unwrap().len(), 1);
    assert_eq!(older["turns"][0]["turn"], 1);

    // conversations: newest first, paged.
    let (_, done) = ask(&mut ws, message("a new topic", "m3", None)).await;
    let newer = done["conversationId"].as_str().unwrap().to_owned();
    assert_ne!(newer, id);
    send(
        &mut ws,
        &json!({"action": Route::Conversations.key(), "limit": 1, "requestId": "l1"}).to_string(),
    )
    .await;
    let list = next_json(&mut ws).await;
    assert_eq!(list["type"], "conversations", "{list}");
    assert_eq!(list["conversations"][0]["conversationId"], newer.as_str());
    assert_eq!(list["conversations"][0]["title"], "a new topic");
    let cursor = list["nextCursor"].as_str().unwrap().to_owned();
    send(
        &mut ws,
        &json!({"action": Route::Conversations.key(), "cursor": cursor}).to_string(),
    )
    .await;
    let rest = next_json(&mut ws).await;
    assert_eq!(rest["conversations"][0]["conversationId"], id.as_str());
    assert_eq!(rest["conversations"][0]["turns"], 2);
    assert!(rest.get("nextCursor").is_none());

    // Another connection (no authorizer: conversations belong to their connection).
    let mut other = connect(&server.ws_url()).await;
    send(
        &mut other,
        &json!({"action": Route::History.key(), "conversationId": id, "requestId": "x"})
            .to_string(),
    )
    .await;
    let refused = next_json(&mut other).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("not_found")),
        "{refused}"
    );
    let (_, refused) = ask(&mut other, message("hijack", "x2", Some(&id))).await;
    assert_eq!(refused["code"], "not_found", "{refused}");
    send(
        &mut other,
        &json!({"action": Route::Conversations.key()}).to_string(),
    )
    .await;
    let theirs = next_json(&mut other).await;
    assert_eq!(theirs["conversations"], json!([]), "{theirs}");
    server.stop().await;
}

#[tokio::test]
async fn a_second_answer_at_once_is_refused_busy_never_interleaved() {
    let server = LocalServer::chat(None, Duration::from_millis(10)).await;
    let mut ws = connect(&server.ws_url()).await;
    let (_, done) = ask(&mut ws, message("start", "m1", None)).await;
    let id = done["conversationId"].as_str().unwrap().to_owned();
    let long = vec!["word"; 40].join(" ");
    send(&mut ws, &message(&long, "m2", Some(&id)).to_string()).await;
    // The first chunk of m2 shows it is streaming.
    let first = next_json(&mut ws).await;
    assert_eq!(first["requestId"], "m2", "{first}");
    send(&mut ws, &message("me too", "m3", Some(&id)).to_string()).await;
    let mut busy = None;
    let mut done_m2 = None;
    while busy.is_none() || done_m2.is_none() {
        let f = next_json(&mut ws).await;
        match (f["type"].as_str(), f["requestId"].as_str()) {
            (Some("error"), Some("m3")) => busy = Some(f),
            (Some("done"), Some("m2")) => done_m2 = Some(f),
            (Some("chunk"), Some("m2")) => {}
            _ => panic!("unexpected {f}"),
        }
    }
    let busy = busy.unwrap();
    assert_eq!(busy["code"], "conversation_busy", "{busy}");
    assert_eq!(busy["conversationId"], id.as_str());
    send(
        &mut ws,
        &json!({"action": Route::History.key(), "conversationId": id}).to_string(),
    )
    .await;
    let h = next_json(&mut ws).await;
    let users: Vec<_> = h["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["user"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        users,
        ["start".to_owned(), long],
        "the refused message left no turn"
    );
    server.stop().await;
}

#[tokio::test]
async fn cancel_stops_an_answer_which_is_stored_as_delivered() {
    // 200 words, 20 ms apart: four seconds if nothing stops it.
    let server = LocalServer::chat(None, Duration::from_millis(20)).await;
    let mut ws = connect(&server.ws_url()).await;
    let long: Vec<String> = (0..200).map(|i| format!("w{i}")).collect();
    let long = long.join(" ");
    send(&mut ws, &message(&long, "long", None).to_string()).await;
    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "chunk", "{first}");
    let mut delivered = first["content"].as_str().unwrap().to_owned();
    let asked = Instant::now();
    send(
        &mut ws,
        &json!({"action": Route::Cancel.key(), "requestId": "long"}).to_string(),
    )
    .await;
    let (rest, done) = read_answer(&mut ws).await;
    let took = asked.elapsed();
    delivered.push_str(&rest);
    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(done["stopReason"], "cancelled", "{done}");
    assert!(
        took < Duration::from_secs(2),
        "stopped after {took:?}, not at the end"
    );
    assert!(
        delivered.len() < long.len() && long.starts_with(&delivered),
        "{delivered:?}"
    );
    let id = done["conversationId"].as_str().unwrap();
    send(
        &mut ws,
        &json!({"action": Route::History.key(), "conversationId": id}).to_string(),
    )
    .await;
    let h = next_json(&mut ws).await;
    assert_eq!(h["turns"][0]["answer"].as_str(), Some(delivered.as_str()));
    assert_eq!(h["turns"][0]["stopReason"], "cancelled");
    // The conversation is free again at once.
    let (_, done) = ask(&mut ws, message("next", "n", Some(id))).await;
    assert_eq!(done["type"], "done", "{done}");
    // A cancel without the message's requestId is a bad request.
    send(&mut ws, &json!({"action": Route::Cancel.key()}).to_string()).await;
    let bad = next_json(&mut ws).await;
    assert_eq!(bad["code"], "bad_request", "{bad}");
    server.stop().await;
}
