//! `AWS::DynamoDB::Table`: attribute definitions derive from the key.

use serde::Serialize;

use crate::template::Resource;

/// Scalar types of key attributes.
#[derive(Clone, Copy, Debug, Serialize)]
pub enum KeyType {
    /// String.
    S,
    /// Number.
    N,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeDefinition {
    attribute_name: String,
    attribute_type: KeyType,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeySchemaElement {
    attribute_name: String,
    key_type: &'static str,
}

/// Billing mode: on-demand only (no `ProvisionedThroughput` to get wrong).
#[derive(Clone, Copy, Debug, Serialize)]
pub enum BillingMode {
    /// On demand.
    #[serde(rename = "PAY_PER_REQUEST")]
    PayPerRequest,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TimeToLive {
    attribute_name: String,
    enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PointInTimeRecovery {
    point_in_time_recovery_enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SseSpecification {
    #[serde(rename = "SSEEnabled")]
    sse_enabled: bool,
    #[serde(rename = "SSEType")]
    sse_type: &'static str,
}

/// `AWS::DynamoDB::Table`: a hash-key (or hash and sort key) table, on demand, with TTL, point-in-time recovery and
/// KMS encryption.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    attribute_definitions: Vec<AttributeDefinition>,
    key_schema: Vec<KeySchemaElement>,
    billing_mode: BillingMode,
    time_to_live_specification: TimeToLive,
    point_in_time_recovery_specification: PointInTimeRecovery,
    #[serde(rename = "SSESpecification")]
    sse_specification: SseSpecification,
}

impl Table {
    /// A table keyed by `partition_key`, whose rows expire at the epoch seconds in
    /// `ttl_attribute`. The attribute definitions list exactly the key.
    pub fn on_demand(partition_key: &str, key_type: KeyType, ttl_attribute: &str) -> Table {
        Table {
            attribute_definitions: vec![AttributeDefinition {
                attribute_name: partition_key.to_owned(),
                attribute_type: key_type,
            }],
            key_schema: vec![KeySchemaElement {
                attribute_name: partition_key.to_owned(),
                key_type: "HASH",
            }],
            billing_mode: BillingMode::PayPerRequest,
            time_to_live_specification: TimeToLive {
                attribute_name: ttl_attribute.to_owned(),
                enabled: true,
            },
            point_in_time_recovery_specification: PointInTimeRecovery {
                point_in_time_recovery_enabled: true,
            },
            sse_specification: SseSpecification {
                sse_enabled: true,
                sse_type: "KMS",
            },
        }
    }

    /// This table with a sort key too.
    pub fn sorted_by(mut self, sort_key: &str, key_type: KeyType) -> Table {
        self.attribute_definitions.push(AttributeDefinition {
            attribute_name: sort_key.to_owned(),
            attribute_type: key_type,
        });
        self.key_schema.push(KeySchemaElement {
            attribute_name: sort_key.to_owned(),
            key_type: "RANGE",
        });
        self
    }
}

attributes!(TableAttr { Arn => "Arn" });

impl Resource for Table {
    const TYPE: &'static str = "AWS::DynamoDB::Table";
    type Attr = TableAttr;
}
