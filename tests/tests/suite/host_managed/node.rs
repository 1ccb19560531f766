//! Node.js stacks: a SAM template of ES-module handlers with raw API Gateway resources, and
//! SAM's own WebSocket API with a Lambda authorizer and CommonJS callback handlers.

use serde_json::{Value, json};
use streamgate_tests::local::{connect, next_json, next_text, send};

use super::super::host_template::{Logs, items, wait_for_items};
use super::{Said, eventually, fixture, handshake_status, options, refused, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sam_stack_of_es_modules_posts_to_every_connection_through_the_event_endpoint() {
    let dir = fixture("sam-node-esm", "managed-esm");
    let (running, logs, said) = serve(dir.join("template.yaml")).await;
    let api = &running.server.api;
    assert_eq!(api.stage, "Prod");
    assert_eq!(
        api.functions["SendMessageFunction"].runtime, "nodejs20.x",
        "from Globals"
    );
    assert_eq!(api.functions["SendMessageFunction"].memory_mb, 256);
    let policies: Vec<&String> = api
        .notes
        .iter()
        .filter(|n| n.starts_with("Policies"))
        .collect();
    assert_eq!(
        policies.len(),
        1,
        "Policies are named once: {:?}",
        api.notes
    );
    assert!(
        policies[0].contains("SendMessageFunction") && policies[0].contains("OnConnectFunction")
    );

    let db = running.dynamodb();
    let mut alice = connect(&running.url()).await;
    let mut bob = connect(&running.url()).await;
    wait_for_items(&db, "local-ConnectionsTable", 2).await;
    send(
        &mut alice,
        &json!({"action": "sendmessage", "data": "hello, both"}).to_string(),
    )
    .await;
    assert_eq!(next_text(&mut alice).await, "hello, both");
    assert_eq!(next_text(&mut bob).await, "hello, both");
    bob.close(None).await.unwrap();
    wait_for_items(&db, "local-ConnectionsTable", 1).await;
    // The item the ES module wrote through the SDK v3 says where it ran.
    let scan = db
        .scan()
        .table_name("local-ConnectionsTable")
        .send()
        .await
        .unwrap();
    assert_eq!(
        scan.items()[0]["runtime"].as_s().unwrap(),
        "AWS_Lambda_nodejs20.x"
    );
    send(
        &mut alice,
        &json!({"action": "sendmessage", "data": "only me"}).to_string(),
    )
    .await;
    assert_eq!(next_text(&mut alice).await, "only me");

    // console.log lines carry the request id, as Lambda's runtime writes them.
    let lines = logs.of("local-OnConnectFunction");
    assert!(
        lines.iter().any(|l| {
            let parts: Vec<&str> = l.split('\t').collect();
            parts.len() == 4
                && parts[1].len() == 36
                && parts[2] == "INFO"
                && parts[3].starts_with("connected ")
        }),
        "{lines:?}"
    );
    assert!(
        said.lines().iter().all(|l| !l.contains("failed")),
        "{:?}",
        said.lines()
    );
    running.stop().await;
}

/// Sends `action` and reads the frame that answers it.
async fn ask(ws: &mut streamgate_tests::local::Client, action: &str) -> Value {
    send(ws, &json!({"action": action}).to_string()).await;
    next_json(ws).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sams_websocket_api_with_a_lambda_authorizer_runs_callback_handlers() {
    let dir = fixture("sam-node-cjs", "managed-cjs");
    let (running, _, _) = serve(dir.join("template.yaml")).await;
    assert_eq!(running.server.api.stage, "live");
    let url = running.url();
    assert_eq!(
        handshake_status(&url).await,
        401,
        "no token: the identity source is missing"
    );
    assert_eq!(
        handshake_status(&format!("{url}?token=guess")).await,
        401,
        "the authorizer's callback('Unauthorized')"
    );
    let mut alice = connect(&format!("{url}?token=let-me-in-alice")).await;
    let mut bob = connect(&format!("{url}?token=let-me-in-bob")).await;
    let db = running.dynamodb();
    wait_for_items(&db, "local-Connections", 2).await;
    // The management endpoint is built from the API id and the region.
    send(
        &mut bob,
        &json!({"action": "broadcast", "text": "hi"}).to_string(),
    )
    .await;
    assert_eq!(next_text(&mut alice).await, "bob: hi");
    assert_eq!(next_text(&mut bob).await, "bob: hi");

    let body = ask(&mut alice, "whoami").await;
    assert_eq!(body["user"], "alice", "the authorizer's context: {body}");
    assert_eq!(body["functionName"], "local-Broadcast");
    assert_eq!(body["requestId"].as_str().unwrap().len(), 36);
    assert_eq!(body["memory"], "128");
    let remaining = body["remaining"].as_i64().unwrap();
    assert!(remaining > 5_000 && remaining <= 10_000, "{remaining}");
    assert_eq!(body["env"], "AWS_Lambda_nodejs22.x");
    assert_eq!(body["greeting"], "hello", "Globals' variables");
    assert_eq!(body["handler"], "broadcast.handler");
    assert_eq!(
        body["credentials"],
        streamgate_template_host::host::LOCAL_ACCESS_KEY
    );
    drop(bob);
    wait_for_items(&db, "local-Connections", 1).await;
    assert_eq!(items(&db, "local-Connections").await, 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_throws_fails_the_integration_as_lambda_reports_it() {
    let dir = fixture("sam-node-cjs", "managed-throws");
    let (running, logs, _) = serve(dir.join("template.yaml")).await;
    let mut ws = connect(&format!("{}?token=let-me-in-carol", running.url())).await;
    let frame = ask(&mut ws, "boom").await;
    assert_eq!(frame["message"], "Internal server error", "{frame}");
    let pool = running.server.host.pools()["Boom"].clone();
    let lines = logs.of("local-Boom");
    let error = lines
        .iter()
        .find_map(|l| l.split_once("Invoke Error \t").map(|(_, e)| e.to_owned()))
        .unwrap_or_else(|| panic!("no Invoke Error line: {lines:?}"));
    let error: Value = serde_json::from_str(&error).unwrap();
    assert_eq!(error["errorType"], "TableMissingError");
    assert_eq!(error["errorMessage"], "the table is not there");
    assert!(
        error["trace"][1].as_str().unwrap().contains("errors.js"),
        "{error}"
    );
    // The process outlives a handled error: the next event is warm.
    let _ = ask(&mut ws, "boom").await;
    assert_eq!(pool.cold_starts(), 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_past_its_timeout_is_stopped_and_the_client_told() {
    let dir = fixture("sam-node-cjs", "managed-timeout");
    let (running, logs, _) = serve(dir.join("template.yaml")).await;
    let mut ws = connect(&format!("{}?token=let-me-in-dave", running.url())).await;
    let started = std::time::Instant::now();
    let frame = ask(&mut ws, "slow").await;
    let waited = started.elapsed();
    assert_eq!(frame["message"], "Internal server error", "{frame}");
    assert!(
        waited >= std::time::Duration::from_secs(1) && waited < std::time::Duration::from_secs(4),
        "answered after the function's 1 s timeout, not its 5 s callback: {waited:?}"
    );
    let pool = running.server.host.pools()["Slow"].clone();
    eventually("the timed-out process is stopped", || pool.processes() == 0).await;
    let reports = logs.of("local-Slow");
    assert!(
        reports
            .iter()
            .any(|l| l.starts_with("REPORT") && l.contains("Duration: 10")),
        "{reports:?}"
    );
    assert!(
        !reports.iter().any(|l| l.contains("too late")),
        "nothing runs after the timeout"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_managed_function_lacks_is_named_at_start_up() {
    let dir = fixture("sam-node-cjs", "managed-refusals");
    let template = dir.join("template.yaml");
    let text = std::fs::read_to_string(&template).unwrap();
    std::fs::write(
        &template,
        text.replace("Handler: errors.slow", "Handler: missing.slow")
            .replace(
                "Handler: errors.boom",
                "Handler: errors.boom\n      Runtime: java21",
            ),
    )
    .unwrap();
    let (logs, said) = (Logs::default(), Said::default());
    let problems = refused(options(template, &logs, &said)).await;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("Boom: runtime \"java21\" is not emulated")),
        "{problems:?}"
    );
    // The reader stops at the runtime; the handler file is checked once the template reads.
    std::fs::write(
        dir.join("template.yaml"),
        text.replace("Handler: errors.slow", "Handler: missing.slow"),
    )
    .unwrap();
    let problems = refused(options(dir.join("template.yaml"), &logs, &said)).await;
    assert!(
        problems
            .iter()
            .any(|p| p
                .starts_with("Slow: Handler \"missing.slow\" names no .js, .mjs or .cjs file in ")),
        "{problems:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sam_builds_output_is_served_when_present() {
    let dir = fixture("sam-node-esm", "managed-sam-build");
    let built = dir.join(".aws-sam/build");
    std::fs::create_dir_all(&built).unwrap();
    // What `sam build` leaves: the template with each function's CodeUri at its build folder.
    let text = std::fs::read_to_string(dir.join("template.yaml")).unwrap();
    std::fs::write(
        built.join("template.yaml"),
        text.replace("CodeUri: src/", "CodeUri: Functions/")
            .replace("StageName: Prod", "StageName: Built"),
    )
    .unwrap();
    super::copy_tree(&dir.join("src"), &built.join("Functions"));
    let (running, _, _) = serve(dir.join("template.yaml")).await;
    assert_eq!(running.server.api.stage, "Built");
    assert!(
        running
            .server
            .setup
            .iter()
            .any(|l| l.contains(".aws-sam/build/template.yaml")),
        "{:?}",
        running.server.setup
    );
    let root = &running.server.host.pools()["SendMessageFunction"]
        .launch()
        .task_root;
    assert!(
        root.ends_with(".aws-sam/build/Functions"),
        "{}",
        root.display()
    );
    let mut ws = connect(&running.url()).await;
    send(
        &mut ws,
        &json!({"action": "sendmessage", "data": "built"}).to_string(),
    )
    .await;
    assert_eq!(next_text(&mut ws).await, "built");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_throws_while_loading_fails_its_init_as_lambda_reports_it() {
    let dir = fixture("sam-node-cjs", "managed-init-error");
    let file = dir.join("handlers/errors.js");
    let code = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        format!("if (!process.env.BOOM_CONFIG) throw new RangeError('no configuration');\n{code}"),
    )
    .unwrap();
    let (running, logs, _) = serve(dir.join("template.yaml")).await;
    let mut ws = connect(&format!("{}?token=let-me-in-frank", running.url())).await;
    let frame = ask(&mut ws, "boom").await;
    assert_eq!(frame["message"], "Internal server error", "{frame}");
    let lines = logs.of("local-Boom");
    let error = lines
        .iter()
        .find_map(|l| {
            l.split_once("Uncaught Exception \t")
                .map(|(_, e)| e.to_owned())
        })
        .unwrap_or_else(|| panic!("no Uncaught Exception line: {lines:?}"));
    let error: Value = serde_json::from_str(&error).unwrap();
    assert_eq!(
        error["errorType"], "RangeError",
        "the module's own error: {error}"
    );
    assert_eq!(error["errorMessage"], "no configuration");
    // The other functions are fine: only this one's init failed.
    let me = ask(&mut ws, "whoami").await;
    assert_eq!(me["user"], "frank");
    running.stop().await;
}
