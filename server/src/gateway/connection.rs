//! An open chat socket: frames in (binary closes 1003, over the limits 1009), each text frame
//! to an integration (at most `max_in_flight_per_connection` at once), frames out in order,
//! idle and lifetime closes, shutdown with 1001, and `$disconnect` exactly once at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use streamgate_contract::RouteKind;
use streamgate_contract::limits::close;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{debug, info, warn};

use super::Gateway;
use crate::clock;
use crate::events::{self, ConnectionInfo};
use crate::registry::{CLIENT_BUFFER_FRAMES, Outgoing};

/// How a connection ended: the `$disconnect` status code and reason.
struct Ending {
    code: u16,
    reason: String,
}

impl Gateway {
    pub(super) async fn run_connection<S>(
        self: Arc<Gateway>,
        ws: WebSocketStream<S>,
        info: ConnectionInfo,
        last_active: Arc<AtomicI64>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let id = info.connection_id.clone();
        let (tx, mut rx) = mpsc::channel::<Outgoing>(CLIENT_BUFFER_FRAMES);
        self.registry.open(&id, tx.clone(), info.clone());
        let (mut sink, mut stream) = ws.split();
        let (closed_tx, mut closed_rx) = watch::channel::<Option<u16>>(None);

        // Writer: frames in order; a Close frame ends it.
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                match out {
                    Outgoing::Text(t) => {
                        if sink.send(Message::text(t)).await.is_err() {
                            break;
                        }
                    }
                    Outgoing::Close { code, reason } => {
                        let _ = closed_tx.send(Some(code));
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

        let slots = Arc::new(Semaphore::new(
            self.config.max_in_flight_per_connection.max(1),
        ));
        let started = Instant::now();
        let lifetime_end = started + self.config.max_lifetime;
        let mut stop = self.shutdown.subscribe();
        let close_with = |code: u16, reason: &str| {
            let _ = tx.try_send(Outgoing::Close {
                code,
                reason: reason.to_owned(),
            });
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
                        let Ok(permit) = slots.clone().acquire_owned().await else { break close_with(close::GOING_AWAY, "") };
                        let gw = self.clone();
                        let info = info.clone();
                        self.tasks.spawn(async move {
                            gw.on_message(&info, text.as_str()).await;
                            drop(permit);
                        });
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
                    Some(Err(tungstenite::Error::Capacity(_))) => {
                        break close_with(close::MESSAGE_TOO_BIG, "Message too big");
                    }
                    Some(Err(e)) => {
                        debug!(connection_id = %id, error = %e, "socket error");
                        break Ending { code: 1006, reason: String::new() };
                    }
                    None => break Ending { code: 1006, reason: String::new() },
                },
                _ = tokio::time::sleep_until(idle_end) => {
                    let idle_ms = self.config.idle_timeout.as_millis() as i64;
                    if clock::now_ms() - last_active.load(Ordering::Relaxed) >= idle_ms {
                        break close_with(close::GOING_AWAY, "Going away");
                    }
                }
                _ = tokio::time::sleep_until(lifetime_end) => break close_with(close::GOING_AWAY, "Going away"),
                _ = stop.changed() => break close_with(close::GOING_AWAY, "Going away"),
                _ = closed_rx.changed() => {
                    // The server closed it (DELETE @connections): wait for the client's reply.
                    let code = closed_rx.borrow().unwrap_or(close::NORMAL);
                    break Ending { code, reason: String::new() };
                }
            }
        };
        self.registry.remove(&id);
        drop(tx);
        // Let the close handshake finish, briefly.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = writer.await;
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
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
