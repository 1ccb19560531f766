//! The API Gateway push adapter (the unmodified AWS SDK client) against a loopback server
//! that answers as the `@connections` API does.

use streamgate_aws::{ApiGatewayPush, EndpointMode};
use streamgate_core::{ClientPush, PushError, Target};
use streamgate_tests::local_sdk_config;
use streamgate_tests::mock_http::{MockServer, Reply};

fn target(server: &MockServer) -> Target {
    Target {
        connection_id: "R1kmxc2VNjMCFIA=".into(),
        domain_name: server.url().trim_start_matches("http://").to_owned(),
        stage: "prod".into(),
    }
}

fn push() -> ApiGatewayPush {
    ApiGatewayPush::new(
        local_sdk_config(),
        EndpointMode::FromEvent { scheme: "http" },
    )
}

#[tokio::test]
async fn posts_the_exact_bytes_to_the_stage_path_with_the_id_encoded() {
    let server = MockServer::start(vec![Reply::status(200)]).await;
    let frame = r#"{"type":"chunk","requestId":"c-1","content":"héllo \"world\""}"#;
    push().post(&target(&server), frame).await.unwrap();
    let req = &server.received()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/prod/@connections/R1kmxc2VNjMCFIA%3D");
    assert_eq!(req.body.as_ref(), frame.as_bytes());
    let auth = req.header("authorization").expect("a SigV4 signature");
    assert!(auth.starts_with("AWS4-HMAC-SHA256 "), "{auth}");
    assert!(
        auth.contains("/us-east-1/execute-api/aws4_request"),
        "{auth}"
    );
}

#[tokio::test]
async fn delete_closes_the_connection() {
    let server = MockServer::start(vec![Reply::status(204)]).await;
    push().disconnect(&target(&server)).await.unwrap();
    let req = &server.received()[0];
    assert_eq!(req.method, "DELETE");
    assert_eq!(req.path, "/prod/@connections/R1kmxc2VNjMCFIA%3D");
}

#[tokio::test]
async fn errors_map_by_error_type_header() {
    let typed = |status, ty: &str| {
        Reply::json(status, serde_json::json!({"message": ty})).header("x-amzn-ErrorType", ty)
    };
    let cases = [
        (typed(410, "GoneException"), PushError::Gone),
        (
            typed(413, "PayloadTooLargeException"),
            PushError::PayloadTooLarge,
        ),
        (typed(429, "LimitExceededException"), PushError::Throttled),
        (typed(403, "ForbiddenException"), PushError::Forbidden),
        (typed(400, "BadRequestException"), PushError::BadRequest),
        // Without the header, the status decides.
        (Reply::status(410), PushError::Gone),
    ];
    for (reply, expected) in cases {
        let server = MockServer::start(vec![reply]).await;
        let err = push().post(&target(&server), "{}").await.unwrap_err();
        assert_eq!(err, expected);
    }
}

#[tokio::test]
async fn a_fixed_endpoint_overrides_the_event_domain() {
    let server = MockServer::start(vec![Reply::status(200)]).await;
    let p = ApiGatewayPush::new(
        local_sdk_config(),
        EndpointMode::Fixed(format!("{}/live/", server.url())),
    );
    let mut t = target(&server);
    t.domain_name = "chat.example.com".into();
    p.post(&t, "x").await.unwrap();
    assert_eq!(
        server.received()[0].path,
        "/live/@connections/R1kmxc2VNjMCFIA%3D"
    );
}
