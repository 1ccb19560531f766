//! A voice session: the client socket, one upstream Realtime socket, and bounded queues
//! between them.
//!
//! What is bounded, and what happens at the bound:
//! - frames to the client wait in a queue of `client_queue` frames; when it is full, audio
//!   frames are dropped (stale audio is worse than a gap) and counted, other frames wait up to
//!   [`SEND_GRACE`], after which the session ends and the socket closes with 1011;
//! - events to the upstream wait in a queue of `upstream_queue`; when it is full the relay
//!   stops reading the client (TCP backpressure) for up to [`SEND_GRACE`], after which the
//!   session ends with an `upstream_slow` error;
//! - upstream events wait in a queue of `client_queue` events; when it is full the relay
//!   stops reading the upstream socket (TCP backpressure).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use streamgate_contract::limits::close;
use streamgate_contract::{ApiKind, ConnectionRecord};
use streamgate_core::{ApiKey, ConnectionStore};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{info, warn};

use super::catalog::{Catalog, Restaurant};
use super::protocol::{self, Action, ClientMsg};
use crate::events::ConnectionInfo;

/// How long a full queue may hold up the relay before the session ends.
pub const SEND_GRACE: Duration = Duration::from_secs(2);

/// Settings of the voice relay.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// The Realtime endpoint, without the query (`wss://api.openai.com/v1/realtime`).
    pub base_url: String,
    /// The model (`gpt-realtime`).
    pub model: String,
    /// The waiter's voice.
    pub voice: String,
    /// The input transcription model.
    pub transcription_model: String,
    /// The API key; `None` makes `start_session` answer an error naming `api_key_var`.
    pub api_key: Option<ApiKey>,
    /// The environment variable the key comes from.
    pub api_key_var: String,
    /// The restaurants.
    pub catalog: Arc<Catalog>,
    /// Frames waiting for the client (and events from the upstream).
    pub client_queue: usize,
    /// Events waiting for the upstream.
    pub upstream_queue: usize,
    /// Seconds a connection record lives.
    pub record_ttl: Duration,
}

impl RealtimeConfig {
    /// Settings with OpenAI's public endpoint and the sample catalog.
    pub fn new(catalog: Catalog, api_key: Option<ApiKey>) -> RealtimeConfig {
        RealtimeConfig {
            base_url: "wss://api.openai.com/v1/realtime".into(),
            model: "gpt-realtime".into(),
            voice: "marin".into(),
            transcription_model: "whisper-1".into(),
            api_key,
            api_key_var: "OPENAI_API_KEY".into(),
            catalog: Arc::new(catalog),
            client_queue: 256,
            upstream_queue: 64,
            record_ttl: Duration::from_secs(
                streamgate_contract::config::DEFAULT_CONNECTION_TTL_SECONDS,
            ),
        }
    }
}

/// Why a `/realtime` handshake is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No `restaurantId` (400).
    MissingRestaurant,
    /// No such restaurant (404).
    UnknownRestaurant(String),
}

/// The relay.
pub struct RealtimeService {
    config: RealtimeConfig,
    store: Arc<dyn ConnectionStore>,
    dropped_audio: AtomicU64,
}

/// The upstream side of a session.
struct Upstream {
    tx: mpsc::Sender<Value>,
    events: mpsc::Receiver<UpstreamEvent>,
    task: tokio::task::JoinHandle<()>,
}

enum UpstreamEvent {
    Event(Value),
    Closed(String),
}

impl Upstream {
    /// Closes the upstream socket: the writer sends a close frame when its queue is
    /// dropped; the task is stopped after 1 s at the latest.
    async fn close(self) {
        let Upstream {
            tx,
            events,
            mut task,
        } = self;
        drop(tx);
        drop(events);
        if tokio::time::timeout(Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// How a client frame's send went.
enum Sent {
    Ok,
    Dropped,
    ClientStuck,
}

impl RealtimeService {
    /// A relay writing connection records to `store`.
    pub fn new(config: RealtimeConfig, store: Arc<dyn ConnectionStore>) -> Arc<RealtimeService> {
        Arc::new(RealtimeService {
            config,
            store,
            dropped_audio: AtomicU64::new(0),
        })
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.config.catalog
    }

    /// Audio frames dropped for slow clients so far.
    pub fn dropped_audio(&self) -> u64 {
        self.dropped_audio.load(Ordering::Relaxed)
    }

    /// Checks a handshake's query: the restaurant and the language (default `en`).
    pub fn admit(&self, query: &[(String, String)]) -> Result<(Restaurant, String), Refusal> {
        let get = |k: &str| {
            query
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_owned())
        };
        let id = get("restaurantId")
            .filter(|v| !v.is_empty())
            .ok_or(Refusal::MissingRestaurant)?;
        let restaurant = self
            .config
            .catalog
            .restaurant(&id)
            .cloned()
            .ok_or(Refusal::UnknownRestaurant(id))?;
        let language = get("language")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "en".to_owned());
        Ok((restaurant, language))
    }

    async fn connect_upstream(&self) -> Result<Upstream, String> {
        let key = self.config.api_key.as_ref().ok_or("no key")?;
        let url = format!(
            "{}?model={}",
            self.config.base_url.trim_end_matches('/'),
            self.config.model
        );
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        let bearer = format!("Bearer {}", key.expose());
        request.headers_mut().insert(
            "Authorization",
            bearer
                .parse()
                .map_err(|_| "the API key is not a valid header value")?,
        );
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .map_err(|_| "no answer within 10 s".to_owned())?
        .map_err(|e| match e {
            tungstenite::Error::Http(r) => format!("HTTP {}", r.status()),
            other => other.to_string(),
        })?;
        let (tx, mut rx) = mpsc::channel::<Value>(self.config.upstream_queue);
        let (events_tx, events) = mpsc::channel::<UpstreamEvent>(self.config.client_queue);
        let task = tokio::spawn(async move {
            let (mut sink, mut stream) = ws.split();
            loop {
                tokio::select! {
                    out = rx.recv() => match out {
                        Some(event) => {
                            if sink.send(Message::text(event.to_string())).await.is_err() {
                                let _ = events_tx.send(UpstreamEvent::Closed("the connection failed".into())).await;
                                return;
                            }
                        }
                        None => {
                            let _ = sink.send(Message::Close(None)).await;
                            return;
                        }
                    },
                    incoming = stream.next() => match incoming {
                        Some(Ok(Message::Text(t))) => {
                            let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                            if events_tx.send(UpstreamEvent::Event(v)).await.is_err() {
                                return;
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            let why = frame.map_or("closed".to_owned(), |f| format!("closed with {} {}", u16::from(f.code), f.reason));
                            let _ = events_tx.send(UpstreamEvent::Closed(why)).await;
                            return;
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            let _ = events_tx.send(UpstreamEvent::Closed(e.to_string())).await;
                            return;
                        }
                        None => {
                            let _ = events_tx.send(UpstreamEvent::Closed("the connection ended".into())).await;
                            return;
                        }
                    },
                }
            }
        });
        Ok(Upstream { tx, events, task })
    }

    fn record(
        &self,
        info: &ConnectionInfo,
        restaurant: &Restaurant,
        language: &str,
    ) -> ConnectionRecord {
        ConnectionRecord {
            connection_id: info.connection_id.clone(),
            connected_at_ms: info.connected_at,
            ttl_epoch_seconds: info.connected_at / 1000 + self.config.record_ttl.as_secs() as i64,
            domain_name: info.domain_name.clone(),
            stage: info.stage.clone(),
            source_ip: Some(info.source_ip.clone()),
            user_agent: info.user_agent.clone(),
            api: ApiKind::Realtime,
            restaurant_id: Some(restaurant.id.clone()),
            language: Some(language.to_owned()),
        }
    }

    /// Serves one client socket until it closes or the server shuts down.
    pub async fn run<S>(
        self: Arc<RealtimeService>,
        ws: WebSocketStream<S>,
        info: ConnectionInfo,
        restaurant: Restaurant,
        language: String,
        mut shutdown: watch::Receiver<bool>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let id = info.connection_id.clone();
        if let Err(e) = self
            .store
            .put(&self.record(&info, &restaurant, &language))
            .await
        {
            warn!(connection_id = %id, error = %e, "cannot write the realtime connection record");
        }
        let (mut sink, mut stream) = ws.split();
        let (client_tx, mut client_rx) = mpsc::channel::<Message>(self.config.client_queue);
        let writer = tokio::spawn(async move {
            while let Some(m) = client_rx.recv().await {
                let is_close = matches!(m, Message::Close(_));
                if sink.send(m).await.is_err() || is_close {
                    break;
                }
            }
        });
        let send = |frame: Value| {
            let client_tx = client_tx.clone();
            async move {
                let audio = frame.get("type").and_then(Value::as_str) == Some("audio");
                let message = Message::text(frame.to_string());
                if audio {
                    return match client_tx.try_send(message) {
                        Ok(()) => Sent::Ok,
                        Err(_) => Sent::Dropped,
                    };
                }
                match tokio::time::timeout(SEND_GRACE, client_tx.send(message)).await {
                    Ok(Ok(())) => Sent::Ok,
                    _ => Sent::ClientStuck,
                }
            }
        };
        let mut upstream: Option<Upstream> = None;
        let mut state = protocol::SessionState::default();
        let mut close_code = None;
        loop {
            let upstream_event = async {
                match upstream.as_mut() {
                    Some(u) => u.events.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = stream.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Binary(_))) => { close_code = Some(close::UNSUPPORTED_DATA); break; }
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => continue,
                    };
                    let mut to_upstream: Vec<Value> = Vec::new();
                    let reply = match protocol::parse_client(text.as_str()) {
                        Err(e) => Some(protocol::error_frame("bad_request", &e)),
                        Ok(ClientMsg::Ping) => Some(json!({"type": "pong"})),
                        Ok(ClientMsg::StartSession { restaurant_name }) => {
                            if upstream.is_some() {
                                Some(protocol::error_frame("session_active", "a session is already running; send end_session first"))
                            } else if self.config.api_key.is_none() {
                                Some(protocol::error_frame(
                                    "missing_api_key",
                                    &format!("the voice service needs an API key: set {} and restart the server", self.config.api_key_var),
                                ))
                            } else {
                                match self.connect_upstream().await {
                                    Ok(u) => {
                                        let instructions = protocol::instructions(&restaurant, restaurant_name.as_deref(), &language);
                                        to_upstream.push(protocol::session_update(&instructions, &self.config.voice, &self.config.transcription_model));
                                        upstream = Some(u);
                                        state = protocol::SessionState::default();
                                        None
                                    }
                                    Err(e) => {
                                        warn!(connection_id = %id, error = %e, "cannot reach the voice service");
                                        Some(protocol::error_frame("upstream_unavailable", "the voice service cannot be reached"))
                                    }
                                }
                            }
                        }
                        Ok(ClientMsg::Audio { audio }) => {
                            if !protocol::valid_pcm16_base64(&audio) {
                                Some(protocol::error_frame("bad_audio", "audio must be base64 PCM16 (whole 16-bit samples)"))
                            } else if upstream.is_none() {
                                Some(protocol::error_frame("no_session", "send start_session first"))
                            } else {
                                to_upstream.push(json!({"type": "input_audio_buffer.append", "audio": audio}));
                                None
                            }
                        }
                        Ok(ClientMsg::CommitAudio) => match upstream {
                            Some(_) => {
                                to_upstream.push(json!({"type": "input_audio_buffer.commit"}));
                                to_upstream.push(json!({"type": "response.create"}));
                                None
                            }
                            None => Some(protocol::error_frame("no_session", "send start_session first")),
                        },
                        Ok(ClientMsg::Cancel) => match upstream {
                            Some(_) => {
                                to_upstream.push(json!({"type": "response.cancel"}));
                                None
                            }
                            None => Some(protocol::error_frame("no_session", "send start_session first")),
                        },
                        Ok(ClientMsg::EndSession) => {
                            if let Some(u) = upstream.take() {
                                u.close().await;
                            }
                            None
                        }
                    };
                    if let Some(frame) = reply {
                        if let Sent::ClientStuck = send(frame).await {
                            close_code = Some(close::INTERNAL_ERROR);
                            break;
                        }
                    }
                    if let Some(u) = &upstream {
                        for event in to_upstream {
                            if tokio::time::timeout(SEND_GRACE, u.tx.send(event)).await.map_or(true, |r| r.is_err()) {
                                let _ = send(protocol::error_frame("upstream_slow", "the voice service is not keeping up; the session ended")).await;
                                if let Some(u) = upstream.take() {
                                    u.close().await;
                                }
                                break;
                            }
                        }
                    }
                }
                event = upstream_event => {
                    match event {
                        Some(UpstreamEvent::Event(v)) => {
                            let mut end = false;
                            for action in protocol::on_upstream(&mut state, &restaurant, &v) {
                                match action {
                                    Action::ToClient(frame) => match send(frame).await {
                                        Sent::Ok => {}
                                        Sent::Dropped => { self.dropped_audio.fetch_add(1, Ordering::Relaxed); }
                                        Sent::ClientStuck => { close_code = Some(close::INTERNAL_ERROR); end = true; }
                                    },
                                    Action::ToUpstream(e) => {
                                        if let Some(u) = &upstream {
                                            let _ = tokio::time::timeout(SEND_GRACE, u.tx.send(e)).await;
                                        }
                                    }
                                    Action::End => end = true,
                                }
                            }
                            if end {
                                if let Some(u) = upstream.take() {
                                    u.close().await;
                                }
                                if close_code.is_some() {
                                    break;
                                }
                            }
                        }
                        Some(UpstreamEvent::Closed(why)) => {
                            info!(connection_id = %id, why = %why, "the voice service closed the session");
                            let _ = send(protocol::error_frame("upstream_closed", "the voice service closed the session")).await;
                            if let Some(u) = upstream.take() {
                                u.close().await;
                            }
                        }
                        None => {
                            let _ = send(protocol::error_frame("upstream_closed", "the voice service closed the session")).await;
                            if let Some(u) = upstream.take() {
                                u.close().await;
                            }
                        }
                    }
                }
                _ = shutdown.changed() => { close_code = Some(close::GOING_AWAY); break; }
            }
        }
        if let Some(u) = upstream.take() {
            u.close().await;
        }
        if let Some(code) = close_code {
            let _ = client_tx
                .send(Message::Close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: "".into(),
                })))
                .await;
        }
        drop(client_tx);
        let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
        if let Err(e) = self.store.delete(&id).await {
            warn!(connection_id = %id, error = %e, "cannot delete the realtime connection record");
        }
        info!(connection_id = %id, "voice session closed");
    }
}
