//! What is measured: the server or the baseline as a process group of its own, and its
//! resident memory with its children.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// One target under test.
pub(crate) struct Target {
    pub(crate) name: &'static str,
    pub(crate) url: String,
    pub(crate) child: Child,
}

impl Target {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // The process group: serverless-offline runs its handlers in child processes.
            // kill(2) itself: procps' `kill -TERM -13` reads `-13` as a signal and signalled
            // every process of the user (`kill(-1)`).
            if let Ok(pgid) = i32::try_from(pid)
                && pgid > 1
            {
                // SAFETY: kill(2) with a negative pid signals a process group; no memory is
                // touched.
                unsafe {
                    libc::kill(-pgid, libc::SIGTERM);
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

/// Target processes run in their own process group (so `Target::stop` reaches their
/// children), with no terminal and no output.
pub(crate) trait QuietGroup {
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

pub(crate) use streamgate_tests::free_port;

pub(crate) async fn wait_for_port(
    child: &mut Child,
    port: u16,
    within: Duration,
) -> Result<(), String> {
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

pub(crate) async fn start_streamgate(bin: &Path) -> Result<Target, String> {
    start_streamgate_with(bin, &[]).await
}

/// The server with `extra` flags besides the benchmark's.
pub(crate) async fn start_streamgate_with(bin: &Path, extra: &[&str]) -> Result<Target, String> {
    let port = free_port();
    let mut child = Command::new(bin)
        // Open (`--auth none`), as serverless-offline is: the figures compare the gateways.
        .args([
            "--port",
            &port.to_string(),
            "--echo-delay-ms",
            "0",
            "--auth",
            "none",
        ])
        .args(extra)
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

pub(crate) async fn start_baseline(dir: &Path) -> Result<Target, String> {
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
pub(crate) fn tree_rss(root: u32) -> u64 {
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
