//! Running a template's functions as Lambda runs them: each function's real `bootstrap` in
//! its own processes, talking to an embedded Runtime API ([`runtime_api`]), managed by a
//! [`pool::Pool`] (warm reuse, cold starts, concurrency, timeouts, idle stops); the managed
//! runtimes ([`managed`]), cargo-lambda builds ([`cargo_lambda`]), finding and checking the
//! code ([`artifact`], zips unpacked by `unzip.rs`), the functions' output ([`output`]) and `--watch` ([`watch`]). Lambda
//! only: what API Gateway does with the functions is [`crate::host`]'s.

pub mod artifact;
pub mod cargo_lambda;
pub mod config;
pub(crate) mod executable;
pub mod managed;
pub mod mirror;
pub mod output;
pub mod pool;
pub mod process;
pub mod runtime_api;
mod tool;
mod unzip;
pub mod watch;

pub use pool::{InvokeError, Pool, PoolConfig, Timing};
