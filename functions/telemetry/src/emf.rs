//! The AWS sink: what was recorded since the last flush as CloudWatch Embedded Metric Format
//! lines (a JSON object per line whose `_aws` member names the metrics; CloudWatch Logs turns
//! it into metrics with no API call, from Lambda and from ECS's `awslogs` alike).
//!
//! One object per label set: its metrics are reported under two dimension sets, `[Service]`
//! (the stack-wide figure a dashboard shows) and `[Service, <labels>]` (the breakdown).
//! Counters report what they gained since the last flush, histograms the values recorded
//! since (an array, at most [`crate::registry::PENDING_VALUES`]). Nothing recorded, no line.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use streamgate_sync::Locked;

use metrics::{CounterFn, HistogramFn, Key, Label};
use serde_json::{Map, Value, json};
use streamgate_contract::metrics::{Metric, NAMESPACE, SERVICE_DIMENSION};

use crate::registry::{Labels, Registry, Slot};

/// CloudWatch's limit of metrics in one EMF object.
pub const MAX_METRICS_PER_OBJECT: usize = 100;

impl Registry {
    /// The EMF lines for what was recorded since the last call (each call reports a value
    /// once), stamped `timestamp_ms` and dimensioned by `service`.
    pub fn emf_lines(&self, service: &str, timestamp_ms: u64) -> Vec<String> {
        let mut groups: BTreeMap<Labels, Vec<(Metric, Value, u64)>> = BTreeMap::new();
        for (metric, labels, slot) in self.snapshot() {
            let (value, unreported) = match slot {
                Slot::Counter(c) => {
                    let total = c.total.load(Ordering::Relaxed);
                    let before = c.reported.swap(total, Ordering::Relaxed);
                    match total.saturating_sub(before) {
                        0 => continue,
                        n => (json!(n), 0),
                    }
                }
                Slot::Histogram(h) => {
                    let mut s = h.state.locked();
                    let values = std::mem::take(&mut s.pending);
                    let unreported = std::mem::take(&mut s.unreported);
                    match values.as_slice() {
                        [] => continue,
                        [one] => (json!(one), unreported),
                        _ => (json!(values), unreported),
                    }
                }
            };
            groups
                .entry(labels)
                .or_default()
                .push((metric, value, unreported));
        }
        let mut lines = Vec::new();
        for (labels, metrics) in groups {
            for chunk in metrics.chunks(MAX_METRICS_PER_OBJECT) {
                lines.push(object(service, timestamp_ms, &labels, chunk).to_string());
            }
        }
        lines
    }

    /// [`Registry::emf_lines`] stamped now.
    pub fn emf_lines_now(&self, service: &str) -> Vec<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.emf_lines(service, now)
    }

    /// Writes [`Registry::emf_lines_now`] to standard output, one line each.
    pub fn flush_emf(&self, service: &str) {
        let lines = self.emf_lines_now(service);
        if lines.is_empty() {
            return;
        }
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
}

impl Registry {
    /// Records what an EMF line (another process's, such as a template's function) reports,
    /// as if recorded here: only the contract's metrics with their own label keys. `false`
    /// when the line is not EMF (it is a log line, then).
    pub fn ingest_emf(&self, line: &str) -> bool {
        if !line.starts_with('{') || !line.contains("\"_aws\"") {
            return false;
        }
        let Ok(Value::Object(root)) = serde_json::from_str::<Value>(line) else {
            return false;
        };
        let Some(directives) = root
            .get("_aws")
            .and_then(|a| a.get("CloudWatchMetrics"))
            .and_then(Value::as_array)
        else {
            return false;
        };
        for directive in directives {
            let Some(named) = directive.get("Metrics").and_then(Value::as_array) else {
                continue;
            };
            for name in named.iter().filter_map(|m| m.get("Name")?.as_str()) {
                let Some(metric) = Metric::from_name(name) else {
                    continue;
                };
                let labels: Vec<Label> = metric
                    .labels()
                    .iter()
                    .filter_map(|k| {
                        let v = root.get(*k)?.as_str()?;
                        Some(Label::new(*k, v.to_owned()))
                    })
                    .collect();
                let key = Key::from_parts(metric.name(), labels);
                let values: Vec<f64> = match root.get(name) {
                    Some(Value::Array(a)) => a.iter().filter_map(Value::as_f64).collect(),
                    Some(v) => v.as_f64().into_iter().collect(),
                    None => continue,
                };
                match self.slot(&key, metric.kind()) {
                    Some(Slot::Counter(c)) => {
                        let n: f64 = values.iter().sum();
                        if n >= 0.0 {
                            CounterFn::increment(c.as_ref(), n as u64);
                        }
                    }
                    Some(Slot::Histogram(h)) => {
                        for v in values {
                            HistogramFn::record(h.as_ref(), v);
                        }
                    }
                    None => {}
                }
            }
        }
        true
    }
}

fn object(
    service: &str,
    timestamp_ms: u64,
    labels: &Labels,
    metrics: &[(Metric, Value, u64)],
) -> Value {
    let mut dimensions = vec![json!([SERVICE_DIMENSION])];
    if !labels.is_empty() {
        let mut set = vec![SERVICE_DIMENSION.to_owned()];
        set.extend(labels.iter().map(|(k, _)| k.clone()));
        dimensions.push(json!(set));
    }
    let names: Vec<Value> = metrics
        .iter()
        .map(|(m, _, _)| json!({"Name": m.name(), "Unit": m.unit().as_str()}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": names,
            }],
        }),
    );
    root.insert(SERVICE_DIMENSION.into(), json!(service));
    for (k, v) in labels {
        root.insert(k.clone(), json!(v));
    }
    for (metric, value, unreported) in metrics {
        root.insert(metric.name().into(), value.clone());
        if *unreported > 0 {
            root.insert(format!("{}_unreported", metric.name()), json!(unreported));
        }
    }
    Value::Object(root)
}
