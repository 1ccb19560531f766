//! What an operator watches, checked as they would see it: the local server's `GET /metrics`
//! read by a real Prometheus text parser before and after a chat round trip and shown in
//! Chromium, and its output to a pipe free of colour codes.

use std::collections::BTreeMap;
use std::process::Stdio;

use serde_json::{Value, json};
use streamgate_contract::Route;
use streamgate_tests::local::{answer, connect, next_json, send};
use streamgate_tests::server_process::ServerProcess;

/// Parses Prometheus text with `prometheus_client`'s parser and prints each family's type and
/// each sample as JSON.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {"types": {}, "samples": []}
for family in text_string_to_metric_families(sys.stdin.read()):
    out["types"][family.name] = family.type
    for s in family.samples:
        out["samples"].append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;

/// The exposition, as the parser reads it: family types, and each sample's value by
/// `name{label="value",...}`.
struct Exposition {
    types: BTreeMap<String, String>,
    samples: BTreeMap<String, f64>,
}

impl Exposition {
    fn value(&self, sample: &str) -> f64 {
        self.samples.get(sample).copied().unwrap_or(0.0)
    }
}

async fn scrape(port: u16) -> Exposition {
    let response = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let mut parser = std::process::Command::new(streamgate_tests::python_tool("python"))
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    use std::io::Write;
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = parser.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let types = parsed["types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let samples = parsed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            // Labels sorted by name, whatever order the parser keeps.
            let mut labels: Vec<String> = s[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap()))
                .collect();
            labels.sort();
            let name = match labels.as_slice() {
                [] => s[0].as_str().unwrap().to_owned(),
                _ => format!("{}{{{}}}", s[0].as_str().unwrap(), labels.join(",")),
            };
            (name, s[2].as_f64().unwrap())
        })
        .collect();
    Exposition { types, samples }
}

#[tokio::test]
async fn a_chat_round_trip_moves_the_prometheus_counters_and_piped_output_has_no_colour() {
    let (mut cmd, port) = ServerProcess::command();
    cmd.args(["--echo-delay-ms", "0", "--auth", "none"])
        .env_remove("NO_COLOR");
    let mut server = ServerProcess::start(cmd, port);
    let line = server.until("metrics:").await;
    assert!(
        line.contains(&format!("http://localhost:{port}/metrics")),
        "the banner says where the metrics are: {line}"
    );

    let before = scrape(port).await;
    assert_eq!(before.types["streamgate_answers"], "counter");
    assert_eq!(before.types["streamgate_first_token_seconds"], "histogram");
    assert_eq!(before.value("streamgate_connections_opened_total"), 0.0);

    let mut ws = connect(&format!("ws://127.0.0.1:{port}/dev")).await;
    send(
        &mut ws,
        &json!({"action": Route::Message.key(), "data": "count me", "requestId": "m-1"})
            .to_string(),
    )
    .await;
    assert_eq!(answer(&mut ws).await, "count me");
    send(&mut ws, r#"{"action": "dance"}"#).await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["code"], "unknown_action");

    let after = scrape(port).await;
    let moved = |sample: &str| after.value(sample) - before.value(sample);
    assert_eq!(moved("streamgate_connections_opened_total"), 1.0);
    assert_eq!(moved(r#"streamgate_messages_total{route="message"}"#), 1.0);
    assert_eq!(moved(r#"streamgate_answers_total{outcome="done"}"#), 1.0);
    assert_eq!(
        moved(r#"streamgate_errors_total{code="unknown_action"}"#),
        1.0
    );
    assert_eq!(
        moved(r#"streamgate_tokens_out_total{provider="echo"}"#),
        2.0
    );
    assert_eq!(
        moved(r#"streamgate_first_token_seconds_count{provider="echo"}"#),
        1.0
    );
    assert!(
        moved("streamgate_posts_total") >= 3.0,
        "chunks, done and the error"
    );
    // A histogram's buckets are cumulative and end with everything.
    assert_eq!(
        after.value(r#"streamgate_answer_seconds_bucket{le="+Inf",provider="echo"}"#),
        after.value(r#"streamgate_answer_seconds_count{provider="echo"}"#)
    );

    // As someone checking on the server sees it: the page in Chromium (the README shows a copy
    // of its screenshot, docs/metrics.png).
    let root = streamgate_tests::workspace_root();
    let shown = tokio::process::Command::new("node")
        .arg(root.join("tests/node/metrics-page.mjs"))
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .arg(r#"streamgate_answers_total{outcome="done"} 1"#)
        .arg(root.join("tests/artifacts"))
        .env("CHROMIUM", streamgate_tests::local::browser_tools())
        .current_dir(root.join("tests/node"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (install Node.js)");
    assert!(
        shown.status.success(),
        "{}{}",
        String::from_utf8_lossy(&shown.stdout),
        String::from_utf8_lossy(&shown.stderr)
    );

    drop(ws);
    server.terminate().await;
    let output = server.output;
    assert!(output.len() > 5, "{output:#?}");
    let coloured: Vec<&String> = output.iter().filter(|l| l.contains('\u{1b}')).collect();
    assert!(
        coloured.is_empty(),
        "colour codes in piped output: {coloured:?}"
    );
}
