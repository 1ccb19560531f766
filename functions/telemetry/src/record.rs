//! The typed facade the code records through: a [`Metric`] of the contract's list and its
//! label values, in the order of [`Metric::labels`]. Label values are `&'static str`, so a
//! connection or user id cannot become one. With no recorder installed (unit tests, a host
//! that wants none) recording does nothing.

use std::time::Duration;

use metrics::Label;
use streamgate_contract::metrics::{Kind, Metric};

fn labels(metric: Metric, values: &[&'static str]) -> Vec<Label> {
    debug_assert_eq!(
        metric.labels().len(),
        values.len(),
        "{} takes labels {:?}",
        metric.name(),
        metric.labels()
    );
    metric
        .labels()
        .iter()
        .zip(values)
        .map(|(k, v)| Label::from_static_parts(k, v))
        .collect()
}

/// Adds one to a counter.
pub fn count(metric: Metric, values: &[&'static str]) {
    add(metric, 1, values);
}

/// Adds `n` to a counter.
pub fn add(metric: Metric, n: u64, values: &[&'static str]) {
    debug_assert_eq!(metric.kind(), Kind::Counter, "{}", metric.name());
    metrics::counter!(metric.name(), labels(metric, values)).increment(n);
}

/// Records a value of a histogram.
pub fn observe(metric: Metric, value: f64, values: &[&'static str]) {
    debug_assert_eq!(metric.kind(), Kind::Histogram, "{}", metric.name());
    metrics::histogram!(metric.name(), labels(metric, values)).record(value);
}

/// Records a duration (in seconds, the contract's unit for times).
pub fn time(metric: Metric, elapsed: Duration, values: &[&'static str]) {
    observe(metric, elapsed.as_secs_f64(), values);
}
