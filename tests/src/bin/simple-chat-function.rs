//! A small `provided.al2023` chat function in the style of AWS's
//! simple-websockets-chat-app, written for the foreign-template test: one binary, three
//! handlers chosen by `_HANDLER` (`onconnect`, `ondisconnect`, `sendmessage`). Connections
//! live in the table `TABLE_NAME`; `sendmessage` posts the frame's `data` to every
//! connection. It uses only the AWS SDKs' standard configuration (endpoints from
//! `AWS_ENDPOINT_URL_*` when set, else `https://{domainName}/{stage}` of the event).

#![allow(
    clippy::unwrap_used,
    reason = "a test tool: a step that fails ends the run, saying where"
)]

use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let sdk = aws_config::load_from_env().await;
    let handler = std::env::var("_HANDLER").unwrap_or_default();
    let table = std::env::var("TABLE_NAME").unwrap_or_default();
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let sdk = &sdk;
    let (db, table, handler) = (&db, &table, &handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let ctx = &event.payload["requestContext"];
        let id = ctx["connectionId"].as_str().unwrap_or_default().to_owned();
        match handler.as_str() {
            "onconnect" => {
                db.put_item()
                    .table_name(table)
                    .item("connectionId", AttributeValue::S(id))
                    .send()
                    .await?;
                Ok::<Value, lambda_runtime::Error>(json!({"statusCode": 200, "body": "Connected."}))
            }
            "ondisconnect" => {
                db.delete_item()
                    .table_name(table)
                    .key("connectionId", AttributeValue::S(id))
                    .send()
                    .await?;
                Ok(json!({"statusCode": 200, "body": "Disconnected."}))
            }
            "sendmessage" => {
                let body: Value =
                    serde_json::from_str(event.payload["body"].as_str().unwrap_or("{}"))?;
                let data = body["data"].as_str().unwrap_or_default().to_owned();
                let endpoint = std::env::var("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI")
                    .unwrap_or_else(|_| {
                        format!(
                            "https://{}/{}",
                            ctx["domainName"].as_str().unwrap_or_default(),
                            ctx["stage"].as_str().unwrap_or_default()
                        )
                    });
                let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
                    .endpoint_url(endpoint)
                    .build();
                let api = aws_sdk_apigatewaymanagement::Client::from_conf(config);
                let scan = db.scan().table_name(table).send().await?;
                for item in scan.items() {
                    let Some(AttributeValue::S(target)) = item.get("connectionId") else {
                        continue;
                    };
                    let posted = api
                        .post_to_connection()
                        .connection_id(target)
                        .data(Blob::new(data.clone()))
                        .send()
                        .await;
                    if let Err(e) = posted
                        && e.as_service_error().is_some_and(|s| s.is_gone_exception())
                    {
                        db.delete_item()
                            .table_name(table)
                            .key("connectionId", AttributeValue::S(target.clone()))
                            .send()
                            .await?;
                    }
                }
                Ok(json!({"statusCode": 200, "body": "Data sent."}))
            }
            other => Err(format!("unknown handler {other:?}").into()),
        }
    }))
    .await
}
