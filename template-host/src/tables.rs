//! Creating a template's `AWS::DynamoDB::Table`s: key schema, attribute definitions,
//! secondary indexes and the TTL attribute. A table that already exists is kept.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_json::Value;

use crate::template::TableDef;

/// Why a table was not created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The template's properties do not make a CreateTable request (a key schema that is not
    /// a list, a key or attribute without its name or type).
    #[error("{0}")]
    Properties(String),
    /// DynamoDB refused to create it.
    #[error("cannot create table {table}: {detail}")]
    Create {
        /// The table.
        table: String,
        /// DynamoDB's error, with its context.
        detail: String,
    },
    /// DynamoDB refused to turn its TTL on.
    #[error("cannot turn on TTL of {table}: {detail}")]
    TimeToLive {
        /// The table.
        table: String,
        /// DynamoDB's error, with its context.
        detail: String,
    },
}

/// A request built from properties that lack something.
fn properties(e: impl std::fmt::Display) -> TableError {
    TableError::Properties(e.to_string())
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>, TableError> {
    v.as_array()
        .ok_or_else(|| properties("KeySchema is not a list"))?
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap_or_default())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap_or_default()))
                .build()
                .map_err(properties)
        })
        .collect()
}

fn projection(v: &Value) -> Projection {
    let mut p = Projection::builder().projection_type(ProjectionType::from(
        v["ProjectionType"].as_str().unwrap_or("ALL"),
    ));
    for a in v["NonKeyAttributes"].as_array().into_iter().flatten() {
        if let Some(a) = a.as_str() {
            p = p.non_key_attributes(a);
        }
    }
    p.build()
}

/// Creates `table` (pay per request) and turns its TTL on; says what it did.
pub async fn create(client: &Client, table: &TableDef) -> Result<String, TableError> {
    let p = &table.properties;
    let mut create = client
        .create_table()
        .table_name(&table.name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&p["KeySchema"])?));
    for a in p["AttributeDefinitions"].as_array().into_iter().flatten() {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap_or_default())
                .attribute_type(ScalarAttributeType::from(
                    a["AttributeType"].as_str().unwrap_or_default(),
                ))
                .build()
                .map_err(properties)?,
        );
    }
    for g in p["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(g["IndexName"].as_str().unwrap_or_default())
                .set_key_schema(Some(key_schema(&g["KeySchema"])?))
                .projection(projection(&g["Projection"]))
                .build()
                .map_err(properties)?,
        );
    }
    for l in p["LocalSecondaryIndexes"].as_array().into_iter().flatten() {
        create = create.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(l["IndexName"].as_str().unwrap_or_default())
                .set_key_schema(Some(key_schema(&l["KeySchema"])?))
                .projection(projection(&l["Projection"]))
                .build()
                .map_err(properties)?,
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(format!("table {} exists; kept", table.name));
        }
        Err(e) => {
            return Err(TableError::Create {
                table: table.name.clone(),
                detail: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
            });
        }
    }
    if let Some(attribute) = &table.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(&table.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(properties)?,
            )
            .send()
            .await
            .map_err(|e| TableError::TimeToLive {
                table: table.name.clone(),
                detail: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
            })?;
    }
    Ok(format!(
        "table {} created{}",
        table.name,
        table
            .ttl_attribute
            .as_ref()
            .map(|a| format!(" (TTL on {a})"))
            .unwrap_or_default()
    ))
}
