//! Benchmark of the managed runtimes under `streamgate-server --template`: a SAM stack with
//! the same two-way route served by a `provided.al2023` Rust bootstrap (standard library
//! only), Node.js (an ES module; and one that creates an AWS SDK v3 DynamoDB client at init)
//! and Python (plain; and one that creates a boto3 client at init), each on this machine's
//! `node`/`python3` under streamgate's runtime loop.
//!
//! Cold start: a message on a function whose warm processes were just retired, to its answer
//! (process start, runtime loop, handler import, the invocation), median and max of `--cold`
//! runs (10). Warm: `--warm` round trips (300) on a warm process, median and p99. Prints
//! Markdown. `runtime-bench [--cold N] [--warm N]`.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a step that fails ends the run, saying where"
)]

use std::time::{Duration, Instant};

use serde_json::json;
use streamgate_emulator::api::reserved;
use streamgate_template_host::host::{TemplateHost, TemplateOptions};
use streamgate_tests::local::{Client, connect, next_text, send};
use streamgate_tests::packaging::scratch_dir;
use streamgate_tests::workspace_root;

/// (route, what runs it, handler file, its text).
const FUNCTIONS: &[(&str, &str, &str, &str)] = &[
    ("rust", "provided.al2023 (Rust, std only)", "", ""),
    (
        "node",
        "nodejs22.x (ES module)",
        "node/echo.mjs",
        "export const handler = async (event) => ({ statusCode: 200, body: event.body });\n",
    ),
    (
        "nodesdk",
        "nodejs22.x + SDK v3 DynamoDB client at init",
        "nodesdk/echo.mjs",
        "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nconst db = new DynamoDBClient({});\nexport const handler = async (event) => ({ statusCode: 200, body: event.body });\n",
    ),
    (
        "python",
        "python3.12",
        "python/echo.py",
        "def handler(event, context):\n    return {\"statusCode\": 200, \"body\": event[\"body\"]}\n",
    ),
    (
        "pythonsdk",
        "python3.12 + boto3 DynamoDB client at init",
        "pythonsdk/echo.py",
        "import boto3\ndb = boto3.client(\"dynamodb\")\n\ndef handler(event, context):\n    return {\"statusCode\": 200, \"body\": event[\"body\"]}\n",
    ),
];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    ms(sorted[((sorted.len() as f64 - 1.0) * p).round() as usize])
}

/// The Rust bootstrap: the cargo-lambda fixture's crate, built in release mode.
fn rust_bootstrap(dir: &std::path::Path) -> std::path::PathBuf {
    let manifest = workspace_root().join("tests/fixtures/sam-rust/echo/Cargo.toml");
    let target = workspace_root().join("target/bench-rust-echo");
    let status = std::process::Command::new("cargo")
        .args(["build", "--quiet", "--release", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the Rust echo function builds");
    let code = dir.join("rust");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::copy(target.join("release/sam-echo"), code.join("bootstrap")).unwrap();
    code
}

fn template(dir: &std::path::Path) -> std::path::PathBuf {
    let mut resources = serde_json::Map::new();
    let mut routes = serde_json::Map::new();
    for (route, _, file, text) in FUNCTIONS {
        let id = format!("F{route}");
        let properties = if file.is_empty() {
            json!({"CodeUri": rust_bootstrap(dir).display().to_string(), "Handler": "bootstrap", "Runtime": "provided.al2023"})
        } else {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            let runtime = if file.ends_with(".py") {
                "python3.12"
            } else {
                "nodejs22.x"
            };
            json!({"CodeUri": route, "Handler": "echo.handler", "Runtime": runtime})
        };
        resources.insert(
            id.clone(),
            json!({"Type": "AWS::Serverless::Function", "Properties": properties}),
        );
        routes.insert(
            (*route).to_owned(),
            json!({"FunctionArn": {"Fn::GetAtt": [id, "Arn"]}, "RouteResponseSelectionExpression": reserved::DEFAULT}),
        );
    }
    resources.insert(
        "Api".into(),
        json!({"Type": "AWS::Serverless::WebSocketApi", "Properties": {"StageName": "bench", "Routes": routes}}),
    );
    let t = json!({
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": {"Function": {"Timeout": 10, "MemorySize": 512}},
        "Resources": resources,
    });
    let path = dir.join("template.json");
    std::fs::write(&path, t.to_string()).unwrap();
    path
}

async fn round_trip(ws: &mut Client, route: &str, n: usize) -> Duration {
    let t = Instant::now();
    send(ws, &json!({"action": route, "n": n}).to_string()).await;
    let answer = next_text(ws).await;
    let elapsed = t.elapsed();
    assert!(
        route == "rust"
            || answer.contains(&format!("\"n\": {n}"))
            || answer.contains(&format!("\"n\":{n}")),
        "{answer}"
    );
    elapsed
}

#[tokio::main]
async fn main() {
    let (cold_runs, warm_runs) = (arg("--cold", 10), arg("--warm", 300));
    let dir = scratch_dir("runtime-bench");
    let mut options = TemplateOptions::new(template(&dir));
    options.cache_dir = workspace_root().join("target/streamgate-cache");
    options.logs = std::sync::Arc::new(|_: &str, _: &str| {});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = TemplateHost::start(options, &listener)
        .await
        .unwrap_or_else(|p| panic!("the bench stack serves: {p:?}"));
    let task = tokio::spawn(server.gateway.clone().serve(listener));
    let mut ws = connect(&format!("ws://{addr}/bench")).await;
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .unwrap();
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .unwrap();
    println!(
        "## Managed runtimes under the template host\n\n`runtime-bench` (release): a SAM stack, one two-way route per function (Node.js and Python answer with the frame they got, the Rust bootstrap with a fixed body); this machine's {} and {}. Cold: the first message after the function's warm processes are retired, to its answer (process start, runtime loop, handler import, invocation), median / max of {cold_runs}. Warm: {warm_runs} round trips on a warm process, median / p99. A WebSocket round trip through the emulator is in every figure.\n",
        String::from_utf8_lossy(&node.stdout)
            .trim()
            .replace('v', "Node.js "),
        String::from_utf8_lossy(&python.stdout).trim()
    );
    println!(
        "| function | cold median (ms) | cold max (ms) | warm median (ms) | warm p99 (ms) |\n|---|---:|---:|---:|---:|"
    );
    let mut n = 0;
    for (route, label, _, _) in FUNCTIONS {
        let pool = server.host.pools()[&format!("F{route}")].clone();
        let mut cold = Vec::new();
        for _ in 0..cold_runs {
            pool.reload();
            tokio::time::sleep(Duration::from_millis(100)).await;
            n += 1;
            cold.push(round_trip(&mut ws, route, n).await);
        }
        for _ in 0..20 {
            n += 1;
            round_trip(&mut ws, route, n).await;
        }
        let mut warm = Vec::new();
        for _ in 0..warm_runs {
            n += 1;
            warm.push(round_trip(&mut ws, route, n).await);
        }
        cold.sort();
        warm.sort();
        println!(
            "| {label} | {:.1} | {:.1} | {:.2} | {:.2} |",
            percentile(&cold, 0.5),
            ms(*cold.last().unwrap()),
            percentile(&warm, 0.5),
            percentile(&warm, 0.99)
        );
    }
    server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}
