//! The template host on a shared machine, with functions that misbehave: another local user
//! can neither answer invocations nor read secrets, a page cannot reach the local AWS
//! endpoints by DNS rebinding, nothing a function starts outlives it or the server (not even
//! after `kill -9`), function output cannot wedge the server, waiting for a busy function
//! ends, and templates Lambda would refuse are refused at start-up.
//!
//! Bootstraps here are shell scripts that speak the Runtime API with curl.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use streamgate_emulator::GatewayConfig;
use streamgate_emulator::api::{ApiRoute, reserved};
use streamgate_template_host::host::{TemplateHost, TemplateOptions};
use streamgate_tests::packaging::scratch_dir;
use streamgate_tests::template_host::{
    alive, descendants, script_bootstrap as bootstrap, template_for,
};
use tokio::io::AsyncBufReadExt;

/// A template of the given routes over `function`, written into `dir`.
fn write_template(dir: &Path, function: &Path, routes: Vec<ApiRoute>) -> (PathBuf, GatewayConfig) {
    let config = GatewayConfig {
        routes,
        ..GatewayConfig::default()
    };
    let template = template_for(&config, function, &dir.display().to_string(), false);
    let path = dir.join("template.json");
    std::fs::write(&path, template.to_string()).unwrap();
    (path, config)
}

fn connect_only() -> Vec<ApiRoute> {
    vec![ApiRoute::proxy(reserved::CONNECT)]
}

struct Served {
    server: TemplateHost,
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

async fn serve(
    template: &Path,
    config: GatewayConfig,
    tune: impl FnOnce(&mut TemplateOptions),
) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = TemplateOptions::new(template);
    options.gateway = config;
    options.logs = std::sync::Arc::new(|_: &str, _: &str| {});
    tune(&mut options);
    let server = TemplateHost::start(options, &listener)
        .await
        .unwrap_or_else(|p| panic!("the template serves: {p:#?}"));
    let task = tokio::spawn(server.gateway.clone().serve(listener));
    Served { server, addr, task }
}

/// `streamgate-server --template TEMPLATE` with `args`, its standard output piped (read it or
/// not, as the test wants), once it listens: the process and its address.
async fn server_process(
    template: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (tokio::process::Child, std::net::SocketAddr) {
    let port = streamgate_tests::readme::free_port();
    let server =
        tokio::process::Command::new(streamgate_tests::workspace_binary("streamgate-server"))
            .arg("--template")
            .arg(template)
            .args(["--port", &port.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server listens within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (server, addr)
}

/// A function whose bootstrap starts a child that would live for 1000 s (its pid in
/// `dir/background`), then answers every event with 200.
fn leaves_a_background_child(dir: &Path) -> PathBuf {
    bootstrap(
        dir,
        r#"sleep 1000 & echo $! > "$DIR/background""#,
        "",
        r#"{"statusCode": 200}"#,
    )
}

/// Adds a DynamoDB table to `template`, so the server starts DynamoDB Local.
fn with_table(template: &mut Value) {
    template["Resources"]["Table"] = json!({"Type": "AWS::DynamoDB::Table", "Properties": {
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST"
    }});
}

/// The status a WebSocket upgrade gets (101 when it upgrades).
async fn upgrade_status(addr: std::net::SocketAddr) -> u16 {
    match tokio_tungstenite::connect_async(format!("ws://{addr}/dev")).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
        Err(e) => panic!("the handshake failed without a status: {e}"),
    }
}

/// Waits until `path` exists (a bootstrap wrote it).
async fn written(path: &Path) -> String {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text.trim().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} was not written", path.display());
}

/// Runs `command` as the machine's `nobody` user.
fn as_nobody(command: &mut std::process::Command) -> std::process::Output {
    assert_eq!(
        streamgate_emulator::callers::own_uid(),
        0,
        "this test acts as another local user (nobody): run the suite as root, as CI does"
    );
    use std::os::unix::process::CommandExt;
    command
        .uid(65534)
        .gid(65534)
        .output()
        .expect("runs as nobody")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_local_user_cannot_take_or_answer_invocations() {
    let dir = scratch_dir("hostile-runtime-api");
    // The function refuses every connection.
    let function = bootstrap(&dir, "", "", r#"{"statusCode": 403}"#);
    let (template, config) = write_template(&dir, &function, connect_only());
    let served = serve(&template, config, |_| {}).await;
    assert_eq!(upgrade_status(served.addr).await, 403);
    let api = written(&dir.join("runtime-api")).await;

    // The function's Runtime API, as user nobody: refused before any invocation is handed out.
    let out = as_nobody(std::process::Command::new("curl").args([
        "-sS",
        "-m",
        "5",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://{api}/2018-06-01/runtime/invocation/next"),
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403", "{out:?}");
    // A forged answer for any request id is refused too.
    let out = as_nobody(std::process::Command::new("curl").args([
        "-sS",
        "-m",
        "5",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "POST",
        "-d",
        r#"{"statusCode": 200}"#,
        &format!("http://{api}/2018-06-01/runtime/invocation/x/response"),
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403", "{out:?}");
    // The function still decides every connection.
    for _ in 0..3 {
        assert_eq!(upgrade_status(served.addr).await, 403);
    }
    // A page reaching the Runtime API under a rebound name gets nothing either.
    let r = reqwest::Client::new()
        .get(format!("http://{api}/2018-06-01/runtime/invocation/next"))
        .header("host", "rebound.example")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_connections_answer_only_the_functions_session_token() {
    let dir = scratch_dir("hostile-secrets");
    let function = bootstrap(&dir, "", "", r#"{"statusCode": 200}"#);
    let (template, config) = write_template(&dir, &function, connect_only());
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:llm-key-AbCdEf";
    let served = serve(&template, config, |o| {
        o.secrets = BTreeMap::from([(arn.to_owned(), "sk-very-secret".to_owned())]);
    })
    .await;
    let token = served
        .server
        .gateway
        .config()
        .aws_token
        .clone()
        .expect("the template host hands its functions a session token");
    let get_secret = |host: &str, token: Option<&str>| {
        let mut r = reqwest::Client::new()
            .post(format!("http://{}/", served.addr))
            .header("host", host)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=ASIALOCAL/x/us-east-1/secretsmanager/aws4_request",
            )
            .header("x-amz-target", "secretsmanager.GetSecretValue")
            .header("content-type", "application/x-amz-json-1.1")
            .body(json!({"SecretId": arn}).to_string());
        if let Some(t) = token {
            r = r.header("x-amz-security-token", t);
        }
        r.send()
    };
    let local = format!("127.0.0.1:{}", served.addr.port());
    // Without the token (another user, any script): refused as AWS refuses a bad token.
    let r = get_secret(&local, None).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
    assert!(!r.text().await.unwrap().contains("sk-very-secret"));
    let r = get_secret(&local, Some("local")).await.unwrap();
    assert_eq!(r.status(), 403);
    // With the token but under a rebound name (a web page): refused.
    let r = get_secret("rebound.example", Some(token.expose()))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.text().await.unwrap().contains("sk-very-secret"));
    // The functions' own call.
    let r = get_secret(&local, Some(token.expose())).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["SecretString"],
        "sk-very-secret"
    );

    // @connections the same way.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/dev", served.addr))
        .await
        .unwrap();
    let event: Value = serde_json::from_str(&written(&dir.join("last-event")).await).unwrap();
    let id = event["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |token: Option<&str>| {
        let mut r = reqwest::Client::new()
            .post(format!(
                "http://{}/dev/@connections/{}",
                served.addr,
                streamgate_tests::encode_id(&id)
            ))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=local/x/us-east-1/execute-api/aws4_request",
            )
            .body("forged");
        if let Some(t) = token {
            r = r.header("x-amz-security-token", t);
        }
        r.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 403);
    assert_eq!(post(Some(token.expose())).await.unwrap().status(), 200);
    use futures::StreamExt;
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_text().unwrap().as_str(), "forged");
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

async fn gone_within(pids: &[u32], within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still running after {within:?}: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_function_starts_dies_with_its_process() {
    let dir = scratch_dir("hostile-orphans-idle");
    let function = leaves_a_background_child(&dir);
    let (template, config) = write_template(&dir, &function, connect_only());
    let served = serve(&template, config, |_| {}).await;
    assert_eq!(upgrade_status(served.addr).await, 101);
    let background: u32 = written(&dir.join("background")).await.parse().unwrap();
    assert!(alive(background));
    // An idle stop (as after --idle-process-timeout-s) takes the background child too.
    served.server.host.stop_all_idle();
    gone_within(&[background], Duration::from_secs(5)).await;
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_of_the_server_nothing_it_started_is_left() {
    let dir = scratch_dir("hostile-orphans-kill");
    let function = leaves_a_background_child(&dir);
    let (template, _) = write_template(&dir, &function, connect_only());
    // A table, so DynamoDB Local (a JVM) runs too.
    let mut t: Value = serde_json::from_str(&std::fs::read_to_string(&template).unwrap()).unwrap();
    with_table(&mut t);
    std::fs::write(&template, t.to_string()).unwrap();
    let jar_dir = streamgate_tests::dynamodb_local::jar_dir();
    let (mut server, addr) = server_process(
        &template,
        &["--dynamodb-local-dir", &jar_dir.display().to_string()],
        &[],
    )
    .await;
    assert_eq!(upgrade_status(addr).await, 101);
    let background: u32 = written(&dir.join("background")).await.parse().unwrap();
    let pid = server.id().unwrap();
    let started = descendants(pid);
    assert!(started.contains(&background), "{started:?}");
    assert!(
        started
            .iter()
            .any(|p| std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.contains("DynamoDBLocal"))),
        "DynamoDB Local runs under the server"
    );
    // SIGKILL: the server gets no chance to clean up.
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    gone_within(&started, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_output_and_a_closed_stdout_do_not_stop_the_functions() {
    let dir = scratch_dir("hostile-output");
    // Each invocation prints bytes that are not UTF-8, then answers.
    let function = bootstrap(
        &dir,
        "",
        r#"printf 'bad \xff\xfe bytes\n'"#,
        r#"{"statusCode": 200}"#,
    );
    let (template, _) = write_template(&dir, &function, connect_only());
    let (mut server, addr) = server_process(&template, &["--max-concurrency", "2"], &[]).await;
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    // Read while standard output is open: the bad bytes arrive as replacement characters.
    assert_eq!(upgrade_status(addr).await, 101);
    let mut seen = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await
    {
        let done = line.contains("REPORT RequestId");
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("bad \u{fffd}\u{fffd} bytes")),
        "{seen:?}"
    );
    // Then standard output closes (`... | head`): every later call still gets its answer,
    // well past the two process slots.
    drop(lines);
    for _ in 0..6 {
        assert_eq!(upgrade_status(addr).await, 101);
    }
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server is still running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_waiting_for_a_busy_function_end_at_the_integration_timeout() {
    let dir = scratch_dir("hostile-queue");
    // One process at most, each invocation 3 s.
    let function = bootstrap(&dir, "", "sleep 3", r#"{"statusCode": 200}"#);
    let mut route = ApiRoute::proxy(reserved::CONNECT);
    route.integration_timeout = Some(Duration::from_millis(500));
    let (template, config) = write_template(&dir, &function, vec![route]);
    let served = serve(&template, config, |o| o.max_concurrency = 1).await;
    let addr = served.addr;
    let calls: Vec<_> = (0..4)
        .map(|_| tokio::spawn(async move { upgrade_status(addr).await }))
        .collect();
    for c in calls {
        // API Gateway's answer to an integration that did not answer in time.
        assert_eq!(c.await.unwrap(), 504);
    }
    // The three that waited gave up at the deadline instead of running later.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let ran = std::fs::read_to_string(dir.join("invocations")).unwrap_or_default();
    assert_eq!(ran.lines().count(), 1, "invocations that ran: {ran}");
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

/// What `TemplateHost::start` says of a template.
async fn problems(template: &Value, tune: impl FnOnce(&mut TemplateOptions)) -> String {
    let dir = scratch_dir(&format!(
        "hostile-read-{}",
        streamgate_emulator::ids::new_api_id()
    ));
    let path = dir.join("template.json");
    std::fs::write(&path, template.to_string()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut options = TemplateOptions::new(&path);
    tune(&mut options);
    match TemplateHost::start(options, &listener).await {
        Ok(_) => panic!("the template was accepted"),
        Err(p) => p.join("\n"),
    }
}

fn base_template(dir: &Path) -> Value {
    let function = bootstrap(dir, "", "", r#"{"statusCode": 200}"#);
    let config = GatewayConfig {
        routes: connect_only(),
        ..GatewayConfig::default()
    };
    template_for(&config, &function, &dir.display().to_string(), false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_lambda_would_refuse_are_refused_at_start_up() {
    let dir = scratch_dir("hostile-read");
    let t = base_template(&dir);

    let mut bad = t.clone();
    bad["Resources"]["Function0"]["Properties"]["Timeout"] = json!("soon");
    assert!(problems(&bad, |_| {}).await.contains("Timeout \"soon\""));

    let mut bad = t.clone();
    bad["Resources"]["Function0"]["Properties"]["Environment"]["Variables"]["NUL"] =
        json!("a\u{0}b");
    assert!(problems(&bad, |_| {}).await.contains("NUL"));
    let mut bad = t.clone();
    bad["Resources"]["Function0"]["Properties"]["Environment"]["Variables"]["BIG"] =
        json!("x".repeat(1 << 20));
    assert!(problems(&bad, |_| {}).await.contains("Lambda allows 4096"));

    // A logical id that would name a folder outside the scratch one.
    let mut bad = t.clone();
    let f = bad["Resources"]["Function0"].take();
    bad["Resources"]
        .as_object_mut()
        .unwrap()
        .remove("Function0");
    bad["Resources"]["../../escape"] = f;
    assert!(problems(&bad, |_| {}).await.contains("is not a logical id"));

    // Names that double at each of 40 levels, and !Subs nested 40 deep that double: refused
    // quickly, not built.
    let mut bad = t.clone();
    let resources = bad["Resources"].as_object_mut().unwrap();
    for i in 0..40 {
        resources.insert(
            format!("Name{i}"),
            json!({"Type": "AWS::DynamoDB::Table", "Properties": {
                "TableName": {"Fn::Sub": format!("${{Name{}}}${{Name{}}}", i + 1, i + 1)},
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]
            }}),
        );
    }
    resources.insert("Name40".into(), json!({"Type": "AWS::SNS::Topic"}));
    let said = problems(&bad, |o| {
        o.dynamodb_endpoint = Some("http://127.0.0.1:9".into())
    })
    .await;
    assert!(said.contains("more than 1048576 bytes"), "{said}");
    let mut nested = json!("x");
    for _ in 0..40 {
        nested = json!({"Fn::Sub": ["${a}${a}", {"a": nested}]});
    }
    let mut bad = t.clone();
    bad["Resources"]["Function0"]["Properties"]["Environment"]["Variables"]["DEEP"] = nested;
    let said = problems(&bad, |_| {}).await;
    assert!(said.contains("more than 1048576 bytes"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_that_unzips_past_lambdas_limit_is_refused() {
    let dir = scratch_dir("hostile-zip");
    let mut t = base_template(&dir);
    let zip_path = dir.join("big.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        zip.start_file("bootstrap", options).unwrap();
        let block = vec![0u8; 1 << 20];
        use std::io::Write;
        for _ in 0..251 {
            zip.write_all(&block).unwrap();
        }
        zip.finish().unwrap();
    }
    t["Resources"]["Function0"]["Properties"]["Code"] = json!(zip_path.display().to_string());
    let said = problems(&t, |_| {}).await;
    assert!(said.contains("Lambda's limit"), "{said}");
}

/// The addresses the kernel shows a listening socket on `port` bound to.
fn listening_on(port: u16) -> Vec<String> {
    let hex_port = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.get(3) == Some(&"0A") && f.get(1)?.ends_with(&hex_port))
                        .then(|| f[1].split(':').next().unwrap().to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_local_listens_on_loopback_only() {
    let dir = scratch_dir("hostile-dynamodb");
    let mut t = base_template(&dir);
    with_table(&mut t);
    let path = dir.join("template.json");
    std::fs::write(&path, t.to_string()).unwrap();
    let config = GatewayConfig {
        routes: connect_only(),
        ..GatewayConfig::default()
    };
    let served = serve(&path, config, |o| {
        o.dynamodb_local_dir = Some(streamgate_tests::dynamodb_local::jar_dir());
    })
    .await;
    let endpoint = served
        .server
        .dynamodb_endpoint
        .clone()
        .expect("DynamoDB Local runs");
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let addresses = listening_on(port);
    // 127.0.0.1, as the kernel prints it in either table (IPv4, or IPv4-mapped IPv6).
    assert!(
        !addresses.is_empty()
            && addresses
                .iter()
                .all(|a| a == "0100007F" || a == "0000000000000000FFFF00000100007F"),
        "DynamoDB Local listens on {addresses:?}"
    );
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_output_nobody_reads_does_not_stop_the_server() {
    let dir = scratch_dir("hostile-full-stdout");
    // Each invocation prints 1 MB (10,000 lines), far past what a pipe holds.
    let function = bootstrap(
        &dir,
        "",
        r#"head -c 1000000 /dev/zero | tr '\0' x | fold -w 100"#,
        r#"{"statusCode": 200}"#,
    );
    let (template, _) = write_template(&dir, &function, connect_only());
    // Standard output is a pipe this test never reads: the server's logs and the functions'
    // output fill it within the first call.
    let (mut server, addr) = server_process(
        &template,
        &["--max-concurrency", "2"],
        &[("RUST_LOG", "debug")],
    )
    .await;
    for i in 0..6 {
        let status = tokio::time::timeout(Duration::from_secs(20), upgrade_status(addr))
            .await
            .unwrap_or_else(|_| {
                panic!("connection {i} got no answer: the server waits on its standard output")
            });
        assert_eq!(status, 101);
    }
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server is still running"
    );
}
