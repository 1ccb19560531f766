//! `streamgate-relay` as a process, as ECS runs it: started with flags and environment, found
//! by the address it logs, its JSON log lines kept for assertions, stopped with SIGTERM.
//! The scenarios here run against any build of the relay (the dev build, or the binary
//! unpacked from the OCI image).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

use crate::local::{Client, connect, next_json, send};
use crate::mock_realtime::MockRealtime;

/// A running relay.
pub struct RelayProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl RelayProcess {
    /// Runs `command` (the binary, or an emulator and the binary) with `args` after
    /// `--host 127.0.0.1 --port 0` (and `--auth none`, unless `args` say who may connect),
    /// and `env` on top of a cleared environment; waits for the address it logs.
    ///
    /// # Errors
    /// When it exits first: its exit status and output.
    pub async fn start(
        command: &[OsString],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<RelayProcess, String> {
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..])
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(if args.iter().any(|a| a.starts_with("--auth")) {
                &[][..]
            } else {
                &["--auth", "none"][..]
            })
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {command:?}: {e}"))?;
        let (lines, readers) = collect_output(&mut child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let found = lines.lock().unwrap().iter().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                v["address"].as_str()?.parse::<SocketAddr>().ok()
            });
            if let Some(addr) = found {
                return Ok(RelayProcess {
                    child,
                    addr,
                    lines,
                    readers,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(format!(
                    "the relay exited ({status}) before listening:\n{}",
                    lines.lock().unwrap().join("\n")
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the relay did not log its address within 60 s:\n{}",
                    lines.lock().unwrap().join("\n")
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything it wrote so far.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A voice socket for a restaurant.
    pub async fn voice(&self, restaurant: &str) -> Client {
        connect(&format!(
            "ws://{}/realtime?restaurantId={restaurant}&language=en",
            self.addr
        ))
        .await
    }

    /// Sends SIGTERM, as ECS does when it stops a task.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the relay runs");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the exit, then for the last of its output (the pipes are read in tasks
    /// that may still hold the final lines when the process is already gone).
    pub async fn exit_within(&mut self, within: Duration) -> Result<ExitStatus, String> {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(Ok(status)) => {
                for reader in self.readers.drain(..) {
                    let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
                }
                Ok(status)
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "still running after {within:?}:\n{}",
                self.output()
            )),
        }
    }
}

/// `GET url`: status and body (a plain HTTP/1.1 request; no client library needed).
/// A child's output lines: stdout and stderr read into one list as they come, by tasks that
/// end when the streams close (await them before reading the last lines).
pub fn collect_output(
    child: &mut Child,
) -> (Arc<Mutex<Vec<String>>>, Vec<tokio::task::JoinHandle<()>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    let streams = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ];
    for stream in streams.into_iter().flatten() {
        let lines = lines.clone();
        readers.push(tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                lines.lock().unwrap().push(line);
            }
        }));
    }
    (lines, readers)
}

/// A plain HTTP/1.1 GET of `url` (`http://` only): the status and the body.
pub async fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .expect("connects");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    crate::status_and_body(&raw)
}

/// Reads frames until one of type `kind`, skipping pings.
pub async fn until_frame(ws: &mut Client, kind: &str) -> Value {
    loop {
        let f = next_json(ws).await;
        if f["type"] == kind {
            return f;
        }
    }
}

/// The drain scenario: three live sessions (each with its upstream open on `mock`), then
/// SIGTERM. While the clients have not yet answered the close, `/healthz` says 503 and new
/// sessions are refused; then each client has a `server_draining` error frame and a 1001
/// close, every upstream socket is closed, and the process exits 0 within `drain`.
pub async fn drain_scenario(relay: &mut RelayProcess, mock: &MockRealtime, drain: Duration) {
    let (status, body) = http_get(&relay.url("/healthz")).await;
    assert_eq!(status, 200, "{body}");
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = relay.voice("r-123").await;
        send(&mut ws, r#"{"type":"start_session"}"#).await;
        until_frame(&mut ws, "session_started").await;
        clients.push(ws);
    }
    mock.wait(Duration::from_secs(5), "three upstream sessions", |m| {
        m.connections() == 3
    })
    .await;
    let (_, health) = http_get(&relay.url("/healthz")).await;
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["voiceSessions"], 3, "{health}");

    let asked = Instant::now();
    relay.terminate();
    // Draining starts at once: unhealthy, and no new sessions.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = http_get(&relay.url("/healthz")).await;
        if status == 503 {
            assert!(body.contains("draining"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz still {status} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = tokio_tungstenite::connect_async(format!(
        "ws://{}/realtime?restaurantId=r-123",
        relay.addr
    ))
    .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("a new session during the drain: {:?}", other.map(|_| ())),
    }
    for ws in &mut clients {
        let frame = until_frame(ws, "error").await;
        assert_eq!(frame["code"], "server_draining", "{frame}");
        let close = loop {
            match ws.next().await {
                Some(Ok(Message::Close(c))) => break c,
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        };
        assert_eq!(
            close.map(|c| u16::from(c.code)),
            Some(1001),
            "a clean 1001 close"
        );
        // Our answer to the close completes the handshake.
        while let Some(Ok(_)) = ws.next().await {}
    }
    mock.wait(
        Duration::from_secs(5),
        "every upstream socket closed",
        |m| m.closed_by_client() == 3,
    )
    .await;
    let status = relay.exit_within(drain).await.expect("the relay exits");
    assert!(status.success(), "{status}:\n{}", relay.output());
    assert!(
        asked.elapsed() < drain,
        "the drain took {:?}",
        asked.elapsed()
    );
    assert!(relay.output().contains("drained"), "{}", relay.output());
}
