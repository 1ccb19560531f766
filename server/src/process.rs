//! What the server binaries share as processes: logging set-up and the stop signals.

/// Logs to standard output: text for a terminal, JSON (one object per line) for CloudWatch on
/// ECS. `RUST_LOG` filters (default `info`); the dependencies that would log secrets at
/// `debug` and `trace` stay at `info` (see [`streamgate_contract::logging`]).
pub fn init_logs(json: bool) {
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().with_current_span(true).init();
    } else {
        builder.init();
    }
}

/// Resolves on Ctrl-C or SIGTERM (what ECS sends before SIGKILL).
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// `RUST_LOG` (`info` when unset or unreadable) with the noisy dependencies capped.
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    use streamgate_contract::logging::{CAP, CAPPED_TARGETS};
    let mut filter = rust_log
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    for target in CAPPED_TARGETS {
        if let Ok(directive) = format!("{target}={CAP}").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_stays_off_for_the_dependencies_that_log_headers() {
        for asked in [
            "trace",
            "tungstenite=trace,trace",
            "trace,tungstenite=trace",
        ] {
            let shown = log_filter(Some(asked)).to_string();
            assert!(shown.contains("tungstenite=info"), "{asked}: {shown}");
            assert!(!shown.contains("tungstenite=trace"), "{asked}: {shown}");
            assert_eq!(
                log_filter(Some(asked)).max_level_hint(),
                Some(tracing::level_filters::LevelFilter::TRACE),
                "our own trace logs stay on"
            );
        }
    }
}
