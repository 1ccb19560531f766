//! The `streamgate-server` binary as a user runs it: `--store dynamodb` against DynamoDB
//! Local, a real WebSocket client, and SIGTERM for a graceful shutdown.

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use streamgate_contract::Route;
use streamgate_tests::dynamodb_local::{DynamoDbLocal, create_connections_table};
use streamgate_tests::local::{closed, connect, next_json, send};
use tokio::io::AsyncBufReadExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn server_binary() -> std::path::PathBuf {
    streamgate_tests::workspace_binary("streamgate-server")
}

async fn count(client: &aws_sdk_dynamodb::Client) -> i32 {
    client
        .scan()
        .table_name("connections")
        .send()
        .await
        .unwrap()
        .count
}

#[tokio::test]
async fn dynamodb_store_and_sigterm_shutdown() {
    let db = DynamoDbLocal::start();
    let client = db.client();
    create_connections_table(&client, "connections").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = tokio::process::Command::new(server_binary())
        .args([
            "--port",
            &port.to_string(),
            "--store",
            "dynamodb",
            "--table",
            "connections",
            "--echo-delay-ms",
            "0",
        ])
        .args(["--dynamodb-endpoint", &db.endpoint()])
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    // It says where it serves.
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await
    {
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("provider:") {
            break;
        }
    }
    assert!(
        banner.contains(&format!("ws://localhost:{port}/dev")),
        "{banner}"
    );
    assert!(banner.contains("test page"), "{banner}");

    let mut ws = connect(&format!("ws://127.0.0.1:{port}/dev")).await;
    send(
        &mut ws,
        &json!({"action": Route::Message.key(), "data": "stored in dynamodb", "requestId": "b-1"})
            .to_string(),
    )
    .await;
    let mut answer = String::new();
    loop {
        let f = next_json(&mut ws).await;
        match f["type"].as_str() {
            Some("chunk") => answer.push_str(f["content"].as_str().unwrap()),
            Some("done") => break,
            _ => panic!("{f}"),
        }
    }
    assert_eq!(answer, "stored in dynamodb");
    assert_eq!(
        count(&client).await,
        1,
        "$connect wrote the record to DynamoDB"
    );

    // SIGTERM: the socket closes with 1001, $disconnect runs, the process exits 0.
    let pid = server.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(closed(&mut ws).await.map(|f| f.code), Some(CloseCode::Away));
    let status = tokio::time::timeout(Duration::from_secs(15), server.wait())
        .await
        .expect("exits within 15 s")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        count(&client).await,
        0,
        "$disconnect deleted the record before exit"
    );
    assert!(ws.next().await.is_none_or(
        |m| m.is_err() || matches!(m, Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
    ));
}
