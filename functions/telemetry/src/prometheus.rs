//! The local sink: the registry in Prometheus' text exposition format (version 0.0.4), as
//! `GET /metrics` serves it. Every metric of the list gets its `HELP` and `TYPE` lines;
//! counters without labels show 0 before anything happened, so a dashboard finds them.

use std::fmt::Write;
use streamgate_sync::Locked;

use streamgate_contract::metrics::{Kind, Metric, PROMETHEUS_PREFIX};

use crate::registry::{Labels, Registry, Slot};

/// The content type of [`Registry::prometheus`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric's Prometheus name: prefixed, counters suffixed `_total`.
pub fn prometheus_name(metric: Metric) -> String {
    match metric.kind() {
        Kind::Counter => format!("{PROMETHEUS_PREFIX}{}_total", metric.name()),
        Kind::Histogram => format!("{PROMETHEUS_PREFIX}{}", metric.name()),
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn label_set(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

impl Registry {
    /// Everything recorded, in Prometheus' text format.
    pub fn prometheus(&self) -> String {
        let snapshot = self.snapshot();
        let mut out = String::new();
        for metric in Metric::ALL {
            let name = prometheus_name(*metric);
            let kind = match metric.kind() {
                Kind::Counter => "counter",
                Kind::Histogram => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", metric.help());
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let series: Vec<_> = snapshot.iter().filter(|(m, _, _)| m == metric).collect();
            if series.is_empty() && metric.labels().is_empty() && metric.kind() == Kind::Counter {
                let _ = writeln!(out, "{name} 0");
            }
            for (_, labels, slot) in series {
                match slot {
                    Slot::Counter(c) => {
                        let total = c.total.load(std::sync::atomic::Ordering::Relaxed);
                        let _ = writeln!(out, "{name}{} {total}", label_set(labels, None));
                    }
                    Slot::Histogram(h) => {
                        let s = h.state.locked();
                        let bounds = s.bounds.iter().copied().chain([f64::INFINITY]);
                        for (bound, count) in bounds.zip(&s.buckets) {
                            let le = label_set(labels, Some(("le", number(bound))));
                            let _ = writeln!(out, "{name}_bucket{le} {count}");
                        }
                        let set = label_set(labels, None);
                        let _ = writeln!(out, "{name}_sum{set} {}", number(s.sum));
                        let _ = writeln!(out, "{name}_count{set} {}", s.count);
                    }
                }
            }
        }
        out
    }
}
