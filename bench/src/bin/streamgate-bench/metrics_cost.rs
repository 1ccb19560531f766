//! What recording metrics costs on the hot path: the in-process server with its metrics
//! (the default) and with `--metrics off`, under the same round-trip load, alternated twice so
//! that drift in the machine shows as spread rather than as a difference. Prints Markdown.

use std::path::Path;

use streamgate_contract::Route;

use crate::load::{Kind, load};
use crate::target::start_streamgate_with;

/// Rows: what is sent, and over how many connections.
const ROWS: &[(Kind, usize)] = &[
    (Kind::Default, 1),
    (Kind::Default, 64),
    (Kind::Message, 1),
    (Kind::Message, 64),
];

/// The route a row's requests take.
fn route(kind: Kind) -> &'static str {
    match kind {
        Kind::Default => Route::Default.key(),
        Kind::Message => Route::Message.key(),
    }
}

/// Round trips per second of `bin` (with `extra` flags) for each row.
async fn rates(bin: &Path, extra: &[&str], secs: u64) -> Result<Vec<f64>, String> {
    let target = start_streamgate_with(bin, extra).await?;
    let mut out = Vec::new();
    for (kind, connections) in ROWS {
        // A second of warm-up, not counted.
        load(&target.url, *kind, *connections, 1).await;
        let l = load(&target.url, *kind, *connections, secs).await;
        if l.errors > 0 {
            return Err(format!("{} errors while measuring", l.errors));
        }
        out.push(l.requests as f64 / l.elapsed.as_secs_f64());
    }
    target.stop().await;
    Ok(out)
}

/// The section.
pub(crate) async fn metrics_cost(bin: &Path, secs: u64) -> Result<String, String> {
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..2 {
        with.push(rates(bin, &[], secs).await?);
        without.push(rates(bin, &["--metrics", "off"], secs).await?);
    }
    let mut text = format!(
        "## Metrics on the hot path\n\nThe in-process server (release build, echo provider without delay), round trips per second with its metrics recorded (the default; `GET /metrics` served) and with `--metrics off`, {secs} s per row, each configuration run twice, alternated (both runs shown).\n\n| route | connections | with metrics (req/s) | without (req/s) | cost |\n|---|---:|---:|---:|---:|\n"
    );
    for (i, (kind, connections)) in ROWS.iter().enumerate() {
        let route = route(*kind);
        let mean = |runs: &[Vec<f64>]| runs.iter().map(|r| r[i]).sum::<f64>() / runs.len() as f64;
        let (a, b) = (mean(&with), mean(&without));
        text.push_str(&format!(
            "| {route} | {connections} | {:.0} / {:.0} | {:.0} / {:.0} | {:+.1}% |\n",
            with[0][i],
            with[1][i],
            without[0][i],
            without[1][i],
            (b - a) / b * 100.0
        ));
    }
    Ok(text)
}
