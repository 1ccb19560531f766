//! Who may call what the template host opens on loopback.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_local_user_cannot_take_or_answer_invocations() {
    let dir = scratch_dir("hostile-runtime-api");
    // The function refuses every connection.
    let function = bootstrap(&dir, "", "", r#"{"statusCode": 403}"#);
    let (template, config) = write_template(&dir, &function, connect_only());
    let served = serve(&template, config, |_| {}).await;
    assert_eq!(upgrade_status(served.addr).await, 403);
    let api = written(&dir.join("runtime-api")).await;

    // The function's Runtime API, as user nobody: refused before any invocation is handed out.
    let out = as_nobody(std::process::Command::new("curl").args([
        "-sS",
        "-m",
        "5",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://{api}/2018-06-01/runtime/invocation/next"),
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403", "{out:?}");
    // A forged answer for any request id is refused too.
    let out = as_nobody(std::process::Command::new("curl").args([
        "-sS",
        "-m",
        "5",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "POST",
        "-d",
        r#"{"statusCode": 200}"#,
        &format!("http://{api}/2018-06-01/runtime/invocation/x/response"),
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403", "{out:?}");
    // The function still decides every connection.
    for _ in 0..3 {
        assert_eq!(upgrade_status(served.addr).await, 403);
    }
    // A page reaching the Runtime API under a rebound name gets nothing either.
    let r = reqwest::Client::new()
        .get(format!("http://{api}/2018-06-01/runtime/invocation/next"))
        .header("host", "rebound.example")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_connections_answer_only_the_functions_session_token() {
    let dir = scratch_dir("hostile-secrets");
    let function = bootstrap(&dir, "", "", r#"{"statusCode": 200}"#);
    let (template, config) = write_template(&dir, &function, connect_only());
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:llm-key-AbCdEf";
    let served = serve(&template, config, |o| {
        o.secrets = BTreeMap::from([(arn.to_owned(), "sk-very-secret".to_owned())]);
    })
    .await;
    let token = served
        .server
        .gateway
        .config()
        .aws_token
        .clone()
        .expect("the template host hands its functions a session token");
    let get_secret = |host: &str, token: Option<&str>| {
        let mut r = reqwest::Client::new()
            .post(format!("http://{}/", served.addr))
            .header("host", host)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=ASIALOCAL/x/us-east-1/secretsmanager/aws4_request",
            )
            .header("x-amz-target", "secretsmanager.GetSecretValue")
            .header("content-type", "application/x-amz-json-1.1")
            .body(json!({"SecretId": arn}).to_string());
        if let Some(t) = token {
            r = r.header("x-amz-security-token", t);
        }
        r.send()
    };
    let local = format!("127.0.0.1:{}", served.addr.port());
    // Without the token (another user, any script): refused as AWS refuses a bad token.
    let r = get_secret(&local, None).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "UnrecognizedClientException"
    );
    assert!(!r.text().await.unwrap().contains("sk-very-secret"));
    let r = get_secret(&local, Some("local")).await.unwrap();
    assert_eq!(r.status(), 403);
    // With the token but under a rebound name (a web page): refused.
    let r = get_secret("rebound.example", Some(token.expose()))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.text().await.unwrap().contains("sk-very-secret"));
    // The functions' own call.
    let r = get_secret(&local, Some(token.expose())).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["SecretString"],
        "sk-very-secret"
    );

    // @connections the same way.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/dev", served.addr))
        .await
        .unwrap();
    let event: Value = serde_json::from_str(&written(&dir.join("last-event")).await).unwrap();
    let id = event["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |token: Option<&str>| {
        let mut r = reqwest::Client::new()
            .post(format!(
                "http://{}/dev/@connections/{}",
                served.addr,
                streamgate_tests::encode_id(&id)
            ))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=local/x/us-east-1/execute-api/aws4_request",
            )
            .body("forged");
        if let Some(t) = token {
            r = r.header("x-amz-security-token", t);
        }
        r.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 403);
    assert_eq!(post(Some(token.expose())).await.unwrap().status(), 200);
    use futures::StreamExt;
    let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_text().unwrap().as_str(), "forged");
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}
