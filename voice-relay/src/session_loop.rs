//! One voice session: the client socket, one upstream Realtime socket, and bounded queues
//! between them.
//!
//! What is bounded, and what happens at the bound:
//! - frames to the client wait in a queue of `frames_to_client` frames; when it is full,
//!   audio frames are dropped (stale audio is worse than a gap) and counted, other frames wait
//!   up to [`SEND_GRACE`], after which the session ends and the socket closes with 1011;
//! - events to the upstream wait in a queue of `events_to_upstream`; when it is full the relay
//!   stops reading the client (TCP backpressure) for up to [`SEND_GRACE`], after which the
//!   upstream session ends with an `upstream_slow` error;
//! - upstream events wait in a queue of `events_from_upstream`; when it is full the relay
//!   stops reading the upstream socket (TCP backpressure).
//!
//! What to do with each frame and event is decided in [`super::protocol`]; this loop carries
//! out the actions.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use streamgate_contract::limits::close;
use streamgate_contract::metrics::Metric;
use streamgate_telemetry::count;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::{info, warn};

use super::admission::Admission;
use super::budget::user_of;
use super::protocol::{self, Action, SessionState};
use super::session::RealtimeService;
use super::upstream::{Upstream, UpstreamEvent};
use streamgate_emulator::events::ConnectionInfo;

/// How long a full queue may hold up the relay before the session ends.
pub const SEND_GRACE: Duration = Duration::from_secs(2);

/// How long a closing session waits for the client to answer its close frame.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How carrying out a batch of actions went.
enum Outcome {
    /// The session goes on.
    Continue,
    /// The client cannot keep up: close its socket with this code.
    CloseClient(u16),
}

/// A frame for the client, with when the upstream event it came from arrived (audio only: the
/// writer records how long it took to reach the client's socket).
struct Outgoing {
    message: Message,
    since: Option<tokio::time::Instant>,
}

impl From<Message> for Outgoing {
    fn from(message: Message) -> Outgoing {
        Outgoing {
            message,
            since: None,
        }
    }
}

/// One client socket's session: the client queue, the upstream (if open), and the state the
/// protocol keeps.
struct Session<'a> {
    service: &'a RealtimeService,
    id: &'a str,
    client_tx: mpsc::Sender<Outgoing>,
    upstream: Option<Upstream>,
    state: SessionState,
    /// When the upstream event being carried out arrived.
    event_at: Option<tokio::time::Instant>,
}

impl Session<'_> {
    /// Queues a frame for the client: audio is dropped when the queue is full, anything
    /// else waits up to [`SEND_GRACE`]. `false` when the client is stuck.
    async fn to_client(&self, frame: Value) -> bool {
        let audio = frame.get("type").and_then(Value::as_str) == Some("audio");
        let message = Message::text(frame.to_string());
        if audio {
            let outgoing = Outgoing {
                message,
                since: self.event_at,
            };
            if self.client_tx.try_send(outgoing).is_err() {
                self.service.dropped_audio.fetch_add(1, Ordering::Relaxed);
            }
            return true;
        }
        matches!(
            tokio::time::timeout(SEND_GRACE, self.client_tx.send(message.into())).await,
            Ok(Ok(()))
        )
    }

    async fn end_upstream(&mut self) {
        self.state.upstream_gone();
        if let Some(u) = self.upstream.take() {
            u.close().await;
        }
    }

    /// Carries out the protocol's actions, in order.
    async fn run(&mut self, actions: Vec<Action>) -> Outcome {
        for action in actions {
            match action {
                Action::ToClient(frame) => {
                    if !self.to_client(frame).await {
                        return Outcome::CloseClient(close::INTERNAL_ERROR);
                    }
                }
                Action::ToUpstream(event) => {
                    let Some(u) = &self.upstream else { continue };
                    let queued = tokio::time::timeout(SEND_GRACE, u.tx.send(event)).await;
                    if !matches!(queued, Ok(Ok(()))) {
                        count(Metric::VoiceUpstreamErrors, &["slow"]);
                        self.end_upstream().await;
                        if !self.to_client(protocol::upstream_slow_frame()).await {
                            return Outcome::CloseClient(close::INTERNAL_ERROR);
                        }
                        return Outcome::Continue;
                    }
                }
                Action::OpenUpstream => match self.service.open_upstream().await {
                    Ok(u) => self.upstream = Some(u),
                    Err(e) => {
                        count(Metric::VoiceUpstreamErrors, &["unreachable"]);
                        warn!(connection_id = %self.id, error = %e, "cannot reach the voice service");
                        self.state.upstream_gone();
                        if !self.to_client(protocol::upstream_unavailable_frame()).await {
                            return Outcome::CloseClient(close::INTERNAL_ERROR);
                        }
                        return Outcome::Continue;
                    }
                },
                Action::End => self.end_upstream().await,
            }
        }
        Outcome::Continue
    }
}

impl RealtimeService {
    /// Serves one client socket until it closes or the server shuts down.
    pub async fn run<S>(
        self: Arc<RealtimeService>,
        ws: WebSocketStream<S>,
        info: ConnectionInfo,
        admission: Admission,
        mut shutdown: watch::Receiver<bool>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let id = info.connection_id.clone();
        let Admission {
            restaurant,
            language,
            ticket,
        } = admission;
        let setup = self.setup(restaurant, language);
        if let Err(e) = self.store.put(&self.record(&info, &setup)).await {
            warn!(connection_id = %id, error = %e, "cannot write the realtime connection record");
        }
        let (mut sink, mut stream) = ws.split();
        count(Metric::VoiceSessions, &[]);
        let (client_tx, mut client_rx) =
            mpsc::channel::<Outgoing>(self.config.frames_to_client.max(1));
        let writer = tokio::spawn(async move {
            while let Some(Outgoing { message, since }) = client_rx.recv().await {
                let is_close = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || is_close {
                    return;
                }
                if let Some(since) = since {
                    streamgate_telemetry::time(Metric::VoiceAudioLatency, since.elapsed(), &[]);
                }
            }
            // The session ended without a close of ours: the client closed. Its close frame
            // was answered by the protocol layer; flushing sends that answer (a clean close
            // on the client's side, not 1006).
            let _ = sink.close().await;
        });
        let mut session = Session {
            service: &self,
            id: &id,
            client_tx,
            upstream: None,
            state: SessionState::default(),
            event_at: None,
        };
        let mut ping = tokio::time::interval_at(
            tokio::time::Instant::now() + self.config.ping_interval,
            self.config.ping_interval,
        );
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = tokio::time::Instant::now();
        let lifetime_end = started + self.config.max_lifetime;
        let mut idle_end = started + self.config.idle_timeout;
        // A signed-in user's voice is charged a step at a time; the first step was charged at
        // the handshake.
        let user = user_of(&info).map(str::to_owned);
        let step = streamgate_contract::relay::VOICE_CHARGE_STEP;
        let mut charge = tokio::time::interval_at(started + step, step);
        charge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let metered = user.is_some() && self.config.daily_voice_seconds > 0;
        let mut close_reason = "";
        let close_code = loop {
            let upstream_event = async {
                match session.upstream.as_mut() {
                    Some(u) => u.events.recv().await,
                    None => std::future::pending().await,
                }
            };
            let actions = tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        idle_end = tokio::time::Instant::now() + self.config.idle_timeout;
                        protocol::on_client(&mut session.state, &setup, text.as_str())
                    }
                    Some(Ok(Message::Binary(_))) => break Some(close::UNSUPPORTED_DATA),
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(e)) => match streamgate_emulator::gateway::upgrade::violation_close_code(&e) {
                        Some(code) => break Some(code),
                        None => break None,
                    },
                    Some(Ok(_)) => continue,
                },
                _ = tokio::time::sleep_until(idle_end) => {
                    info!(connection_id = %id, "voice session idle; closing");
                    break Some(close::GOING_AWAY);
                }
                _ = tokio::time::sleep_until(lifetime_end) => {
                    info!(connection_id = %id, "voice session reached its longest life; closing");
                    break Some(close::GOING_AWAY);
                }
                event = upstream_event => match event {
                    Some(UpstreamEvent::Event(v)) => {
                        session.event_at = Some(tokio::time::Instant::now());
                        protocol::on_upstream(&mut session.state, &setup.restaurant, &v)
                    }
                    Some(UpstreamEvent::Closed(why)) => {
                        count(Metric::VoiceUpstreamErrors, &["closed"]);
                        info!(connection_id = %id, why = %why, "the voice service closed the session");
                        protocol::on_upstream_closed(&mut session.state)
                    }
                    None => protocol::on_upstream_closed(&mut session.state),
                },
                _ = charge.tick(), if metered => {
                    let user = user.as_deref().unwrap_or_default();
                    if let Err(refusal) = self.charge_voice(user).await {
                        info!(connection_id = %id, ?refusal, "voice session out of budget; closing");
                        close_reason = "daily voice budget spent";
                        break Some(close::POLICY_VIOLATION);
                    }
                    continue;
                }
                _ = ping.tick() => {
                    // A full queue already keeps the socket busy; no ping is needed then.
                    let _ = session.client_tx.try_send(Message::Ping(Default::default()).into());
                    continue;
                }
                _ = shutdown.changed() => {
                    // Draining (SIGTERM on ECS, Ctrl-C locally): say so with a code the
                    // client acts on (reconnect), then close cleanly.
                    let _ = session.to_client(protocol::draining_frame()).await;
                    break Some(close::GOING_AWAY);
                }
            };
            let outcome = session.run(actions).await;
            session.event_at = None;
            if let Outcome::CloseClient(code) = outcome {
                break Some(code);
            }
        };
        session.end_upstream().await;
        let Session { client_tx, .. } = session;
        if let Some(code) = close_code {
            let _ = client_tx
                .send(
                    Message::Close(Some(CloseFrame {
                        code: CloseCode::from(code),
                        reason: close_reason.into(),
                    }))
                    .into(),
                )
                .await;
        }
        drop(client_tx);
        let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
        if close_code.is_some() {
            // The closing handshake (RFC 6455 §7.1.2): the client answers our close frame;
            // wait for that (bounded) so the socket ends cleanly rather than reset.
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                while let Some(Ok(m)) = stream.next().await {
                    if matches!(m, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        if let Err(e) = self.store.delete(&id).await {
            warn!(connection_id = %id, error = %e, "cannot delete the realtime connection record");
        }
        drop(ticket);
        streamgate_telemetry::time(Metric::VoiceSessionDuration, started.elapsed(), &[]);
        info!(connection_id = %id, "voice session closed");
    }
}
