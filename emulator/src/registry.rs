//! The live connections, and the `@connections` operations on them. Both the HTTP
//! management API and the in-process push go through here, so they answer alike.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use streamgate_contract::limits::MESSAGE_PAYLOAD_MAX_BYTES;
use streamgate_sync::Locked;

use crate::clock;
use crate::events::ConnectionInfo;
use crate::queue::{OutQueue, PushRefused};

/// Why an `@connections` operation on a connection failed, as API Gateway answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// 410 `GoneException`: the client is gone (or not yet connected).
    #[error("the connection is gone")]
    Gone,
    /// 413 `PayloadTooLargeException`: over the 128 KB message limit.
    #[error("the frame is larger than the 128 KB message limit")]
    PayloadTooLarge,
    /// 429 `LimitExceededException`: over the post rate, or the client's buffer is full.
    #[error("the @connections API throttled the post")]
    Throttled,
}

/// What the server sends on a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A text message.
    Text(String),
    /// A close frame; nothing is sent after it.
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// How many frames may wait for a slow client before posts answer 429 (API Gateway: "the
/// WebSocket client side buffer is full").
pub const CLIENT_BUFFER_FRAMES: usize = 256;

/// A socket's outgoing queue, shared by the registry and the socket's writer.
pub type Outbox = Arc<OutQueue<Outgoing>>;

struct Entry {
    info: Arc<ConnectionInfo>,
    /// `None` while `$connect` runs.
    tx: Option<Outbox>,
    last_active: Arc<AtomicI64>,
}

/// A connection's description, as `GET @connections/{id}` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// Epoch ms of the connection.
    pub connected_at: i64,
    /// Client address.
    pub source_ip: String,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Epoch ms of the last frame either way.
    pub last_active_at: i64,
}

/// A simple token bucket for the management API's rate limit.
struct Bucket {
    per_second: f64,
    tokens: f64,
    at: std::time::Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.per_second.max(1.0));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The connections of one server.
#[derive(Default)]
pub struct Registry {
    entries: Mutex<HashMap<String, Entry>>,
    limit: Option<Mutex<Bucket>>,
}

impl Registry {
    /// A registry whose `post`s are limited to `posts_per_second` (none: unlimited).
    pub fn new(posts_per_second: Option<u32>) -> Registry {
        Registry {
            entries: Mutex::new(HashMap::new()),
            limit: posts_per_second.map(|n| {
                Mutex::new(Bucket {
                    per_second: f64::from(n),
                    tokens: f64::from(n),
                    at: std::time::Instant::now(),
                })
            }),
        }
    }

    /// Records a connection whose `$connect` is running.
    pub fn begin(&self, info: ConnectionInfo) -> Arc<AtomicI64> {
        let last_active = Arc::new(AtomicI64::new(info.connected_at));
        self.entries.locked().insert(
            info.connection_id.clone(),
            Entry {
                info: Arc::new(info),
                tx: None,
                last_active: last_active.clone(),
            },
        );
        last_active
    }

    /// The connection is established: frames may be sent to it.
    pub fn open(&self, id: &str, tx: Outbox, info: Arc<ConnectionInfo>) {
        if let Some(e) = self.entries.locked().get_mut(id) {
            e.tx = Some(tx);
            e.info = info;
        }
    }

    /// Forgets a connection.
    pub fn remove(&self, id: &str) {
        self.entries.locked().remove(id);
    }

    /// How many connections are open or connecting.
    pub fn len(&self) -> usize {
        self.entries.locked().len()
    }

    /// Whether there is no connection.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sender(&self, id: &str) -> Result<(Outbox, Arc<AtomicI64>), PostError> {
        let entries = self.entries.locked();
        let e = entries.get(id).ok_or(PostError::Gone)?;
        let tx = e.tx.clone().ok_or(PostError::Gone)?;
        Ok((tx, e.last_active.clone()))
    }

    /// `POST @connections/{id}`.
    pub fn post(&self, id: &str, data: String) -> Result<(), PostError> {
        if data.len() > MESSAGE_PAYLOAD_MAX_BYTES {
            return Err(PostError::PayloadTooLarge);
        }
        if let Some(limit) = &self.limit
            && !limit.locked().take()
        {
            return Err(PostError::Throttled);
        }
        let (tx, last_active) = self.sender(id)?;
        match tx.try_push(Outgoing::Text(data)) {
            Ok(()) => {
                last_active.store(clock::now_ms(), Ordering::Relaxed);
                Ok(())
            }
            Err(PushRefused::Full) => Err(PostError::Throttled),
            Err(PushRefused::Closed) => Err(PostError::Gone),
        }
    }

    /// Sends a frame API Gateway itself writes (errors, two-way responses); ignores a gone
    /// client.
    pub fn send_raw(&self, id: &str, data: String) {
        if let Ok((tx, _)) = self.sender(id) {
            let _ = tx.try_push(Outgoing::Text(data));
        }
    }

    /// `GET @connections/{id}`.
    pub fn describe(&self, id: &str) -> Result<Description, PostError> {
        let entries = self.entries.locked();
        let e = entries
            .get(id)
            .filter(|e| e.tx.is_some())
            .ok_or(PostError::Gone)?;
        Ok(Description {
            connected_at: e.info.connected_at,
            source_ip: e.info.source_ip.clone(),
            user_agent: e.info.user_agent.clone(),
            last_active_at: e.last_active.load(Ordering::Relaxed),
        })
    }

    /// `DELETE @connections/{id}`: closes the socket with `code`. The socket's loop is told
    /// at once; the close frame goes out after what is already queued, even when the queue is
    /// full (`reason` is API Gateway's: none).
    pub fn close(&self, id: &str, code: u16) -> Result<(), PostError> {
        let (tx, _) = self.sender(id)?;
        tx.request_close(code);
        Ok(())
    }
}
