//! Running a tool for the template host (npm, pip, cargo lambda): its output lines passed on
//! as they come (the user sees the progress) and the last ones kept for the error, in a
//! process group of its own that the reaper kills if the server goes first.

use std::process::{ExitStatus, Stdio};

use streamgate_local_services::reaper;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Why a tool gave no exit status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    /// It could not be started (not installed, not executable).
    #[error("cannot run {what} ({source})")]
    Spawn {
        /// What the tool is, for the user.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// Waiting for its exit failed.
    #[error("{what}: {source}")]
    Wait {
        /// What the tool is, for the user.
        what: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Lines kept for the error message.
const KEPT: usize = 20;

/// Runs `command` to its end; `say` gets each line of its output, indented.
pub(crate) async fn run(
    mut command: Command,
    what: &str,
    say: &(dyn Fn(&str) + Sync),
) -> Result<(ExitStatus, Vec<String>), ToolError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| ToolError::Spawn {
        what: what.to_owned(),
        source,
    })?;
    let pgid = child.id().unwrap_or_default();
    reaper::watch(pgid);
    let mut out = child.stdout.take().map(|o| BufReader::new(o).lines());
    let mut err = child.stderr.take().map(|e| BufReader::new(e).lines());
    let mut last = Vec::new();
    while out.is_some() || err.is_some() {
        let line = tokio::select! {
            l = async { out.as_mut().expect("checked").next_line().await }, if out.is_some() => {
                match l { Ok(Some(l)) => l, _ => { out = None; continue } }
            }
            l = async { err.as_mut().expect("checked").next_line().await }, if err.is_some() => {
                match l { Ok(Some(l)) => l, _ => { err = None; continue } }
            }
        };
        say(&format!("  {line}"));
        last.push(line);
        if last.len() > KEPT {
            last.remove(0);
        }
    }
    let status = child.wait().await.map_err(|source| ToolError::Wait {
        what: what.to_owned(),
        source,
    });
    reaper::forget(pgid);
    Ok((status?, last))
}
