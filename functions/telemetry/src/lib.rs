//! Logs and metrics for every streamgate process.
//!
//! * [`record`]: the typed facade the code records through (a contract [`Metric`] and its
//!   label values), over the `metrics` crate.
//! * [`Registry`]: the one recorder, read by two sinks: [`Registry::emf_lines`] (CloudWatch
//!   Embedded Metric Format, on Lambda and ECS) and [`Registry::prometheus`] (the local
//!   server's `GET /metrics`).
//! * [`logs`]: the JSON line format Lambda's log controls read, Lambda's log variables, and
//!   when text may be coloured.
//!
//! Recording is not I/O: with no recorder installed it does nothing, and the handlers that
//! record stay the same in Lambda, the local server and the tests.

mod emf;
pub mod logs;
mod prometheus;
pub mod record;
mod registry;

pub use emf::MAX_METRICS_PER_OBJECT;
pub use prometheus::{CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE, prometheus_name};
pub use record::{add, count, observe, time};
pub use registry::{PENDING_VALUES, Registry};
pub use streamgate_contract::metrics::Metric;

#[cfg(test)]
mod tests;
