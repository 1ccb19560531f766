//! The `streamgate-server` binary as a user runs it: signed in with the development issuer's
//! token from its banner, `--store dynamodb` against DynamoDB Local, a real WebSocket client,
//! and SIGTERM for a graceful shutdown.

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use streamgate_contract::Route;
use streamgate_tests::dynamodb_local::{
    DynamoDbLocal, create_connections_table, create_conversations_table,
};
use streamgate_tests::local::{answer, closed, connect, send};
use streamgate_tests::server_process::ServerProcess;
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
    let db = DynamoDbLocal::start().await;
    let client = db.client();
    create_connections_table(&client, "connections").await;
    create_conversations_table(&client, "conversations").await;
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
            "--conversations-table",
            "conversations",
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
    // Logged in by default: the banner says by whom, and hands over a token.
    assert!(banner.contains("development issuer"), "{banner}");
    let token = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .expect("the banner prints a token")
        .trim()
        .to_owned();
    assert!(
        banner.contains(&format!("http://localhost:{port}/#token={token}")),
        "{banner}"
    );
    // Without a token, or with a forged one, the handshake is refused with 401.
    for url in [
        format!("ws://127.0.0.1:{port}/dev"),
        format!("ws://127.0.0.1:{port}/dev?token=not-a-jwt"),
        format!(
            "ws://127.0.0.1:{port}/dev?token={}x",
            &token[..token.len() - 1]
        ),
    ] {
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
            other => panic!("{url}: {other:?}"),
        }
    }
    assert_eq!(
        count(&client).await,
        0,
        "a refused client never reaches $connect"
    );
    // The voice relay's door is the same one.
    match tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{port}/realtime?restaurantId=r-123"
    ))
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("voice without a token: {other:?}"),
    }
    // The header works as well as the query parameter.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://127.0.0.1:{port}/dev"
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let (header_ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("a bearer header is accepted");
    drop(header_ws);

    let mut ws = connect(&format!("ws://127.0.0.1:{port}/dev?token={token}")).await;
    send(
        &mut ws,
        &json!({"action": Route::Message.key(), "data": "stored in dynamodb", "requestId": "b-1"})
            .to_string(),
    )
    .await;
    let answer = answer(&mut ws).await;
    assert_eq!(answer, "stored in dynamodb");
    let scan = client
        .scan()
        .table_name("connections")
        .send()
        .await
        .unwrap();
    let users: Vec<&str> = scan
        .items()
        .iter()
        .filter_map(|i| {
            i.get("userId")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
        })
        .collect();
    assert!(
        users.contains(&"local-user"),
        "$connect wrote the record, with its user, to DynamoDB: {users:?}"
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

/// CPU seconds a process has used (user and system), from `/proc`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf reads a constant.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[tokio::test]
async fn out_of_file_descriptors_the_server_backs_off_says_so_once_and_recovers() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = tokio::process::Command::new(server_binary());
    command
        // Open: this test is about descriptors, not tokens.
        .args([
            "--port",
            &port.to_string(),
            "--max-connections",
            "1000",
            "--auth",
            "none",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut server = command.spawn().expect("the server starts");
    let pid = server.id().unwrap();
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let collected = output.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            collected.lock().unwrap().push(line);
        }
    });
    let url = format!("ws://127.0.0.1:{port}/dev");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(std::time::Instant::now() < deadline, "the server listens");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // More sockets than the process may open: it runs out of descriptors.
    let mut held = Vec::new();
    for _ in 0..100 {
        held.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = cpu_seconds(pid) - before;
    assert!(
        spent < 0.5,
        "a full descriptor table is waited out, not spun on: {spent:.2} s of CPU in 2 s"
    );
    let said = |what: &str| {
        output
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(what))
            .count()
    };
    assert_eq!(
        said("cannot accept connections"),
        1,
        "said once per burst: {:?}",
        output.lock().unwrap()
    );
    // The sockets go; the server serves again.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut ws = loop {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
            break ws;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server recovers within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    send(
        &mut ws,
        &json!({"action": Route::Message.key(), "data": "still here"}).to_string(),
    )
    .await;
    let answer = answer(&mut ws).await;
    assert_eq!(answer, "still here");
    assert_eq!(said("cannot accept connections"), 1, "still one report");
    server.start_kill().unwrap();
}

/// At `RUST_LOG=trace`, the token a client sends (in the query or the header) reaches no log
/// line: only the banner's two lines that hand it over carry it.
#[tokio::test]
async fn at_trace_level_no_log_line_carries_a_token() {
    let (mut cmd, port) = ServerProcess::command();
    cmd.args(["--echo-delay-ms", "0"]).env("RUST_LOG", "trace");
    let mut server = ServerProcess::start(cmd, port);
    let token = server
        .until("token:")
        .await
        .trim()
        .strip_prefix("token:")
        .unwrap()
        .trim()
        .to_owned();
    let mut ws = connect(&format!("ws://127.0.0.1:{port}/dev?token={token}")).await;
    send(
        &mut ws,
        &json!({"action": Route::Message.key(), "data": "hi", "requestId": "t-1"}).to_string(),
    )
    .await;
    assert_eq!(answer(&mut ws).await, "hi");
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://127.0.0.1:{port}/realtime?restaurantId=r-123"
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let _ = tokio_tungstenite::connect_async(request).await;
    // A forged token: refused, and logged only as a reason.
    let _ =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/dev?token={token}x")).await;
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stderr = server.terminate().await;
    let output = server.output;
    let signature = token.rsplit('.').next().unwrap();
    let carrying: Vec<&String> = output.iter().filter(|l| l.contains(signature)).collect();
    assert_eq!(
        carrying.len(),
        2,
        "only the banner's token lines: {carrying:#?}"
    );
    assert!(
        carrying
            .iter()
            .all(|l| l.contains("token:") || l.contains("signed-in page:"))
    );
    assert!(!stderr.contains(signature), "stderr carries the token");
    assert!(
        output
            .iter()
            .any(|l| l.contains("refused a connection's token")),
        "the refusal is logged (its reason only)"
    );
    assert!(
        output.iter().any(|l| l.contains("DEBUG")),
        "logging below info was on:\n{}",
        output.join("\n")
    );
    // Nor does any line carry a request's query string (where browsers put the token).
    let queries: Vec<&String> = output
        .iter()
        .filter(|l| !l.trim_start().starts_with("voice relay:"))
        .filter(|l| l.contains("/dev?") || l.contains("restaurantId=r-123"))
        .collect();
    assert!(
        queries.is_empty(),
        "query strings in the logs: {queries:#?}"
    );
    assert!(
        output.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in piped output"
    );
}
