//! Harness for the workspace-level tests: where the workspace is, and the real tools the
//! tests drive (validators from the project's Python environment, DynamoDB Local, mock
//! upstreams). A tool that is missing is an error that names the setup step: tests never
//! skip silently.

#![allow(
    clippy::unwrap_used,
    reason = "test support: a step that fails is a failed test, and says where"
)]

pub mod bedrock;
pub mod doubles;
pub mod dynamodb_local;
pub mod emf;
pub mod local;
pub mod mock_http;
pub mod mock_realtime;
pub mod packaging;
pub mod readme;
pub mod recorder;
pub mod registry;
pub mod relay_process;
pub mod sam_template;
pub mod server_process;
pub mod sse;
pub mod template_host;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The status and body of a raw HTTP/1.1 response (status 0 when there is none).
pub fn status_and_body(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Credentials for local endpoints (DynamoDB Local, mock servers), which accept any.
pub fn test_credentials() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        "AKIDLOCAL",
        "local-secret",
        None,
        None,
        "streamgate-tests",
    )
}

/// An AWS SDK configuration for loopback endpoints.
pub fn local_sdk_config() -> aws_config::SdkConfig {
    streamgate_local_services::loopback_sdk_config("AKIDLOCAL", "local-secret", "us-east-1")
}

/// A connection id as a path segment of the management API, percent-encoded as the AWS SDKs
/// send it (ids are base64, so they may hold `/` and `+`).
pub fn encode_id(id: &str) -> String {
    id.replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// A real API Gateway event from `tests/fixtures/apigw-websocket/` (`connect`, `message`,
/// `disconnect`), as JSON.
pub fn fixture_json(name: &str) -> serde_json::Value {
    let path = workspace_root()
        .join("tests/fixtures/apigw-websocket")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixtures are JSON")
}

/// A real API Gateway event, deserialized.
pub fn fixture_event(name: &str) -> ApiGatewayWebsocketProxyRequest {
    serde_json::from_value(fixture_json(name)).expect("fixtures deserialize into aws_lambda_events")
}

/// The real MESSAGE event with `body` as its body.
pub fn message_event_with(body: impl Into<String>) -> ApiGatewayWebsocketProxyRequest {
    let mut event = fixture_event("message");
    event.body = Some(body.into());
    event
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .to_path_buf()
}

/// A command-line tool installed by `just setup` into the project's Python environment.
///
/// # Panics
/// When the tool is not installed, with the command that installs it.
pub fn python_tool(name: &str) -> PathBuf {
    let path = workspace_root().join(".venv").join("bin").join(name);
    assert!(
        path.is_file(),
        "{name} is not installed at {}: run `just setup` (it creates .venv from tests/requirements.txt)",
        path.display()
    );
    path
}

/// The debug build of one of the workspace's binaries. `cargo test` does not build other
/// packages' binaries (and a nested `cargo build` would wait forever on its lock), so
/// `just test` builds them first.
///
/// # Panics
/// When the binary is missing, with the command that builds it.
pub fn workspace_binary(binary: &str) -> PathBuf {
    let path = workspace_root().join("target/debug").join(binary);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --all-targets` first (`just test` does)",
        path.display()
    );
    path
}

/// Runs a command to completion, with its output captured.
///
/// # Panics
/// When the command cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The generated template file, parsed into JSON values.
pub fn committed_template() -> serde_json::Value {
    let path = workspace_root().join(infra_gen::TEMPLATE_PATH);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (run `just synth`)", path.display()));
    yaml_serde::from_str(&text).expect("the generated template is valid YAML")
}

/// cfn-lint (from `.venv`) finds nothing in `template`: no error, warning or information.
///
/// # Panics
/// With cfn-lint's report, or when cfn-lint is not installed (with the setup step).
pub fn assert_cfn_lint_clean(template: &Path) {
    let cfn_lint = python_tool("cfn-lint");
    let out = run(Command::new(cfn_lint).arg(template));
    assert!(
        out.status.success(),
        "cfn-lint exited {:?} (bit mask: 2 errors, 4 warnings, 8 informational):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// checkov (from `.venv`) runs its CloudFormation checks on `template` and none fails.
///
/// # Panics
/// With the failed checks, or when checkov is not installed (with the setup step).
pub fn assert_checkov_clean(template: &Path) {
    let checkov = python_tool("checkov");
    let out = run(Command::new(checkov)
        .args([
            "--framework",
            "cloudformation",
            "--compact",
            "--quiet",
            "--skip-download",
            "-o",
            "json",
            "-f",
        ])
        .arg(template)
        .env("BC_SKIP_MAPPING", "TRUE"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov printed no JSON report ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let summary = &report["summary"];
    assert!(
        summary["passed"].as_u64().unwrap() > 0,
        "checkov ran checks: {summary}"
    );
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{} on {}", c["check_id"], c["resource"]))
        .collect();
    assert_eq!(failed, Vec::<String>::new(), "checkov failed checks");
    assert_eq!(summary["failed"], 0);
}

/// The environment Lambda gives a function process (runtime API address, function name,
/// memory, version, region, credentials), nothing else; output captured, killed on drop.
pub fn lambda_environment(
    cmd: &mut tokio::process::Command,
    runtime_api: &str,
    function: streamgate_contract::Function,
) {
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function.name())
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.spec().memory_mb.to_string(),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
        .env("AWS_SECRET_ACCESS_KEY", "local-secret")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
}

/// Whether `ts` is an RFC 3339 date-time (what Lambda's log filtering reads).
pub fn rfc3339(ts: &str) -> bool {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok()
}
