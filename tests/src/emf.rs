//! A checker of CloudWatch Embedded Metric Format objects, by the format's rules: the `_aws`
//! member with a millisecond timestamp and metric directives; at most 100 metrics and 30
//! dimensions per set; every named metric and dimension a member of the root object; units
//! from CloudWatch's list; values numbers or arrays of at most 100 numbers. On top, the
//! project's own rules: the namespace, metric names from the contract's list, and no
//! dimension that could carry a connection or user id.

use serde_json::Value;
use streamgate_contract::metrics::{Metric, NAMESPACE};

/// CloudWatch's units.
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Whether a log line is an EMF object.
pub fn is_emf(line: &Value) -> bool {
    line.get("_aws").is_some()
}

/// What is wrong with `object` (nothing: an empty list). `identities` are values no dimension
/// may hold (the connection and user ids of the traffic that made it).
pub fn problems(object: &Value, identities: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(root) = object.as_object() else {
        return vec!["not an object".into()];
    };
    let aws = &object["_aws"];
    match aws["Timestamp"].as_u64() {
        Some(ms) if ms > 1_500_000_000_000 => {}
        other => out.push(format!("Timestamp {other:?} is not epoch milliseconds")),
    }
    let Some(directives) = aws["CloudWatchMetrics"]
        .as_array()
        .filter(|d| !d.is_empty())
    else {
        out.push("no CloudWatchMetrics".into());
        return out;
    };
    for d in directives {
        if d["Namespace"] != NAMESPACE {
            out.push(format!("namespace {}", d["Namespace"]));
        }
        for set in d["Dimensions"].as_array().into_iter().flatten() {
            let Some(set) = set.as_array() else {
                out.push(format!("dimension set {set} is not an array"));
                continue;
            };
            if set.len() > 30 {
                out.push(format!("{} dimensions in one set", set.len()));
            }
            for dim in set {
                let name = dim.as_str().unwrap_or_default();
                match root.get(name).and_then(Value::as_str) {
                    None => out.push(format!("dimension {dim} is not a string member")),
                    Some(v) if identities.contains(&v) => {
                        out.push(format!("dimension {name} holds an identity ({v})"))
                    }
                    Some(_) => {}
                }
                let lower = name.to_ascii_lowercase();
                if lower.contains("connection") || lower.contains("user") {
                    out.push(format!("dimension {name} names an identity"));
                }
            }
        }
        let metrics = d["Metrics"].as_array().cloned().unwrap_or_default();
        if metrics.is_empty() || metrics.len() > 100 {
            out.push(format!("{} metrics in one directive", metrics.len()));
        }
        for m in metrics {
            let name = m["Name"].as_str().unwrap_or_default();
            if Metric::from_name(name).is_none() {
                out.push(format!("metric {name} is not in the contract's list"));
            }
            if !m["Unit"].as_str().is_some_and(|u| UNITS.contains(&u)) {
                out.push(format!("metric {name} has unit {}", m["Unit"]));
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(a)) if a.len() <= 100 && a.iter().all(Value::is_number) => {}
                other => out.push(format!("metric {name} has value {other:?}")),
            }
        }
    }
    out
}
