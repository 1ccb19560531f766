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

/// The watcher's script: groups (`-PGID`) and single processes (`PID`, those that left their
/// group: [`crate::sandbox`]) are kept in one space-separated list.
const SCRIPT: &str = r#"trap '' INT TERM HUP PIPE
targets=" "
while read -r op id; do
  case "$op" in
    add) t="-$id" ;;
    del) t="-$id" ;;
    addp) t="$id" ;;
    delp) t="$id" ;;
    *) continue ;;
  esac
  case "$op" in
    add|addp) targets="$targets$t " ;;
    *) case "$targets" in *" $t "*) targets="${targets%%" $t "*} ${targets#*" $t "}" ;; esac ;;
  esac
done
for t in $targets; do kill -9 "$t" 2>/dev/null; done
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

/// Registers the single process `pid` (one that left its group), to be killed when the
/// server goes.
pub fn watch_pid(pid: u32) {
    tell(&format!("addp {pid}\n"));
}

/// Forgets the single process `pid` (it has gone).
pub fn forget_pid(pid: u32) {
    tell(&format!("delp {pid}\n"));
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
        let (mut kept, forgotten) = (start(), start());
        let (mut single, single_forgotten) = (start(), start());
        let mut pipe = sh.stdin.take().unwrap();
        writeln!(pipe, "add {}", kept.id()).unwrap();
        writeln!(pipe, "add {}", forgotten.id()).unwrap();
        writeln!(pipe, "add 999999").unwrap();
        writeln!(pipe, "del {}", forgotten.id()).unwrap();
        writeln!(pipe, "addp {}", single.id()).unwrap();
        writeln!(pipe, "addp {}", single_forgotten.id()).unwrap();
        writeln!(pipe, "delp {}", single_forgotten.id()).unwrap();
        // A group and a process of the same number are told apart.
        writeln!(pipe, "delp {}", kept.id()).unwrap();
        drop(pipe);
        sh.wait().unwrap();
        kept.wait().unwrap();
        single.wait().unwrap();
        assert!(!alive(kept.id()));
        assert!(!alive(single.id()));
        assert!(alive(forgotten.id()), "a forgotten group is left alone");
        assert!(
            alive(single_forgotten.id()),
            "a forgotten process is left alone"
        );
        for mut child in [forgotten, single_forgotten] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}
