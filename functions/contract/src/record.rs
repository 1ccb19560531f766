//! The connection record kept in the connections table (partition key `connectionId`).

use std::time::Duration;

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
    /// The user the authorizer named (S, optional: none on a `Public` API).
    pub const USER_ID: &str = "userId";
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
    /// The user the authorizer named, when the API has one.
    pub user_id: Option<String>,
}

impl ConnectionRecord {
    /// The record of a connection made at `connected_at_ms` (epoch milliseconds) to the
    /// management endpoint `domain_name`/`stage`, which the table may forget `ttl` later. The
    /// TTL arithmetic lives here only: DynamoDB's TTL attribute is in epoch **seconds**.
    pub fn new(
        api: ApiKind,
        connection_id: String,
        domain_name: String,
        stage: String,
        connected_at_ms: i64,
        ttl: Duration,
    ) -> ConnectionRecord {
        let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        ConnectionRecord {
            connection_id,
            connected_at_ms,
            ttl_epoch_seconds: connected_at_ms.div_euclid(1000).saturating_add(ttl_secs),
            domain_name,
            stage,
            source_ip: None,
            user_agent: None,
            api,
            restaurant_id: None,
            language: None,
            user_id: None,
        }
    }

    /// The same record with the user the authorizer named.
    pub fn for_user(mut self, user_id: Option<String>) -> Self {
        self.user_id = user_id;
        self
    }

    /// The same record with the client's address and user agent.
    pub fn from_client(mut self, source_ip: Option<String>, user_agent: Option<String>) -> Self {
        self.source_ip = source_ip;
        self.user_agent = user_agent;
        self
    }

    /// The same record with a voice session's restaurant and language.
    pub fn for_restaurant(mut self, restaurant_id: String, language: String) -> Self {
        self.restaurant_id = Some(restaurant_id);
        self.language = Some(language);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_is_in_epoch_seconds_after_the_connection() {
        let r = ConnectionRecord::new(
            ApiKind::Chat,
            "id".into(),
            "example.com".into(),
            "dev".into(),
            1_700_000_000_999,
            Duration::from_secs(7200),
        );
        assert_eq!(r.ttl_epoch_seconds, 1_700_000_000 + 7200);
        let far = ConnectionRecord::new(
            ApiKind::Realtime,
            "id".into(),
            "d".into(),
            "s".into(),
            i64::MAX,
            Duration::MAX,
        );
        assert!(
            far.ttl_epoch_seconds > far.connected_at_ms / 1000,
            "saturates instead of wrapping"
        );
    }
}
