//! A CDK app's `cdk.out`: each function's code found through its asset metadata; and the
//! committed `cdk.out` is what the committed app synthesises with the real `aws-cdk-lib`.

use std::process::Command;

use serde_json::Value;
use streamgate_tests::local::{connect, next_text, send};
use streamgate_tests::packaging::scratch_dir;
use streamgate_tests::workspace_root;

use super::super::host_template::wait_for_items;
use super::{fixture, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cdk_stack_runs_from_cdk_out_with_no_artifacts_flag() {
    let dir = fixture("cdk-chat", "managed-cdk");
    let (running, _, _) = serve(dir.join("cdk.out/CdkChat.template.json")).await;
    assert_eq!(running.server.api.stage, "dev");
    let root = &running.server.host.pools()["MessageHandlerDFBBCD6B"]
        .launch()
        .task_root;
    assert!(
        root.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("asset."),
        "{}",
        root.display()
    );
    let db = running.dynamodb();
    let table = running.server.api.tables[0].name.clone();
    let mut alice = connect(&running.url()).await;
    let mut bob = connect(&running.url()).await;
    wait_for_items(&db, &table, 2).await;
    // No action route: $default takes it, and posts it to both through the event's endpoint.
    send(&mut alice, "hello from cdk").await;
    assert_eq!(next_text(&mut alice).await, "hello from cdk");
    assert_eq!(next_text(&mut bob).await, "hello from cdk");
    running.stop().await;
}

#[test]
fn the_committed_cdk_out_is_what_the_committed_app_synthesises() {
    let dir = scratch_dir("cdk-synth");
    let app = workspace_root().join("tests/fixtures/cdk-chat");
    for file in ["app.mjs", "package.json", "package-lock.json"] {
        std::fs::copy(app.join(file), dir.join(file)).unwrap();
    }
    std::fs::create_dir_all(dir.join("lambda")).unwrap();
    std::fs::copy(app.join("lambda/index.mjs"), dir.join("lambda/index.mjs")).unwrap();
    let npm = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .expect("npm runs (install Node.js and npm: `just setup`)");
    assert!(
        npm.success(),
        "npm ci of aws-cdk-lib failed (is the package registry reachable?)"
    );
    let synth = Command::new("node")
        .arg("app.mjs")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    let read = |root: &std::path::Path| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(root.join("cdk.out/CdkChat.template.json")).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        read(&dir),
        read(&app),
        "tests/fixtures/cdk-chat/cdk.out is stale: run `npm ci && npm run synth` there"
    );
    let asset = |root: &std::path::Path| {
        let t = read(root);
        let m = &t["Resources"]["MessageHandlerDFBBCD6B"]["Metadata"]["aws:asset:path"];
        std::fs::read_to_string(
            root.join("cdk.out")
                .join(m.as_str().unwrap())
                .join("index.mjs"),
        )
        .unwrap()
    };
    assert_eq!(
        asset(&dir),
        asset(&app),
        "the asset folder holds the app's handler"
    );
}
