//! `--watch`: an edited handler is what the next event runs, within 2 s, and one line says
//! which functions reloaded.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use streamgate_tests::local::{connect, next_json, send};

use super::super::host_template::{Logs, Running};
use super::{Said, fixture, options};

async fn whoami(ws: &mut streamgate_tests::local::Client) -> Value {
    send(ws, &json!({"action": "whoami"}).to_string()).await;
    next_json(ws).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_handler_runs_on_the_next_event_within_two_seconds() {
    let dir = fixture("sam-node-cjs", "managed-watch");
    let (logs, said) = (Logs::default(), Said::default());
    let mut opts = options(dir.join("template.yaml"), &logs, &said);
    opts.watch = true;
    let running = Running::start(opts).await;
    let mut ws = connect(&format!("{}?token=let-me-in-erin", running.url())).await;
    let before: Value = whoami(&mut ws).await;
    assert_eq!(before["greeting"], "hello");
    let pool = running.server.host.pools()["Broadcast"].clone();
    assert_eq!(pool.processes(), 1, "a warm process");

    let file = dir.join("handlers/broadcast.js");
    let code = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        code.replace("greeting: process.env.GREETING", "greeting: 'edited'"),
    )
    .unwrap();
    let edited = Instant::now();
    let mut after = before.clone();
    while edited.elapsed() < Duration::from_secs(2) {
        after = whoami(&mut ws).await;
        if after["greeting"] == "edited" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        after["greeting"], "edited",
        "the next event runs the new code within 2 s of the edit"
    );
    let reloads: Vec<String> = said
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("reloaded "))
        .collect();
    assert_eq!(reloads.len(), 1, "one line per change: {reloads:?}");
    for f in ["Broadcast", "Connect", "Slow", "Authorize"] {
        assert!(
            reloads[0].contains(f),
            "every function of the folder: {reloads:?}"
        );
    }
    assert!(
        pool.cold_starts() >= 2,
        "a new process started on the new code"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cargo_lambda_function_is_built_and_rebuilt_when_its_sources_change() {
    let dir = fixture("sam-rust", "managed-rust");
    let (logs, said) = (Logs::default(), Said::default());
    let mut opts = options(dir.join("template.yaml"), &logs, &said);
    opts.watch = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = match streamgate_template_host::host::TemplateHost::start(opts, &listener).await {
        Ok(server) => {
            let addr = listener.local_addr().unwrap();
            let task = tokio::spawn(server.gateway.clone().serve(listener));
            (server, addr, task)
        }
        Err(p) => panic!(
            "the Rust function builds (cargo-lambda comes with `just setup-deploy`, on PATH under `just test`): {p:?}"
        ),
    };
    let (server, addr, task) = running;
    assert!(
        said.lines()
            .iter()
            .any(|l| l.starts_with("building Echo with cargo lambda")),
        "no bootstrap yet: built at start-up: {:?}",
        said.lines()
    );
    // It runs from a private copy of what cargo lambda built, so a rebuild can replace the
    // bootstrap while a warm process runs it ("Text file busy" otherwise).
    let root = &server.host.pools()["Echo"].launch().task_root;
    let built = dir.join("echo/target/lambda/sam-echo/bootstrap");
    assert_ne!(root, built.parent().unwrap());
    assert_eq!(
        std::fs::read(root.join("bootstrap")).unwrap(),
        std::fs::read(&built).unwrap()
    );
    let mut ws = connect(&format!("ws://{addr}/dev")).await;
    send(&mut ws, "hello").await;
    assert_eq!(streamgate_tests::local::next_text(&mut ws).await, "v1");

    let main = dir.join("echo/src/main.rs");
    let code = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, code.replace("\"v1\"", "\"v2\"")).unwrap();
    let edited = Instant::now();
    let mut answer = String::new();
    while edited.elapsed() < Duration::from_secs(60) && answer != "v2" {
        tokio::time::sleep(Duration::from_millis(250)).await;
        send(&mut ws, "hello").await;
        answer = streamgate_tests::local::next_text(&mut ws).await;
    }
    assert_eq!(answer, "v2", "rebuilt and reloaded: {:?}", said.lines());
    let reloads = said
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("reloaded Echo"))
        .count();
    assert_eq!(
        reloads,
        1,
        "one reload for the edit, none for the rebuilt bootstrap: {:?}",
        said.lines()
    );
    server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
}
