//! Benchmark of `streamgate-server --template` against the in-process host: cold starts of
//! the packaged bootstraps (exec to the first `/next`, and a `$connect` handshake on a cold
//! process), then warm round trips of `$default` (a frame in, the handler's error frame back
//! through `@connections`) and `message` (a 3-word echo answer, to its `done` frame), at 1 and
//! 64 connections. Both hosts use the same DynamoDB Local table layout and the echo provider
//! with no delay.
//!
//! `runtime-host-bench --artifacts DIR [--round-trips N]`, DIR holding
//! `streamgate-*/bootstrap` built for this machine. Prints Markdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use streamgate_contract::{Route, config as env};
use streamgate_server::services::{DynamoDbLocal, tables};
use streamgate_server::template_server::{TemplateOptions, TemplateServer, dynamodb_client};
use streamgate_server::{ChatIntegration, Gateway, GatewayConfig, Registry};
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

/// Round trips on `connections` sockets, `per_connection` each: (median ms, p99 ms, per s).
async fn measure(
    url: &str,
    connections: usize,
    per_connection: usize,
    message: bool,
) -> (f64, f64, f64) {
    let mut sockets = Vec::new();
    for _ in 0..connections {
        sockets.push(connect(url).await);
    }
    // Warm every process the concurrency needs.
    let warm = sockets.iter_mut().map(|ws| async move {
        if message {
            message_round_trip(ws, 0).await
        } else {
            default_round_trip(ws).await
        }
    });
    futures::future::join_all(warm).await;
    let started = Instant::now();
    let runs = sockets.iter_mut().map(|ws| async move {
        let mut times = Vec::new();
        for n in 0..per_connection {
            times.push(if message {
                message_round_trip(ws, n + 1).await
            } else {
                default_round_trip(ws).await
            });
        }
        times
    });
    let mut all: Vec<Duration> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    let elapsed = started.elapsed();
    all.sort();
    (
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.len() as f64 / elapsed.as_secs_f64(),
    )
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
    let round_trips: usize = value("--round-trips").map_or(200, |v| v.parse().unwrap());
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
    options.parameters = BTreeMap::from([("Architecture".into(), arch.into())]);
    options.dynamodb_endpoint = Some(db.endpoint());
    options.logs = Arc::new(|_: &str, _: &str| {});
    options.extra_environment = BTreeMap::from([(env::ECHO_DELAY_MS.to_owned(), "0".to_owned())]);
    options.max_concurrency = 128;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let template_addr = listener.local_addr().unwrap();
    let server = TemplateServer::start(options, &listener)
        .await
        .expect("the template serves");
    let table = server.api.tables[0].clone();
    tokio::spawn(server.gateway.clone().serve(listener));
    let template_url = format!("ws://{template_addr}/{}", server.api.stage);

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
    // Two in-process hosts: handlers pushing straight to the registry (the default), and the
    // same handlers pushing through the AWS SDK over HTTP as they do in Lambda, which separates
    // the cost of real processes from the cost of the SDK round trip.
    let mut in_process_urls = Vec::new();
    for sdk in [false, true] {
        let registry = Arc::new(Registry::new(None));
        let app = streamgate_core::ChatApp {
            store: Arc::new(streamgate_aws::DynamoStore::new(
                dynamodb_client(&db.endpoint(), "us-east-1"),
                &in_process_table.name,
            )),
            push: if sdk {
                streamgate_server::push::sdk_push_to_self()
            } else {
                Arc::new(streamgate_server::push::LocalPush(registry.clone()))
            },
            llm: Arc::new(streamgate_llm::EchoProvider::new(Duration::ZERO)),
            settings: streamgate_core::ChatSettings::default(),
        };
        let gateway = Gateway::new(
            GatewayConfig::default(),
            Arc::new(ChatIntegration(app)),
            registry,
            None,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        in_process_urls.push(format!("ws://{}/dev", listener.local_addr().unwrap()));
        tokio::spawn(gateway.serve(listener));
    }

    println!("## Template host vs in-process host: warm round trips\n");
    println!(
        "{round_trips} round trips per row after a warm-up (at 64 connections, {} each). `$default`: a frame in, the handler's error frame back through `@connections`. `message`: a 3-word echo answer to its `done` frame (an event invocation). In-process: the handlers in the server (A: frames straight to the registry; B: through the AWS SDK's `@connections` client over HTTP, as in Lambda). Template host: the packaged bootstraps as processes under the Runtime API, pushing through the SDK.\n",
        (round_trips / 64).max(1)
    );
    println!(
        "| route | connections | in-process A median / p99 (ms) | in-process B (SDK push) median / p99 (ms) | template host median / p99 (ms) | ratio to A | ratio to B | template host round trips/s |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, message) in [(Route::Default.key(), false), (Route::Message.key(), true)] {
        for connections in [1usize, 64] {
            let per = if connections == 1 {
                round_trips
            } else {
                (round_trips / 64).max(1)
            };
            let a = measure(&in_process_urls[0], connections, per, message).await;
            let b = measure(&in_process_urls[1], connections, per, message).await;
            let t = measure(&template_url, connections, per, message).await;
            println!(
                "| {name} | {connections} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2}x | {:.2}x | {:.0} |",
                a.0,
                a.1,
                b.0,
                b.1,
                t.0,
                t.1,
                t.0 / a.0,
                t.0 / b.0,
                t.2
            );
        }
    }
    let processes: usize = server.host.pools().values().map(|p| p.processes()).sum();
    println!("\nFunction processes running at the end: {processes}.");
}
