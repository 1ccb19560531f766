//! Pages of text that grows when escaped (quotes, backslashes, newlines, control
//! characters: a pasted JSON document, a log excerpt) on the local server, whose
//! `@connections` refuses a post over 128 KB as API Gateway does: every `history` and
//! `conversations` request gets its frame, filled by the frame's encoded size, and every turn
//! is read back whole across the pages.

use std::time::Duration;

use serde_json::{Value, json};
use streamgate_contract::Route;
use streamgate_emulator::GatewayConfig;
use streamgate_tests::local::{Client, LocalServer, connect, next_json, send};

/// About 12 KB of text that takes about 28 KB once escaped: under the 32 KB frame a client
/// may send, and three turns of it (message and echo) are over 128 KB encoded, though their
/// raw text is not.
fn escape_heavy(n: usize) -> String {
    format!("{n} ") + &"\"\\\n\u{1}x ".repeat(2000)
}

async fn answer(ws: &mut Client, body: Value) -> Value {
    send(ws, &body.to_string()).await;
    loop {
        let f = next_json(ws).await;
        if f["type"] != "chunk" {
            return f;
        }
    }
}

async fn history(ws: &mut Client, id: &str, limit: Option<u32>, cursor: Option<&str>) -> Value {
    let mut h = json!({"action": Route::History.key(), "conversationId": id, "requestId": "h"});
    if let Some(limit) = limit {
        h["limit"] = limit.into();
    }
    if let Some(cursor) = cursor {
        h["cursor"] = cursor.into();
    }
    send(ws, &h.to_string()).await;
    let page = next_json(ws).await;
    assert_eq!(page["type"], "history", "a page, never silence: {page}");
    assert_eq!(page["requestId"], "h");
    page
}

#[tokio::test]
async fn escape_heavy_turns_are_paged_by_their_encoded_size_and_read_back_whole() {
    // Answers as long as the messages: the echo stops at `max_tokens`, four bytes to a token.
    let settings = streamgate_core::ChatSettings {
        max_tokens: 8192,
        ..streamgate_core::ChatSettings::default()
    };
    let server =
        LocalServer::chat_settings(GatewayConfig::default(), None, Duration::ZERO, settings).await;
    let mut ws = connect(&server.ws_url()).await;
    let first = escape_heavy(1);
    let done = answer(
        &mut ws,
        json!({"action": Route::Message.key(), "data": first, "requestId": "m1"}),
    )
    .await;
    assert_eq!(done["type"], "done", "{done}");
    let id = done["conversationId"].as_str().unwrap().to_owned();
    for n in 2..=3 {
        let done = answer(
            &mut ws,
            json!({"action": Route::Message.key(), "data": escape_heavy(n), "requestId": format!("m{n}"), "conversationId": id}),
        )
        .await;
        assert_eq!(done["type"], "done", "{done}");
    }
    for limit in [None, Some(50), Some(1)] {
        // Newest first across pages, each turn's message as it was sent.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = history(&mut ws, &id, limit, cursor.as_deref()).await;
            let turns = page["turns"].as_array().unwrap();
            assert!(!turns.is_empty(), "{page}");
            assert!(
                page.to_string().len() <= 128 * 1024,
                "the page fits one frame"
            );
            for t in turns.iter().rev() {
                let n = t["turn"].as_u64().unwrap();
                assert_eq!(t["user"].as_str(), Some(escape_heavy(n as usize).as_str()));
                assert!(
                    t["answer"]
                        .as_str()
                        .unwrap()
                        .starts_with(&escape_heavy(n as usize))
                );
                seen.push(n);
            }
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, [3, 2, 1], "every turn once, limit {limit:?}");
    }
    // Titles of the same text list as well.
    send(
        &mut ws,
        &json!({"action": Route::Conversations.key(), "requestId": "l"}).to_string(),
    )
    .await;
    let list = next_json(&mut ws).await;
    assert_eq!(list["type"], "conversations", "{list}");
    assert_eq!(list["conversations"][0]["conversationId"], id.as_str());
}
