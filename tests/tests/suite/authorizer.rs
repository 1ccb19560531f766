//! The `$connect` authorizer function as Lambda runs it: the binary against a mock Runtime API
//! handing it five REQUEST events in one warm process, the issuer's discovery document and
//! JWKS on a loopback server. Allow names the user; no token or an expired one fails with
//! `Unauthorized` (API Gateway's 401); a token for another audience gets a Deny policy (403);
//! the keys are fetched once for all five; no token reaches the logs, at `RUST_LOG=trace`.

use std::time::Duration;

use serde_json::{Value, json};
use streamgate_auth::dev::DevIssuer;
use streamgate_contract::{Function, Route, config as env};
use streamgate_tests::mock_http::{MockServer, Part, Reply};

const AUDIENCE: &str = "app-client";
/// The `$connect` route's ARN, as API Gateway names it in the event.
fn method_arn() -> String {
    format!(
        "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/{}",
        Route::Connect.key()
    )
}

fn request_event(headers: Value, query: Value) -> Value {
    json!({
        "type": "REQUEST",
        "methodArn": method_arn(),
        "headers": headers,
        "queryStringParameters": query,
        "requestContext": {"routeKey": Route::Connect.key(), "eventType": "CONNECT", "connectionId": "R1kmxc2VNjMCFIA=", "stage": "dev", "apiId": "abcdef1234"},
        "stageVariables": {}
    })
}

#[tokio::test]
async fn the_authorizer_allows_refuses_and_denies_as_api_gateway_expects() {
    let issuer_server = MockServer::start(vec![]).await;
    let dev = DevIssuer::new(&issuer_server.url(), AUDIENCE, [7; 32]);
    issuer_server.push_script(vec![
        Reply::json(200, dev.discovery()),
        Reply::json(200, dev.jwks()),
    ]);
    let now = streamgate_core::clock::now();
    let good = dev.token("user-42", Duration::from_secs(300));
    let expired = dev
        .sign(&json!({"iss": dev.issuer(), "aud": AUDIENCE, "sub": "user-42", "exp": now - 600}));
    let other_app = dev.sign(
        &json!({"iss": dev.issuer(), "aud": "another-app", "sub": "user-42", "exp": now + 600}),
    );
    let events = [
        request_event(json!({"Host": "x"}), json!({"token": good})),
        request_event(
            json!({"Authorization": format!("Bearer {good}")}),
            json!({}),
        ),
        request_event(json!({"Host": "x"}), json!({})),
        request_event(json!({}), json!({"token": expired})),
        request_event(json!({}), json!({"token": other_app})),
    ];
    let deadline = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 60_000)
        .to_string();
    let mut script = Vec::new();
    for (i, e) in events.iter().enumerate() {
        script.push(
            Reply::json(200, e.clone())
                .header("Lambda-Runtime-Aws-Request-Id", &format!("inv-{i}"))
                .header("Lambda-Runtime-Deadline-Ms", &deadline)
                .header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:authorize",
                ),
        );
        script.push(Reply::status(202));
    }
    script.push(Reply::sse(vec![Part::Stall]));
    let api = MockServer::start(script).await;
    let mut cmd = tokio::process::Command::new(streamgate_tests::workspace_binary(
        Function::Authorize.spec().binary,
    ));
    streamgate_tests::lambda_environment(
        &mut cmd,
        api.url().trim_start_matches("http://"),
        Function::Authorize,
    );
    cmd.env(env::AUTH_ISSUER, dev.issuer())
        .env(env::AUTH_AUDIENCE, AUDIENCE)
        .env("RUST_LOG", "trace");
    let mut child = cmd.spawn().expect("the authorizer starts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let posts = loop {
        let posts: Vec<_> = api
            .received()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect();
        if posts.len() == events.len() {
            break posts;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "the authorizer exited ({status}): {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} answers in 30 s",
            posts.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let outcome = |i: usize| {
        let p = posts
            .iter()
            .find(|p| p.path.contains(&format!("/inv-{i}/")))
            .unwrap();
        (p.path.rsplit('/').next().unwrap().to_owned(), p.json())
    };
    for i in [0, 1] {
        let (kind, policy) = outcome(i);
        assert_eq!(kind, "response", "event {i}");
        assert_eq!(policy["principalId"], "user-42");
        assert_eq!(policy["context"]["userId"], "user-42");
        assert_eq!(policy["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert_eq!(
            policy["policyDocument"]["Statement"][0]["Resource"],
            method_arn()
        );
    }
    for i in [2, 3] {
        let (kind, error) = outcome(i);
        assert_eq!(kind, "error", "event {i}");
        assert_eq!(error["errorMessage"], "Unauthorized", "event {i}");
    }
    let (kind, policy) = outcome(4);
    assert_eq!(kind, "response");
    assert_eq!(policy["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        issuer_server.received().len(),
        2,
        "the discovery document and the JWKS, once for five invocations"
    );
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let logs =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("allowed") && logs.contains("expired"),
        "{logs}"
    );
    for token in [&good, &expired, &other_app] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !logs.contains(signature),
            "a token reached the logs at trace level"
        );
    }
}
