//! `streamgate-server --template`: a template's WebSocket API served with its functions'
//! real bootstraps under the embedded Lambda Runtime API. The generated chat stack with the
//! packaged (arm64) bootstraps, a hand-written stack that is not ours, what the emulator
//! names at start-up, and Lambda's process behaviours (warm reuse, cold starts, timeouts,
//! init errors, idle stops).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use streamgate_contract::{Function, Route};
use streamgate_emulator::GatewayConfig;
use streamgate_emulator::api::{ApiRoute, reserved};
use streamgate_template_host::host::{TemplateHost, TemplateOptions};
use streamgate_tests::dynamodb_local::jar_dir;
use streamgate_tests::local::{Behaviour, Recorder, closed, connect, next_json, next_text, send};
use streamgate_tests::packaging::{packaged_bootstrap, scratch_dir};
use streamgate_tests::template_host::template_for;
use streamgate_tests::workspace_root;

/// Function output, captured.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<(String, String)>>>);

impl Logs {
    fn sink(&self) -> streamgate_template_host::runtime::pool::LogSink {
        let lines = self.0.clone();
        Arc::new(move |f: &str, l: &str| lines.lock().unwrap().push((f.to_owned(), l.to_owned())))
    }

    fn of(&self, function: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(f, _)| f == function)
            .map(|(_, l)| l.clone())
            .collect()
    }
}

struct Running {
    server: TemplateHost,
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(options: TemplateOptions) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Running::on(options, listener).await
    }

    async fn on(options: TemplateOptions, listener: tokio::net::TcpListener) -> Running {
        let addr = listener.local_addr().unwrap();
        let server = TemplateHost::start(options, &listener)
            .await
            .unwrap_or_else(|p| panic!("the template serves: {p:#?}"));
        let task = tokio::spawn(server.gateway.clone().serve(listener));
        Running { server, addr, task }
    }

    fn url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.server.api.stage)
    }

    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        streamgate_template_host::host::dynamodb_client(
            self.server
                .dynamodb_endpoint
                .as_deref()
                .expect("a DynamoDB endpoint"),
            "us-east-1",
        )
    }

    async fn stop(self) {
        self.server.gateway.shutdown();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the server stops")
            .unwrap();
    }
}

async fn items(db: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    db.scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items()
        .len()
}

async fn wait_for_items(db: &aws_sdk_dynamodb::Client, table: &str, n: usize) {
    for _ in 0..100 {
        if items(db, table).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{table} did not reach {n} items (has {})",
        items(db, table).await
    );
}

fn host_architecture() -> &'static str {
    if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "x86_64"
    }
}

/// A test binary of this package (built with the suite).
fn test_binary(name: &str) -> std::path::PathBuf {
    streamgate_tests::template_host::parity_function().with_file_name(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_chat_stack_runs_unmodified() {
    let dir = scratch_dir("simple-chat");
    std::fs::copy(
        workspace_root().join("tests/fixtures/simple-chat/template.yaml"),
        dir.join("template.yaml"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("function")).unwrap();
    std::os::unix::fs::symlink(
        test_binary("simple-chat-function"),
        dir.join("function/bootstrap"),
    )
    .unwrap();
    let logs = Logs::default();
    let mut options = TemplateOptions::new(dir.join("template.yaml"));
    options.parameters = BTreeMap::from([("Architecture".into(), host_architecture().into())]);
    options.dynamodb_local_dir = Some(jar_dir());
    options.logs = logs.sink();
    let running = Running::start(options).await;
    assert_eq!(running.server.api.stage, "Prod");
    let db = running.dynamodb();
    let ttl = db
        .describe_time_to_live()
        .table_name("simplechat_connections")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expiresAt"),
        "the table is created with the template's TTL attribute"
    );

    let mut alice = connect(&running.url()).await;
    let mut bob = connect(&running.url()).await;
    wait_for_items(&db, "simplechat_connections", 2).await;
    send(
        &mut alice,
        &json!({"action": "sendmessage", "data": "hello, everyone"}).to_string(),
    )
    .await;
    assert_eq!(next_text(&mut alice).await, "hello, everyone");
    assert_eq!(next_text(&mut bob).await, "hello, everyone");
    bob.close(None).await.unwrap();
    wait_for_items(&db, "simplechat_connections", 1).await;
    // An unknown action with no $default route: API Gateway's Forbidden frame.
    send(&mut alice, r#"{"action": "dance"}"#).await;
    assert_eq!(next_json(&mut alice).await["message"], "Forbidden");

    let reports = logs.of("local-SendMessageFunction");
    assert!(
        reports
            .iter()
            .any(|l| l.starts_with("REPORT RequestId: ") && l.contains("Init Duration")),
        "a cold start is reported with the function's name: {reports:?}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_chat_stack_runs_its_packaged_bootstraps() {
    for f in Function::ALL {
        packaged_bootstrap(*f);
    }
    let logs = Logs::default();
    let mut options = TemplateOptions::new(workspace_root().join("generated/template.yaml"));
    options.artifacts = Some(workspace_root().join("target/lambda"));
    options.dynamodb_local_dir = Some(jar_dir());
    options.logs = logs.sink();
    // `GET /metrics` from the functions' EMF lines (a registry of this test's own).
    let metrics: &'static streamgate_telemetry::Registry =
        Box::leak(Box::new(streamgate_telemetry::Registry::new()));
    options.metrics = Some(metrics);
    // Signed in as deployed: the stack's own authorizer function checks the token, against
    // a development issuer instead of the Cognito pool.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token = streamgate_tests::template_host::sign_in(&mut options, &listener, "user-7");
    let running = Running::on(options, listener).await;
    let table = running
        .server
        .api
        .tables
        .iter()
        .find(|t| t.logical_id == "ConnectionsTable")
        .expect("the stack declares its connections table")
        .name
        .clone();
    let db = running.dynamodb();
    match tokio_tungstenite::connect_async(running.url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("without a token: {other:?}"),
    }

    let mut ws = connect(&format!("{}?token={token}", running.url())).await;
    wait_for_items(&db, &table, 1).await;
    let question = json!({"action": Route::Message.key(), "data": "streamed through real processes", "requestId": "r1"});
    send(&mut ws, &question.to_string()).await;
    let mut text = String::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), next_json(&mut ws))
            .await
            .expect("the answer arrives (an arm64 cold start under qemu takes a moment)");
        match frame["type"].as_str() {
            Some("chunk") => text.push_str(frame["content"].as_str().unwrap()),
            Some("done") => break,
            other => panic!("unexpected frame {other:?}: {frame}"),
        }
    }
    assert_eq!(text, "streamed through real processes");
    // The $default route answers through @connections too.
    send(&mut ws, "not json").await;
    let frame = tokio::time::timeout(Duration::from_secs(30), next_json(&mut ws))
        .await
        .unwrap();
    assert_eq!(frame["type"], "error", "{frame}");
    ws.close(None).await.unwrap();
    wait_for_items(&db, &table, 0).await;
    let message_logs = logs.of("local-MessageFunction");
    assert!(
        message_logs.iter().any(|l| l.starts_with('{')),
        "the function's JSON logs are shown under its name: {message_logs:?}"
    );
    // The template's LoggingConfig reached the functions as Lambda's variables: JSON lines
    // with a timestamp and a level. Their EMF lines went to the metrics, not the output.
    let mut reports = 0;
    for line in &message_logs {
        let line: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"));
        assert!(
            line.get("_aws").is_none(),
            "an EMF line in the output: {line}"
        );
        // The host's report, in Lambda's JSON platform format.
        if line["type"] == "platform.report" {
            assert!(
                line["record"]["metrics"]["durationMs"].is_number(),
                "{line}"
            );
            reports += 1;
            continue;
        }
        assert!(
            streamgate_tests::rfc3339(line["timestamp"].as_str().unwrap_or_default()),
            "{line}"
        );
        assert!(line["level"].is_string(), "{line}");
    }
    assert!(reports >= 1, "a platform.report line: {message_logs:?}");
    let text = metrics.prometheus();
    for sample in [
        r#"streamgate_answers_total{outcome="done"} 1"#,
        r#"streamgate_messages_total{route="message"} 1"#,
        "streamgate_connections_opened_total 1",
        "streamgate_sign_ins_total 1",
        r#"streamgate_sign_in_refusals_total{reason="missing"} 1"#,
    ] {
        assert!(text.contains(sample), "{sample} in /metrics:\n{text}");
    }
    running.stop().await;
}

#[tokio::test]
async fn what_cannot_be_emulated_is_named_at_start_up() {
    let dir = scratch_dir("unsupported-template");
    std::fs::write(
        dir.join("template.yaml"),
        r#"
Parameters:
  Needed: {Type: String}
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: x, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.header.x}
  Node:
    Type: AWS::Lambda::Function
    Properties: {Code: {ZipFile: "exports.handler = async () => ({})"}, Handler: index.handler, Runtime: nodejs20.x}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $connect, Target: !Sub "integrations/${Http}"}
  Http:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Api, IntegrationType: HTTP_PROXY, IntegrationUri: "https://example.com"}
"#,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let problems =
        match TemplateHost::start(TemplateOptions::new(dir.join("template.yaml")), &listener).await
        {
            Ok(_) => panic!("the template is refused"),
            Err(p) => p,
        };
    assert!(
        problems
            .iter()
            .any(|p| p.contains("--parameter Needed=VALUE")),
        "{problems:#?}"
    );
    let text = format!("{problems:?}");
    drop(listener);
    let with_value = {
        let mut o = TemplateOptions::new(dir.join("template.yaml"));
        o.parameters = BTreeMap::from([("Needed".into(), "x".into())]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        match TemplateHost::start(o, &listener).await {
            Ok(_) => panic!("the template is refused"),
            Err(p) => p,
        }
    };
    let all = format!("{text}{with_value:?}");
    for expected in ["$request.header.x", "HTTP_PROXY"] {
        assert!(
            all.contains(expected),
            "{expected} is named: {with_value:#?}"
        );
    }

    // A function whose bootstrap is missing is named with the packaging step.
    let mut options = TemplateOptions::new(workspace_root().join("generated/template.yaml"));
    options.artifacts = Some(dir.join("nothing-here"));
    options.parameters = BTreeMap::from([("Architecture".into(), "x86_64".into())]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let problems = match TemplateHost::start(options, &listener).await {
        Ok(_) => panic!("refused"),
        Err(p) => p,
    };
    assert_eq!(problems.len(), Function::ALL.len(), "{problems:#?}");
}

/// A two-way `$default` route over the parity function, with `timeout_s` as the function's
/// timeout.
async fn scripted(
    recorder: &Arc<Recorder>,
    timeout_s: u64,
    tune: impl FnOnce(&mut TemplateOptions),
) -> (Running, tokio::task::JoinHandle<()>) {
    let mut default = ApiRoute::proxy(reserved::DEFAULT);
    default.two_way = true;
    default.function_timeout = Duration::from_secs(timeout_s);
    scripted_api(recorder, vec![default], tune).await
}

/// `routes` over the parity function.
async fn scripted_api(
    recorder: &Arc<Recorder>,
    routes: Vec<ApiRoute>,
    tune: impl FnOnce(&mut TemplateOptions),
) -> (Running, tokio::task::JoinHandle<()>) {
    let (url, task) = streamgate_tests::template_host::serve_recorder(recorder.clone(), None).await;
    let dir = scratch_dir(&format!(
        "scripted-{}",
        streamgate_emulator::ids::new_api_id()
    ));
    std::fs::create_dir_all(dir.join("function")).unwrap();
    std::os::unix::fs::symlink(
        streamgate_tests::template_host::parity_function(),
        dir.join("function/bootstrap"),
    )
    .unwrap();
    let config = GatewayConfig {
        routes,
        ..GatewayConfig::default()
    };
    std::fs::write(
        dir.join("template.json"),
        template_for(&config, &dir.join("function"), &url, false).to_string(),
    )
    .unwrap();
    let mut options = TemplateOptions::new(dir.join("template.json"));
    options.gateway = config;
    options.logs = Arc::new(|_: &str, _: &str| {});
    tune(&mut options);
    let running = Running::start(options).await;
    *recorder.registry_slot() = Some(running.server.gateway.registry().clone());
    (running, task)
}

fn processes(running: &Running) -> usize {
    running
        .server
        .host
        .pool_of(reserved::DEFAULT)
        .unwrap()
        .processes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_processes_are_reused_busy_ones_add_cold_starts_and_idle_ones_stop() {
    let recorder = Recorder::new(|_, event| match event.body.as_deref() {
        Some("slow") => Behaviour::SleepThenBody(Duration::from_millis(800), "ok".into()),
        _ => Behaviour::Body("ok".into()),
    });
    let (running, task) = scripted(&recorder, 30, |o| {
        o.idle_process_timeout = Duration::from_secs(2);
    })
    .await;
    let mut ws = connect(&running.url()).await;
    for _ in 0..3 {
        send(&mut ws, "quick").await;
        assert_eq!(next_text(&mut ws).await, "ok");
    }
    assert_eq!(
        processes(&running),
        1,
        "one warm process serves one after another"
    );
    let mut other = connect(&running.url()).await;
    send(&mut ws, "slow").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&mut other, "slow").await;
    recorder.wait_for(Route::Default, 5).await;
    assert_eq!(next_text(&mut ws).await, "ok");
    assert_eq!(next_text(&mut other).await, "ok");
    assert_eq!(
        processes(&running),
        2,
        "a busy process makes the next invocation cold"
    );
    let pool = running
        .server
        .host
        .pool_of(reserved::DEFAULT)
        .unwrap()
        .clone();
    assert_eq!(
        pool.timings().iter().filter(|t| t.init.is_some()).count(),
        2,
        "two cold starts"
    );
    assert_eq!(pool.cold_starts(), 2, "two processes started");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(processes(&running), 0, "idle processes are stopped");
    send(&mut ws, "quick").await;
    assert_eq!(next_text(&mut ws).await, "ok");
    assert_eq!(
        pool.cold_starts(),
        3,
        "after an idle stop, the next invocation is cold"
    );
    drop((ws, other));
    running.stop().await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_past_its_timeout_is_stopped_and_the_client_gets_the_error_frame() {
    let recorder = Recorder::new(|_, event| match event.body.as_deref() {
        Some("hang") => Behaviour::Sleep(Duration::from_secs(20)),
        _ => Behaviour::Ok,
    });
    let (running, task) = scripted(&recorder, 1, |_| {}).await;
    let mut ws = connect(&running.url()).await;
    let started = std::time::Instant::now();
    send(&mut ws, "hang").await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["message"], "Internal server error");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(processes(&running), 0, "the timed-out process is killed");
    send(&mut ws, "fine").await;
    recorder.wait_for(Route::Default, 2).await;
    ws.close(None).await.unwrap();
    let _ = closed(&mut ws).await;
    running.stop().await;
    task.abort();
}

#[tokio::test]
async fn an_init_error_refuses_the_handshake_with_502() {
    let recorder = Recorder::ok();
    let routes = vec![
        ApiRoute::proxy(reserved::CONNECT),
        ApiRoute::proxy(reserved::DEFAULT),
    ];
    let (running, task) = scripted_api(&recorder, routes, |o| {
        o.extra_environment =
            BTreeMap::from([("PARITY_INIT_ERROR".into(), "no configuration".into())]);
    })
    .await;
    match tokio_tungstenite::connect_async(running.url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 502),
        other => panic!("expected 502, got {other:?}"),
    }
    assert!(recorder.events().is_empty(), "the handler never ran");
    running.stop().await;
    task.abort();
}
