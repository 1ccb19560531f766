//! `streamgate-bench`: measures the local server and serverless-offline under the same load
//! and writes the figures, side by side, to BENCH.md.
//!
//! Usage: `streamgate-bench --server BIN --baseline DIR --out FILE [--quick]` (see `just bench`);
//! `streamgate-bench --server BIN --metrics-cost SECONDS` prints what metrics cost instead.
//! `target.rs` starts and stops what is measured, `load.rs` drives the sockets, `measure.rs`
//! turns a plan into figures, `report.rs` writes them, `metrics_cost.rs` is the other mode.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark: a step that fails ends the run, saying where"
)]

mod load;
mod measure;
mod metrics_cost;
mod report;
mod target;

use std::path::PathBuf;

use measure::measure;
use report::report;
use target::{start_baseline, start_streamgate};

/// How long and how much to measure.
#[derive(Clone, Copy)]
pub struct Plan {
    /// How long the round-trip measurement runs, in seconds.
    pub round_trip_secs: u64,
    /// How many connection set-ups are timed.
    pub setups: usize,
    /// How many idle connections are held for the memory figure.
    pub idle_connections: usize,
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut server, mut baseline, mut out, mut quick) =
        (None, None, PathBuf::from("BENCH.md"), false);
    let mut metrics_cost = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--server" => server = args.next().map(PathBuf::from),
            "--baseline" => baseline = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--quick" => quick = true,
            "--metrics-cost" => metrics_cost = args.next().and_then(|s| s.parse::<u64>().ok()),
            other => {
                eprintln!("streamgate-bench: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let Some(server) = server else {
        eprintln!("usage: streamgate-bench --server BIN [--baseline DIR] [--out FILE] [--quick]");
        std::process::exit(2);
    };
    if let Some(secs) = metrics_cost {
        match metrics_cost::metrics_cost(&server, secs).await {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("streamgate-bench: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let plan = if quick {
        Plan {
            round_trip_secs: 2,
            setups: 640,
            idle_connections: 1000,
        }
    } else {
        Plan {
            round_trip_secs: 10,
            setups: 3200,
            idle_connections: 10_000,
        }
    };
    eprintln!("measuring streamgate");
    let target = match start_streamgate(&server).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("streamgate-bench: {e}");
            std::process::exit(1);
        }
    };
    let ours = measure(&target, plan).await;
    target.stop().await;
    let (theirs, error) = match baseline {
        Some(dir) => {
            eprintln!("measuring serverless-offline");
            match start_baseline(&dir).await {
                Ok(t) => {
                    let f = measure(&t, plan).await;
                    t.stop().await;
                    (Some(f), None)
                }
                Err(e) => (None, Some(e)),
            }
        }
        None => (None, Some("not asked for (--baseline DIR)".to_owned())),
    };
    let text = report(&ours, theirs.as_ref(), plan, error.as_deref());
    print!("{text}");
    if let Err(e) = std::fs::write(&out, &text) {
        eprintln!("cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
}
