//! A mock of OpenAI's Realtime service (GA protocol) on loopback. It checks what it
//! receives (the `Authorization` header, no `OpenAI-Beta` header, the `session.update`
//! shape, base64 PCM16 audio) and lets a test script what it sends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What the mock sends.
#[derive(Debug, Clone)]
pub enum Out {
    /// A server event.
    Event(Value),
    /// A close frame with this code.
    Close(u16),
}

#[derive(Default)]
struct State {
    received: Vec<Value>,
    headers: Vec<Vec<(String, String)>>,
    audio: Vec<u8>,
    problems: Vec<String>,
    closed_by_client: usize,
    connections: usize,
    sender: Option<mpsc::UnboundedSender<Out>>,
}

/// A running mock; it stops when dropped.
pub struct MockRealtime {
    addr: std::net::SocketAddr,
    key: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockRealtime {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn check_session_update(e: &Value) -> Option<String> {
    let s = &e["session"];
    let checks = [
        (s["type"] == "realtime", "session.type is not realtime"),
        (
            s["audio"]["input"]["format"] == json!({"type": "audio/pcm", "rate": 24000}),
            "input format is not audio/pcm 24 kHz",
        ),
        (
            s["audio"]["output"]["format"] == json!({"type": "audio/pcm", "rate": 24000}),
            "output format is not audio/pcm 24 kHz",
        ),
        (
            s["audio"]["input"]["turn_detection"]["type"] == "server_vad",
            "no server VAD",
        ),
        (
            s["audio"]["input"]["transcription"]["model"].is_string(),
            "no input transcription",
        ),
        (
            s["instructions"].as_str().is_some_and(|i| !i.is_empty()),
            "no instructions",
        ),
        (
            s["tools"][0]["name"] == "add_to_cart",
            "no add_to_cart tool",
        ),
        (
            s.get("modalities").is_none() && s.get("input_audio_format").is_none(),
            "beta session fields",
        ),
    ];
    checks
        .iter()
        .find(|(ok, _)| !ok)
        .map(|(_, why)| why.to_string())
}

impl MockRealtime {
    /// Starts a mock that accepts the API key `key`.
    pub async fn start(key: &str) -> MockRealtime {
        // A backlog sized for bursts (the soak opens 100 sessions at once).
        let listener =
            streamgate_emulator::gateway::listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let (st, expected) = (state.clone(), format!("Bearer {key}"));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (st, expected) = (st.clone(), expected.clone());
                tokio::spawn(async move {
                    let mut headers = Vec::new();
                    #[allow(clippy::result_large_err)] // tungstenite's callback signature
                    let callback = |req: &Request, resp: Response| {
                        headers = req
                            .headers()
                            .iter()
                            .map(|(n, v)| {
                                (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                            })
                            .collect();
                        Ok(resp)
                    };
                    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                        return;
                    };
                    let (mut sink, mut source) = ws.split();
                    let beta = headers
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case("openai-beta"));
                    let auth_ok = headers
                        .iter()
                        .any(|(n, v)| n == "authorization" && *v == expected);
                    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
                    {
                        let mut s = st.lock().unwrap();
                        s.headers.push(headers);
                        s.connections += 1;
                        s.sender = Some(tx.clone());
                    }
                    if beta {
                        let _ = tx.send(Out::Event(json!({"type": "error", "error": {"type": "invalid_request_error", "code": "beta_api_shape_disabled", "message": "The beta Realtime API shape is disabled."}})));
                        let _ = tx.send(Out::Close(4000));
                    } else if !auth_ok {
                        let _ = tx.send(Out::Event(json!({"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_api_key", "message": "Incorrect API key provided."}})));
                        let _ = tx.send(Out::Close(1008));
                    } else {
                        let _ = tx.send(Out::Event(
                            json!({"type": "session.created", "session": {"type": "realtime"}}),
                        ));
                    }
                    loop {
                        tokio::select! {
                            out = rx.recv() => match out {
                                Some(Out::Event(e)) => {
                                    if sink.send(Message::text(e.to_string())).await.is_err() { break; }
                                }
                                Some(Out::Close(code)) => {
                                    let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: "".into() }))).await;
                                    break;
                                }
                                None => break,
                            },
                            incoming = source.next() => match incoming {
                                Some(Ok(Message::Text(t))) => {
                                    let Ok(e) = serde_json::from_str::<Value>(t.as_str()) else {
                                        st.lock().unwrap().problems.push(format!("not JSON: {t}"));
                                        continue;
                                    };
                                    let mut s = st.lock().unwrap();
                                    match e["type"].as_str() {
                                        Some("session.update") => {
                                            match check_session_update(&e) {
                                                Some(why) => s.problems.push(why),
                                                None => { let _ = tx.send(Out::Event(json!({"type": "session.updated", "session": e["session"]}))); }
                                            }
                                        }
                                        Some("input_audio_buffer.append") => {
                                            match e["audio"].as_str().map(|a| base64::engine::general_purpose::STANDARD.decode(a)) {
                                                Some(Ok(bytes)) if bytes.len() % 2 == 0 => s.audio.extend_from_slice(&bytes),
                                                _ => s.problems.push("audio is not base64 PCM16".into()),
                                            }
                                        }
                                        _ => {}
                                    }
                                    s.received.push(e);
                                }
                                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                                    st.lock().unwrap().closed_by_client += 1;
                                    break;
                                }
                                Some(Ok(_)) => {}
                            },
                        }
                    }
                });
            }
        });
        MockRealtime {
            addr,
            key: key.to_owned(),
            state,
            task,
        }
    }

    /// `ws://127.0.0.1:PORT/v1/realtime`.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/realtime", self.addr)
    }

    /// The key it accepts.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Sends an event on the latest connection.
    pub fn send(&self, event: Value) {
        let s = self.state.lock().unwrap();
        s.sender
            .as_ref()
            .expect("a relay connected")
            .send(Out::Event(event))
            .unwrap();
    }

    /// Closes the latest connection with `code`.
    pub fn close(&self, code: u16) {
        let s = self.state.lock().unwrap();
        let _ = s
            .sender
            .as_ref()
            .expect("a relay connected")
            .send(Out::Close(code));
    }

    /// Every event received, in order.
    pub fn received(&self) -> Vec<Value> {
        self.state.lock().unwrap().received.clone()
    }

    /// Events of one type.
    pub fn received_of(&self, kind: &str) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|e| e["type"] == kind)
            .collect()
    }

    /// Handshake headers of each connection.
    pub fn headers(&self) -> Vec<Vec<(String, String)>> {
        self.state.lock().unwrap().headers.clone()
    }

    /// PCM16 bytes received in `input_audio_buffer.append`.
    pub fn audio_bytes(&self) -> usize {
        self.state.lock().unwrap().audio.len()
    }

    /// The PCM16 audio received, decoded, in order.
    pub fn audio(&self) -> Vec<u8> {
        self.state.lock().unwrap().audio.clone()
    }

    /// What it found wrong in what it received.
    pub fn problems(&self) -> Vec<String> {
        self.state.lock().unwrap().problems.clone()
    }

    /// Connections the relay closed.
    pub fn closed_by_client(&self) -> usize {
        self.state.lock().unwrap().closed_by_client
    }

    /// Connections made.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Waits until `cond` holds (or panics after `within`).
    pub async fn wait(&self, within: Duration, what: &str, cond: impl Fn(&MockRealtime) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        while !cond(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "mock realtime: {what} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
