//! What the server binaries share as processes: logging set-up and the stop signals.

/// Logs to standard output: text for people, coloured only on a terminal and never with
/// `NO_COLOR` set; JSON for CloudWatch on ECS, one object per line with `timestamp`, `level`
/// and `message` first and the spans' fields at the top level
/// ([`streamgate_telemetry::logs::JSON_LINES`]). `RUST_LOG` filters (default `info`); the
/// dependencies that would log secrets at `debug` and `trace` stay at `info` (see
/// [`streamgate_contract::logging`]).
pub fn init_logs(json: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = streamgate_telemetry::logs::capped_env(std::env::var("RUST_LOG").ok().as_deref());
    // Through the queue: a terminal or pipe that does not keep up never stops the server.
    let layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(|| crate::stdout::Stdout);
    let layer = if json {
        layer
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(streamgate_telemetry::logs::JSON_LINES)
            .with_filter(filter)
            .boxed()
    } else {
        let colour = streamgate_telemetry::logs::colour(
            std::io::stdout().is_terminal(),
            std::env::var("NO_COLOR").ok().as_deref(),
        );
        layer.with_ansi(colour).with_filter(filter).boxed()
    };
    tracing_subscriber::registry().with(layer).init();
}

/// How a server binary ends once `outcome` is known: what is still queued for standard output
/// written (for at most a second), then `Some` code as given, success for `None`, or the
/// error printed after `binary` with a failure.
pub fn finish(binary: &str, outcome: Result<Option<u8>, String>) -> std::process::ExitCode {
    crate::stdout::flush(std::time::Duration::from_secs(1));
    match outcome {
        Ok(None) => std::process::ExitCode::SUCCESS,
        Ok(Some(code)) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("{binary}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what ECS sends before SIGKILL).
pub async fn stop_signal() {
    StopSignal::install().wait().await;
}

/// Ctrl-C and SIGTERM, caught from the moment this is made: made before anything is started
/// (DynamoDB Local, function processes), a stop during start-up drops what was started
/// instead of killing the server with it still running.
pub struct StopSignal {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignal {
    /// Installs the handlers now.
    pub fn install() -> StopSignal {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignal {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignal {}
    }

    /// Resolves on the next Ctrl-C or SIGTERM.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        {
            async fn on(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = on(self.interrupt.as_mut()) => {}
                _ = on(self.terminate.as_mut()) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Serves `gateway` on `listener` until `stop` fires; then `on_stop` runs (to log what the
/// stop does), the gateway shuts down (sockets close with 1001, `$disconnect` runs, voice
/// sessions are told) and every socket gets at most `drain` to close. The tail every server
/// binary shares; `Err` carries `drain` when sockets were still open at its end.
pub async fn serve_until_stopped(
    gateway: std::sync::Arc<crate::Gateway>,
    listener: tokio::net::TcpListener,
    stop: &mut StopSignal,
    drain: std::time::Duration,
    on_stop: impl FnOnce(),
) -> Result<(), std::time::Duration> {
    serve_until(gateway, listener, stop.wait(), drain, on_stop)
        .await
        .1
}

/// [`serve_until_stopped`], until `until` resolves instead (a stop signal or a command that
/// ends, `--run`): what it resolved to, and how the sockets closed.
pub async fn serve_until<T>(
    gateway: std::sync::Arc<crate::Gateway>,
    listener: tokio::net::TcpListener,
    until: impl std::future::Future<Output = T>,
    drain: std::time::Duration,
    on_stop: impl FnOnce(),
) -> (T, Result<(), std::time::Duration>) {
    let serving = tokio::spawn(gateway.clone().serve(listener));
    let sockets = gateway.clone();
    spawn_memory_trim(
        move || sockets.open_sockets(),
        std::time::Duration::from_secs(2),
    );
    let ended = until.await;
    on_stop();
    gateway.shutdown();
    match tokio::time::timeout(drain, serving).await {
        Ok(_) => (ended, Ok(())),
        Err(_) => (ended, Err(drain)),
    }
}

/// When to give freed memory back to the system: after the number of open sockets has fallen
/// well below its peak since the last trim. Pure; [`spawn_memory_trim`] applies it.
#[derive(Debug, Default)]
pub struct TrimPolicy {
    peak: usize,
}

impl TrimPolicy {
    /// Sockets that must have closed since the peak before a trim is worth it.
    pub const MIN_DROP: usize = 100;

    /// Whether to trim now, with `open` sockets open; a trim starts a new peak.
    pub fn should_trim(&mut self, open: usize) -> bool {
        self.peak = self.peak.max(open);
        let dropped = self.peak - open;
        if dropped >= Self::MIN_DROP && open <= self.peak / 4 * 3 {
            self.peak = open;
            true
        } else {
            false
        }
    }
}

/// Returns memory freed after a burst of connections to the system. glibc's allocator keeps
/// what was freed in its per-thread arenas (after 1,000 concurrent streams a server held about
/// 250 MB it no longer used); every `every`, when [`TrimPolicy`] says the load has fallen,
/// `malloc_trim` hands it back. musl's allocator (the relay's image) returns memory itself,
/// so there this does nothing.
pub fn spawn_memory_trim(
    open: impl Fn() -> usize + Send + 'static,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut policy = TrimPolicy::default();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if policy.should_trim(open()) {
                trim();
            }
        }
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    let released = unsafe { libc::malloc_trim(0) };
    tracing::debug!(
        released = released == 1,
        "returned freed memory to the system"
    );
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_trimmed_once_the_load_has_fallen_well_below_its_peak() {
        let mut p = TrimPolicy::default();
        assert!(!p.should_trim(0), "nothing happened");
        assert!(!p.should_trim(1000));
        assert!(!p.should_trim(900), "a small dip");
        assert!(p.should_trim(700), "a quarter fewer");
        assert!(!p.should_trim(700), "already trimmed at this level");
        assert!(!p.should_trim(650));
        assert!(p.should_trim(500), "fallen by 200 since the last trim");
        let mut small = TrimPolicy::default();
        assert!(!small.should_trim(80));
        assert!(
            !small.should_trim(0),
            "fewer than 100 sockets is not worth a trim"
        );
    }
}
