//! The template host on a shared machine, with functions that misbehave. `callers.rs`:
//! another local user can neither answer invocations nor read secrets, a page cannot reach the
//! local AWS endpoints by DNS rebinding. `processes.rs`: nothing a function starts outlives it
//! or the server (not even after `kill -9`), function output cannot wedge the server, waiting
//! for a busy function ends. `refusals.rs`: templates and zips Lambda would refuse are refused
//! at start-up, DynamoDB Local listens on loopback only.
//!
//! Bootstraps here are shell scripts that speak the Runtime API with curl. Here: what the
//! three use.

mod callers;
mod processes;
mod refusals;
mod sessions;

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
    server_writing_to(template, args, env, Stdio::piped()).await
}

/// `streamgate-server --template TEMPLATE` with `args`, its standard output `stdout`, once it
/// listens.
async fn server_writing_to(
    template: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdout: Stdio,
) -> (tokio::process::Child, std::net::SocketAddr) {
    let port = streamgate_tests::free_port();
    let server =
        tokio::process::Command::new(streamgate_tests::workspace_binary("streamgate-server"))
            .arg("--template")
            .arg(template)
            .args(["--port", &port.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .stdout(stdout)
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
