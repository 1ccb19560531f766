//! One function's processes, managed as Lambda manages execution environments: a free warm
//! process takes the next invocation; otherwise a new one starts (a cold start), up to the
//! concurrency limit, beyond which invocations wait. A process that exits, fails its init or
//! runs past the function's timeout is killed and replaced on demand; idle ones are stopped
//! after a while. Every process is killed when the pool is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use tracing::{info, warn};

use super::artifact::Launch;
pub use super::config::{LogSink, PoolConfig};
use super::process::{Process, SpawnError};
use super::runtime_api::{Invocation, Reported};
use crate::template::FunctionDef;
use streamgate_emulator::{clock, ids};
use streamgate_sync::Locked;

/// Why an invocation failed, in Lambda's terms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvokeError {
    /// The function reported an error (`/error`).
    #[error("{error_type}: {message}")]
    Function {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// The process failed to initialise or exited mid-invocation.
    #[error("{0}")]
    Runtime(String),
    /// The function ran past its timeout and was stopped.
    #[error("Task timed out after {0:.2} seconds")]
    Timeout(f64),
    /// The function could not be started at all.
    #[error("the function could not start: {0}")]
    Start(String),
    /// Every process was busy for the whole queue timeout.
    #[error("Rate Exceeded: every process of the function was busy for {0:.2} seconds")]
    Throttled(f64),
}

/// What one invocation took, for reports and benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Exec to the first `/next`, when this invocation started the process.
    pub init: Option<Duration>,
    /// Hand-over to the answer.
    pub duration: Duration,
}

/// A process taken for one invocation: given back warm, or retired; if the invocation is
/// dropped half-way (its caller went away), the process is retired, so its slot is never lost.
struct Lease<'a> {
    pool: &'a Pool,
    process: Option<Arc<Process>>,
}

impl Lease<'_> {
    fn process(&self) -> &Arc<Process> {
        self.process.as_ref().expect("held until released")
    }

    fn release(mut self) {
        if let Some(p) = self.process.take() {
            self.pool.release(p);
        }
    }

    fn retire(mut self) {
        if let Some(p) = self.process.take() {
            self.pool.retire(&p);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(p) = self.process.take() {
            self.pool.retire(&p);
        }
    }
}

#[derive(Default)]
struct State {
    idle: Vec<Arc<Process>>,
    running: usize,
    /// Bumped when the code changes: processes of an older one are not reused.
    generation: u64,
    timings: std::collections::VecDeque<Timing>,
}

/// One function's processes.
pub struct Pool {
    function: FunctionDef,
    launch: Launch,
    config: PoolConfig,
    state: Mutex<State>,
    freed: Notify,
    cold_starts: AtomicU64,
}

/// Timings kept for [`Pool::timings`].
const KEPT_TIMINGS: usize = 10_000;

impl Pool {
    /// A pool for `function`, started as `launch` says. No process starts until the first
    /// invocation (Lambda's on-demand initialisation).
    pub fn new(function: FunctionDef, launch: Launch, config: PoolConfig) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            function,
            launch,
            config,
            state: Mutex::new(State::default()),
            freed: Notify::new(),
            cold_starts: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&pool);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(pool) = weak.upgrade() else { break };
                pool.stop_idle();
            }
        });
        pool
    }

    /// The function.
    pub fn function(&self) -> &FunctionDef {
        &self.function
    }

    /// Processes running now (busy or idle).
    pub fn processes(&self) -> usize {
        self.state.locked().running
    }

    /// Processes started so far (cold starts, including failed ones).
    pub fn cold_starts(&self) -> u64 {
        self.cold_starts.load(Ordering::Relaxed)
    }

    /// The timings of recent invocations.
    pub fn timings(&self) -> Vec<Timing> {
        self.state.locked().timings.iter().copied().collect()
    }

    /// The code changed: idle processes stop now, busy ones when their invocation ends; the
    /// next event starts a process on the new code. Returns how many stopped now.
    pub fn reload(&self) -> usize {
        let idle = {
            let mut state = self.state.locked();
            state.generation += 1;
            let idle = std::mem::take(&mut state.idle);
            state.running -= idle.len();
            idle
        };
        self.freed.notify_waiters();
        idle.len()
    }

    /// Where the code runs from.
    pub fn launch(&self) -> &Launch {
        &self.launch
    }

    /// Stops every idle process now.
    pub fn stop_all_idle(&self) {
        let idle = std::mem::take(&mut self.state.locked().idle);
        self.state.locked().running -= idle.len();
        drop(idle);
    }

    fn stop_idle(&self) {
        let mut state = self.state.locked();
        let timeout = self.config.idle_timeout;
        let before = state.idle.len();
        state
            .idle
            .retain(|p| p.last_used.locked().elapsed() < timeout);
        let stopped = before - state.idle.len();
        state.running -= stopped;
        if stopped > 0 {
            info!(function = %self.function.name, stopped, "idle processes stopped");
            self.freed.notify_waiters();
        }
    }

    /// Runs one invocation and returns the function's payload.
    pub async fn invoke(&self, event: Value) -> Result<(Value, Timing), InvokeError> {
        self.invoke_waiting(event, self.config.queue_timeout).await
    }

    /// Runs one invocation, waiting at most `wait` for a free process (a synchronous
    /// caller's own timeout: past it, nobody is waiting for the answer).
    pub async fn invoke_waiting(
        &self,
        event: Value,
        wait: Duration,
    ) -> Result<(Value, Timing), InvokeError> {
        let (process, cold) = self.acquire(wait).await?;
        let lease = Lease {
            pool: self,
            process: Some(process),
        };
        let request_id = ids::new_uuid();
        let timeout = self.function.timeout;
        let (reply, outcome) = oneshot::channel();
        let handed = Instant::now();
        let invocation = Invocation {
            request_id: request_id.clone(),
            deadline_ms: clock::now_ms() + timeout.as_millis() as i64,
            function_arn: format!(
                "arn:aws:lambda:{}:{}:function:{}",
                self.config.region, self.config.account_id, self.function.name
            ),
            trace_id: format!(
                "Root=1-{:08x}-{};Parent={};Sampled=0",
                clock::now_ms() / 1000,
                &ids::new_uuid().replace('-', "")[..24],
                &ids::new_uuid().replace('-', "")[..16]
            ),
            event,
            reply,
        };
        if lease.process().invocations.send(invocation).await.is_err() {
            lease.retire();
            return Err(InvokeError::Runtime("the process stopped".into()));
        }
        let result = tokio::time::timeout(timeout, self.outcome(lease.process(), outcome)).await;
        let duration = handed.elapsed();
        let init = if cold {
            lease.process().init_duration()
        } else {
            None
        };
        let timing = Timing { init, duration };
        self.record(timing, &request_id);
        match result {
            Ok(Ok(payload)) => {
                lease.release();
                let value = serde_json::from_slice(&payload).map_err(|e| {
                    InvokeError::Runtime(format!("the function's response is not JSON: {e}"))
                })?;
                Ok((value, timing))
            }
            Ok(Err(e @ InvokeError::Function { .. })) => {
                // A reported error leaves the process warm, as in Lambda.
                lease.release();
                Err(e)
            }
            Ok(Err(e)) => {
                lease.retire();
                Err(e)
            }
            Err(_) => {
                warn!(function = %self.function.name, request_id, "timed out: the process is stopped");
                lease.retire();
                Err(InvokeError::Timeout(timeout.as_secs_f64()))
            }
        }
    }

    fn record(&self, timing: Timing, request_id: &str) {
        (self.config.logs)(
            &self.function.name,
            &report(&self.function, &timing, request_id),
        );
        let mut state = self.state.locked();
        if state.timings.len() >= KEPT_TIMINGS {
            state.timings.pop_front();
        }
        state.timings.push_back(timing);
    }

    /// Waits for the process's report, or its exit.
    async fn outcome(
        &self,
        process: &Arc<Process>,
        mut outcome: oneshot::Receiver<Reported>,
    ) -> Result<bytes::Bytes, InvokeError> {
        let mut exited = process.exited.clone();
        tokio::select! {
            reported = &mut outcome => {
                return match reported {
                    Ok(Reported::Response(body)) => Ok(body),
                    Ok(Reported::Error { error_type, message }) => Err(InvokeError::Function { error_type, message }),
                    Ok(Reported::InitError { error_type, message }) => Err(InvokeError::Runtime(format!("Runtime.InitError: {error_type}: {message}"))),
                    Err(_) => Err(InvokeError::Runtime("the invocation was dropped".into())),
                };
            }
            _ = exited.wait_for(|exited| *exited) => {}
        }
        // Give a report sent just before the exit its chance.
        if let Ok(Ok(Reported::Response(body))) =
            tokio::time::timeout(Duration::from_millis(50), &mut outcome).await
        {
            return Ok(body);
        }
        Err(match process.api.init_error() {
            Some(Reported::InitError {
                error_type,
                message,
            }) => InvokeError::Runtime(format!("Runtime.InitError: {error_type}: {message}")),
            _ => InvokeError::Runtime("Runtime.ExitError: the process exited".into()),
        })
    }

    async fn acquire(&self, wait: Duration) -> Result<(Arc<Process>, bool), InvokeError> {
        let deadline = Instant::now() + wait;
        enum Next {
            Warm(Arc<Process>),
            Cold,
            Wait,
        }
        loop {
            let freed = self.freed.notified();
            let next = {
                let mut state = self.state.locked();
                let mut next = Next::Wait;
                while let Some(p) = state.idle.pop() {
                    if p.exited() {
                        state.running -= 1;
                        continue;
                    }
                    next = Next::Warm(p);
                    break;
                }
                if matches!(next, Next::Wait) && state.running < self.config.max_concurrency.max(1)
                {
                    state.running += 1;
                    next = Next::Cold;
                }
                next
            };
            match next {
                Next::Warm(p) => return Ok((p, false)),
                Next::Cold => {
                    return match self.spawn().await {
                        Ok(p) => Ok((p, true)),
                        Err(e) => {
                            self.state.locked().running -= 1;
                            self.freed.notify_one();
                            Err(InvokeError::Start(e.to_string()))
                        }
                    };
                }
                Next::Wait => {
                    if tokio::time::timeout_at(deadline, freed).await.is_err() {
                        warn!(function = %self.function.name, "every process stayed busy: the invocation is throttled");
                        return Err(InvokeError::Throttled(wait.as_secs_f64()));
                    }
                }
            }
        }
    }

    fn release(&self, process: Arc<Process>) {
        *process.last_used.locked() = Instant::now();
        let mut state = self.state.locked();
        if process.generation != state.generation {
            drop(state);
            return self.retire(&process);
        }
        state.idle.push(process);
        drop(state);
        self.freed.notify_one();
    }

    fn retire(&self, process: &Arc<Process>) {
        process.kill();
        self.state.locked().running -= 1;
        self.freed.notify_one();
    }

    async fn spawn(&self) -> Result<Arc<Process>, SpawnError> {
        self.cold_starts.fetch_add(1, Ordering::Relaxed);
        let generation = self.state.locked().generation;
        let process =
            Process::start(&self.function, &self.launch, &self.config, generation).await?;
        info!(function = %self.function.name, pid = process.pgid, "cold start");
        Ok(Arc::new(process))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let state = self
            .state
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.idle.clear();
    }
}

/// The `REPORT` line Lambda writes after an invocation: text, or with a JSON `LoggingConfig` a
/// `platform.report` record, as Lambda writes its own lines in that format.
fn report(f: &FunctionDef, timing: &Timing, request_id: &str) -> String {
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let json = f
        .logging
        .get("AWS_LAMBDA_LOG_FORMAT")
        .is_some_and(|v| v.eq_ignore_ascii_case("json"));
    if json {
        let mut metrics = serde_json::json!({
            "durationMs": ms(timing.duration),
            "billedDurationMs": timing.duration.as_millis() as u64 + 1,
            "memorySizeMB": f.memory_mb,
        });
        if let Some(init) = timing.init {
            metrics["initDurationMs"] = ms(init).into();
        }
        return serde_json::json!({
            "time": streamgate_emulator::clock::iso8601(streamgate_emulator::clock::now_ms()),
            "type": "platform.report",
            "record": {"requestId": request_id, "metrics": metrics, "status": "success"},
        })
        .to_string();
    }
    let init = timing
        .init
        .map(|d| format!("\tInit Duration: {:.2} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_default();
    format!(
        "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tMemory Size: {} MB{init}",
        timing.duration.as_secs_f64() * 1000.0,
        f.memory_mb
    )
}
