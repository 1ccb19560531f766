//! BENCH.md: the figures of both targets side by side, with the machine they ran on.

use crate::Plan;
use crate::measure::Figures;

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, {mem} RAM, Linux {}", kernel.trim())
}

pub(crate) fn higher_is_better(metric: &str) -> bool {
    metric.contains("req/s") || metric.contains("conn/s")
}

pub(crate) fn report(
    ours: &Figures,
    theirs: Option<&Figures>,
    plan: Plan,
    baseline_error: Option<&str>,
) -> String {
    let mut out = String::new();
    out.push_str("# Benchmark\n\n");
    out.push_str("Written by `just bench` (release build). Each target runs as its own process on loopback; the load client is `bench/` (Rust, tokio-tungstenite). Round trips: `$default` is an unknown action answered by one error frame; `message` is a 3-word message answered by the echo provider (no delay) as chunk frames and `done`. Throughput runs each connection in a closed loop (send, wait for the last frame) for ");
    out.push_str(&format!("{} s. ", plan.round_trip_secs));
    out.push_str("Memory is the resident set of the server process and its children. The baseline is serverless-offline 13 (serverless 3) running Node handlers (`bench/node/handler.js`) that answer through its `@connections` endpoint with the AWS SDK for JavaScript.\n\n");
    out.push_str(&format!("Machine: {}.\n\n", machine()));
    out.push_str("| metric | streamgate | serverless-offline | streamgate vs serverless-offline |\n|---|---:|---:|---:|\n");
    for (i, (metric, value, note)) in ours.lines.iter().enumerate() {
        let (theirs_cell, ratio) = match theirs.and_then(|t| t.lines.get(i)) {
            Some((_, v, n)) => {
                let ratio = if *v > 0.0 && *value > 0.0 {
                    if higher_is_better(metric) {
                        format!("{:.1}x", value / v)
                    } else {
                        format!("{:.1}x lower", v / value)
                    }
                } else {
                    "-".into()
                };
                (format!("{v:.2}{n}"), ratio)
            }
            None => ("not measured".into(), "-".into()),
        };
        out.push_str(&format!(
            "| {metric} | {value:.2}{note} | {theirs_cell} | {ratio} |\n"
        ));
    }
    if let Some(e) = baseline_error {
        out.push_str(&format!(
            "\nserverless-offline could not be measured: {e}\n"
        ));
    }
    out.push_str("\nTargets of the project: at least 20x serverless-offline's throughput, and 10,000 idle connections in at most 60 MB.\n");
    out
}
