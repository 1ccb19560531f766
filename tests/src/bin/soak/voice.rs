//! The voice relay under 100 sessions at once.

use super::support::*;

/// 100 voice sessions at once, each with its upstream, then all closed.
pub(super) async fn voice(bin: &Path) -> Outcome {
    let mock = MockRealtime::start("sk-soak").await;
    let mock_url = mock.url();
    let server = Server::start(
        bin,
        &[
            "--realtime-url",
            &mock_url,
            "--voice-max-sessions",
            "100",
            "--voice-max-sessions-per-client",
            "100",
        ],
        None,
        &[("OPENAI_API_KEY", "sk-soak")],
    )
    .await;
    let url = format!("ws://127.0.0.1:{}/realtime?restaurantId=r-123", server.port);
    let chunk = {
        use base64::Engine;
        let pcm: Vec<u8> = (0..2400u32)
            .flat_map(|i| ((i % 64) as i16 * 100).to_le_bytes())
            .collect();
        base64::engine::general_purpose::STANDARD.encode(pcm)
    };
    let started_ok = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Barrier::new(101));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (url, chunk, started_ok, gate) =
                (url.clone(), chunk.clone(), started_ok.clone(), gate.clone());
            tokio::spawn(async move {
                let ws = open(&url).await;
                let Some(mut ws) = ws else {
                    gate.wait().await;
                    return;
                };
                let _ = ws.send(Message::text(r#"{"type":"start_session"}"#)).await;
                let started = tokio::time::timeout(Duration::from_secs(20), async {
                    while let Some(Ok(m)) = ws.next().await {
                        if let Message::Text(t) = m
                            && t.as_str().contains("session_started")
                        {
                            return true;
                        }
                    }
                    false
                })
                .await
                .unwrap_or(false);
                if started {
                    started_ok.fetch_add(1, Ordering::Relaxed);
                    for _ in 0..5 {
                        let _ = ws
                            .send(Message::text(
                                json!({"type": "audio", "audio": chunk}).to_string(),
                            ))
                            .await;
                    }
                }
                // All 100 open at once before any closes.
                gate.wait().await;
                let _ = ws.send(Message::text(r#"{"type":"end_session"}"#)).await;
                let _ = ws.close(None).await;
                while let Ok(Some(Ok(_))) =
                    tokio::time::timeout(Duration::from_secs(5), ws.next()).await
                {}
            })
        })
        .collect();
    gate.wait().await;
    let live = server.health().await["voiceSessions"].as_u64().unwrap_or(0);
    for t in tasks {
        let _ = t.await;
    }
    let started_ok = started_ok.load(Ordering::Relaxed);
    let settled = server.settles(Duration::from_secs(15)).await;
    let upstream_deadline = Instant::now() + Duration::from_secs(10);
    while mock.closed_by_client() < started_ok && Instant::now() < upstream_deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audio_kb = mock.audio_bytes() / 1024;
    Outcome {
        name: "voice: 100 sessions at once, each with its upstream Realtime session",
        pass: started_ok == 100
            && live == 100
            && settled
            && mock.closed_by_client() == 100
            && mock.problems().is_empty(),
        figures: vec![format!(
            "{started_ok}/100 started, {live} live at once, {} KB of audio relayed upstream, {} upstream sockets closed by the relay, problems seen by the mock: {}",
            audio_kb,
            mock.closed_by_client(),
            mock.problems().len()
        )],
    }
}
