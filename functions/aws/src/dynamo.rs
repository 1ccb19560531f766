//! Connection records in a DynamoDB table.

use std::collections::HashMap;

use crate::table::Table;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use streamgate_contract::record::attr;
use streamgate_contract::{ApiKind, ConnectionRecord};
use streamgate_core::{ConnectionStore, StoreError};

/// The connections table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    table: Table,
}

impl DynamoStore {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            table: Table::new(client, table),
        }
    }
}

/// A record as a DynamoDB item.
pub fn to_item(r: &ConnectionRecord) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::new();
    let s = |v: &str| AttributeValue::S(v.to_owned());
    item.insert(attr::CONNECTION_ID.into(), s(&r.connection_id));
    item.insert(
        attr::CONNECTED_AT.into(),
        AttributeValue::N(r.connected_at_ms.to_string()),
    );
    item.insert(
        attr::TTL.into(),
        AttributeValue::N(r.ttl_epoch_seconds.to_string()),
    );
    item.insert(attr::DOMAIN_NAME.into(), s(&r.domain_name));
    item.insert(attr::STAGE.into(), s(&r.stage));
    item.insert(attr::API.into(), s(r.api.as_str()));
    let optional = [
        (attr::SOURCE_IP, &r.source_ip),
        (attr::USER_AGENT, &r.user_agent),
        (attr::RESTAURANT_ID, &r.restaurant_id),
        (attr::LANGUAGE, &r.language),
        (attr::USER_ID, &r.user_id),
    ];
    for (name, value) in optional {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            item.insert(name.into(), s(v));
        }
    }
    item
}

/// A DynamoDB item as a record.
pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<ConnectionRecord, StoreError> {
    let id = item
        .get(attr::CONNECTION_ID)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let bad = |reason: String| StoreError::Malformed {
        id: id.clone(),
        reason,
    };
    let s = |name: &str| -> Result<String, StoreError> {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| bad(format!("{name} is not a string")))
    };
    let n = |name: &str| -> Result<i64, StoreError> {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad(format!("{name} is not a number")))
    };
    let opt = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let api = s(attr::API)?;
    Ok(ConnectionRecord {
        connection_id: s(attr::CONNECTION_ID)?,
        connected_at_ms: n(attr::CONNECTED_AT)?,
        ttl_epoch_seconds: n(attr::TTL)?,
        domain_name: s(attr::DOMAIN_NAME)?,
        stage: s(attr::STAGE)?,
        source_ip: opt(attr::SOURCE_IP),
        user_agent: opt(attr::USER_AGENT),
        api: ApiKind::parse(&api).ok_or_else(|| bad(format!("api {api:?} is unknown")))?,
        restaurant_id: opt(attr::RESTAURANT_ID),
        language: opt(attr::LANGUAGE),
        user_id: opt(attr::USER_ID),
    })
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn put(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        self.table
            .put_item()
            .set_item(Some(to_item(record)))
            .send()
            .await
            .map_err(|e| self.table.error(e))?;
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let out = self
            .table
            .get_item()
            .key(
                attr::CONNECTION_ID,
                AttributeValue::S(connection_id.to_owned()),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.table.error(e))?;
        out.item().map(from_item).transpose()
    }

    async fn delete(&self, connection_id: &str) -> Result<(), StoreError> {
        self.table
            .delete_item()
            .key(
                attr::CONNECTION_ID,
                AttributeValue::S(connection_id.to_owned()),
            )
            .send()
            .await
            .map_err(|e| self.table.error(e))?;
        Ok(())
    }
}
