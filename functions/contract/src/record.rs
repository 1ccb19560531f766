//! The connection record kept in the connections table (partition key `connectionId`).

use serde::{Deserialize, Serialize};

/// DynamoDB attribute names of the connection record.
pub mod attr {
    /// API Gateway's connection id (S, partition key).
    pub const CONNECTION_ID: &str = "connectionId";
    /// Epoch milliseconds of the connection (N).
    pub const CONNECTED_AT: &str = "connectedAt";
    /// Epoch **seconds** after which DynamoDB may delete the row (N, the table's TTL attribute).
    pub const TTL: &str = "ttl";
    /// Domain of the management endpoint (S).
    pub const DOMAIN_NAME: &str = "domainName";
    /// Stage of the management endpoint (S).
    pub const STAGE: &str = "stage";
    /// Client address (S, optional).
    pub const SOURCE_IP: &str = "sourceIp";
    /// Client user agent (S, optional).
    pub const USER_AGENT: &str = "userAgent";
    /// `chat` or `realtime` (S).
    pub const API: &str = "api";
    /// Realtime only (S).
    pub const RESTAURANT_ID: &str = "restaurantId";
    /// Realtime only (S).
    pub const LANGUAGE: &str = "language";
}

/// Which API a connection belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKind {
    /// The chat API (Lambda routes).
    Chat,
    /// The realtime voice relay.
    Realtime,
}

impl ApiKind {
    /// The stored value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApiKind::Chat => "chat",
            ApiKind::Realtime => "realtime",
        }
    }

    /// Parses a stored value.
    pub fn parse(s: &str) -> Option<ApiKind> {
        match s {
            "chat" => Some(ApiKind::Chat),
            "realtime" => Some(ApiKind::Realtime),
            _ => None,
        }
    }
}

/// One row of the connections table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// API Gateway's connection id.
    pub connection_id: String,
    /// Epoch milliseconds.
    pub connected_at_ms: i64,
    /// Epoch seconds after which the row may be deleted.
    pub ttl_epoch_seconds: i64,
    /// Domain of the management endpoint.
    pub domain_name: String,
    /// Stage of the management endpoint.
    pub stage: String,
    /// Client address, when known.
    pub source_ip: Option<String>,
    /// Client user agent, when sent.
    pub user_agent: Option<String>,
    /// Which API the connection belongs to.
    pub api: ApiKind,
    /// Realtime only.
    pub restaurant_id: Option<String>,
    /// Realtime only.
    pub language: Option<String>,
}
