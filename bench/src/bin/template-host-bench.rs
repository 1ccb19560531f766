//! Benchmark of `streamgate-server --template` against the in-process host: cold starts of
//! the packaged bootstraps (exec to the first `/next`, and a `$connect` handshake on a cold
//! process), then warm round trips of `$default` (a frame in, the handler's error frame back
//! through `@connections`) and `message` (a 3-word echo answer, to its `done` frame), at 1 and
//! 64 connections. Both hosts use the same DynamoDB Local table layout and the echo provider
//! with no delay.
//!
//! `template-host-bench --artifacts DIR [--seconds S] [--only a|b|template] [--connections N]
//! [--max-concurrency N]` (S per row, 3 by default; `--only` and `--connections` narrow the
//! run, for profiling), DIR holding
//! `streamgate-*/bootstrap` built for this machine. Prints Markdown.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a step that fails ends the run, saying where"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use streamgate_contract::{Route, config as env};
use streamgate_emulator::{Gateway, GatewayConfig, Registry};
use streamgate_local_services::DynamoDbLocal;
use streamgate_server::ChatIntegration;
use streamgate_template_host::host::{TemplateHost, TemplateOptions, dynamodb_client};
use streamgate_template_host::tables;
use streamgate_tests::local::{Client, connect, next_json, send};
use streamgate_tests::workspace_root;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn default_round_trip(ws: &mut Client) -> Duration {
    let t = Instant::now();
    send(ws, "not json").await;
    let frame = next_json(ws).await;
    assert_eq!(frame["type"], "error", "{frame}");
    t.elapsed()
}

async fn message_round_trip(ws: &mut Client, n: usize) -> Duration {
    let t = Instant::now();
    send(
        ws,
        &json!({"action": Route::Message.key(), "data": "one two three", "requestId": format!("r{n}")})
            .to_string(),
    )
    .await;
    loop {
        let frame = next_json(ws).await;
        match frame["type"].as_str() {
            Some("chunk") => continue,
            Some("done") => return t.elapsed(),
            _ => panic!("unexpected frame {frame}"),
        }
    }
}

/// A host under test.
struct Host<'a> {
    url: String,
    /// Its connections, to wait until a row's sockets are gone before the next row.
    registry: Arc<Registry>,
    /// Processes started so far (the template host); 0 for the in-process hosts.
    cold_starts: Box<dyn Fn() -> u64 + 'a>,
}

/// One row's figures for one host.
#[derive(Default)]
struct Row {
    median_ms: f64,
    p99_ms: f64,
    per_second: f64,
    /// Processes started while measuring (the warm-up should leave none to start).
    cold_starts: u64,
}

async fn round_trip(ws: &mut Client, message: bool, n: usize) -> Duration {
    if message {
        message_round_trip(ws, n).await
    } else {
        default_round_trip(ws).await
    }
}

/// Closed-loop round trips on `connections` sockets for `window`, after a warm-up that runs
/// rounds (5 round trips per socket) until two rounds in a row start no process: a socket's
/// next frame can arrive before its function process has reported, so a warm steady state
/// needs more processes than connections, as on Lambda. Afterwards the sockets are closed and
/// their `$disconnect` work is let finish, so it does not fall into the next row.
async fn measure(host: &Host<'_>, connections: usize, window: Duration, message: bool) -> Row {
    let mut sockets = Vec::new();
    for _ in 0..connections {
        sockets.push(connect(&host.url).await);
    }
    let mut quiet_rounds = 0;
    for _ in 0..40 {
        let before = (host.cold_starts)();
        let round = sockets.iter_mut().map(|ws| async move {
            for n in 0..5 {
                round_trip(ws, message, n).await;
            }
        });
        futures::future::join_all(round).await;
        quiet_rounds = if (host.cold_starts)() == before {
            quiet_rounds + 1
        } else {
            0
        };
        if quiet_rounds == 2 {
            break;
        }
    }
    let cold_before = (host.cold_starts)();
    let started = Instant::now();
    let deadline = started + window;
    let runs = sockets.iter_mut().map(|ws| async move {
        let mut times = Vec::new();
        let mut n = 100;
        while Instant::now() < deadline {
            times.push(round_trip(ws, message, n).await);
            n += 1;
        }
        times
    });
    let mut all: Vec<Duration> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    let elapsed = started.elapsed();
    let cold_starts = (host.cold_starts)() - cold_before;
    for mut ws in sockets {
        let _ = futures::SinkExt::close(&mut ws).await;
    }
    let quiet_by = Instant::now() + Duration::from_secs(10);
    while !host.registry.is_empty() && Instant::now() < quiet_by {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The `$disconnect` invocations run after the registry lets go of a socket.
    tokio::time::sleep(Duration::from_millis(500)).await;
    all.sort();
    Row {
        median_ms: percentile(&all, 0.5),
        p99_ms: percentile(&all, 0.99),
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        cold_starts,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let artifacts = value("--artifacts").expect("--artifacts DIR");
    // `--only a|b|template`: measure one host (for profiling).
    let only = value("--only").map(|h| match h.as_str() {
        "a" => 0,
        "b" => 1,
        "template" => 2,
        other => panic!("--only a|b|template, not {other}"),
    });
    // `--max-concurrency N`: processes per function at most (128 by default: 64 connections
    // in a closed loop need more processes than connections, see `measure`).
    let max_concurrency: usize = value("--max-concurrency").map_or(128, |v| v.parse().unwrap());
    // `--connections 1|64`: those rows only (for profiling).
    let only_connections: Option<usize> = value("--connections").map(|v| v.parse().unwrap());
    let window = Duration::from_secs_f64(value("--seconds").map_or(3.0, |v| v.parse().unwrap()));
    let root = workspace_root();
    let db = DynamoDbLocal::start(&streamgate_tests::dynamodb_local::jar_dir())
        .await
        .expect("DynamoDB Local starts");
    let arch = if std::env::consts::ARCH == "aarch64" {
        "arm64"
    } else {
        "x86_64"
    };

    // The template host.
    let mut options = TemplateOptions::new(root.join("generated/template.yaml"));
    options.artifacts = Some(artifacts.into());
    // One signed-in user drives every socket: no per-user caps or budget in the way of the
    // figures (the authorizer function still checks the token on each `$connect`).
    options.parameters = BTreeMap::from([
        ("Architecture".into(), arch.into()),
        ("DailyTokenBudget".into(), "0".into()),
        ("MaxConnectionsPerUser".into(), "1000".into()),
        ("MaxAnswersPerUser".into(), "100".into()),
    ]);
    options.dynamodb_endpoint = Some(db.endpoint());
    options.logs = Arc::new(|_: &str, _: &str| {});
    options.extra_environment = BTreeMap::from([(env::ECHO_DELAY_MS.to_owned(), "0".to_owned())]);
    options.max_concurrency = max_concurrency;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let template_addr = listener.local_addr().unwrap();
    let token = streamgate_tests::template_host::sign_in(&mut options, &listener, "bench-user");
    let server = TemplateHost::start(options, &listener)
        .await
        .expect("the template serves");
    let table = server
        .api
        .tables
        .iter()
        .find(|t| t.logical_id == "ConnectionsTable")
        .expect("the connections table")
        .clone();
    let conversations_table = server
        .api
        .tables
        .iter()
        .find(|t| t.logical_id == "ConversationsTable")
        .expect("the conversations table")
        .clone();
    tokio::spawn(server.gateway.clone().serve(listener));
    let template_url = format!("ws://{template_addr}/{}?token={token}", server.api.stage);

    // Cold starts: one handshake on a cold $connect, then one frame on each cold route.
    let t = Instant::now();
    let mut ws = connect(&template_url).await;
    let cold_connect = t.elapsed();
    default_round_trip(&mut ws).await;
    message_round_trip(&mut ws, 0).await;
    drop(ws);
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("## Template host (`--template`): cold starts\n");
    println!(
        "Packaged `{arch}` bootstraps (`lambda-release`), DynamoDB Local. Init: exec to the first `GET /next`.\n"
    );
    println!("| function | init (ms) |\n|---|---:|");
    for (id, pool) in server.host.pools() {
        if let Some(init) = pool.timings().iter().find_map(|t| t.init) {
            println!("| {id} | {:.1} |", init.as_secs_f64() * 1000.0);
        }
    }
    println!(
        "\n`$connect` handshake on a cold process (spawn, init, DynamoDB write, 101): {:.1} ms.\n",
        cold_connect.as_secs_f64() * 1000.0
    );

    // The in-process host over the same kind of table.
    let mut in_process_table = table.clone();
    in_process_table.name = format!("{}-in-process", table.name);
    tables::create(
        &dynamodb_client(&db.endpoint(), "us-east-1"),
        &in_process_table,
    )
    .await
    .unwrap();
    let mut in_process_conversations = conversations_table.clone();
    in_process_conversations.name = format!("{}-in-process", conversations_table.name);
    tables::create(
        &dynamodb_client(&db.endpoint(), "us-east-1"),
        &in_process_conversations,
    )
    .await
    .unwrap();
    // Two in-process hosts: handlers pushing straight to the registry (the default), and the
    // same handlers pushing through the AWS SDK over HTTP as they do in Lambda, which separates
    // the cost of real processes from the cost of the SDK round trip.
    let mut hosts = Vec::new();
    for sdk in [false, true] {
        let registry = Arc::new(Registry::new(None));
        let app = streamgate_core::ChatApp {
            store: Arc::new(streamgate_aws::DynamoStore::new(
                dynamodb_client(&db.endpoint(), "us-east-1"),
                &in_process_table.name,
            )),
            push: if sdk {
                streamgate_server::in_process::sdk_push_to_self()
            } else {
                Arc::new(streamgate_server::in_process::LocalPush(registry.clone()))
            },
            llm: Arc::new(streamgate_llm::EchoProvider::new(Duration::ZERO)),
            quotas: Arc::new(streamgate_core::memory::MemoryQuotas::new()),
            conversations: Arc::new(streamgate_aws::DynamoConversations::new(
                dynamodb_client(&db.endpoint(), "us-east-1"),
                &in_process_conversations.name,
            )),
            settings: streamgate_core::ChatSettings::default(),
        };
        let gateway = Gateway::builder(GatewayConfig::default())
            .chat(Arc::new(ChatIntegration(app)), registry.clone())
            .build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        hosts.push(Host {
            url: format!("ws://{}/dev", listener.local_addr().unwrap()),
            registry,
            cold_starts: Box::new(|| 0),
        });
        tokio::spawn(gateway.serve(listener));
    }
    let pools = server.host.clone();
    hosts.push(Host {
        url: template_url,
        registry: server.gateway.registry().clone(),
        cold_starts: Box::new(move || pools.pools().values().map(|p| p.cold_starts()).sum()),
    });

    // DynamoDB Local is a JVM: it compiles its hot code through its first seconds of load,
    // which would take CPU from whichever row runs then. Connections come and go (a write
    // and a delete each) until it has had that load.
    let warm_until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < warm_until {
        let sockets = futures::future::join_all((0..64).map(|_| connect(&hosts[0].url))).await;
        drop(sockets);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    println!("## Template host vs in-process host: warm round trips\n");
    println!(
        "Closed-loop round trips for {:.0} s per row, after a warm-up that runs until the template host starts no more processes. `$default`: a frame in, the handler's error frame back through `@connections`. `message`: a 3-word echo answer to its `done` frame (an event invocation). In-process: the handlers in the server (A: frames straight to the registry, as `streamgate-server` runs them; B: `--push sdk`, through the AWS SDK's `@connections` client over HTTP, as in Lambda). Template host: the packaged bootstraps as processes under the Runtime API, pushing through the SDK.\n",
        window.as_secs_f64()
    );
    println!(
        "| route | connections | in-process A median / p99 (ms) | in-process B (SDK push) median / p99 (ms) | template host median / p99 (ms) | ratio to A | ratio to B | round trips/s A / B / template | cold starts while measuring |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, message) in [(Route::Default.key(), false), (Route::Message.key(), true)] {
        for connections in [1usize, 64] {
            if only_connections.is_some_and(|c| c != connections) {
                continue;
            }
            let mut rows = Vec::new();
            for (i, host) in hosts.iter().enumerate() {
                rows.push(match only {
                    Some(only) if only != i => Row::default(),
                    _ => measure(host, connections, window, message).await,
                });
            }
            let [a, b, t] = &rows[..] else { unreachable!() };
            println!(
                "| {name} | {connections} | {:.3} / {:.3} | {:.3} / {:.3} | {:.3} / {:.3} | {:.2}x | {:.2}x | {:.0} / {:.0} / {:.0} | {} |",
                a.median_ms,
                a.p99_ms,
                b.median_ms,
                b.p99_ms,
                t.median_ms,
                t.p99_ms,
                t.median_ms / a.median_ms,
                t.median_ms / b.median_ms,
                a.per_second,
                b.per_second,
                t.per_second,
                t.cold_starts
            );
        }
    }
    let processes: usize = server.host.pools().values().map(|p| p.processes()).sum();
    println!("\nFunction processes running at the end: {processes}.");
}
