//! Every process the server starts dies with it, however the server ends (Ctrl-C, SIGTERM,
//! a panic, `kill -9`). Each function process and DynamoDB Local runs in a process group of
//! its own, so what it starts in the background belongs to the group; the groups are
//! registered with a small watcher started once per server: a `sh` reading `add PGID` and
//! `del PGID` lines on a pipe from the server. When the pipe closes (the server has gone,
//! whatever the way), the watcher kills every group still registered and exits. It ignores
//! the terminal's signals and sits in a group of its own, so Ctrl-C reaches the server first.
//!
//! The server kills a group itself whenever it stops a process (timeout, idle stop, exit,
//! shutdown) and then forgets it, so a group id the system later reuses is never killed.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use streamgate_sync::Locked;

/// The watcher's script: groups are kept in one space-separated list.
const SCRIPT: &str = r#"trap '' INT TERM HUP PIPE
groups=" "
while read -r op id; do
  case "$op" in
    add) groups="$groups$id " ;;
    del) case "$groups" in *" $id "*) groups="${groups%%" $id "*} ${groups#*" $id "}" ;; esac ;;
  esac
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done
"#;

static WATCHER: OnceLock<Mutex<Option<ChildStdin>>> = OnceLock::new();

fn watcher() -> &'static Mutex<Option<ChildStdin>> {
    WATCHER.get_or_init(|| {
        let started = Command::new("sh")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        Mutex::new(match started {
            Ok(mut child) => child.stdin.take(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the process watcher (sh): processes started by this server may outlive a server killed with SIGKILL");
                None
            }
        })
    })
}

fn tell(line: &str) {
    let mut stdin = watcher().locked();
    if let Some(pipe) = stdin.as_mut()
        && pipe.write_all(line.as_bytes()).is_err()
    {
        *stdin = None;
    }
}

/// Registers the process group `pgid` (a child started with `process_group(0)`), to be
/// killed when the server goes.
pub fn watch(pgid: u32) {
    tell(&format!("add {pgid}\n"));
}

/// Kills the group `pgid` now and forgets it (call once its leader has been reaped, or to
/// stop it).
pub fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid)
        && pgid > 1
    {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is touched.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Forgets the group `pgid` (after [`kill_group`], once nothing of it can be left).
pub fn forget(pgid: u32) {
    tell(&format!("del {pgid}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as i32, 0) == 0 }
    }

    #[test]
    fn the_watcher_forgets_groups_and_kills_those_left_when_its_pipe_closes() {
        // A watcher of our own, so the test does not have to end this process.
        let mut sh = Command::new("sh")
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let start = || {
            Command::new("sleep")
                .arg("1000")
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let (mut kept, mut forgotten) = (start(), start());
        let mut pipe = sh.stdin.take().unwrap();
        writeln!(pipe, "add {}", kept.id()).unwrap();
        writeln!(pipe, "add {}", forgotten.id()).unwrap();
        writeln!(pipe, "add 999999").unwrap();
        writeln!(pipe, "del {}", forgotten.id()).unwrap();
        drop(pipe);
        sh.wait().unwrap();
        kept.wait().unwrap();
        assert!(!alive(kept.id()));
        assert!(alive(forgotten.id()), "a forgotten group is left alone");
        forgotten.kill().unwrap();
        forgotten.wait().unwrap();
    }
}
