//! What the scenarios share: the server under test as a process group of its own, sockets,
//! requests, and a scenario's verdict.

pub(super) use std::collections::BTreeMap;
pub(super) use std::os::unix::process::CommandExt;
pub(super) use std::path::Path;
pub(super) use std::process::Stdio;
pub(super) use std::sync::atomic::{AtomicUsize, Ordering};
pub(super) use std::sync::{Arc, Mutex};
pub(super) use std::time::{Duration, Instant};

pub(super) use futures::{SinkExt, StreamExt};
pub(super) use serde_json::{Value, json};
pub(super) use streamgate_contract::Route;
pub(super) use streamgate_tests::mock_realtime::MockRealtime;
pub(super) use tokio::io::{AsyncReadExt, AsyncWriteExt};
pub(super) use tokio::net::TcpStream;
pub(super) use tokio::process::{Child, Command};
pub(super) use tokio_tungstenite::tungstenite::Message;

pub(super) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A server process under test.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) port: u16,
    pub(super) lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub(super) async fn start(
        bin: &Path,
        args: &[&str],
        nofile: Option<u64>,
        env: &[(&str, &str)],
    ) -> Server {
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

    pub(super) fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    pub(super) fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/dev", self.port)
    }

    pub(super) fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    }

    pub(super) fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub(super) fn cpu_s(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let f: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        // SAFETY: sysconf reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / hz
    }

    pub(super) fn said(&self, what: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(what))
            .count()
    }

    pub(super) async fn health(&self) -> Value {
        let (status, body) = http(
            self.port,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    /// Waits until the server holds no chat connection and no voice session.
    pub(super) async fn settles(&self, within: Duration) -> bool {
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
pub(super) fn fresh_port() -> u16 {
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
pub(super) async fn http(port: u16, request: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, String::new());
    };
    if s.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw)).await;
    streamgate_tests::status_and_body(&raw)
}

pub(super) async fn open(url: &str) -> Option<Ws> {
    tokio_tungstenite::connect_async(url)
        .await
        .ok()
        .map(|(ws, _)| ws)
}

/// Sends one message and reads its answer: the concatenated chunks and the terminal frame.
pub(super) async fn ask(ws: &mut Ws, data: &str, id: &str) -> Result<(String, Value), String> {
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

pub(super) fn words(n: usize) -> String {
    (0..n)
        .map(|i| format!("w{} ", i % 1000))
        .collect::<String>()
        .trim_end()
        .to_owned()
}

pub(super) fn pct(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    if samples.is_empty() {
        return 0.0;
    }
    samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

/// One scenario's verdict and figures.
pub(super) struct Outcome {
    pub(super) name: &'static str,
    pub(super) pass: bool,
    pub(super) figures: Vec<String>,
}
