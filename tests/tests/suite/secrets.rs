//! The API key read from Secrets Manager (the unmodified SDK against a loopback server that
//! answers as Secrets Manager does).

use streamgate_aws::{SecretError, read_api_key};
use streamgate_tests::local_sdk_config;
use streamgate_tests::mock_http::{MockServer, Reply};

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:llm-key-AbCdEf";

fn client(server: &MockServer) -> aws_sdk_secretsmanager::Client {
    let conf = aws_sdk_secretsmanager::config::Builder::from(&local_sdk_config())
        .endpoint_url(server.url())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

fn typed_error(kind: &str) -> Reply {
    Reply::json(400, serde_json::json!({"__type": kind, "message": "m"}))
        .header("x-amzn-ErrorType", kind)
        .header("content-type", "application/x-amz-json-1.1")
}

#[tokio::test]
async fn reads_plain_and_json_secrets() {
    let server = MockServer::start(vec![
        Reply::json(200, serde_json::json!({"ARN": ARN, "Name": "llm-key", "SecretString": "sk-plain"})),
        Reply::json(200, serde_json::json!({"ARN": ARN, "Name": "llm-key", "SecretString": "{\"apiKey\":\"sk-json\"}"})),
    ])
    .await;
    let c = client(&server);
    assert_eq!(read_api_key(&c, ARN).await.unwrap().expose(), "sk-plain");
    assert_eq!(read_api_key(&c, ARN).await.unwrap().expose(), "sk-json");
    let req = &server.received()[0];
    assert_eq!(
        req.header("x-amz-target"),
        Some("secretsmanager.GetSecretValue")
    );
    assert_eq!(req.json()["SecretId"], ARN);
}

#[tokio::test]
async fn failures_are_typed_and_name_the_secret_not_its_value() {
    let server = MockServer::start(vec![
        typed_error("ResourceNotFoundException"),
        typed_error("AccessDeniedException"),
        Reply::json(
            200,
            serde_json::json!({"ARN": ARN, "Name": "llm-key", "SecretString": "  "}),
        ),
    ])
    .await;
    let c = client(&server);
    assert_eq!(
        read_api_key(&c, ARN).await.unwrap_err(),
        SecretError::NotFound(ARN.into())
    );
    assert_eq!(
        read_api_key(&c, ARN).await.unwrap_err(),
        SecretError::Denied(ARN.into())
    );
    let empty = read_api_key(&c, ARN).await.unwrap_err();
    assert_eq!(empty, SecretError::Empty(ARN.into()));
    assert!(empty.to_string().contains(ARN));
}
