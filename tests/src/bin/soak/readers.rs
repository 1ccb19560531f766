//! Clients that stop reading: every request ends, or its connection does.

use super::support::*;

/// Clients that stop reading: every request ends, or its connection does.
pub(super) async fn slow_readers(bin: &Path) -> Outcome {
    // As reported: many clients, one buffer's worth each.
    let (pass_a, many) = slow_readers_with(bin, 300, 1).await;
    // Past every buffer: few clients, each asking for far more than the kernel, the queue and
    // the retry budget hold (the handler must give up on them, and say so).
    let (pass_b, heavy) = slow_readers_with(bin, 10, 200).await;
    Outcome {
        name: "slow readers: clients ask for 30 KB answers and stop reading for 10 s",
        pass: pass_a && pass_b,
        figures: vec![
            format!("300 clients x 1 answer: {many}"),
            format!("10 clients x 200 answers: {heavy}"),
        ],
    }
}

/// `clients` clients each ask for `asks` answers of 30 KB, stop reading for 10 s, then read:
/// whether every request ended (with a frame, or with its connection), and how.
pub(super) async fn slow_readers_with(bin: &Path, clients: usize, asks: usize) -> (bool, String) {
    let server = Server::start(bin, &["--echo-delay-ms", "0"], None, &[]).await;
    let url = server.url();
    let port = server.port;
    let text: String = (0..6000)
        .map(|i| format!("w{:04} ", i % 10_000))
        .collect::<String>()[..30_000]
        .to_owned();
    // Per request: how it ended for the client.
    let outcomes = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (url, text, outcomes) = (url.clone(), text.clone(), outcomes.clone());
            tokio::spawn(async move {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                let _ = socket.set_recv_buffer_size(4096);
                let Ok(stream) = socket.connect(([127, 0, 0, 1], port).into()).await else {
                    return;
                };
                let Ok((mut ws, _)) = tokio_tungstenite::client_async(url.as_str(), stream).await
                else {
                    return;
                };
                for a in 0..asks {
                    let m = json!({"action": Route::Message.key(), "data": text, "requestId": format!("r{c}-{a}")});
                    if ws.send(Message::text(m.to_string())).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
                let mut ended = BTreeMap::<String, String>::new();
                let mut closed = false;
                let read = tokio::time::timeout(Duration::from_secs(60), async {
                    while ended.len() < asks {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) => {
                                let v: Value = serde_json::from_str(&t).unwrap_or_default();
                                let id = v["requestId"].as_str().unwrap_or("").to_owned();
                                match v["type"].as_str() {
                                    Some("done") => {
                                        ended.insert(id, "done".into());
                                    }
                                    Some("error") => {
                                        ended.insert(
                                            id,
                                            format!("error {}", v["code"].as_str().unwrap_or("?")),
                                        );
                                    }
                                    _ => {}
                                }
                            }
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                                closed = true;
                                return;
                            }
                            Some(Ok(_)) => {}
                        }
                    }
                })
                .await;
                let mut out = outcomes.lock().unwrap();
                for kind in ended.values() {
                    *out.entry(kind.clone()).or_default() += 1;
                }
                let unfinished = asks - ended.len();
                if unfinished > 0 {
                    let why = if closed {
                        "ended by the server closing the connection"
                    } else if read.is_err() {
                        "nothing (socket left open)"
                    } else {
                        "unaccounted"
                    };
                    *out.entry(why.to_owned()).or_default() += unfinished;
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let outcomes = outcomes.lock().unwrap().clone();
    let silent = outcomes
        .get("nothing (socket left open)")
        .copied()
        .unwrap_or(0)
        + outcomes.get("unaccounted").copied().unwrap_or(0);
    let total: usize = outcomes.values().sum();
    let settled = server.settles(Duration::from_secs(15)).await;
    let pass = silent == 0 && total == clients * asks && settled;
    let figures = format!(
        "{total} requests: {}",
        outcomes
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (pass, figures)
}
