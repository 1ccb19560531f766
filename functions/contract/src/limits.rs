//! API Gateway WebSocket limits (not raisable unless noted).

use std::time::Duration;

/// Largest message payload: 128 KB.
pub const MESSAGE_PAYLOAD_MAX_BYTES: usize = 128 * 1024;
/// Largest single WebSocket frame: 32 KB.
pub const FRAME_MAX_BYTES: usize = 32 * 1024;
/// A connection with no traffic for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// A connection is closed after this long, whatever its traffic.
pub const MAX_CONNECTION_DURATION: Duration = Duration::from_secs(2 * 60 * 60);
/// API Gateway stops waiting for an integration after this long.
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// The shortest integration timeout API Gateway accepts.
pub const INTEGRATION_TIMEOUT_MIN: Duration = Duration::from_millis(50);
/// New connections per second per account and region (raisable).
pub const NEW_CONNECTIONS_PER_SECOND: u32 = 500;
/// Routes per API.
pub const ROUTES_PER_API: usize = 300;

/// WebSocket close codes API Gateway uses.
pub mod close {
    /// Normal closure (also after `DELETE @connections/{id}`).
    pub const NORMAL: u16 = 1000;
    /// Going away (server shutdown, idle or lifetime limit).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error: a malformed frame (RFC 6455 §7.4.1).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Unsupported data: binary frames.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// No status received.
    pub const NO_STATUS: u16 = 1005;
    /// Invalid payload: a text message that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation (the voice relay: the user's daily voice budget is spent).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// Message too big: frame over 32 KB or message over 128 KB.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server met a condition that stops it serving the connection.
    pub const INTERNAL_ERROR: u16 = 1011;
}
