//! Attacks on the door and the process: slowloris, descriptor exhaustion, hostile function output.

use super::support::*;

/// 700 slow or silent clients: each is cut off; a real client is served meanwhile.
pub(super) async fn slowloris(bin: &Path) -> Outcome {
    let server = Server::start(bin, &[], None, &[]).await;
    let port = server.port;
    let started = Instant::now();
    let closed = Arc::new(AtomicUsize::new(0));
    let by_kind: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let unconnected = Arc::new(AtomicUsize::new(0));
    let last_close = Arc::new(Mutex::new(Duration::ZERO));
    let mut attackers = Vec::new();
    for i in 0..700 {
        let (closed, last_close, by_kind, unconnected) = (
            closed.clone(),
            last_close.clone(),
            by_kind.clone(),
            unconnected.clone(),
        );
        attackers.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
                unconnected.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let kind = i % 3;
            let body = "POST /dev/@connections/AAAAAAAAAAAAAAA%3D HTTP/1.1\r\nHost: localhost\r\nAuthorization: AWS4 x\r\nContent-Length: 100\r\n\r\n0123456789";
            let head = b"GET /dev HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            let mut buf = [0u8; 512];
            let deadline = Instant::now() + Duration::from_secs(60);
            match kind {
                0 => {} // nothing at all
                1 => {
                    // Headers at a byte a second.
                    for b in head.iter() {
                        if s.write_all(&[*b]).await.is_err() || Instant::now() > deadline {
                            break;
                        }
                        tokio::select! {
                            r = s.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { break },
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
                _ => {
                    // A body announced and never finished.
                    let _ = s.write_all(body.as_bytes()).await;
                }
            }
            loop {
                match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
                    Ok(Ok(0) | Err(_)) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        by_kind[kind].fetch_add(1, Ordering::Relaxed);
                        let mut l = last_close.lock().unwrap();
                        *l = (*l).max(started.elapsed());
                        return;
                    }
                    Ok(Ok(_)) => continue,
                    Err(_) => return,
                }
            }
        }));
    }
    // A real client, meanwhile.
    let mut served = 0;
    let mut times = Vec::new();
    if let Some(mut ws) = open(&server.url()).await {
        for i in 0..20 {
            let t = Instant::now();
            if let Ok((a, _)) = ask(&mut ws, "still served", &format!("s{i}")).await
                && a == "still served"
            {
                served += 1;
                times.push(t.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for a in attackers {
        let _ = a.await;
    }
    let closed = closed.load(Ordering::Relaxed);
    let last = *last_close.lock().unwrap();
    Outcome {
        name: "slowloris: 700 clients sending nothing, headers at 1 byte/s, or a body that never ends",
        pass: closed == 700 && last < Duration::from_secs(15) && served == 20,
        figures: vec![
            format!(
                "{closed}/700 closed by the server (silent {}, trickling headers {}, unfinished bodies {}; {} could not connect), the last after {:.1} s",
                by_kind[0].load(Ordering::Relaxed),
                by_kind[1].load(Ordering::Relaxed),
                by_kind[2].load(Ordering::Relaxed),
                unconnected.load(Ordering::Relaxed),
                last.as_secs_f64()
            ),
            format!(
                "a real client meanwhile: {served}/20 answers, p99 {:.1} ms",
                pct(&mut times, 0.99)
            ),
        ],
    }
}

/// The file limit reached: the server neither spins nor falls over, and recovers.
pub(super) async fn descriptors(bin: &Path) -> Outcome {
    // A cap above what the limit allows: accepting fails with EMFILE.
    let server = Server::start(bin, &["--max-connections", "100000"], Some(256), &[]).await;
    let port = server.port;
    let mut held = Vec::new();
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)).await {
            held.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu0 = server.cpu_s();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu = (server.cpu_s() - cpu0) / 3.0 * 100.0;
    let reports = server.said("cannot accept connections");
    drop(held);
    let recovered = {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(mut ws) = open(&server.url()).await
                && ask(&mut ws, "back", "b")
                    .await
                    .is_ok_and(|(a, _)| a == "back")
            {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    drop(server);
    // The default cap under the same limit: refusals with 503 instead.
    let server = Server::start(bin, &[], Some(256), &[]).await;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..300 {
        match open(&server.url()).await {
            Some(ws) => held.push(ws),
            None => refused += 1,
        }
    }
    let still_serving = held.len();
    let healthy = http(
        server.port,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .0;
    drop(held);
    let after = server.settles(Duration::from_secs(10)).await;
    Outcome {
        name: "file descriptors: 400 sockets against a limit of 256",
        pass: cpu < 10.0
            && reports == 1
            && recovered
            && refused > 0
            && still_serving > 100
            && after,
        figures: vec![
            format!(
                "past the limit: {cpu:.1}% CPU while the sockets were held, {reports} log line, recovered once they went: {recovered}"
            ),
            format!(
                "with the default cap: {still_serving} sockets held, {refused} refused with 503, /healthz meanwhile {healthy}"
            ),
        ],
    }
}

/// Functions that misbehave under the template host, with the server's standard output never
/// read (a terminal that does not keep up): each `$connect` prints 20 MB of 1 KB lines and a
/// 20 MB line without a newline, and the first leaves a background child; then `kill -9`.
pub(super) async fn hostile(bin: &Path) -> Outcome {
    use streamgate_emulator::api::{ApiRoute, reserved};
    use streamgate_tests::template_host::{alive, descendants, script_bootstrap, template_for};
    let dir = std::env::temp_dir().join(format!("streamgate-soak-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let function = script_bootstrap(
        &dir,
        r#"sleep 1000 & echo $! > "$DIR/background""#,
        "head -c 20000000 /dev/zero | tr '\\0' x | fold -w 1000; head -c 20000000 /dev/zero | tr '\\0' y",
        r#"{"statusCode": 200}"#,
    );
    let config = streamgate_emulator::GatewayConfig {
        routes: vec![ApiRoute::proxy(reserved::CONNECT)],
        ..Default::default()
    };
    let template = dir.join("template.json");
    std::fs::write(
        &template,
        template_for(&config, &function, &dir.display().to_string(), false).to_string(),
    )
    .unwrap();
    let port = fresh_port();
    let mut child = Command::new(bin)
        .arg("--template")
        .arg(&template)
        .args(["--port", &port.to_string()])
        .stdin(Stdio::null())
        // Piped and never read: the pipe fills, and the server must not wait on it.
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let pid = child.id().expect("running");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
            / 1024.0
    };
    let mut peak: f64 = rss();
    let mut upgraded = 0;
    let started = Instant::now();
    for _ in 0..5 {
        let connect = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/dev"));
        let sampling = async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                peak = peak.max(rss());
            }
        };
        tokio::select! {
            r = tokio::time::timeout(Duration::from_secs(30), connect) => {
                if matches!(r, Ok(Ok(_))) {
                    upgraded += 1;
                }
            }
            () = sampling => {}
        }
    }
    let took = started.elapsed();
    let background = std::fs::read_to_string(dir.join("background"))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok());
    let started_procs = descendants(pid);
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = started_procs.clone();
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left.retain(|p| alive(*p));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Outcome {
        name: "hostile functions: 200 MB of output into a stdout nobody reads, 20 MB lines without a newline, a background child, then kill -9",
        pass: upgraded == 5 && peak < 64.0 && left.is_empty() && background.is_some(),
        figures: vec![
            format!(
                "5 connects, each printing 40 MB: {upgraded}/5 answered in {:.1} s; server RSS peak {peak:.1} MB",
                took.as_secs_f64()
            ),
            format!(
                "after kill -9: {} of {} processes it had started left after 5 s (the background child among them: {})",
                left.len(),
                started_procs.len(),
                background.is_some_and(|b| left.contains(&b))
            ),
        ],
    }
}
