//! Whole stacks under the template host: a hand-written one, the generated one with its
//! packaged bootstraps, and what cannot be emulated.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use streamgate_contract::{Function, Route};
use streamgate_template_host::host::{TemplateHost, TemplateOptions};
use streamgate_tests::dynamodb_local::jar_dir;
use streamgate_tests::local::{connect, next_json, next_text, send};
use streamgate_tests::packaging::{packaged_bootstrap, scratch_dir};
use streamgate_tests::workspace_root;

use super::{Logs, Running, host_architecture, test_binary, wait_for_items};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_chat_stack_runs_unmodified() {
    let dir = scratch_dir("simple-chat");
    std::fs::copy(
        workspace_root().join("tests/fixtures/simple-chat/template.yaml"),
        dir.join("template.yaml"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("function")).unwrap();
    std::os::unix::fs::symlink(
        test_binary("simple-chat-function"),
        dir.join("function/bootstrap"),
    )
    .unwrap();
    let logs = Logs::default();
    let mut options = TemplateOptions::new(dir.join("template.yaml"));
    options.parameters = BTreeMap::from([("Architecture".into(), host_architecture().into())]);
    options.dynamodb_local_dir = Some(jar_dir());
    options.logs = logs.sink();
    let running = Running::start(options).await;
    assert_eq!(running.server.api.stage, "Prod");
    let db = running.dynamodb();
    let ttl = db
        .describe_time_to_live()
        .table_name("simplechat_connections")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expiresAt"),
        "the table is created with the template's TTL attribute"
    );

    let mut alice = connect(&running.url()).await;
    let mut bob = connect(&running.url()).await;
    wait_for_items(&db, "simplechat_connections", 2).await;
    send(
        &mut alice,
        &json!({"action": "sendmessage", "data": "hello, everyone"}).to_string(),
    )
    .await;
    assert_eq!(next_text(&mut alice).await, "hello, everyone");
    assert_eq!(next_text(&mut bob).await, "hello, everyone");
    bob.close(None).await.unwrap();
    wait_for_items(&db, "simplechat_connections", 1).await;
    // An unknown action with no $default route: API Gateway's Forbidden frame.
    send(&mut alice, r#"{"action": "dance"}"#).await;
    assert_eq!(next_json(&mut alice).await["message"], "Forbidden");

    let reports = logs.of("local-SendMessageFunction");
    assert!(
        reports
            .iter()
            .any(|l| l.starts_with("REPORT RequestId: ") && l.contains("Init Duration")),
        "a cold start is reported with the function's name: {reports:?}"
    );
    running.stop().await;
}

/// Sends `message` and reads its answer: (the text, the terminal frame).
async fn read_answer(
    ws: &mut streamgate_tests::local::Client,
    message: &serde_json::Value,
) -> (String, serde_json::Value) {
    send(ws, &message.to_string()).await;
    read_rest(ws).await
}

/// Reads chunks up to the terminal frame: (their text, that frame).
async fn read_rest(ws: &mut streamgate_tests::local::Client) -> (String, serde_json::Value) {
    let mut text = String::new();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), next_json(ws))
            .await
            .expect("the answer arrives (an arm64 cold start under qemu takes a moment)");
        match frame["type"].as_str() {
            Some("chunk") => text.push_str(frame["content"].as_str().unwrap()),
            Some("done") => return (text, frame),
            other => panic!("unexpected frame {other:?}: {frame}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_chat_stack_runs_its_packaged_bootstraps() {
    for f in Function::ALL {
        packaged_bootstrap(*f);
    }
    let logs = Logs::default();
    let mut options = TemplateOptions::new(workspace_root().join("generated/template.yaml"));
    options.artifacts = Some(workspace_root().join("target/lambda"));
    options.dynamodb_local_dir = Some(jar_dir());
    options.logs = logs.sink();
    // `GET /metrics` from the functions' EMF lines (a registry of this test's own).
    let metrics: &'static streamgate_telemetry::Registry =
        Box::leak(Box::new(streamgate_telemetry::Registry::new()));
    options.metrics = Some(metrics);
    // Signed in as deployed: the stack's own authorizer function checks the token, against
    // a development issuer instead of the Cognito pool.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token = streamgate_tests::template_host::sign_in(&mut options, &listener, "user-7");
    let running = Running::on(options, listener).await;
    let table = running
        .server
        .api
        .tables
        .iter()
        .find(|t| t.logical_id == "ConnectionsTable")
        .expect("the stack declares its connections table")
        .name
        .clone();
    let db = running.dynamodb();
    match tokio_tungstenite::connect_async(running.url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("without a token: {other:?}"),
    }

    let mut ws = connect(&format!("{}?token={token}", running.url())).await;
    wait_for_items(&db, &table, 1).await;
    let question = json!({"action": Route::Message.key(), "data": "streamed through real processes", "requestId": "r1"});
    let (text, done) = read_answer(&mut ws, &question).await;
    assert_eq!(text, "streamed through real processes");
    // The conversation goes on: the second answer saw the first message (the message
    // function read its turns back from the stack's conversations table).
    let id = done["conversationId"]
        .as_str()
        .expect("done names the conversation")
        .to_owned();
    let follow_up = json!({"action": Route::Message.key(), "data": "and then?", "conversationId": id, "requestId": "r2"});
    let (text, _) = read_answer(&mut ws, &follow_up).await;
    assert_eq!(
        text,
        r#"and then? (before, you said: "streamed through real processes")"#
    );
    // The conversations function pages it.
    send(
        &mut ws,
        &json!({"action": Route::History.key(), "conversationId": id, "requestId": "h"})
            .to_string(),
    )
    .await;
    let history = tokio::time::timeout(Duration::from_secs(60), next_json(&mut ws))
        .await
        .expect("the history arrives");
    assert_eq!(history["type"], "history", "{history}");
    assert_eq!(
        history["turns"].as_array().map(Vec::len),
        Some(2),
        "{history}"
    );
    // cancel: the message function finds the stop request between posts (150 words, 20 ms
    // apart: three seconds if nothing stops it).
    let long = vec!["word"; 150].join(" ");
    send(
        &mut ws,
        &json!({"action": Route::Message.key(), "data": long, "requestId": "r3"}).to_string(),
    )
    .await;
    let first = tokio::time::timeout(Duration::from_secs(60), next_json(&mut ws))
        .await
        .expect("the long answer starts");
    assert_eq!(first["type"], "chunk", "{first}");
    send(
        &mut ws,
        &json!({"action": Route::Cancel.key(), "requestId": "r3"}).to_string(),
    )
    .await;
    let (rest, done) = read_rest(&mut ws).await;
    assert_eq!(done["stopReason"], "cancelled", "{done}");
    assert!(rest.len() + first["content"].as_str().unwrap().len() < long.len());
    // The $default route answers through @connections too.
    send(&mut ws, "not json").await;
    let frame = tokio::time::timeout(Duration::from_secs(30), next_json(&mut ws))
        .await
        .unwrap();
    assert_eq!(frame["type"], "error", "{frame}");
    ws.close(None).await.unwrap();
    wait_for_items(&db, &table, 0).await;
    let message_logs = logs.of("local-MessageFunction");
    assert!(
        message_logs.iter().any(|l| l.starts_with('{')),
        "the function's JSON logs are shown under its name: {message_logs:?}"
    );
    // The template's LoggingConfig reached the functions as Lambda's variables: JSON lines
    // with a timestamp and a level. Their EMF lines went to the metrics, not the output.
    let mut reports = 0;
    for line in &message_logs {
        let line: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"));
        assert!(
            line.get("_aws").is_none(),
            "an EMF line in the output: {line}"
        );
        // The host's report, in Lambda's JSON platform format.
        if line["type"] == "platform.report" {
            assert!(
                line["record"]["metrics"]["durationMs"].is_number(),
                "{line}"
            );
            reports += 1;
            continue;
        }
        assert!(
            streamgate_tests::rfc3339(line["timestamp"].as_str().unwrap_or_default()),
            "{line}"
        );
        assert!(line["level"].is_string(), "{line}");
    }
    assert!(reports >= 1, "a platform.report line: {message_logs:?}");
    let text = metrics.prometheus();
    for sample in [
        r#"streamgate_answers_total{outcome="done"} 2"#,
        r#"streamgate_answers_total{outcome="cancelled"} 1"#,
        r#"streamgate_messages_total{route="message"} 3"#,
        r#"streamgate_messages_total{route="history"} 1"#,
        r#"streamgate_messages_total{route="cancel"} 1"#,
        "streamgate_connections_opened_total 1",
        "streamgate_sign_ins_total 1",
        r#"streamgate_sign_in_refusals_total{reason="missing"} 1"#,
    ] {
        assert!(text.contains(sample), "{sample} in /metrics:\n{text}");
    }
    running.stop().await;
}

#[tokio::test]
async fn what_cannot_be_emulated_is_named_at_start_up() {
    let dir = scratch_dir("unsupported-template");
    std::fs::write(
        dir.join("template.yaml"),
        r#"
Parameters:
  Needed: {Type: String}
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: x, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.header.x}
  Node:
    Type: AWS::Lambda::Function
    Properties: {Code: {ZipFile: "exports.handler = async () => ({})"}, Handler: index.handler, Runtime: nodejs20.x}
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Api, RouteKey: $connect, Target: !Sub "integrations/${Http}"}
  Http:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Api, IntegrationType: HTTP_PROXY, IntegrationUri: "https://example.com"}
"#,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let problems =
        match TemplateHost::start(TemplateOptions::new(dir.join("template.yaml")), &listener).await
        {
            Ok(_) => panic!("the template is refused"),
            Err(p) => p,
        };
    assert!(
        problems
            .iter()
            .any(|p| p.contains("--parameter Needed=VALUE")),
        "{problems:#?}"
    );
    let text = format!("{problems:?}");
    drop(listener);
    let with_value = {
        let mut o = TemplateOptions::new(dir.join("template.yaml"));
        o.parameters = BTreeMap::from([("Needed".into(), "x".into())]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        match TemplateHost::start(o, &listener).await {
            Ok(_) => panic!("the template is refused"),
            Err(p) => p,
        }
    };
    let all = format!("{text}{with_value:?}");
    for expected in ["$request.header.x", "HTTP_PROXY"] {
        assert!(
            all.contains(expected),
            "{expected} is named: {with_value:#?}"
        );
    }

    // A function whose bootstrap is missing is named with the packaging step.
    let mut options = TemplateOptions::new(workspace_root().join("generated/template.yaml"));
    options.artifacts = Some(dir.join("nothing-here"));
    options.parameters = BTreeMap::from([("Architecture".into(), "x86_64".into())]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let problems = match TemplateHost::start(options, &listener).await {
        Ok(_) => panic!("refused"),
        Err(p) => p,
    };
    assert_eq!(problems.len(), Function::ALL.len(), "{problems:#?}");
}
