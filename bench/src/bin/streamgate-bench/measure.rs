//! A plan turned into figures for one target.

use std::time::Duration;

use streamgate_contract::Route;

use crate::Plan;
use crate::load::{Kind, idle_rss, load, setup_rate};
use crate::target::{Target, tree_rss};

pub(crate) struct Figures {
    pub(crate) lines: Vec<(String, f64, String)>,
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) async fn measure(target: &Target, plan: Plan) -> Figures {
    let mut lines = Vec::new();
    lines.push((
        "RSS after start-up (MB)".into(),
        tree_rss(target.pid()) as f64 / 1e6,
        String::new(),
    ));
    for (kind, label) in [
        (Kind::Default, Route::Default.key()),
        (Kind::Message, Route::Message.key()),
    ] {
        for connections in [1usize, 64] {
            eprintln!(
                "  {}: {label} over {connections} connection(s)",
                target.name
            );
            let l = load(&target.url, kind, connections, plan.round_trip_secs).await;
            let rate = l.requests as f64 / l.elapsed.as_secs_f64();
            let note = if l.errors > 0 {
                format!(" ({} errors)", l.errors)
            } else {
                String::new()
            };
            lines.push((
                format!("{label}, {connections} conn: throughput (req/s)"),
                rate,
                note.clone(),
            ));
            lines.push((
                format!("{label}, {connections} conn: p50 round trip (ms)"),
                ms(l.p50),
                note.clone(),
            ));
            lines.push((
                format!("{label}, {connections} conn: p99 round trip (ms)"),
                ms(l.p99),
                note,
            ));
        }
    }
    eprintln!("  {}: connection setup", target.name);
    let (rate, errors) = setup_rate(&target.url, plan.setups).await;
    let note = if errors > 0 {
        format!(" ({errors} errors)")
    } else {
        String::new()
    };
    lines.push(("connection setup (conn/s, 64 clients)".into(), rate, note));
    eprintln!(
        "  {}: {} idle connections",
        target.name, plan.idle_connections
    );
    let (before, after, held) = idle_rss(target, plan.idle_connections).await;
    let note = if held < plan.idle_connections {
        format!(" (only {held} opened)")
    } else {
        String::new()
    };
    lines.push((
        "RSS after the load runs, no connection open (MB)".into(),
        before as f64 / 1e6,
        String::new(),
    ));
    lines.push((
        format!(
            "RSS holding {} idle connections (MB)",
            plan.idle_connections
        ),
        after as f64 / 1e6,
        note,
    ));
    Figures { lines }
}
