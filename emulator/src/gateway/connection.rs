//! An open chat socket: frames in (binary closes 1003, over the limits 1009, protocol
//! violations 1002 and 1007), each text frame to an integration (at most
//! `max_in_flight_per_connection` at once, more waiting without stopping the read loop),
//! frames out in order, idle and lifetime closes, shutdown with 1001, and `$disconnect`
//! exactly once at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use streamgate_contract::RouteKind;
use streamgate_contract::limits::close;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::{debug, info, warn};

use super::Gateway;
use super::upgrade::violation_close_code;
use crate::clock;
use crate::events::{self, ConnectionInfo};
use crate::queue::OutQueue;
use crate::registry::{CLIENT_BUFFER_FRAMES, Outbox, Outgoing};

/// Frames that may wait for a free in-flight slot, per slot.
const WAITING_PER_SLOT: usize = 4;

/// How long a closing socket has to send what is queued and finish the close handshake.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How a connection ended: the `$disconnect` status code and reason.
struct Ending {
    code: u16,
    reason: String,
}

impl Gateway {
    pub(super) async fn run_connection<S>(
        self: Arc<Gateway>,
        mut sink: SplitSink<WebSocketStream<S>, Message>,
        mut stream: SplitStream<WebSocketStream<S>>,
        info: Arc<ConnectionInfo>,
        last_active: Arc<AtomicI64>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let id = info.connection_id.clone();
        let tx: Outbox = Arc::new(OutQueue::new(CLIENT_BUFFER_FRAMES));
        self.registry.open(&id, tx.clone(), info.clone());

        // Writer: frames in order; a Close frame ends it.
        let queue = tx.clone();
        let writer = tokio::spawn(async move {
            while let Some(out) = queue.pop().await {
                match out {
                    Outgoing::Text(t) => {
                        if sink.send(Message::text(t)).await.is_err() {
                            break;
                        }
                    }
                    Outgoing::Close { code, reason } => {
                        let frame = CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        };
                        let _ = sink.send(Message::Close(Some(frame))).await;
                        break;
                    }
                }
            }
        });

        let in_flight = self.config.max_in_flight_per_connection.max(1);
        // Made on the first frame (a socket that never sends one does not pay for them).
        let mut limits: Option<(Arc<Semaphore>, Arc<AtomicUsize>)> = None;
        // Frames waiting for a slot wait in their own tasks, so the read loop never stops
        // for them (pings are answered and a close is seen at once); past this many waiting,
        // a frame is answered "Too Many Requests" as a throttled route is.
        let max_waiting = in_flight * WAITING_PER_SLOT;
        let started = Instant::now();
        let lifetime_end = started + self.config.max_lifetime;
        let mut stop = self.shutdown.subscribe();
        let close_with = |code: u16, reason: &str| {
            // The close frame goes after what is queued, whatever the queue holds.
            tx.close(Some(Outgoing::Close {
                code,
                reason: reason.to_owned(),
            }));
            Ending {
                code,
                reason: reason.to_owned(),
            }
        };
        let ending: Ending = loop {
            let idle_end = {
                let last = last_active.load(Ordering::Relaxed);
                let idle_ms = self.config.idle_timeout.as_millis() as i64;
                let left = (last + idle_ms - clock::now_ms()).max(0) as u64;
                Instant::now() + Duration::from_millis(left)
            };
            tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        last_active.store(clock::now_ms(), Ordering::Relaxed);
                        let gw = self.clone();
                        let info = info.clone();
                        let (slots, waiting) = limits.get_or_insert_with(|| {
                            (Arc::new(Semaphore::new(in_flight)), Arc::new(AtomicUsize::new(0)))
                        });
                        match slots.clone().try_acquire_owned() {
                            Ok(permit) => {
                                self.tasks.spawn(async move {
                                    gw.on_message(&info, text.as_str()).await;
                                    drop(permit);
                                });
                            }
                            Err(_) if waiting.load(Ordering::Acquire) < max_waiting => {
                                waiting.fetch_add(1, Ordering::AcqRel);
                                let (slots, waiting) = (slots.clone(), waiting.clone());
                                self.tasks.spawn(async move {
                                    let permit = slots.acquire_owned().await;
                                    waiting.fetch_sub(1, Ordering::AcqRel);
                                    if let Ok(permit) = permit {
                                        gw.on_message(&info, text.as_str()).await;
                                        drop(permit);
                                    }
                                });
                            }
                            Err(_) => self.throttled(&id),
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        break close_with(close::UNSUPPORTED_DATA, "Binary frames are not supported");
                    }
                    Some(Ok(Message::Close(frame))) => {
                        break match frame {
                            Some(f) => Ending { code: u16::from(f.code), reason: f.reason.to_string() },
                            None => Ending { code: close::NO_STATUS, reason: String::new() },
                        };
                    }
                    Some(Ok(_)) => last_active.store(clock::now_ms(), Ordering::Relaxed),
                    Some(Err(e)) => match violation_close_code(&e) {
                        Some(code) => {
                            debug!(connection_id = %id, error = %e, code, "protocol violation");
                            let reason = match code {
                                close::MESSAGE_TOO_BIG => "Message too big",
                                close::INVALID_PAYLOAD => "Invalid UTF-8",
                                _ => "Protocol error",
                            };
                            break close_with(code, reason);
                        }
                        None => {
                            debug!(connection_id = %id, error = %e, "socket error");
                            break Ending { code: 1006, reason: String::new() };
                        }
                    },
                    None => break Ending { code: 1006, reason: String::new() },
                },
                // One timer for both limits (an idle socket's future stays small).
                _ = tokio::time::sleep_until(idle_end.min(lifetime_end)) => {
                    if Instant::now() >= lifetime_end {
                        break close_with(close::GOING_AWAY, "Going away");
                    }
                    let idle_ms = self.config.idle_timeout.as_millis() as i64;
                    if clock::now_ms() - last_active.load(Ordering::Relaxed) >= idle_ms {
                        break close_with(close::GOING_AWAY, "Going away");
                    }
                }
                _ = stop.changed() => break close_with(close::GOING_AWAY, "Going away"),
                code = tx.close_requested() => {
                    // DELETE @connections: the close frame, after what is queued.
                    break close_with(code, "");
                }
            }
        };
        self.registry.remove(&id);
        tx.close(None);
        // What follows runs once, at the end: boxed, so its state does not size every open
        // connection's future.
        Box::pin(self.finish(id, info, ending, writer, stream)).await;
    }

    /// After the loop: the close handshake, briefly (a client that does not read gets its
    /// socket closed under it: the writer is stopped, and with it the socket), then
    /// `$disconnect`.
    async fn finish<S>(
        self: Arc<Gateway>,
        id: String,
        info: Arc<ConnectionInfo>,
        ending: Ending,
        writer: tokio::task::JoinHandle<()>,
        mut stream: SplitStream<WebSocketStream<S>>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let stop_writer = writer.abort_handle();
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            let _ = writer.await;
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
        stop_writer.abort();
        drop(stream);
        info!(connection_id = %id, code = ending.code, "disconnected");
        if let Some(route) = self.route(RouteKind::Disconnect) {
            let event = events::disconnect(
                &info,
                &route.key,
                ending.code,
                &ending.reason,
                clock::now_ms(),
            );
            let timeout = self.config.integration_timeout(&route);
            if tokio::time::timeout(timeout, self.invoke(&route, event))
                .await
                .is_err()
            {
                warn!(connection_id = %id, "$disconnect timed out");
            }
        }
    }
}
