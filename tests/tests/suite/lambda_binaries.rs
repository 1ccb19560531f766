//! The Lambda binaries themselves, run as processes against a mock Lambda Runtime API, with
//! DynamoDB Local as the table and a loopback `@connections` endpoint: what runs in AWS runs
//! here, start-up and JSON logs included.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use streamgate_contract::{Function, config as env};
use streamgate_tests::dynamodb_local::{
    DynamoDbLocal, connection_item, create_connections_table, create_conversations_table,
};
use streamgate_tests::fixture_json;
use streamgate_tests::mock_http::{MockServer, Part, Reply};

fn binary(function: Function) -> PathBuf {
    streamgate_tests::workspace_binary(function.spec().binary)
}

/// The runtime API: one invocation with `event`, then a long poll that never answers.
async fn runtime_api(event: &Value) -> MockServer {
    let deadline = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 60_000)
        .to_string();
    MockServer::start(vec![
        Reply::json(200, event.clone())
            .header("Lambda-Runtime-Aws-Request-Id", "invocation-1")
            .header("Lambda-Runtime-Deadline-Ms", &deadline)
            .header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:streamgate",
            )
            .header(
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000",
            ),
        Reply::status(202),
        Reply::sse(vec![Part::Stall]),
    ])
    .await
}

pub(crate) struct Run {
    pub(crate) response: Value,
    /// The log lines (each checked: JSON, an RFC 3339 `timestamp`, a `level`, a `message`).
    pub(crate) logs: Vec<Value>,
    /// The EMF lines.
    pub(crate) metrics: Vec<Value>,
}

/// Runs `function`'s binary for one invocation.
async fn invoke(function: Function, event: Value, vars: &[(&str, String)]) -> Run {
    invoke_with(
        tokio::process::Command::new(binary(function)),
        function,
        event,
        vars,
    )
    .await
}

/// Runs `cmd` (a build of `function`, perhaps under an emulator) for one invocation, with
/// the environment Lambda gives it plus `vars`.
pub(crate) async fn invoke_with(
    mut cmd: tokio::process::Command,
    function: Function,
    event: Value,
    vars: &[(&str, String)],
) -> Run {
    let api = runtime_api(&event).await;
    streamgate_tests::lambda_environment(
        &mut cmd,
        api.url().trim_start_matches("http://"),
        function,
    );
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let response = loop {
        if let Some(r) = api.received().iter().find(|r| r.method == "POST") {
            break r.clone();
        }
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "{} exited ({status}): {}{}",
                function.name(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no response from {} within 30 s",
            function.name()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        response.path, "/2018-06-01/runtime/invocation/invocation-1/response",
        "the invocation succeeded"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let (metrics, logs): (Vec<Value>, Vec<Value>) = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|_| panic!("a log line that is not JSON: {l}"))
        })
        .partition(streamgate_tests::emf::is_emf);
    for line in &logs {
        let ts = line["timestamp"].as_str().unwrap_or_default();
        assert!(
            streamgate_tests::rfc3339(ts),
            "a line without an RFC 3339 timestamp: {line}"
        );
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .contains(&line["level"].as_str().unwrap_or_default()),
            "a line without a level: {line}"
        );
        assert!(
            line["message"].is_string(),
            "a line without a message: {line}"
        );
    }
    Run {
        response: response.json(),
        logs,
        metrics,
    }
}

#[tokio::test]
async fn connect_and_message_binaries_serve_real_events() {
    let db = DynamoDbLocal::start().await;
    let client = db.client();
    create_connections_table(&client, "connections").await;
    create_conversations_table(&client, "conversations").await;
    let table = vec![
        (env::TABLE_NAME, "connections".to_owned()),
        (env::QUOTA_TABLE_NAME, "quotas".to_owned()),
        (env::CONVERSATIONS_TABLE_NAME, "conversations".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", db.endpoint()),
    ];

    // $connect: the record lands in the table; logs are JSON with the ids.
    let run = invoke(Function::Connect, fixture_json("connect"), &table).await;
    assert_eq!(run.response["statusCode"], 200);
    let item = connection_item(&client, "connections", "asdfasdf=")
        .await
        .expect("the record was written");
    assert!(item.contains_key("ttl"));
    let connected = run
        .logs
        .iter()
        .find(|l| l["message"] == "connected")
        .expect("a 'connected' log line");
    assert_eq!(connected["connectionId"], "asdfasdf=");
    assert_eq!(connected["apiRequestId"], "asdf=");
    assert_eq!(
        connected["requestId"], "invocation-1",
        "Lambda's request id"
    );
    assert_eq!(
        connected["route"],
        streamgate_contract::Route::Connect.key()
    );
    let opened: Vec<&Value> = run
        .metrics
        .iter()
        .filter(|m| m["connections_opened"] == 1)
        .collect();
    assert_eq!(
        opened.len(),
        1,
        "one EMF line counts the connection: {:?}",
        run.metrics
    );

    // message: the echo answer is posted to the management endpoint.
    let connections = MockServer::start(vec![]).await;
    connections.otherwise(Reply::status(200));
    let mut event = fixture_json("message");
    event["body"] = serde_json::json!({"action": streamgate_contract::Route::Message.key(), "data": "hello from lambda", "requestId": "l-1"}).to_string().into();
    let mut vars = table.clone();
    vars.push((
        env::MANAGEMENT_ENDPOINT,
        format!("{}/prod", connections.url()),
    ));
    vars.push((env::LLM_PROVIDER, "echo".into()));
    let run = invoke(Function::Message, event, &vars).await;
    assert_eq!(run.response["statusCode"], 200);
    let posts = connections.received();
    assert!(
        posts
            .iter()
            .all(|p| p.path == "/prod/@connections/R1kmxc2VNjMCFIA%3D")
    );
    let frames: Vec<Value> = posts.iter().map(|p| p.json()).collect();
    let answer: String = frames
        .iter()
        .filter(|f| f["type"] == "chunk")
        .map(|f| f["content"].as_str().unwrap())
        .collect();
    assert_eq!(answer, "hello from lambda");
    assert_eq!(frames.last().unwrap()["type"], "done");
    assert!(run.logs.iter().any(|l| l["message"] == "answer finished"));
    // Its metrics: valid EMF, no identity as a dimension, the answer and its posts counted.
    for m in &run.metrics {
        let problems = streamgate_tests::emf::problems(m, &["R1kmxc2VNjMCFIA="]);
        assert!(problems.is_empty(), "{problems:?} in {m}");
    }
    let value = |name: &str| {
        run.metrics
            .iter()
            .find_map(|m| m.get(name).cloned())
            .unwrap_or_else(|| panic!("no {name} in {:?}", run.metrics))
    };
    assert_eq!(value("answers"), 1);
    assert_eq!(value("posts").as_u64(), Some(posts.len() as u64));
    assert!(value("first_token_seconds").is_number());
    let usage = &frames.last().unwrap()["usage"];
    assert_eq!(
        value("tokens_out"),
        usage["outputTokens"],
        "the usage the done frame reports: {usage}"
    );
}

/// `STREAMGATE_METRICS=off` (the stack's `EmitMetrics=off`): the same accepted connection,
/// which otherwise writes `connections_opened` (above), writes no EMF line.
#[tokio::test]
async fn with_metrics_off_a_function_writes_no_emf_line() {
    let db = DynamoDbLocal::start().await;
    create_connections_table(&db.client(), "connections").await;
    let vars = vec![
        (env::TABLE_NAME, "connections".to_owned()),
        (env::QUOTA_TABLE_NAME, "quotas".to_owned()),
        (env::CONVERSATIONS_TABLE_NAME, "conversations".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", db.endpoint()),
        (env::METRICS, "off".to_owned()),
    ];
    let run = invoke(Function::Connect, fixture_json("connect"), &vars).await;
    assert_eq!(run.response["statusCode"], 200);
    assert!(run.logs.iter().any(|l| l["message"] == "connected"));
    assert!(run.metrics.is_empty(), "{:?}", run.metrics);
}

/// Lambda's log level (`AWS_LAMBDA_LOG_LEVEL`, set from `LoggingConfig.ApplicationLogLevel`)
/// wins over `RUST_LOG`: at `WARN` the info lines are gone and the error lines stay, with the
/// invocation's ids.
#[tokio::test]
async fn lambdas_log_level_hides_info_and_keeps_errors() {
    let db = DynamoDbLocal::start().await;
    // No table: writing the record fails, which is logged as an error.
    let vars = vec![
        (env::TABLE_NAME, "no-such-table".to_owned()),
        (env::QUOTA_TABLE_NAME, "quotas".to_owned()),
        (env::CONVERSATIONS_TABLE_NAME, "conversations".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", db.endpoint()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN".to_owned()),
        ("RUST_LOG", "debug".to_owned()),
    ];
    let run = invoke(Function::Connect, fixture_json("connect"), &vars).await;
    assert_eq!(run.response["statusCode"], 500);
    let levels: Vec<&str> = run
        .logs
        .iter()
        .map(|l| l["level"].as_str().unwrap())
        .collect();
    assert!(
        !levels.is_empty() && levels.iter().all(|l| *l == "WARN" || *l == "ERROR"),
        "{:?}",
        run.logs
    );
    let error = run
        .logs
        .iter()
        .find(|l| l["message"] == "cannot write the connection record")
        .expect("the error line");
    assert_eq!(error["level"], "ERROR");
    assert_eq!(error["requestId"], "invocation-1");
    assert_eq!(error["connectionId"], "asdfasdf=");

    // Without Lambda's variable, RUST_LOG decides, as before.
    let vars: Vec<(&str, String)> = vars
        .into_iter()
        .filter(|(k, _)| *k != "AWS_LAMBDA_LOG_LEVEL")
        .collect();
    let run = invoke(Function::Connect, fixture_json("connect"), &vars).await;
    assert!(run.logs.iter().any(|l| l["level"] == "INFO"));
}

#[tokio::test]
async fn a_function_without_its_table_fails_at_start_with_a_clear_error() {
    let api = runtime_api(&fixture_json("connect")).await;
    let out = tokio::process::Command::new(binary(Function::Connect))
        .env_clear()
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            api.url().trim_start_matches("http://"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "connect")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(
        logs.contains(env::TABLE_NAME) && logs.contains("is not set"),
        "{logs}"
    );
}

#[tokio::test]
async fn the_api_key_never_reaches_logs_or_frames() {
    const KEY: &str = "sk-live-do-not-print-0123456789";
    let db = DynamoDbLocal::start().await;
    create_connections_table(&db.client(), "connections").await;
    create_conversations_table(&db.client(), "conversations").await;
    // The provider refuses the key and quotes it back, as OpenAI does (partly masked).
    let provider = MockServer::start(vec![]).await;
    provider.otherwise(Reply::json(
        401,
        serde_json::json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
    ));
    let connections = MockServer::start(vec![]).await;
    connections.otherwise(Reply::status(200));
    let mut event = fixture_json("message");
    event["body"] = serde_json::json!({"data": "hi"}).to_string().into();
    let vars = vec![
        (env::TABLE_NAME, "connections".to_owned()),
        (env::QUOTA_TABLE_NAME, "quotas".to_owned()),
        (env::CONVERSATIONS_TABLE_NAME, "conversations".to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", db.endpoint()),
        (
            env::MANAGEMENT_ENDPOINT,
            format!("{}/prod", connections.url()),
        ),
        (env::LLM_PROVIDER, "openai".into()),
        (env::LLM_MODEL, "gpt-test".into()),
        (env::LLM_BASE_URL, provider.url()),
        ("OPENAI_API_KEY", KEY.into()),
        ("RUST_LOG", "trace".into()),
        (env::SYSTEM_PROMPT, "Answer like a waiter.".into()),
    ];
    let run = invoke(Function::Message, event, &vars).await;
    assert_eq!(
        provider.received()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    // The stack's SystemPrompt comes first in what the model is asked.
    assert_eq!(
        provider.received()[0].json()["messages"][0],
        serde_json::json!({"role": "system", "content": "Answer like a waiter."})
    );
    let frames: Vec<Value> = connections.received().iter().map(|p| p.json()).collect();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["code"], "llm_auth");
    let everything = format!("{:?}{:?}", run.logs, frames);
    assert!(!everything.contains(KEY), "the key leaked: {everything}");
    assert!(
        run.logs
            .iter()
            .any(|l| l.to_string().contains("[redacted]")),
        "the upstream message is logged, redacted"
    );
}
