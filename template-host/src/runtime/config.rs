//! How a function's processes run: the pool's limits and Lambda's environment around them,
//! shared by the pool and the processes it starts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where function output goes: `(function name, line)`.
pub type LogSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// How the pools behave.
#[derive(Clone)]
pub struct PoolConfig {
    /// Processes per function at most (Lambda's reserved concurrency, locally).
    pub max_concurrency: usize,
    /// An idle process is stopped after this long.
    pub idle_timeout: Duration,
    /// An invocation waits at most this long for a process when all are busy (then it fails
    /// as throttled; the gateway answers the client as API Gateway does).
    pub queue_timeout: Duration,
    /// `AWS_REGION`.
    pub region: String,
    /// `123456789012`-style account in ARNs.
    pub account_id: String,
    /// Variables every process gets besides Lambda's own and the function's (service
    /// endpoints, local credentials).
    pub extra_environment: BTreeMap<String, String>,
    /// Function output.
    pub logs: LogSink,
}
