//! The load: sockets opened, round trips in closed loops, connection set-up rate, idle
//! connections held.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::json;
use streamgate_contract::Route;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::target::{Target, tree_rss};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a client socket with small buffers: tungstenite's default 128 KB read buffer per
/// socket would make the load client, not the server, the memory hog at 10,000 sockets.
pub(crate) async fn open(url: &str) -> Result<Ws, String> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

/// Kinds of request.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// An unknown action: `$default` answers one error frame.
    Default,
    /// `message`: chunks, then `done`.
    Message,
}

impl Kind {
    pub(crate) fn frame(self, i: u64) -> String {
        match self {
            Kind::Default => json!({"action": "not-a-route", "requestId": format!("d{i}")}).to_string(),
            Kind::Message => json!({"action": Route::Message.key(), "data": "hello streaming world", "requestId": format!("m{i}")}).to_string(),
        }
    }

    pub(crate) fn is_last(self, text: &str) -> bool {
        match self {
            Kind::Default => text.contains("\"error\""),
            Kind::Message => text.contains("\"done\"") || text.contains("\"error\""),
        }
    }
}

/// One request and its answer on `ws`; the round-trip time.
pub(crate) async fn round_trip(ws: &mut Ws, kind: Kind, i: u64) -> Result<Duration, String> {
    let started = Instant::now();
    ws.send(Message::text(kind.frame(i)))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                if kind.is_last(t.as_str()) {
                    return Ok(started.elapsed());
                }
            }
            Ok(Some(Ok(_))) => {}
            other => return Err(format!("no answer: {other:?}")),
        }
    }
}

pub(crate) struct Load {
    pub(crate) requests: u64,
    pub(crate) elapsed: Duration,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) errors: u64,
}

pub(crate) async fn load(url: &str, kind: Kind, connections: usize, secs: u64) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut sockets = Vec::new();
    for _ in 0..connections {
        match open(url).await {
            Ok(ws) => sockets.push(ws),
            Err(_) => {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for (w, mut ws) in sockets.into_iter().enumerate() {
        let (stop, errors) = (stop.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut i = (w as u64) << 32;
            while !stop.load(Ordering::Relaxed) {
                match round_trip(&mut ws, kind, i).await {
                    Ok(d) => samples.push(d),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                i += 1;
            }
            let _ = ws.close(None).await;
            samples
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    samples.sort();
    let pct = |p: f64| {
        if samples.is_empty() {
            Duration::ZERO
        } else {
            samples[((samples.len() - 1) as f64 * p).round() as usize]
        }
    };
    Load {
        requests: samples.len() as u64,
        elapsed,
        p50: pct(0.5),
        p99: pct(0.99),
        errors: errors.load(Ordering::Relaxed),
    }
}

/// Connections opened and closed per second, by 64 concurrent clients.
pub(crate) async fn setup_rate(url: &str, total: usize) -> (f64, u64) {
    let started = Instant::now();
    let errors = Arc::new(AtomicU64::new(0));
    let per_worker = total / 64;
    let mut workers = Vec::new();
    for _ in 0..64 {
        let (url, errors) = (url.to_owned(), errors.clone());
        workers.push(tokio::spawn(async move {
            for _ in 0..per_worker {
                match open(&url).await {
                    Ok(mut ws) => {
                        let _ = ws.close(None).await;
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    (
        (per_worker * 64) as f64 / started.elapsed().as_secs_f64(),
        errors.load(Ordering::Relaxed),
    )
}

/// Server memory holding `n` idle connections (opened 200 at a time).
pub(crate) async fn idle_rss(target: &Target, n: usize) -> (u64, u64, usize) {
    let before = tree_rss(target.pid());
    let mut sockets = Vec::with_capacity(n);
    let mut failed = 0;
    while sockets.len() + failed < n {
        let batch = (n - sockets.len() - failed).min(200);
        let opened = futures::future::join_all((0..batch).map(|_| open(&target.url))).await;
        for r in opened {
            match r {
                Ok(ws) => sockets.push(ws),
                Err(_) => failed += 1,
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = tree_rss(target.pid());
    let held = sockets.len();
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    (before, after, held)
}
