//! The live connections, and the `@connections` operations on them. Both the HTTP
//! management API and the in-process push go through here, so they answer alike.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use streamgate_contract::limits::MESSAGE_PAYLOAD_MAX_BYTES;
use streamgate_core::PushError;
use tokio::sync::{mpsc, watch};

use crate::clock;
use crate::events::ConnectionInfo;

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

struct Entry {
    info: ConnectionInfo,
    /// `None` while `$connect` runs.
    tx: Option<mpsc::Sender<Outgoing>>,
    /// Tells the connection's loop that a close was asked for (it need not wait for the
    /// close frame to get through a full queue).
    closing: Option<Arc<watch::Sender<Option<u16>>>>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a connection whose `$connect` is running.
    pub fn begin(&self, info: ConnectionInfo) -> Arc<AtomicI64> {
        let last_active = Arc::new(AtomicI64::new(info.connected_at));
        self.lock().insert(
            info.connection_id.clone(),
            Entry {
                info,
                tx: None,
                closing: None,
                last_active: last_active.clone(),
            },
        );
        last_active
    }

    /// The connection is established: frames may be sent to it; `closing` learns of a
    /// `DELETE`.
    pub fn open(
        &self,
        id: &str,
        tx: mpsc::Sender<Outgoing>,
        closing: Arc<watch::Sender<Option<u16>>>,
        info: ConnectionInfo,
    ) {
        if let Some(e) = self.lock().get_mut(id) {
            e.tx = Some(tx);
            e.closing = Some(closing);
            e.info = info;
        }
    }

    /// Forgets a connection.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// How many connections are open or connecting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there is no connection.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sender(&self, id: &str) -> Result<(mpsc::Sender<Outgoing>, Arc<AtomicI64>), PushError> {
        let entries = self.lock();
        let e = entries.get(id).ok_or(PushError::Gone)?;
        let tx = e.tx.clone().ok_or(PushError::Gone)?;
        Ok((tx, e.last_active.clone()))
    }

    /// `POST @connections/{id}`.
    pub fn post(&self, id: &str, data: String) -> Result<(), PushError> {
        if data.len() > MESSAGE_PAYLOAD_MAX_BYTES {
            return Err(PushError::PayloadTooLarge);
        }
        if let Some(limit) = &self.limit
            && !limit.lock().unwrap_or_else(|e| e.into_inner()).take()
        {
            return Err(PushError::Throttled);
        }
        let (tx, last_active) = self.sender(id)?;
        match tx.try_send(Outgoing::Text(data)) {
            Ok(()) => {
                last_active.store(clock::now_ms(), Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(PushError::Throttled),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PushError::Gone),
        }
    }

    /// Sends a frame API Gateway itself writes (errors, two-way responses); ignores a gone
    /// client.
    pub fn send_raw(&self, id: &str, data: String) {
        if let Ok((tx, _)) = self.sender(id) {
            let _ = tx.try_send(Outgoing::Text(data));
        }
    }

    /// `GET @connections/{id}`.
    pub fn describe(&self, id: &str) -> Result<Description, PushError> {
        let entries = self.lock();
        let e = entries
            .get(id)
            .filter(|e| e.tx.is_some())
            .ok_or(PushError::Gone)?;
        Ok(Description {
            connected_at: e.info.connected_at,
            source_ip: e.info.source_ip.clone(),
            user_agent: e.info.user_agent.clone(),
            last_active_at: e.last_active.load(Ordering::Relaxed),
        })
    }

    /// `DELETE @connections/{id}`: closes the socket with `code`.
    pub fn close(&self, id: &str, code: u16, reason: &str) -> Result<(), PushError> {
        let (tx, _) = self.sender(id)?;
        if let Some(closing) = self.lock().get(id).and_then(|e| e.closing.clone()) {
            closing.send_replace(Some(code));
        }
        // A close must get through even when the buffer is full: wait for room in a task.
        let frame = Outgoing::Close {
            code,
            reason: reason.to_owned(),
        };
        if let Err(mpsc::error::TrySendError::Full(frame)) = tx.try_send(frame) {
            tokio::spawn(async move {
                let _ = tx.send(frame).await;
            });
        }
        Ok(())
    }
}
