//! The voice relay's decisions, free of I/O: what to do with each client frame
//! ([`on_client`]) and each upstream Realtime event ([`on_upstream`]), the waiter's
//! instructions and the GA `session.update`. The session loop (`session.rs`) only carries
//! out the [`Action`]s these return.

mod client;
mod config;
mod upstream;

use serde_json::{Value, json};

pub use client::{BadFrame, ClientMsg, SessionSetup, on_client, parse_client, valid_pcm16_base64};
pub use config::{LANGUAGE_TAG_MAX, instructions, is_language_tag, session_update};
pub use upstream::{FATAL_ERRORS, HARMLESS_ERRORS, audio_frames, on_upstream, on_upstream_closed};

/// Largest client frame: well under API Gateway's 128 KB message limit.
pub const MAX_CLIENT_FRAME_BYTES: usize = 96 * 1024;

/// Base64 characters of audio per `audio` frame. A multiple of 8 base64 characters is a
/// multiple of 6 bytes, so every piece decodes alone and holds whole 16-bit samples.
pub const AUDIO_PIECE_CHARS: usize = 64 * 1024;

/// An `error` frame.
pub fn error_frame(code: &str, error: &str) -> Value {
    json!({"type": "error", "code": code, "error": error})
}

/// Stable `error` codes the relay sends (beside the upstream's own codes, forwarded).
pub mod code {
    /// A frame that is not valid JSON or not of the protocol.
    pub const BAD_REQUEST: &str = "bad_request";
    /// Audio that is not base64 PCM16.
    pub const BAD_AUDIO: &str = "bad_audio";
    /// `start_session` while a session runs.
    pub const SESSION_ACTIVE: &str = "session_active";
    /// A frame that needs a session, with none running.
    pub const NO_SESSION: &str = "no_session";
    /// The server has no key for the voice service.
    pub const MISSING_API_KEY: &str = "missing_api_key";
    /// The voice service cannot be reached.
    pub const UPSTREAM_UNAVAILABLE: &str = "upstream_unavailable";
    /// The voice service closed the session.
    pub const UPSTREAM_CLOSED: &str = "upstream_closed";
    /// The voice service is not taking events fast enough; the session ended.
    pub const UPSTREAM_SLOW: &str = "upstream_slow";
    /// This server is shutting down (a deploy or scale-in); reconnect and start again.
    pub const SERVER_DRAINING: &str = "server_draining";
}

/// The frame every session gets when the server starts draining, before its socket closes
/// with 1001.
pub fn draining_frame() -> Value {
    error_frame(
        code::SERVER_DRAINING,
        "the server is restarting; reconnect to start a new session",
    )
}

/// The frame for an upstream that cannot be reached.
pub fn upstream_unavailable_frame() -> Value {
    error_frame(
        code::UPSTREAM_UNAVAILABLE,
        "the voice service cannot be reached",
    )
}

/// The frame for an upstream that does not take events within the grace period.
pub fn upstream_slow_frame() -> Value {
    error_frame(
        code::UPSTREAM_SLOW,
        "the voice service is not keeping up; the session ended",
    )
}

/// What the relay does in answer to an upstream event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a frame to the client.
    ToClient(Value),
    /// Send an event upstream.
    ToUpstream(Value),
    /// Open the upstream session (the `ToUpstream` actions after it go to the new session).
    /// When it cannot be opened, the client gets [`upstream_unavailable_frame`] and the
    /// remaining actions are skipped.
    OpenUpstream,
    /// End the upstream session (after sending the frames before this action).
    End,
}

/// What a session remembers between upstream events.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// `session_started` was sent (once per upstream session, on `session.created` or
    /// `session.updated`, whichever comes first).
    pub started: bool,
    /// An upstream session is open (or being opened).
    pub open: bool,
}

impl SessionState {
    /// The upstream session is gone (closed, failed, or never opened).
    pub fn upstream_gone(&mut self) {
        *self = SessionState::default();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::{Catalog, Restaurant};

    pub(crate) fn restaurant() -> Restaurant {
        Catalog::sample().restaurant("r-123").unwrap().clone()
    }

    #[test]
    fn error_frames_carry_a_stable_code() {
        assert_eq!(
            upstream_slow_frame(),
            json!({"type": "error", "code": "upstream_slow", "error": "the voice service is not keeping up; the session ended"})
        );
        assert_eq!(
            upstream_unavailable_frame()["code"],
            code::UPSTREAM_UNAVAILABLE
        );
    }
}
