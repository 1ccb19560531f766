//! `streamgate-server` as a user runs it: a process on a free port, its standard output (the
//! banner, then the logs) read line by line and kept, stopped with SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// The server process.
pub struct ServerProcess {
    /// Where it listens (127.0.0.1).
    pub port: u16,
    /// Every line of standard output read so far.
    pub output: Vec<String>,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl ServerProcess {
    /// The debug build's command on a free port (`--port` given), output piped, killed on drop;
    /// add flags and environment, then [`ServerProcess::start`].
    pub fn command() -> (Command, u16) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(crate::workspace_binary("streamgate-server"));
        cmd.args(["--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        (cmd, port)
    }

    /// Starts `cmd` (from [`ServerProcess::command`]).
    pub fn start(mut cmd: Command, port: u16) -> ServerProcess {
        let mut child = cmd.spawn().expect("the server starts");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        ServerProcess {
            port,
            output: Vec::new(),
            child,
            lines,
        }
    }

    /// Reads until a line contains `marker` (within 30 s) and returns that line.
    pub async fn until(&mut self, marker: &str) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("no line with {marker:?} within 30 s"))
                .unwrap()
                .unwrap_or_else(|| panic!("the output ended before {marker:?}"));
            self.output.push(line.clone());
            if line.contains(marker) {
                return line;
            }
        }
    }

    /// SIGTERM, then the rest of standard output (within 15 s) into `output`; returns standard
    /// error.
    pub async fn terminate(&mut self) -> String {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        while let Ok(Ok(Some(line))) =
            tokio::time::timeout(Duration::from_secs(15), self.lines.next_line()).await
        {
            self.output.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr).await;
        }
        let _ = self.child.wait().await;
        stderr
    }
}
