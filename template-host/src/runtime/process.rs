//! One function process, as Lambda runs an execution environment: the `bootstrap` (or its
//! launcher, such as qemu) with Lambda's environment, its own Runtime API endpoint, its
//! output read line by line, in a process group of its own that is killed whole when it
//! exits, is stopped, or the server goes, and in a sandbox
//! ([`streamgate_local_services::sandbox`]) that takes along what left the group.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::artifact::Launch;
use super::config::PoolConfig;
use super::output;
use super::runtime_api::{Invocation, RuntimeApi};
use crate::template::FunctionDef;
use streamgate_emulator::clock;
use streamgate_local_services::reaper;
use streamgate_local_services::sandbox::Sandbox;
use streamgate_sync::Locked;

/// One function process: its Runtime API endpoint, the channel its invocations go through,
/// and what the pool knows of it.
pub(super) struct Process {
    /// Its process group (the bootstrap leads one of its own).
    pub(super) pgid: u32,
    /// Asks the watcher to kill the process (dropping it does too).
    pub(super) kill: Mutex<Option<oneshot::Sender<()>>>,
    /// Turns true once the process has exited, whatever the reason.
    pub(super) exited: watch::Receiver<bool>,
    pub(super) invocations: mpsc::Sender<Invocation>,
    pub(super) api: RuntimeApi,
    pub(super) started: Instant,
    pub(super) last_used: Mutex<Instant>,
    /// The pool's code generation it was started with (`--watch` retires older ones).
    pub(super) generation: u64,
}

impl Process {
    pub(super) fn kill(&self) {
        if let Some(kill) = self.kill.locked().take() {
            let _ = kill.send(());
        }
    }

    pub(super) fn exited(&self) -> bool {
        *self.exited.borrow()
    }
}

/// How long an exit waits for the process's output to be read.
const READ_AFTER_EXIT: Duration = Duration::from_secs(1);

/// Owns the child until it exits (by itself, or killed on request or when the [`Process`] is
/// dropped), reaps it, kills what is left of its process group and of its sandbox (what it
/// started in the background dies with it, as with Lambda's sandbox, even what left the
/// group), reads what it printed last, and tells the pool: exits are noticed as they happen, not polled.
fn watch_child(
    mut child: Child,
    pgid: u32,
    sandbox: Sandbox,
    readers: Vec<tokio::task::JoinHandle<()>>,
) -> (oneshot::Sender<()>, watch::Receiver<bool>) {
    let (kill, killed) = oneshot::channel::<()>();
    let (exited_tx, exited) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = child.wait() => {}
            // A kill request, or the process handle dropped.
            _ = killed => {
                reaper::kill_group(pgid);
                let _ = child.wait().await;
            }
        }
        reaper::kill_group(pgid);
        sandbox.end();
        reaper::forget(pgid);
        // What it printed last is read before its exit is told (a crash's last words come
        // before the error they explain), unless standard output is too slow to wait for.
        let _ = tokio::time::timeout(READ_AFTER_EXIT, futures::future::join_all(readers)).await;
        let _ = exited_tx.send(true);
    });
    (kill, exited)
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if !self.exited() {
            // Also when no runtime is left to run the watcher.
            reaper::kill_group(self.pgid);
        }
    }
}

impl Process {
    /// Exec to the first `/next`, once the process has asked for work.
    pub(super) fn init_duration(&self) -> Option<Duration> {
        futures::FutureExt::now_or_never(self.api.initialized()).map(|at| at - self.started)
    }

    /// Starts one process of `f` as `launch` says, with its own Runtime API endpoint, its
    /// output to `config.logs`, in a process group of its own that the reaper watches.
    pub(super) async fn start(
        f: &FunctionDef,
        launch: &Launch,
        config: &PoolConfig,
        generation: u64,
    ) -> Result<Process, SpawnError> {
        let (tx, rx) = mpsc::channel(1);
        let api = RuntimeApi::start(rx)
            .await
            .map_err(SpawnError::RuntimeApi)?;
        // Lambda names each execution environment's log stream anew; the sandbox knows its
        // processes by it.
        let day = clock::iso8601(clock::now_ms())[..10].replace('-', "/");
        let stream = format!("{day}/[$LATEST]{:032x}", rand::random::<u128>());
        let mut command = Command::new(&launch.command[0]);
        command
            .args(&launch.command[1..])
            .current_dir(&launch.task_root)
            .env_clear()
            .envs(environment(
                f,
                launch,
                &api.addr.to_string(),
                config,
                &stream,
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own: what it starts in the background is stopped with it.
            .process_group(0)
            .kill_on_drop(true);
        // Before the process runs: a daemon it forks at once is re-parented here, not to init.
        streamgate_local_services::sandbox::become_subreaper();
        let started = Instant::now();
        let mut child = command.spawn().map_err(|source| SpawnError::Spawn {
            command: launch.command.join(" "),
            source,
        })?;
        let pgid = child.id().unwrap_or_default();
        reaper::watch(pgid);
        let sandbox = Sandbox::track(pgid, &stream);
        let mut readers = Vec::with_capacity(2);
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = config.logs.clone();
            let name = f.name.clone();
            readers.push(tokio::spawn(output::read_lines(stream, move |line| {
                logs(&name, line)
            })));
        }
        let (kill, exited) = watch_child(child, pgid, sandbox, readers);
        Ok(Process {
            pgid,
            kill: Mutex::new(Some(kill)),
            exited,
            invocations: tx,
            api,
            started,
            last_used: Mutex::new(Instant::now()),
            generation,
        })
    }
}

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// Its Runtime API found no port to listen on.
    #[error("no Runtime API port: {0}")]
    RuntimeApi(#[source] std::io::Error),
    /// The program could not be run.
    #[error("cannot run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The environment Lambda gives a `provided.*` function's process: its own variables,
/// the function's `Environment`, and the local extras (endpoints, credentials).
pub fn environment(
    f: &FunctionDef,
    launch: &Launch,
    runtime_api: &str,
    config: &PoolConfig,
    log_stream: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let root = launch.task_root.display().to_string();
    let lambda = [
        ("AWS_LAMBDA_FUNCTION_NAME", f.name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", f.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream.to_owned()),
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_REGION", config.region.clone()),
        ("AWS_DEFAULT_REGION", config.region.clone()),
        ("_HANDLER", f.handler.clone()),
        ("LAMBDA_TASK_ROOT", root.clone()),
        ("LAMBDA_RUNTIME_DIR", root),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_owned()),
    ];
    for (k, v) in lambda {
        env.insert(k.to_owned(), v);
    }
    for (k, v) in &f.logging {
        env.insert(k.clone(), v.clone());
    }
    for (k, v) in config.extra_environment.iter().chain(&launch.environment) {
        env.insert(k.clone(), v.clone());
    }
    // The function's own variables win, as in Lambda (reserved names aside).
    for (k, v) in &f.environment {
        if !RESERVED.contains(&k.as_str()) {
            env.insert(k.clone(), v.clone());
        }
    }
    env
}

/// Variables a function's `Environment` cannot set (Lambda refuses them at deploy time).
pub const RESERVED: &[&str] = &[
    "_HANDLER",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_LOG_FORMAT",
    "AWS_LAMBDA_LOG_LEVEL",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];
