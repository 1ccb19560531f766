//! The README's commands, as a user types them: read from the README itself (so the tests and
//! the text cannot drift), run through `bash` in a process group of their own, and stopped
//! whole.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::workspace_root;

/// The README's text.
pub fn readme() -> String {
    let path = workspace_root().join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The lines of the first fenced code block after the first line of `text` that contains
/// `marker` (a heading, or a bold lead-in such as `**Run it**`).
///
/// # Panics
/// When the marker or a block after it is missing: the README no longer says what the test
/// expects it to say.
pub fn block_after(text: &str, marker: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| !l.contains(marker));
    assert!(
        lines.next().is_some(),
        "README.md has no line with {marker:?}"
    );
    let mut lines = lines.skip_while(|l| !l.trim_start().starts_with("```"));
    assert!(
        lines.next().is_some(),
        "README.md has no fenced block after {marker:?}"
    );
    lines
        .take_while(|l| !l.trim_start().starts_with("```"))
        .map(str::to_owned)
        .collect()
}

/// The command of the block after `marker` whose line starts with `starts_with` (a trailing
/// `# comment` removed, as the shell would ignore it).
///
/// # Panics
/// When there is no such line.
pub fn command_after(text: &str, marker: &str, starts_with: &str) -> String {
    let block = block_after(text, marker);
    let line = block
        .iter()
        .find(|l| l.trim_start().starts_with(starts_with))
        .unwrap_or_else(|| {
            panic!("README.md's block after {marker:?} has no line starting with {starts_with:?}: {block:?}")
        });
    let command = match line.find(" #") {
        Some(i) => &line[..i],
        None => line,
    };
    command.trim().to_owned()
}

/// A shell command running in the workspace, in its own process group (bash, `just`, cargo
/// and the server it runs), with its output collected. Dropping it kills the group.
pub struct ShellCommand {
    child: Child,
    pgid: i32,
    lines: Arc<Mutex<VecDeque<String>>>,
    seen: Arc<Mutex<Vec<String>>>,
    notify: Arc<tokio::sync::Notify>,
}

impl ShellCommand {
    /// Starts `bash -c command` in the workspace, with cargo's binaries on `PATH` (where
    /// `cargo install` puts `just`) and `env` added to the environment.
    pub fn start(command: &str, env: &[(&str, &str)]) -> ShellCommand {
        let cargo_bin = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .expect("HOME or CARGO_HOME is set")
            .join("bin");
        let path = std::env::join_paths(std::iter::once(cargo_bin).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("PATH joins");
        let mut child = Command::new("bash")
            .args(["-c", command])
            .current_dir(workspace_root())
            .env("PATH", path)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("bash starts");
        let pgid = child.id().expect("a running child") as i32;
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let notify = Arc::new(tokio::sync::Notify::new());
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        collect(stdout, lines.clone(), seen.clone(), notify.clone(), true);
        collect(stderr, lines.clone(), seen.clone(), notify.clone(), false);
        ShellCommand {
            child,
            pgid,
            lines,
            seen,
            notify,
        }
    }

    /// Everything printed so far (standard output and error, interleaved as read).
    pub fn output(&self) -> String {
        self.seen.lock().unwrap().join("\n")
    }

    /// Standard-output lines up to and including the first that contains `needle`, waiting
    /// at most `within`.
    ///
    /// # Panics
    /// When the command exits or the time passes first, with everything it printed.
    pub async fn wait_for_line(&mut self, needle: &str, within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut taken = Vec::new();
        loop {
            let notified = self.notify.notified();
            while let Some(line) = self.lines.lock().unwrap().pop_front() {
                let found = line.contains(needle);
                taken.push(line);
                if found {
                    return taken;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // The readers may still hold the last lines.
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "the command exited ({status}) before printing {needle:?}:\n{}",
                    self.output()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "no line with {needle:?} within {within:?}; the command printed:\n{}",
                    self.output()
                );
            }
            // A new line, or a look at whether the command has exited.
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }

    /// Sends `signal` to the whole group.
    pub fn signal_group(&self, signal: i32) {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
        unsafe {
            libc::kill(-self.pgid, signal);
        }
    }

    /// Whether any process of the group is still alive.
    pub fn group_alive(&self) -> bool {
        // SAFETY: signal 0 only checks that the group exists.
        unsafe { libc::kill(-self.pgid, 0) == 0 }
    }

    /// SIGTERM to the group, as Ctrl-C's neighbour would send; waits until every process of
    /// the group has gone and returns the shell's exit status.
    ///
    /// # Panics
    /// When the group is still alive after `within`.
    pub async fn stop(&mut self, within: Duration) -> std::process::ExitStatus {
        self.signal_group(libc::SIGTERM);
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the command did not exit within {within:?} of SIGTERM"))
            .expect("wait");
        let deadline = tokio::time::Instant::now() + within;
        while self.group_alive() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "processes of the command's group outlived it by {within:?}:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        status
    }
}

impl Drop for ShellCommand {
    fn drop(&mut self) {
        self.signal_group(libc::SIGKILL);
    }
}

fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    lines: Arc<Mutex<VecDeque<String>>>,
    seen: Arc<Mutex<Vec<String>>>,
    notify: Arc<tokio::sync::Notify>,
    queue: bool,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            seen.lock().unwrap().push(line.clone());
            if queue {
                lines.lock().unwrap().push_back(line);
            }
            notify.notify_one();
        }
        notify.notify_one();
    });
}

/// The URL after `label` in a banner (`  WebSocket:       ws://localhost:3000/dev   (or ...)`).
///
/// # Panics
/// When no banner line has it.
pub fn banner_url(banner: &[String], label: &str) -> String {
    banner
        .iter()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("the banner has no {label:?} line:\n{}", banner.join("\n")))
}
