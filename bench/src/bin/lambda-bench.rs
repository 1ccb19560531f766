//! Benchmark of the packaged Lambda artifacts: per function the zip size and the init time
//! (exec to the first `GET /next` on the Runtime API, median of the runs), the warm
//! invocation time of `message` for a 100-token echo answer (the Runtime API's `/next`
//! answer written to the `/response` received; the frames go to a loopback `@connections`),
//! and the warm invocation time of the authorizer checking a token (its issuer's keys on a
//! loopback server, fetched by the first, discarded, invocation).
//!
//! `lambda-bench [--runs N] [--qemu SYSROOT] [--label TEXT] DIR` where DIR holds
//! `<binary>/bootstrap` (`target/lambda` after `just package`). Prints Markdown table rows.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a step that fails ends the run, saying where"
)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use streamgate_contract::{Function, config as env};
use streamgate_tests::fixture_json;
use streamgate_tests::mock_http::{MockServer, Reply};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

/// What the Runtime API saw, with times.
enum Seen {
    Next(Instant),
    Response(Instant),
    Error,
}

/// A Runtime API that hands out the events it is given and reports what it sees.
struct RuntimeApi {
    addr: String,
    events: mpsc::Sender<serde_json::Value>,
    seen: mpsc::Receiver<Seen>,
    sent: Arc<Mutex<Vec<Instant>>>,
}

async fn runtime_api() -> RuntimeApi {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (events_tx, events_rx) = mpsc::channel::<serde_json::Value>(64);
    let (seen_tx, seen) = mpsc::channel(1024);
    let events_rx = Arc::new(Mutex::new(events_rx));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let sent2 = sent.clone();
    tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok((stream, _)) = listener.accept().await {
            let events = events_rx.clone();
            let seen = seen_tx.clone();
            let sent = sent2.clone();
            n += 1;
            tokio::spawn(serve(stream, events, seen, sent, n));
        }
    });
    RuntimeApi {
        addr,
        events: events_tx,
        seen,
        sent,
    }
}

async fn serve(
    stream: TcpStream,
    events: Arc<Mutex<mpsc::Receiver<serde_json::Value>>>,
    seen: mpsc::Sender<Seen>,
    sent: Arc<Mutex<Vec<Instant>>>,
    conn: u64,
) {
    // Each answer goes out at once: with Nagle's algorithm a small write waiting on the
    // peer's delayed ACK adds 40 ms that belong to neither side.
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    let mut request = 0u64;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let at = Instant::now();
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        if path.ends_with("/invocation/next") {
            let _ = seen.send(Seen::Next(at)).await;
            let Some(event) = events.lock().await.recv().await else {
                return;
            };
            request += 1;
            let body = event.to_string();
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 60_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nlambda-runtime-aws-request-id: r-{conn}-{request}\r\nlambda-runtime-deadline-ms: {deadline}\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\nlambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\r\n",
                body.len()
            );
            let stream = reader.get_mut();
            if stream.write_all(head.as_bytes()).await.is_err()
                || stream.write_all(body.as_bytes()).await.is_err()
            {
                return;
            }
            sent.lock().await.push(Instant::now());
        } else {
            let what = if path.ends_with("/response") {
                Seen::Response(at)
            } else {
                Seen::Error
            };
            let _ = seen.send(what).await;
            let stream = reader.get_mut();
            if stream
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}")
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

struct Target {
    qemu: Option<PathBuf>,
}

impl Target {
    fn command(&self, bootstrap: &Path) -> tokio::process::Command {
        match &self.qemu {
            Some(sysroot) => {
                let mut c = tokio::process::Command::new("qemu-aarch64");
                c.arg("-L").arg(sysroot).arg(bootstrap);
                c
            }
            None => tokio::process::Command::new(bootstrap),
        }
    }
}

fn lambda_env(
    cmd: &mut tokio::process::Command,
    api: &str,
    function: Function,
    extra: &[(&str, String)],
) {
    streamgate_tests::lambda_environment(cmd, api, function);
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(env::TABLE_NAME, "connections")
        .env(env::QUOTA_TABLE_NAME, "quotas")
        .env(env::CONVERSATIONS_TABLE_NAME, "conversations")
        .env(env::LLM_PROVIDER, "echo")
        // The authorizer's issuer: read at start-up, fetched only by the first check.
        .env(env::AUTH_ISSUER, "https://issuer.example")
        .env(env::AUTH_AUDIENCE, "bench")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Exec to the first `/next`, once.
async fn init_once(target: &Target, bootstrap: &Path, function: Function) -> Duration {
    let mut api = runtime_api().await;
    let mut cmd = target.command(bootstrap);
    lambda_env(&mut cmd, &api.addr, function, &[]);
    let start = Instant::now();
    let mut child = cmd.spawn().expect("the bootstrap starts");
    let seen = tokio::time::timeout(Duration::from_secs(30), api.seen.recv())
        .await
        .expect("a /next within 30 s");
    let _ = child.start_kill();
    let _ = child.wait().await;
    match seen {
        Some(Seen::Next(at)) => at - start,
        _ => panic!("{} reported an init error", function.name()),
    }
}

/// Warm `message` invocations of a 100-token echo answer (the first, cold one discarded),
/// each a new conversation in DynamoDB Local (its claim and its stored turn).
async fn warm_message(target: &Target, bootstrap: &Path, runs: usize) -> Duration {
    let db = streamgate_tests::dynamodb_local::DynamoDbLocal::start().await;
    streamgate_tests::dynamodb_local::create_conversations_table(&db.client(), "conversations")
        .await;
    let connections = MockServer::start(vec![]).await;
    connections.otherwise(Reply::status(200));
    let mut api = runtime_api().await;
    let mut cmd = target.command(bootstrap);
    lambda_env(
        &mut cmd,
        &api.addr,
        Function::Message,
        &[
            (
                env::MANAGEMENT_ENDPOINT,
                format!("{}/prod", connections.url()),
            ),
            (env::ECHO_DELAY_MS, "0".into()),
            ("AWS_ENDPOINT_URL_DYNAMODB", db.endpoint()),
        ],
    );
    let _child = cmd.spawn().expect("the bootstrap starts");
    let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
    let mut event = fixture_json("message");
    event["body"] = serde_json::json!({
        "action": streamgate_contract::Route::Message.key(),
        "data": words.join(" "),
        "requestId": "bench",
    })
    .to_string()
    .into();
    warm_runs(&mut api, &event, runs, "message").await
}

/// Warm authorizer invocations checking a valid token (the first, which fetches the keys,
/// discarded).
async fn warm_authorizer(target: &Target, bootstrap: &Path, runs: usize) -> Duration {
    let issuer = MockServer::start(vec![]).await;
    let dev = streamgate_auth::dev::DevIssuer::new(&issuer.url(), "bench", [3; 32]);
    issuer.push_script(vec![
        Reply::json(200, dev.discovery()),
        Reply::json(200, dev.jwks()),
    ]);
    let mut api = runtime_api().await;
    let mut cmd = target.command(bootstrap);
    lambda_env(
        &mut cmd,
        &api.addr,
        Function::Authorize,
        &[
            (env::AUTH_ISSUER, dev.issuer().to_owned()),
            (env::AUTH_AUDIENCE, "bench".to_owned()),
        ],
    );
    let _child = cmd.spawn().expect("the bootstrap starts");
    let event = serde_json::json!({
        "type": "REQUEST",
        "methodArn": format!(
            "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/{}",
            streamgate_contract::Route::Connect.key()
        ),
        "headers": {},
        "queryStringParameters": {"token": dev.token("bench-user", Duration::from_secs(3600))},
        "requestContext": {"routeKey": streamgate_contract::Route::Connect.key(), "eventType": "CONNECT"}
    });
    warm_runs(&mut api, &event, runs, "authorizer").await
}

/// `runs` warm invocations of `event` (one more, cold, first and discarded): the median time
/// from the Runtime API's `/next` answer to the `/response`.
async fn warm_runs(
    api: &mut RuntimeApi,
    event: &serde_json::Value,
    runs: usize,
    what: &str,
) -> Duration {
    let mut samples = Vec::new();
    for run in 0..=runs {
        // Each a new delivery (a repeated one would be recognised and answered once).
        let mut event = event.clone();
        event["requestContext"]["requestId"] = format!("bench-{run}").into();
        api.events.send(event).await.unwrap();
        let done = loop {
            match tokio::time::timeout(Duration::from_secs(30), api.seen.recv()).await {
                Ok(Some(Seen::Response(at))) => break at,
                Ok(Some(Seen::Next(_))) => continue,
                Ok(Some(Seen::Error)) => panic!("the {what} invocation failed"),
                _ => panic!("no response within 30 s"),
            }
        };
        let sent = *api.sent.lock().await.last().unwrap();
        if run > 0 {
            samples.push(done - sent);
        }
    }
    median(samples)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut runs = 20;
    let mut qemu = None;
    let mut label = String::from("x86_64");
    let mut dir = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(20),
            "--qemu" => qemu = args.next().map(PathBuf::from),
            "--label" => label = args.next().unwrap_or_default(),
            other => dir = Some(PathBuf::from(other)),
        }
    }
    let dir = dir.expect("usage: lambda-bench [--runs N] [--qemu SYSROOT] [--label TEXT] DIR");
    let target = Target { qemu };
    for f in Function::ALL.iter().copied() {
        let bootstrap = dir.join(f.spec().binary).join("bootstrap");
        let bytes = std::fs::read(&bootstrap)
            .unwrap_or_else(|e| panic!("{}: {e} (run `just package`)", bootstrap.display()));
        let zipped = streamgate_deploy::zipped_size(&bytes).unwrap();
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(init_once(&target, &bootstrap, f).await);
        }
        println!(
            "| {} | {label} | {:.2} | {:.2} | {} |",
            f.spec().binary,
            bytes.len() as f64 / 1e6,
            zipped as f64 / 1e6,
            ms(median(samples))
        );
    }
    let warm = warm_message(
        &target,
        &dir.join(Function::Message.spec().binary).join("bootstrap"),
        runs,
    )
    .await;
    println!(
        "\nwarm `message` invocation, 100-token echo answer ({label}), median of {runs}: {} ms",
        ms(warm)
    );
    let authorize = warm_authorizer(
        &target,
        &dir.join(Function::Authorize.spec().binary)
            .join("bootstrap"),
        runs,
    )
    .await;
    println!(
        "\nwarm authorizer invocation, an Ed25519 token checked against cached keys ({label}), median of {runs}: {} ms",
        ms(authorize)
    );
}
