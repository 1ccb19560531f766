//! The soak suite: the release server, on loopback, through what an attacker or a heavy user
//! would do to it, each scenario bounded in count and time, each judged pass or fail on
//! figures it prints and writes to RELIABILITY.md.
//!
//! `just soak` (or `soak --server target/release/streamgate-server --out RELIABILITY.md`).

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

/// Many streams at once, and long answers, all whole and in order; memory given back after.
async fn load(bin: &Path) -> Outcome {
    let server = Server::start(bin, &["--echo-delay-ms", "1"], None, &[]).await;
    let url = server.url();
    let rss_start = server.rss_mb();
    let started = Instant::now();
    let text = words(50);
    let ok = Arc::new(AtomicUsize::new(0));
    let times = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let (url, text, ok, times) = (url.clone(), text.clone(), ok.clone(), times.clone());
            tokio::spawn(async move {
                let Some(mut ws) = open(&url).await else {
                    return;
                };
                let t = Instant::now();
                if let Ok((answer, end)) = ask(&mut ws, &text, &format!("l{i}")).await
                    && answer == text
                    && end["type"] == "done"
                {
                    ok.fetch_add(1, Ordering::Relaxed);
                    times.lock().unwrap().push(t.elapsed());
                }
                let _ = ws.close(None).await;
            })
        })
        .collect();
    let mut peak = 0.0f64;
    for t in tasks {
        peak = peak.max(server.rss_mb());
        let _ = t.await;
    }
    let streams_ok = ok.load(Ordering::Relaxed);
    let streams_time = started.elapsed();
    // 200 long answers (5,000 words each), at once.
    let long = words(5000);
    let long_ok = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (url, long, long_ok) = (url.clone(), long.clone(), long_ok.clone());
            tokio::spawn(async move {
                let Some(mut ws) = open(&url).await else {
                    return;
                };
                if let Ok((answer, end)) = ask(&mut ws, &long, &format!("long{i}")).await
                    && answer == long
                    && end["type"] == "done"
                {
                    long_ok.fetch_add(1, Ordering::Relaxed);
                }
                let _ = ws.close(None).await;
            })
        })
        .collect();
    for t in tasks {
        peak = peak.max(server.rss_mb());
        let _ = t.await;
    }
    let long_ok = long_ok.load(Ordering::Relaxed);
    let settled = server.settles(Duration::from_secs(10)).await;
    let rss_after = server.rss_mb();
    // The trim runs every 2 s once the load has fallen.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_trimmed = server.rss_mb();
    let p99 = pct(&mut times.lock().unwrap(), 0.99);
    Outcome {
        name: "load: 1,000 concurrent streams, then 200 long answers",
        pass: streams_ok == 1000 && long_ok == 200 && settled && rss_trimmed < 64.0,
        figures: vec![
            format!(
                "{streams_ok}/1000 streams whole and in order in {:.1} s (p99 {p99:.0} ms)",
                streams_time.as_secs_f64()
            ),
            format!("{long_ok}/200 answers of 5,000 words whole"),
            format!(
                "RSS {rss_start:.0} MB at start, {peak:.0} MB peak, {rss_after:.0} MB when the last socket closed, {rss_trimmed:.0} MB 5 s later (freed memory returned)"
            ),
        ],
    }
}

/// Connect and disconnect, over and over: nothing is left behind.
async fn churn(bin: &Path) -> Outcome {
    let server = Server::start(bin, &[], None, &[]).await;
    let url = server.url();
    let fds_before = server.fds();
    let rss_before = server.rss_mb();
    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (url, done, failed) = (url.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                while done.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < 20_000 {
                    match open(&url).await {
                        Some(mut ws) => {
                            let _ = ws.close(None).await;
                            while ws.next().await.is_some() {}
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed();
    let settled = server.settles(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fds_after = server.fds();
    let rss_after = server.rss_mb();
    let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    Outcome {
        name: "churn: 20,000 connect/disconnect cycles, 64 at a time",
        pass: failed == 0
            && settled
            && fds_after <= fds_before + 2
            && rss_after < rss_before + 16.0,
        figures: vec![
            format!(
                "{done} cycles, {failed} failed, {:.0} cycles/s",
                done as f64 / elapsed.as_secs_f64()
            ),
            format!(
                "descriptors {fds_before} before, {fds_after} after; RSS {rss_before:.0} MB before, {rss_after:.0} MB after"
            ),
        ],
    }
}

/// 700 slow or silent clients: each is cut off; a real client is served meanwhile.
async fn slowloris(bin: &Path) -> Outcome {
    let server = Server::start(bin, &[], None, &[]).await;
    let port = server.port;
    let started = Instant::now();
    let closed = Arc::new(AtomicUsize::new(0));
    let by_kind: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let unconnected = Arc::new(AtomicUsize::new(0));
    let last_close = Arc::new(Mutex::new(Duration::ZERO));
    let mut attackers = Vec::new();
    for i in 0..700 {
        let (closed, last_close, by_kind, unconnected) = (
            closed.clone(),
            last_close.clone(),
            by_kind.clone(),
            unconnected.clone(),
        );
        attackers.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
                unconnected.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let kind = i % 3;
            let body = "POST /dev/@connections/AAAAAAAAAAAAAAA%3D HTTP/1.1\r\nHost: localhost\r\nAuthorization: AWS4 x\r\nContent-Length: 100\r\n\r\n0123456789";
            let head = b"GET /dev HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            let mut buf = [0u8; 512];
            let deadline = Instant::now() + Duration::from_secs(60);
            match kind {
                0 => {} // nothing at all
                1 => {
                    // Headers at a byte a second.
                    for b in head.iter() {
                        if s.write_all(&[*b]).await.is_err() || Instant::now() > deadline {
                            break;
                        }
                        tokio::select! {
                            r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { break },
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
                _ => {
                    // A body announced and never finished.
                    let _ = s.write_all(body.as_bytes()).await;
                }
            }
            loop {
                match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
                    Ok(Ok(0) | Err(_)) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        by_kind[kind].fetch_add(1, Ordering::Relaxed);
                        let mut l = last_close.lock().unwrap();
                        *l = (*l).max(started.elapsed());
                        return;
                    }
                    Ok(Ok(_)) => continue,
                    Err(_) => return,
                }
            }
        }));
    }
    // A real client, meanwhile.
    let mut served = 0;
    let mut times = Vec::new();
    if let Some(mut ws) = open(&server.url()).await {
        for i in 0..20 {
            let t = Instant::now();
            if let Ok((a, _)) = ask(&mut ws, "still served", &format!("s{i}")).await
                && a == "still served"
            {
                served += 1;
                times.push(t.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for a in attackers {
        let _ = a.await;
    }
    let closed = closed.load(Ordering::Relaxed);
    let last = *last_close.lock().unwrap();
    Outcome {
        name: "slowloris: 700 clients sending nothing, headers at 1 byte/s, or a body that never ends",
        pass: closed == 700 && last < Duration::from_secs(15) && served == 20,
        figures: vec![
            format!(
                "{closed}/700 closed by the server (silent {}, trickling headers {}, unfinished bodies {}; {} could not connect), the last after {:.1} s",
                by_kind[0].load(Ordering::Relaxed),
                by_kind[1].load(Ordering::Relaxed),
                by_kind[2].load(Ordering::Relaxed),
                unconnected.load(Ordering::Relaxed),
                last.as_secs_f64()
            ),
            format!(
                "a real client meanwhile: {served}/20 answers, p99 {:.1} ms",
                pct(&mut times, 0.99)
            ),
        ],
    }
}

/// The file limit reached: the server neither spins nor falls over, and recovers.
async fn descriptors(bin: &Path) -> Outcome {
    // A cap above what the limit allows: accepting fails with EMFILE.
    let server = Server::start(bin, &["--max-connections", "100000"], Some(256), &[]).await;
    let port = server.port;
    let mut held = Vec::new();
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)).await {
            held.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu0 = server.cpu_s();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu = (server.cpu_s() - cpu0) / 3.0 * 100.0;
    let reports = server.said("cannot accept connections");
    drop(held);
    let recovered = {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(mut ws) = open(&server.url()).await
                && ask(&mut ws, "back", "b")
                    .await
                    .is_ok_and(|(a, _)| a == "back")
            {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    drop(server);
    // The default cap under the same limit: refusals with 503 instead.
    let server = Server::start(bin, &[], Some(256), &[]).await;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..300 {
        match open(&server.url()).await {
            Some(ws) => held.push(ws),
            None => refused += 1,
        }
    }
    let still_serving = held.len();
    let healthy = http(
        server.port,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .0;
    drop(held);
    let after = server.settles(Duration::from_secs(10)).await;
    Outcome {
        name: "file descriptors: 400 sockets against a limit of 256",
        pass: cpu < 10.0
            && reports == 1
            && recovered
            && refused > 0
            && still_serving > 100
            && after,
        figures: vec![
            format!(
                "past the limit: {cpu:.1}% CPU while the sockets were held, {reports} log line, recovered once they went: {recovered}"
            ),
            format!(
                "with the default cap: {still_serving} sockets held, {refused} refused with 503, /healthz meanwhile {healthy}"
            ),
        ],
    }
}

/// Clients that stop reading: every request ends, or its connection does.
async fn slow_readers(bin: &Path) -> Outcome {
    // As reported: many clients, one buffer's worth each.
    let (pass_a, many) = slow_readers_with(bin, 300, 1).await;
    // Past every buffer: few clients, each asking for far more than the kernel, the queue and
    // the retry budget hold (the handler must give up on them, and say so).
    let (pass_b, heavy) = slow_readers_with(bin, 10, 200).await;
    Outcome {
        name: "slow readers: clients ask for 30 KB answers and stop reading for 10 s",
        pass: pass_a && pass_b,
        figures: vec![
            format!("300 clients x 1 answer: {many}"),
            format!("10 clients x 200 answers: {heavy}"),
        ],
    }
}

/// `clients` clients each ask for `asks` answers of 30 KB, stop reading for 10 s, then read:
/// whether every request ended (with a frame, or with its connection), and how.
async fn slow_readers_with(bin: &Path, clients: usize, asks: usize) -> (bool, String) {
    let server = Server::start(bin, &["--echo-delay-ms", "0"], None, &[]).await;
    let url = server.url();
    let port = server.port;
    let text: String = (0..6000)
        .map(|i| format!("w{:04} ", i % 10_000))
        .collect::<String>()[..30_000]
        .to_owned();
    // Per request: how it ended for the client.
    let outcomes = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (url, text, outcomes) = (url.clone(), text.clone(), outcomes.clone());
            tokio::spawn(async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                let _ = socket.set_recv_buffer_size(4096);
                let Ok(stream) = socket.connect(([127, 0, 0, 1], port).into()).await else {
                    return;
                };
                let Ok((mut ws, _)) = tokio_tungstenite::client_async(url.as_str(), stream).await
                else {
                    return;
                };
                for a in 0..asks {
                    let m = json!({"action": Route::Message.key(), "data": text, "requestId": format!("r{c}-{a}")});
                    if ws.send(Message::text(m.to_string())).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
                let mut ended = BTreeMap::<String, String>::new();
                let mut closed = false;
                let read = tokio::time::timeout(Duration::from_secs(60), async {
                    while ended.len() < asks {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) => {
                                let v: Value = serde_json::from_str(&t).unwrap_or_default();
                                let id = v["requestId"].as_str().unwrap_or("").to_owned();
                                match v["type"].as_str() {
                                    Some("done") => {
                                        ended.insert(id, "done".into());
                                    }
                                    Some("error") => {
                                        ended.insert(
                                            id,
                                            format!("error {}", v["code"].as_str().unwrap_or("?")),
                                        );
                                    }
                                    _ => {}
                                }
                            }
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                                closed = true;
                                return;
                            }
                            Some(Ok(_)) => {}
                        }
                    }
                })
                .await;
                let mut out = outcomes.lock().unwrap();
                for kind in ended.values() {
                    *out.entry(kind.clone()).or_default() += 1;
                }
                let unfinished = asks - ended.len();
                if unfinished > 0 {
                    let why = if closed {
                        "ended by the server closing the connection"
                    } else if read.is_err() {
                        "nothing (socket left open)"
                    } else {
                        "unaccounted"
                    };
                    *out.entry(why.to_owned()).or_default() += unfinished;
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let outcomes = outcomes.lock().unwrap().clone();
    let silent = outcomes
        .get("nothing (socket left open)")
        .copied()
        .unwrap_or(0)
        + outcomes.get("unaccounted").copied().unwrap_or(0);
    let total: usize = outcomes.values().sum();
    let settled = server.settles(Duration::from_secs(15)).await;
    let pass = silent == 0 && total == clients * asks && settled;
    let figures = format!(
        "{total} requests: {}",
        outcomes
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (pass, figures)
}

/// Clients that vanish mid-answer: the server lets go of them.
async fn drops(bin: &Path) -> Outcome {
    let server = Server::start(bin, &["--echo-delay-ms", "2"], None, &[]).await;
    let url = server.url();
    let fds_before = server.fds();
    let long = words(3000);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (url, long) = (url.clone(), long.clone());
            tokio::spawn(async move {
                let Some(mut ws) = open(&url).await else { return false };
                let m = json!({"action": Route::Message.key(), "data": long, "requestId": format!("d{i}")});
                if ws.send(Message::text(m.to_string())).await.is_err() {
                    return false;
                }
                // The first chunk, then the client is gone (no close frame).
                let first = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
                drop(ws);
                matches!(first, Ok(Some(Ok(Message::Text(_)))))
            })
        })
        .collect();
    let mut mid = 0;
    for t in tasks {
        if t.await.unwrap_or(false) {
            mid += 1;
        }
    }
    let started = Instant::now();
    let settled = server.settles(Duration::from_secs(10)).await;
    let let_go = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fds_after = server.fds();
    Outcome {
        name: "drops: 200 clients vanish mid-answer (6 s answers)",
        pass: mid == 200 && settled && fds_after <= fds_before + 2,
        figures: vec![format!(
            "{mid}/200 dropped mid-stream; every connection let go of {:.1} s later; descriptors {fds_before} before, {fds_after} after",
            let_go.as_secs_f64()
        )],
    }
}

/// Functions that misbehave under the template host, with the server's standard output never
/// read (a terminal that does not keep up): each `$connect` prints 20 MB of 1 KB lines and a
/// 20 MB line without a newline, and the first leaves a background child; then `kill -9`.
async fn hostile(bin: &Path) -> Outcome {
    use streamgate_emulator::api::{ApiRoute, reserved};
    use streamgate_tests::template_host::{alive, descendants, script_bootstrap, template_for};
    let dir = std::env::temp_dir().join(format!("streamgate-soak-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let function = script_bootstrap(
        &dir,
        r#"sleep 1000 & echo $! > "$DIR/background""#,
        "head -c 20000000 /dev/zero | tr '\\0' x | fold -w 1000; head -c 20000000 /dev/zero | tr '\\0' y",
        r#"{"statusCode": 200}"#,
    );
    let config = streamgate_emulator::GatewayConfig {
        routes: vec![ApiRoute::proxy(reserved::CONNECT)],
        ..Default::default()
    };
    let template = dir.join("template.json");
    std::fs::write(
        &template,
        template_for(&config, &function, &dir.display().to_string(), false).to_string(),
    )
    .unwrap();
    let port = fresh_port();
    let mut child = Command::new(bin)
        .arg("--template")
        .arg(&template)
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        // Piped and never read: the pipe fills, and the server must not wait on it.
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let pid = child.id().expect("running");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
            / 1024.0
    };
    let mut peak: f64 = rss();
    let mut upgraded = 0;
    let started = Instant::now();
    for _ in 0..5 {
        let connect = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/dev"));
        let sampling = async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                peak = peak.max(rss());
            }
        };
        tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(30), connect) => {
                if matches!(r, Ok(Ok(_))) {
                    upgraded += 1;
                }
            }
            () = sampling => {}
        }
    }
    let took = started.elapsed();
    let background = std::fs::read_to_string(dir.join("background"))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok());
    let started_procs = descendants(pid);
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = started_procs.clone();
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left.retain(|p| alive(*p));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Outcome {
        name: "hostile functions: 200 MB of output into a stdout nobody reads, 20 MB lines without a newline, a background child, then kill -9",
        pass: upgraded == 5 && peak < 64.0 && left.is_empty() && background.is_some(),
        figures: vec![
            format!(
                "5 connects, each printing 40 MB: {upgraded}/5 answered in {:.1} s; server RSS peak {peak:.1} MB",
                took.as_secs_f64()
            ),
            format!(
                "after kill -9: {} of {} processes it had started left after 5 s (the background child among them: {})",
                left.len(),
                started_procs.len(),
                background.is_some_and(|b| left.contains(&b))
            ),
        ],
    }
}

/// 100 voice sessions at once, each with its upstream, then all closed.
async fn voice(bin: &Path) -> Outcome {
    let mock = MockRealtime::start("sk-soak").await;
    let mock_url = mock.url();
    let server = Server::start(
        bin,
        &[
            "--realtime-url",
            &mock_url,
            "--voice-max-sessions",
            "100",
            "--voice-max-sessions-per-client",
            "100",
        ],
        None,
        &[("OPENAI_API_KEY", "sk-soak")],
    )
    .await;
    let url = format!("ws://127.0.0.1:{}/realtime?restaurantId=r-123", server.port);
    let chunk = {
        use base64::Engine;
        let pcm: Vec<u8> = (0..2400u32)
            .flat_map(|i| ((i % 64) as i16 * 100).to_le_bytes())
            .collect();
        base64::engine::general_purpose::STANDARD.encode(pcm)
    };
    let started_ok = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Barrier::new(101));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (url, chunk, started_ok, gate) =
                (url.clone(), chunk.clone(), started_ok.clone(), gate.clone());
            tokio::spawn(async move {
                let ws = open(&url).await;
                let Some(mut ws) = ws else {
                    gate.wait().await;
                    return;
                };
                let _ = ws.send(Message::text(r#"{"type":"start_session"}"#)).await;
                let started = tokio::time::timeout(Duration::from_secs(20), async {
                    while let Some(Ok(m)) = ws.next().await {
                        if let Message::Text(t) = m
                            && t.as_str().contains("session_started")
                        {
                            return true;
                        }
                    }
                    false
                })
                .await
                .unwrap_or(false);
                if started {
                    started_ok.fetch_add(1, Ordering::Relaxed);
                    for _ in 0..5 {
                        let _ = ws
                            .send(Message::text(
                                json!({"type": "audio", "audio": chunk}).to_string(),
                            ))
                            .await;
                    }
                }
                // All 100 open at once before any closes.
                gate.wait().await;
                let _ = ws.send(Message::text(r#"{"type":"end_session"}"#)).await;
                let _ = ws.close(None).await;
                while let Ok(Some(Ok(_))) =
                    tokio::time::timeout(Duration::from_secs(5), ws.next()).await
                {}
            })
        })
        .collect();
    gate.wait().await;
    let live = server.health().await["voiceSessions"].as_u64().unwrap_or(0);
    for t in tasks {
        let _ = t.await;
    }
    let started_ok = started_ok.load(Ordering::Relaxed);
    let settled = server.settles(Duration::from_secs(15)).await;
    let upstream_deadline = Instant::now() + Duration::from_secs(10);
    while mock.closed_by_client() < started_ok && Instant::now() < upstream_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audio_kb = mock.audio_bytes() / 1024;
    Outcome {
        name: "voice: 100 sessions at once, each with its upstream Realtime session",
        pass: started_ok == 100
            && live == 100
            && settled
            && mock.closed_by_client() == 100
            && mock.problems().is_empty(),
        figures: vec![format!(
            "{started_ok}/100 started, {live} live at once, {} KB of audio relayed upstream, {} upstream sockets closed by the relay, problems seen by the mock: {}",
            audio_kb,
            mock.closed_by_client(),
            mock.problems().len()
        )],
    }
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
