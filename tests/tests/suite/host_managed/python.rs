//! A Python stack: boto3 from the runtime cache, the management endpoint built from the event,
//! the context object, an exception reported as Lambda reports it.

use serde_json::{Value, json};
use streamgate_tests::local::{connect, next_json, next_text, send};

use super::super::host_template::wait_for_items;
use super::{fixture, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_stack_uses_boto3_and_posts_through_the_event_endpoint() {
    let dir = fixture("sam-python", "managed-python");
    let (running, logs, _) = serve(dir.join("template.yaml")).await;
    let db = running.dynamodb();
    let mut alice = connect(&running.url()).await;
    let mut bob = connect(&running.url()).await;
    wait_for_items(&db, "local-Connections", 2).await;
    send(
        &mut alice,
        &json!({"action": "sendmessage", "data": "hallo"}).to_string(),
    )
    .await;
    assert_eq!(next_text(&mut alice).await, "hallo");
    assert_eq!(next_text(&mut bob).await, "hallo");

    send(&mut alice, r#"{"action": "whoami"}"#).await;
    let me = next_json(&mut alice).await;
    assert_eq!(me["functionName"], "local-Send", "{me}");
    assert_eq!(me["memory"], "512");
    assert_eq!(me["env"], "AWS_Lambda_python3.12");
    assert_eq!(me["requestId"].as_str().unwrap().len(), 36);
    let remaining = me["remaining"].as_i64().unwrap();
    assert!(remaining > 5_000 && remaining <= 10_000, "{remaining}");
    assert_eq!(
        me["boto3"],
        streamgate_template_host::runtime::managed::PYTHON_SDK.packages[0]
            .trim_start_matches("boto3=="),
        "the pinned boto3, as the runtime includes it"
    );
    assert!(
        me["boto3From"]
            .as_str()
            .unwrap()
            .starts_with(&super::cache_dir().join("sdk").display().to_string()),
        "{me}"
    );

    send(&mut alice, r#"{"action": "boom"}"#).await;
    let frame = next_json(&mut alice).await;
    assert_eq!(frame["message"], "Internal server error");
    let lines = logs.of("local-Send");
    assert!(
        lines
            .iter()
            .any(|l| l == "[ERROR] ChatError: nobody to talk to"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("chat.py") && l.contains("in handler")),
        "the function's own frames: {lines:?}"
    );
    // A result JSON cannot hold: Lambda's Runtime.MarshalError.
    send(&mut alice, r#"{"action": "marshal"}"#).await;
    assert_eq!(
        next_json(&mut alice).await["message"],
        "Internal server error"
    );
    let lines = logs.of("local-Send");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[ERROR] Runtime.MarshalError: Unable to marshal response")),
        "{lines:?}"
    );
    // logging lines carry the level, the time and the request id, as on Lambda.
    let logged: Vec<&String> = lines.iter().filter(|l| l.starts_with("[INFO]\t")).collect();
    assert!(
        logged.iter().any(|l| {
            let parts: Vec<&str> = l.split('\t').collect();
            parts.len() == 4 && parts[2].len() == 36 && parts[3] == "sending 'hallo'"
        }),
        "{logged:?}"
    );
    let _: Value = me;
    running.stop().await;
}
