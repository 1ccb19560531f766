//! `streamgate-bench`: measures the local server and serverless-offline under the same load
//! and writes the figures, side by side, to BENCH.md.
//!
//! Usage: `streamgate-bench --server BIN --baseline DIR --out FILE [--quick]` (see `just bench`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::json;
use streamgate_contract::Route;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Clone, Copy)]
struct Plan {
    round_trip_secs: u64,
    setups: usize,
    idle_connections: usize,
}

/// One target under test.
struct Target {
    name: &'static str,
    url: String,
    child: Child,
}

impl Target {
    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // The process group: serverless-offline runs its handlers in child processes.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &format!("-{pid}")])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

/// Target processes run in their own process group (so `Target::stop` reaches their
/// children), with no terminal and no output.
trait QuietGroup {
    fn quiet_group(&mut self) -> &mut Self;
}

impl QuietGroup for Command {
    fn quiet_group(&mut self) -> &mut Self {
        self.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_port(child: &mut Child, port: u16, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited at start ({status})"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("nothing listened on port {port} within {within:?}"))
}

async fn start_streamgate(bin: &Path) -> Result<Target, String> {
    let port = free_port();
    let mut child = Command::new(bin)
        .args(["--port", &port.to_string(), "--echo-delay-ms", "0"])
        .env("RUST_LOG", "warn")
        .quiet_group()
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (run `cargo build --release -p streamgate-server`)",
                bin.display()
            )
        })?;
    wait_for_port(&mut child, port, Duration::from_secs(20)).await?;
    Ok(Target {
        name: "streamgate",
        url: format!("ws://127.0.0.1:{port}/dev"),
        child,
    })
}

async fn start_baseline(dir: &Path) -> Result<Target, String> {
    let dir = &dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = free_port();
    let cli = dir.join("node_modules/serverless/bin/serverless.js");
    if !cli.is_file() {
        return Err(format!(
            "serverless is not installed in {} (run `just bench`, which installs it)",
            dir.display()
        ));
    }
    let mut child = Command::new("node")
        .arg(cli)
        .args(["offline", "start", "--stage", "dev"])
        .current_dir(dir)
        .env("BASELINE_PORT", port.to_string())
        .env("BASELINE_HTTP_PORT", free_port().to_string())
        .env("BASELINE_LAMBDA_PORT", free_port().to_string())
        .env("SLS_TELEMETRY_DISABLED", "1")
        .env("SLS_NOTIFICATIONS_MODE", "off")
        .quiet_group()
        .spawn()
        .map_err(|e| format!("cannot start serverless-offline: {e}"))?;
    wait_for_port(&mut child, port, Duration::from_secs(90)).await?;
    Ok(Target {
        name: "serverless-offline",
        url: format!("ws://127.0.0.1:{port}"),
        child,
    })
}

/// Resident memory of a process and its descendants, in bytes.
fn tree_rss(root: u32) -> u64 {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The fields after the command name (which is in parentheses).
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0);
        parents.push((pid, ppid));
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .sum::<u64>()
        * 1024
}

/// Opens a client socket with small buffers: tungstenite's default 128 KB read buffer per
/// socket would make the load client, not the server, the memory hog at 10,000 sockets.
async fn open(url: &str) -> Result<Ws, String> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

/// Kinds of request.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// An unknown action: `$default` answers one error frame.
    Default,
    /// `message`: chunks, then `done`.
    Message,
}

impl Kind {
    fn frame(self, i: u64) -> String {
        match self {
            Kind::Default => json!({"action": "not-a-route", "requestId": format!("d{i}")}).to_string(),
            Kind::Message => json!({"action": Route::Message.key(), "data": "hello streaming world", "requestId": format!("m{i}")}).to_string(),
        }
    }

    fn is_last(self, text: &str) -> bool {
        match self {
            Kind::Default => text.contains("\"error\""),
            Kind::Message => text.contains("\"done\"") || text.contains("\"error\""),
        }
    }
}

/// One request and its answer on `ws`; the round-trip time.
async fn round_trip(ws: &mut Ws, kind: Kind, i: u64) -> Result<Duration, String> {
    let started = Instant::now();
    ws.send(Message::text(kind.frame(i)))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if kind.is_last(t.as_str()) {
                    return Ok(started.elapsed());
                }
            }
            Ok(Some(Ok(_))) => {}
            other => return Err(format!("no answer: {other:?}")),
        }
    }
}

struct Load {
    requests: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

async fn load(url: &str, kind: Kind, connections: usize, secs: u64) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut sockets = Vec::new();
    for _ in 0..connections {
        match open(url).await {
            Ok(ws) => sockets.push(ws),
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for (w, mut ws) in sockets.into_iter().enumerate() {
        let (stop, errors) = (stop.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut i = (w as u64) << 32;
            while !stop.load(Ordering::Relaxed) {
                match round_trip(&mut ws, kind, i).await {
                    Ok(d) => samples.push(d),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                i += 1;
            }
            let _ = ws.close(None).await;
            samples
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    samples.sort();
    let pct = |p: f64| {
        if samples.is_empty() {
            Duration::ZERO
        } else {
            samples[((samples.len() - 1) as f64 * p).round() as usize]
        }
    };
    Load {
        requests: samples.len() as u64,
        elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// Connections opened and closed per second, by 64 concurrent clients.
async fn setup_rate(url: &str, total: usize) -> (f64, u64) {
    let started = Instant::now();
    let errors = Arc::new(AtomicU64::new(0));
    let per_worker = total / 64;
    let mut workers = Vec::new();
    for _ in 0..64 {
        let (url, errors) = (url.to_owned(), errors.clone());
        workers.push(tokio::spawn(async move {
            for _ in 0..per_worker {
                match open(&url).await {
                    Ok(mut ws) => {
                        let _ = ws.close(None).await;
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    (
        (per_worker * 64) as f64 / started.elapsed().as_secs_f64(),
        errors.load(Ordering::Relaxed),
    )
}

/// Server memory holding `n` idle connections (opened 200 at a time).
async fn idle_rss(target: &Target, n: usize) -> (u64, u64, usize) {
    let before = tree_rss(target.pid());
    let mut sockets = Vec::with_capacity(n);
    let mut failed = 0;
    while sockets.len() + failed < n {
        let batch = (n - sockets.len() - failed).min(200);
        let opened = futures::future::join_all((0..batch).map(|_| open(&target.url))).await;
        for r in opened {
            match r {
                Ok(ws) => sockets.push(ws),
                Err(_) => failed += 1,
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = tree_rss(target.pid());
    let held = sockets.len();
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    (before, after, held)
}

struct Figures {
    lines: Vec<(String, f64, String)>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn measure(target: &Target, plan: Plan) -> Figures {
    let mut lines = Vec::new();
    lines.push((
        "RSS after start-up (MB)".into(),
        tree_rss(target.pid()) as f64 / 1e6,
        String::new(),
    ));
    for (kind, label) in [
        (Kind::Default, Route::Default.key()),
        (Kind::Message, Route::Message.key()),
    ] {
        for connections in [1usize, 64] {
            eprintln!(
                "  {}: {label} over {connections} connection(s)",
                target.name
            );
            let l = load(&target.url, kind, connections, plan.round_trip_secs).await;
            let rate = l.requests as f64 / l.elapsed.as_secs_f64();
            let note = if l.errors > 0 {
                format!(" ({} errors)", l.errors)
            } else {
                String::new()
            };
            lines.push((
                format!("{label}, {connections} conn: throughput (req/s)"),
                rate,
                note.clone(),
            ));
            lines.push((
                format!("{label}, {connections} conn: p50 round trip (ms)"),
                ms(l.p50),
                note.clone(),
            ));
            lines.push((
                format!("{label}, {connections} conn: p99 round trip (ms)"),
                ms(l.p99),
                note,
            ));
        }
    }
    eprintln!("  {}: connection setup", target.name);
    let (rate, errors) = setup_rate(&target.url, plan.setups).await;
    let note = if errors > 0 {
        format!(" ({errors} errors)")
    } else {
        String::new()
    };
    lines.push(("connection setup (conn/s, 64 clients)".into(), rate, note));
    eprintln!(
        "  {}: {} idle connections",
        target.name, plan.idle_connections
    );
    let (before, after, held) = idle_rss(target, plan.idle_connections).await;
    let note = if held < plan.idle_connections {
        format!(" (only {held} opened)")
    } else {
        String::new()
    };
    lines.push((
        "RSS after the load runs, no connection open (MB)".into(),
        before as f64 / 1e6,
        String::new(),
    ));
    lines.push((
        format!(
            "RSS holding {} idle connections (MB)",
            plan.idle_connections
        ),
        after as f64 / 1e6,
        note,
    ));
    Figures { lines }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {}", kernel.trim())
}

fn higher_is_better(metric: &str) -> bool {
    metric.contains("req/s") || metric.contains("conn/s")
}

fn report(
    ours: &Figures,
    theirs: Option<&Figures>,
    plan: Plan,
    baseline_error: Option<&str>,
) -> String {
    let mut out = String::new();
    out.push_str("# Benchmark\n\n");
    out.push_str("Written by `just bench` (release build). Each target runs as its own process on loopback; the load client is `bench/` (Rust, tokio-tungstenite). Round trips: `$default` is an unknown action answered by one error frame; `message` is a 3-word message answered by the echo provider (no delay) as chunk frames and `done`. Throughput runs each connection in a closed loop (send, wait for the last frame) for ");
    out.push_str(&format!("{} s. ", plan.round_trip_secs));
    out.push_str("Memory is the resident set of the server process and its children. The baseline is serverless-offline 13 (serverless 3) running Node handlers (`bench/node/handler.js`) that answer through its `@connections` endpoint with the AWS SDK for JavaScript.\n\n");
    out.push_str(&format!("Machine: {}.\n\n", machine()));
    out.push_str("| metric | streamgate | serverless-offline | streamgate vs serverless-offline |\n|---|---:|---:|---:|\n");
    for (i, (metric, value, note)) in ours.lines.iter().enumerate() {
        let (theirs_cell, ratio) = match theirs.and_then(|t| t.lines.get(i)) {
            Some((_, v, n)) => {
                let ratio = if *v > 0.0 && *value > 0.0 {
                    if higher_is_better(metric) {
                        format!("{:.1}x", value / v)
                    } else {
                        format!("{:.1}x lower", v / value)
                    }
                } else {
                    "-".into()
                };
                (format!("{v:.2}{n}"), ratio)
            }
            None => ("not measured".into(), "-".into()),
        };
        out.push_str(&format!(
            "| {metric} | {value:.2}{note} | {theirs_cell} | {ratio} |\n"
        ));
    }
    if let Some(e) = baseline_error {
        out.push_str(&format!(
            "\nserverless-offline could not be measured: {e}\n"
        ));
    }
    out.push_str("\nTargets of the project: at least 20x serverless-offline's throughput, and 10,000 idle connections in at most 60 MB.\n");
    out
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut server, mut baseline, mut out, mut quick) =
        (None, None, PathBuf::from("BENCH.md"), false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--server" => server = args.next().map(PathBuf::from),
            "--baseline" => baseline = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--quick" => quick = true,
            other => {
                eprintln!("streamgate-bench: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let Some(server) = server else {
        eprintln!("usage: streamgate-bench --server BIN [--baseline DIR] [--out FILE] [--quick]");
        std::process::exit(2);
    };
    let plan = if quick {
        Plan {
            round_trip_secs: 2,
            setups: 640,
            idle_connections: 1000,
        }
    } else {
        Plan {
            round_trip_secs: 10,
            setups: 3200,
            idle_connections: 10_000,
        }
    };
    eprintln!("measuring streamgate");
    let target = match start_streamgate(&server).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("streamgate-bench: {e}");
            std::process::exit(1);
        }
    };
    let ours = measure(&target, plan).await;
    target.stop().await;
    let (theirs, error) = match baseline {
        Some(dir) => {
            eprintln!("measuring serverless-offline");
            match start_baseline(&dir).await {
                Ok(t) => {
                    let f = measure(&t, plan).await;
                    t.stop().await;
                    (Some(f), None)
                }
                Err(e) => (None, Some(e)),
            }
        }
        None => (None, Some("not asked for (--baseline DIR)".to_owned())),
    };
    let text = report(&ours, theirs.as_ref(), plan, error.as_deref());
    print!("{text}");
    if let Err(e) = std::fs::write(&out, &text) {
        eprintln!("cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
}
