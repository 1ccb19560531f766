//! The soak suite: the release server, on loopback, through what an attacker or a heavy user
//! would do to it, each scenario bounded in count and time, each judged pass or fail on
//! figures it prints and writes to RELIABILITY.md.
//!
//! `just soak` (or `soak --server target/release/streamgate-server --out RELIABILITY.md`).
//!
//! `main.rs`: the server under test and what the scenarios share; one module per kind of
//! scenario (`traffic`, `attacks`, `readers`, `voice`).

mod attacks;
mod readers;
mod traffic;
mod voice;

use attacks::*;
use readers::*;
use traffic::*;
use voice::*;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use streamgate_contract::Route;
use streamgate_tests::mock_realtime::MockRealtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A server process under test.
struct Server {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(bin: &Path, args: &[&str], nofile: Option<u64>, env: &[(&str, &str)]) -> Server {
        let port = fresh_port();
        let mut cmd = std::process::Command::new(bin);
        // Open (`--auth none`): the soak is about load and abuse, not tokens.
        cmd.args(["--port", &port.to_string(), "--auth", "none"])
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(n) = nofile {
            // SAFETY: setrlimit is async-signal-safe and touches nothing else.
            unsafe {
                cmd.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut cmd = Command::from(cmd);
        cmd.kill_on_drop(true);
        let mut child = cmd.spawn().expect("the server starts");
        let (lines, _readers) = streamgate_tests::relay_process::collect_output(&mut child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "the server listens within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, port, lines }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/dev", self.port)
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn cpu_s(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let f: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        // SAFETY: sysconf reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / hz
    }

    fn said(&self, what: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(what))
            .count()
    }

    async fn health(&self) -> Value {
        let (status, body) = http(
            self.port,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// Waits until the server holds no chat connection and no voice session.
    async fn settles(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let h = self.health().await;
            if h["connections"] == 0 && h["voiceSessions"] == 0 {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A free port no earlier scenario used: a reused port would meet the thousands of
/// connections to the previous server still in TIME_WAIT, and a silent client's handshake
/// could complete against one of those instead of reaching the new server.
fn fresh_port() -> u16 {
    static USED: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut used = USED.lock().unwrap();
        if !used.contains(&port) {
            used.push(port);
            return port;
        }
    }
}

/// One raw HTTP/1.1 exchange: status and body.
async fn http(port: u16, request: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, String::new());
    };
    if s.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn open(url: &str) -> Option<Ws> {
    tokio_tungstenite::connect_async(url)
        .await
        .ok()
        .map(|(ws, _)| ws)
}

/// Sends one message and reads its answer: the concatenated chunks and the terminal frame.
async fn ask(ws: &mut Ws, data: &str, id: &str) -> Result<(String, Value), String> {
    let m = json!({"action": Route::Message.key(), "data": data, "requestId": id});
    ws.send(Message::text(m.to_string()))
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                if v["requestId"] != id {
                    continue;
                }
                match v["type"].as_str() {
                    Some("chunk") => answer.push_str(v["content"].as_str().unwrap_or("")),
                    Some("done" | "error") => return Ok((answer, v)),
                    _ => {}
                }
            }
            Ok(Some(Ok(_))) => {}
            other => return Err(format!("{other:?}")),
        }
    }
}

fn words(n: usize) -> String {
    (0..n)
        .map(|i| format!("w{} ", i % 1000))
        .collect::<String>()
        .trim_end()
        .to_owned()
}

fn pct(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    if samples.is_empty() {
        return 0.0;
    }
    samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

/// One scenario's verdict and figures.
struct Outcome {
    name: &'static str,
    pass: bool,
    figures: Vec<String>,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut server, mut out) = (None, PathBuf::from("RELIABILITY.md"));
    let mut only: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--server" => server = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--only" => only.extend(args.next()),
            other => {
                eprintln!("soak: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let Some(bin) = server else {
        eprintln!(
            "usage: soak --server target/release/streamgate-server [--out FILE] [--only SCENARIO]"
        );
        std::process::exit(2);
    };
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let started = Instant::now();
    let mut outcomes = Vec::new();
    macro_rules! run {
        ($name:literal, $f:expr) => {
            if wanted($name) {
                eprintln!("soak: {}", $name);
                let o = $f.await;
                eprintln!(
                    "  {}: {}",
                    if o.pass { "pass" } else { "FAIL" },
                    o.figures.join("; ")
                );
                outcomes.push(o);
            }
        };
    }
    run!("load", load(&bin));
    run!("churn", churn(&bin));
    run!("slowloris", slowloris(&bin));
    run!("descriptors", descriptors(&bin));
    run!("slow-readers", slow_readers(&bin));
    run!("drops", drops(&bin));
    run!("voice", voice(&bin));
    run!("hostile", hostile(&bin));
    let passed = outcomes.iter().filter(|o| o.pass).count();
    let mut md = String::from(
        "# Reliability\n\nWritten by `just soak`: the release `streamgate-server` on loopback, each scenario in a fresh process, bounded in count and time. Mock upstreams run in the soak process (echo provider for chat answers; a mock Realtime service for voice).\n\n",
    );
    md.push_str(&format!(
        "{passed} of {} scenarios passed in {:.0} s.\n\n| scenario | result | figures |\n|---|---|---|\n",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    ));
    for o in &outcomes {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            o.name,
            if o.pass { "pass" } else { "**fail**" },
            o.figures.join("<br>")
        ));
    }
    if only.is_empty() {
        // The fuzzing record (`just fuzz`) lives in the same file; it is kept.
        if let Ok(old) = std::fs::read_to_string(&out)
            && let Some(at) = old.find("\n## Fuzzing")
        {
            md.push_str(&old[at..]);
        }
        std::fs::write(&out, md).expect("writes the report");
        eprintln!("soak: wrote {}", out.display());
    } else {
        print!("{md}");
    }
    if passed != outcomes.len() {
        std::process::exit(1);
    }
}
