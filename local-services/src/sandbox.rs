//! Nothing a function starts outlives its execution environment, as on Lambda, where the
//! sandbox goes whole. A process group is not enough: a child that calls `setsid` (Python's
//! `start_new_session=True`, `setsid cmd`, a daemon's double fork) leaves the group, and once
//! its parent exits it would be re-parented to init and live on. So:
//!
//! - the server is a child subreaper (`PR_SET_CHILD_SUBREAPER`): what a function's processes
//!   leave behind is re-parented to the server, never to init;
//! - each function process is a [`Sandbox`] (its leader's pid and its Lambda log stream
//!   name, which Lambda gives each execution environment its own of); a thread walks the
//!   server's own process tree every [`SCAN_EVERY`] while sandboxes exist and counts in a sandbox every
//!   descendant of its leader and every process re-parented to the server whose environment
//!   carries the sandbox's log stream name (a daemon double-forked out of the way keeps the
//!   environment it was started with);
//! - when the sandbox ends (the function exits, is stopped idle or the server stops), every
//!   process counted in it is killed and reaped; each is also registered with the
//!   [`crate::reaper`]'s watcher, so a server killed with SIGKILL takes them along too.
//!
//! A process is known by its pid and its start time, so a pid the system has reused is never
//! killed. What escapes: a process that both leaves the tree and clears its environment in
//! less than one scan.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use streamgate_sync::Locked;

/// How often the process table is walked while sandboxes exist.
pub const SCAN_EVERY: Duration = Duration::from_millis(50);

/// The environment variable that names a sandbox (its own on Lambda too).
const SANDBOX_VARIABLE: &str = "AWS_LAMBDA_LOG_STREAM_NAME";

/// A process: its pid and its start time (clock ticks after boot), so a reused pid differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Pid {
    pid: u32,
    started: u64,
}

/// What is known of one sandbox.
#[derive(Debug, Default)]
struct Members {
    /// Its log stream name, which its processes' environments carry.
    stream: String,
    /// Every process counted in it (its leader's group aside).
    processes: HashSet<Pid>,
}

/// Every live sandbox, by its leader's pid.
#[derive(Default)]
struct Sandboxes {
    by_leader: HashMap<u32, Members>,
    scanning: bool,
}

fn sandboxes() -> &'static Mutex<Sandboxes> {
    static SANDBOXES: OnceLock<Mutex<Sandboxes>> = OnceLock::new();
    SANDBOXES.get_or_init(Mutex::default)
}

/// One function process's execution environment: ended (everything in it killed) by
/// [`Sandbox::end`] or when dropped.
#[derive(Debug)]
pub struct Sandbox {
    leader: u32,
}

impl Sandbox {
    /// Starts counting the processes of the function process `leader` (its pid), whose
    /// environment names it `stream` ([`SANDBOX_VARIABLE`]). Makes this server a child
    /// subreaper the first time.
    pub fn track(leader: u32, stream: &str) -> Sandbox {
        become_subreaper();
        let start_scanning = {
            let mut all = sandboxes().locked();
            all.by_leader.insert(
                leader,
                Members {
                    stream: stream.to_owned(),
                    processes: HashSet::new(),
                },
            );
            !std::mem::replace(&mut all.scanning, true)
        };
        if start_scanning {
            let spawned = std::thread::Builder::new()
                .name("sandbox-scan".into())
                .spawn(scan_while_tracked);
            if spawned.is_err() {
                sandboxes().locked().scanning = false;
                tracing::warn!(
                    "cannot start the sandbox scan: what a function starts with setsid may outlive it"
                );
            }
        }
        Sandbox { leader }
    }

    /// Ends the sandbox: every process counted in it is killed and reaped.
    pub fn end(self) {
        drop(self);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // What re-parented itself in the last moments is counted first.
        scan();
        let members = sandboxes().locked().by_leader.remove(&self.leader);
        for p in members.map(|m| m.processes).unwrap_or_default() {
            kill(p);
        }
    }
}

/// Makes this process a child subreaper, once: orphans of its descendants come to it. Call
/// it before starting a process to track, so an orphan made at once is not lost to init.
pub fn become_subreaper() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // SAFETY: prctl(2) with PR_SET_CHILD_SUBREAPER takes an integer and touches no memory.
        let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        if r != 0 {
            tracing::warn!("cannot become a child subreaper: what a function starts with setsid may outlive the server");
        }
    });
}

/// The scan thread: walks the table every [`SCAN_EVERY`] until no sandbox is left.
fn scan_while_tracked() {
    loop {
        std::thread::sleep(SCAN_EVERY);
        {
            let mut all = sandboxes().locked();
            if all.by_leader.is_empty() {
                all.scanning = false;
                return;
            }
        }
        scan();
    }
}

/// One walk of the process table: each sandbox's new members counted (and registered with
/// the watcher), members that have gone forgotten, zombies among them reaped.
fn scan() {
    let table = ProcessTable::read();
    let me = std::process::id();
    let mut all = sandboxes().locked();
    let leaders: Vec<u32> = all.by_leader.keys().copied().collect();
    for &leader in &leaders {
        let Some(members) = all.by_leader.get_mut(&leader) else {
            continue;
        };
        let mut found: HashSet<Pid> = table
            .descendants(leader)
            .into_iter()
            .filter(|p| table.pgid(p.pid) != Some(leader))
            .collect();
        // Orphans re-parented to this server that carry the sandbox's name, and what they
        // started.
        for child in table.children(me) {
            if leaders.contains(&child.pid) || !carries(child.pid, &members.stream) {
                continue;
            }
            found.insert(child);
            found.extend(table.descendants(child.pid));
        }
        // Members that have gone (reaped, or a zombie of ours to reap). Asked of each process
        // itself, not of the walk: a process being re-parented (its parent just killed) can be
        // missing from every `children` list for a moment, and taking that for its end would
        // forget it, here and in the watcher, and leave it running.
        members.processes.retain(|p| {
            let Some(stat) = stat_of(p.pid).filter(|s| s.started == p.started) else {
                crate::reaper::forget_pid(p.pid);
                return false;
            };
            if stat.state == b'Z' && stat.parent == me {
                reap(p.pid);
                crate::reaper::forget_pid(p.pid);
                return false;
            }
            true
        });
        for p in found {
            if members.processes.insert(p) {
                crate::reaper::watch_pid(p.pid);
            }
        }
    }
}

/// Kills `p` if it is still the process counted, reaps it when it is this server's child,
/// and forgets it.
fn kill(p: Pid) {
    if started_at(p.pid) == Some(p.started)
        && let Ok(pid) = i32::try_from(p.pid)
    {
        // SAFETY: kill(2) sends a signal; no memory is touched.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        if parent_of(p.pid) == Some(std::process::id()) {
            reap(p.pid);
        }
    }
    crate::reaper::forget_pid(p.pid);
}

/// Reaps this server's child `pid` (killed or a zombie already), waiting at most
/// [`REAP_WAIT`]: a process stuck in the kernel is left unreaped (a table entry, no more)
/// rather than holding up the thread that ends a sandbox.
fn reap(pid: u32) {
    let Ok(pid) = i32::try_from(pid) else {
        return;
    };
    let deadline = std::time::Instant::now() + REAP_WAIT;
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) on one pid, writing only `status`. Only processes counted in a
        // sandbox are reaped here, never a child this server started itself.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r != 0 || std::time::Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The longest a killed process is waited for.
const REAP_WAIT: Duration = Duration::from_secs(1);

/// Whether `pid`'s environment holds `SANDBOX_VARIABLE=stream`.
fn carries(pid: u32, stream: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let wanted = format!("{SANDBOX_VARIABLE}={stream}");
    environ
        .split(|b| *b == 0)
        .any(|entry| entry == wanted.as_bytes())
}

/// One process's line of `/proc/PID/stat`, read.
#[derive(Debug, Clone, Copy)]
struct Stat {
    state: u8,
    parent: u32,
    pgid: u32,
    started: u64,
}

/// Reads `/proc/PID/stat`: the fields after the command name (which may hold spaces and
/// parentheses, so the last `)` ends it).
fn parse_stat(line: &str) -> Option<Stat> {
    let rest = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3), ppid (4), pgrp (5) ... starttime (22).
    Some(Stat {
        state: *fields.first()?.as_bytes().first()?,
        parent: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        started: fields.get(19)?.parse().ok()?,
    })
}

fn stat_of(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn started_at(pid: u32) -> Option<u64> {
    stat_of(pid).map(|s| s.started)
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_of(pid).map(|s| s.parent)
}

/// The process table at one moment.
struct ProcessTable {
    stats: HashMap<u32, Stat>,
}

impl ProcessTable {
    /// This server's descendants (every process a sandbox can hold: the function processes
    /// are its children, and orphans come to it), read through the kernel's `children`
    /// lists, so a walk costs what the server's own tree holds, not the whole machine's
    /// table; the whole table where those lists are not kept.
    fn read() -> ProcessTable {
        ProcessTable::below(std::process::id()).unwrap_or_else(ProcessTable::whole)
    }

    /// The descendants of `root`, or `None` when the kernel keeps no `children` lists.
    fn below(root: u32) -> Option<ProcessTable> {
        let mut stats = HashMap::new();
        let mut queue = vec![root];
        let mut first = true;
        while let Some(pid) = queue.pop() {
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task"));
            let mut listed = false;
            for task in tasks.into_iter().flatten().flatten() {
                let Ok(children) = std::fs::read_to_string(task.path().join("children")) else {
                    continue;
                };
                listed = true;
                for child in children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok())
                {
                    if stats.len() >= 100_000 {
                        return Some(ProcessTable { stats });
                    }
                    if let Some(stat) = stat_of(child) {
                        stats.insert(child, stat);
                        queue.push(child);
                    }
                }
            }
            if first && !listed {
                return None;
            }
            first = false;
        }
        Some(ProcessTable { stats })
    }

    /// Every process of the machine.
    fn whole() -> ProcessTable {
        let stats = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| Some((pid, stat_of(pid)?)))
            .collect();
        ProcessTable { stats }
    }

    fn children(&self, parent: u32) -> Vec<Pid> {
        self.stats
            .iter()
            .filter(|(_, s)| s.parent == parent)
            .map(|(pid, s)| Pid {
                pid: *pid,
                started: s.started,
            })
            .collect()
    }

    /// Every descendant of `root` (not `root` itself).
    fn descendants(&self, root: u32) -> Vec<Pid> {
        let mut out = Vec::new();
        let mut queue = vec![root];
        while let Some(pid) = queue.pop() {
            for child in self.children(pid) {
                if out.len() > 100_000 {
                    return out;
                }
                queue.push(child.pid);
                out.push(child);
            }
        }
        out
    }

    #[cfg(test)]
    fn started(&self, pid: u32) -> Option<u64> {
        self.stats.get(&pid).map(|s| s.started)
    }

    #[cfg(test)]
    fn parent(&self, pid: u32) -> Option<u32> {
        self.stats.get(&pid).map(|s| s.parent)
    }

    fn pgid(&self, pid: u32) -> Option<u32> {
        self.stats.get(&pid).map(|s| s.pgid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_is_read_past_a_name_with_spaces_and_parentheses() {
        let line = "4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            (s.state, s.parent, s.pgid, s.started),
            (b'S', 17, 4242, 987654)
        );
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S").is_none());
    }

    #[test]
    fn this_process_is_in_the_whole_table_with_its_parent() {
        let table = ProcessTable::whole();
        let me = std::process::id();
        assert!(table.started(me).is_some());
        assert_eq!(table.parent(me), parent_of(me));
    }

    #[test]
    fn the_walk_below_a_process_finds_its_grandchildren() {
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let sh_pid = sh.id();
        let mut grandchild = None;
        for _ in 0..100 {
            let table = ProcessTable::read();
            grandchild = table.children(sh_pid).first().copied();
            if grandchild.is_some() {
                assert_eq!(table.parent(sh_pid), Some(std::process::id()));
                assert_eq!(
                    table.descendants(std::process::id()).len(),
                    table.stats.len(),
                    "the walk holds only what is below this process"
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let grandchild = grandchild.expect("the sleep is found below its shell");
        assert_eq!(started_at(grandchild.pid), Some(grandchild.started));
        // SAFETY: kill(2) signals the sleep this test started.
        unsafe {
            libc::kill(grandchild.pid as i32, libc::SIGKILL);
        }
        sh.wait().unwrap();
    }
}
