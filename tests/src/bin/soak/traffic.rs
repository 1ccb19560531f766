//! Load, churn and vanishing clients: the server keeps every answer whole and lets go of what is gone.

use super::support::*;

/// Many streams at once, and long answers, all whole and in order; memory given back after.
pub(super) async fn load(bin: &Path) -> Outcome {
    let server = Server::start(bin, &["--echo-delay-ms", "1"], None, &[]).await;
    let url = server.url();
    let rss_start = server.rss_mb();
    let started = Instant::now();
    let text = words(50);
    let ok = Arc::new(AtomicUsize::new(0));
    let times = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let (url, text, ok, times) = (url.clone(), text.clone(), ok.clone(), times.clone());
            tokio::spawn(async move {
                let Some(mut ws) = open(&url).await else {
                    return;
                };
                let t = Instant::now();
                if let Ok((answer, end)) = ask(&mut ws, &text, &format!("l{i}")).await
                    && answer == text
                    && end["type"] == "done"
                {
                    ok.fetch_add(1, Ordering::Relaxed);
                    times.lock().unwrap().push(t.elapsed());
                }
                let _ = ws.close(None).await;
            })
        })
        .collect();
    let mut peak = 0.0f64;
    for t in tasks {
        peak = peak.max(server.rss_mb());
        let _ = t.await;
    }
    let streams_ok = ok.load(Ordering::Relaxed);
    let streams_time = started.elapsed();
    // 200 long answers (5,000 words each), at once.
    let long = words(5000);
    let long_ok = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (url, long, long_ok) = (url.clone(), long.clone(), long_ok.clone());
            tokio::spawn(async move {
                let Some(mut ws) = open(&url).await else {
                    return;
                };
                if let Ok((answer, end)) = ask(&mut ws, &long, &format!("long{i}")).await
                    && answer == long
                    && end["type"] == "done"
                {
                    long_ok.fetch_add(1, Ordering::Relaxed);
                }
                let _ = ws.close(None).await;
            })
        })
        .collect();
    for t in tasks {
        peak = peak.max(server.rss_mb());
        let _ = t.await;
    }
    let long_ok = long_ok.load(Ordering::Relaxed);
    let settled = server.settles(Duration::from_secs(10)).await;
    let rss_after = server.rss_mb();
    // The trim runs every 2 s once the load has fallen.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_trimmed = server.rss_mb();
    let p99 = pct(&mut times.lock().unwrap(), 0.99);
    Outcome {
        name: "load: 1,000 concurrent streams, then 200 long answers",
        pass: streams_ok == 1000 && long_ok == 200 && settled && rss_trimmed < 64.0,
        figures: vec![
            format!(
                "{streams_ok}/1000 streams whole and in order in {:.1} s (p99 {p99:.0} ms)",
                streams_time.as_secs_f64()
            ),
            format!("{long_ok}/200 answers of 5,000 words whole"),
            format!(
                "RSS {rss_start:.0} MB at start, {peak:.0} MB peak, {rss_after:.0} MB when the last socket closed, {rss_trimmed:.0} MB 5 s later (freed memory returned)"
            ),
        ],
    }
}

/// Connect and disconnect, over and over: nothing is left behind.
pub(super) async fn churn(bin: &Path) -> Outcome {
    let server = Server::start(bin, &[], None, &[]).await;
    let url = server.url();
    let fds_before = server.fds();
    let rss_before = server.rss_mb();
    let started = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..64)
        .map(|_| {
            let (url, done, failed) = (url.clone(), done.clone(), failed.clone());
            tokio::spawn(async move {
                while done.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < 20_000 {
                    match open(&url).await {
                        Some(mut ws) => {
                            let _ = ws.close(None).await;
                            while ws.next().await.is_some() {}
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed();
    let settled = server.settles(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fds_after = server.fds();
    let rss_after = server.rss_mb();
    let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    Outcome {
        name: "churn: 20,000 connect/disconnect cycles, 64 at a time",
        pass: failed == 0
            && settled
            && fds_after <= fds_before + 2
            && rss_after < rss_before + 16.0,
        figures: vec![
            format!(
                "{done} cycles, {failed} failed, {:.0} cycles/s",
                done as f64 / elapsed.as_secs_f64()
            ),
            format!(
                "descriptors {fds_before} before, {fds_after} after; RSS {rss_before:.0} MB before, {rss_after:.0} MB after"
            ),
        ],
    }
}

/// Clients that vanish mid-answer: the server lets go of them.
pub(super) async fn drops(bin: &Path) -> Outcome {
    let server = Server::start(bin, &["--echo-delay-ms", "2"], None, &[]).await;
    let url = server.url();
    let fds_before = server.fds();
    let long = words(3000);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (url, long) = (url.clone(), long.clone());
            tokio::spawn(async move {
                let Some(mut ws) = open(&url).await else { return false };
                let m = json!({"action": Route::Message.key(), "data": long, "requestId": format!("d{i}")});
                if ws.send(Message::text(m.to_string())).await.is_err() {
                    return false;
                }
                // The first chunk, then the client is gone (no close frame).
                let first = tokio::time::timeout(Duration::from_secs(10), ws.next()).await;
                drop(ws);
                matches!(first, Ok(Some(Ok(Message::Text(_)))))
            })
        })
        .collect();
    let mut mid = 0;
    for t in tasks {
        if t.await.unwrap_or(false) {
            mid += 1;
        }
    }
    let started = Instant::now();
    let settled = server.settles(Duration::from_secs(10)).await;
    let let_go = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fds_after = server.fds();
    Outcome {
        name: "drops: 200 clients vanish mid-answer (6 s answers)",
        pass: mid == 200 && settled && fds_after <= fds_before + 2,
        figures: vec![format!(
            "{mid}/200 dropped mid-stream; every connection let go of {:.1} s later; descriptors {fds_before} before, {fds_after} after",
            let_go.as_secs_f64()
        )],
    }
}
