//! The soak suite: the release server, on loopback, through what an attacker or a heavy user
//! would do to it, each scenario bounded in count and time, each judged pass or fail on
//! figures it prints and writes to RELIABILITY.md.
//!
//! `just soak` (or `soak --server target/release/streamgate-server --out RELIABILITY.md`).
//!
//! `main.rs`: the flags and the report; `support.rs`: the server under test and what the
//! scenarios share; one module per kind of scenario (`traffic`, `attacks`, `readers`, `voice`).

#![allow(
    clippy::unwrap_used,
    reason = "a test tool: a step that fails ends the run, saying where"
)]

mod attacks;
mod readers;
mod support;
mod traffic;
mod voice;

use std::path::PathBuf;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut server, mut out) = (None, PathBuf::from("RELIABILITY.md"));
    let mut only: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--server" => server = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--only" => only.extend(args.next()),
            other => {
                eprintln!("soak: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let Some(bin) = server else {
        eprintln!(
            "usage: soak --server target/release/streamgate-server [--out FILE] [--only SCENARIO]"
        );
        std::process::exit(2);
    };
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let started = Instant::now();
    let mut outcomes = Vec::new();
    macro_rules! run {
        ($name:literal, $f:expr) => {
            if wanted($name) {
                eprintln!("soak: {}", $name);
                let o = $f.await;
                eprintln!(
                    "  {}: {}",
                    if o.pass { "pass" } else { "FAIL" },
                    o.figures.join("; ")
                );
                outcomes.push(o);
            }
        };
    }
    run!("load", traffic::load(&bin));
    run!("churn", traffic::churn(&bin));
    run!("slowloris", attacks::slowloris(&bin));
    run!("descriptors", attacks::descriptors(&bin));
    run!("slow-readers", readers::slow_readers(&bin));
    run!("drops", traffic::drops(&bin));
    run!("voice", voice::voice(&bin));
    run!("hostile", attacks::hostile(&bin));
    let passed = outcomes.iter().filter(|o| o.pass).count();
    let mut md = String::from(
        "# Reliability\n\nWritten by `just soak`: the release `streamgate-server` on loopback, each scenario in a fresh process, bounded in count and time. Mock upstreams run in the soak process (echo provider for chat answers; a mock Realtime service for voice).\n\n",
    );
    md.push_str(&format!(
        "{passed} of {} scenarios passed in {:.0} s.\n\n| scenario | result | figures |\n|---|---|---|\n",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    ));
    for o in &outcomes {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            o.name,
            if o.pass { "pass" } else { "**fail**" },
            o.figures.join("<br>")
        ));
    }
    if only.is_empty() {
        // The fuzzing record (`just fuzz`) lives in the same file; it is kept.
        if let Ok(old) = std::fs::read_to_string(&out)
            && let Some(at) = old.find("\n## Fuzzing")
        {
            md.push_str(&old[at..]);
        }
        std::fs::write(&out, md).expect("writes the report");
        eprintln!("soak: wrote {}", out.display());
    } else {
        print!("{md}");
    }
    if passed != outcomes.len() {
        std::process::exit(1);
    }
}
