//! The upstream side of a voice session: one socket to the Realtime service, with a writer
//! queue of events to send and a reader queue of events received, both bounded.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use streamgate_core::ApiKey;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long the Realtime service has to accept the socket.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to reach the Realtime service.
pub struct Dial<'a> {
    /// The endpoint without the query (`wss://api.openai.com/v1/realtime`).
    pub base_url: &'a str,
    /// The model.
    pub model: &'a str,
    /// The key, sent in the `Authorization` header only.
    pub key: &'a ApiKey,
    /// Events waiting to be sent (when full, senders wait).
    pub events_to_upstream: usize,
    /// Events received and not yet handled (when full, the socket is not read).
    pub events_from_upstream: usize,
}

/// What the upstream socket reports.
pub enum UpstreamEvent {
    /// An event (a JSON object).
    Event(Value),
    /// The socket closed or failed, and why (for logs).
    Closed(String),
}

/// Why the upstream socket did not open. It is safe to log: it never carries the key.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The server has no key for the Realtime service.
    #[error("no key")]
    NoKey,
    /// The endpoint and model do not make a WebSocket request.
    #[error("{0}")]
    BadUrl(String),
    /// The key cannot be sent as a header.
    #[error("the API key is not a valid header value")]
    BadKey,
    /// The service did not accept the socket in time.
    #[error("no answer within {} s", CONNECT_TIMEOUT.as_secs())]
    TimedOut,
    /// The service refused the socket with an HTTP status.
    #[error("HTTP {0}")]
    Refused(http::StatusCode),
    /// The socket failed otherwise.
    #[error("{0}")]
    Socket(String),
}

/// An open upstream session.
pub struct Upstream {
    /// Events to send.
    pub tx: mpsc::Sender<Value>,
    /// Events received.
    pub events: mpsc::Receiver<UpstreamEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    /// Opens the socket. The error is safe to log: it never carries the key.
    pub async fn connect(dial: Dial<'_>) -> Result<Upstream, UpstreamError> {
        let url = format!(
            "{}?model={}",
            dial.base_url.trim_end_matches('/'),
            dial.model
        );
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| UpstreamError::BadUrl(e.to_string()))?;
        let bearer = format!("Bearer {}", dial.key.expose());
        request.headers_mut().insert(
            "Authorization",
            bearer.parse().map_err(|_| UpstreamError::BadKey)?,
        );
        // The request carries the key: log where it goes, never the request itself.
        tracing::trace!(url = %url, "opening the upstream Realtime socket");
        let (ws, _) =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await
                .map_err(|_| UpstreamError::TimedOut)?
                .map_err(|e| match e {
                    tungstenite::Error::Http(r) => UpstreamError::Refused(r.status()),
                    other => UpstreamError::Socket(other.to_string()),
                })?;
        let (tx, rx) = mpsc::channel::<Value>(dial.events_to_upstream.max(1));
        let (events_tx, events) = mpsc::channel::<UpstreamEvent>(dial.events_from_upstream.max(1));
        let task = tokio::spawn(pump(ws, rx, events_tx));
        Ok(Upstream { tx, events, task })
    }

    /// Closes the upstream socket: the writer sends a close frame when its queue is
    /// dropped; the task is stopped after 1 s at the latest.
    pub async fn close(self) {
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

/// Moves events both ways until either side ends.
async fn pump<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    mut rx: mpsc::Receiver<Value>,
    events_tx: mpsc::Sender<UpstreamEvent>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let closed = |why: &str| UpstreamEvent::Closed(why.to_owned());
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(event) => {
                    if sink.send(Message::text(event.to_string())).await.is_err() {
                        let _ = events_tx.send(closed("the connection failed")).await;
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
                    let why = frame.map_or("closed".to_owned(), |f| {
                        format!("closed with {} {}", u16::from(f.code), f.reason)
                    });
                    let _ = events_tx.send(UpstreamEvent::Closed(why)).await;
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    let _ = events_tx.send(UpstreamEvent::Closed(e.to_string())).await;
                    return;
                }
                None => {
                    let _ = events_tx.send(closed("the connection ended")).await;
                    return;
                }
            },
        }
    }
}
