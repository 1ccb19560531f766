//! `streamgate-server --template` as a user runs it on a SAM stack of Node.js functions: the
//! banner names what has no local meaning once, and a machine without `node` (or `python3`)
//! is told the fix before anything starts.

use streamgate_tests::dynamodb_local::jar_dir;
use streamgate_tests::server_process::ServerProcess;

use super::{cache_dir, fixture};

#[tokio::test]
async fn the_banner_names_the_functions_runtimes_and_what_is_not_emulated_once() {
    let dir = fixture("sam-node-esm", "managed-banner");
    let (mut cmd, port) = ServerProcess::command();
    cmd.arg("--template")
        .arg(dir.join("template.yaml"))
        .arg("--dynamodb-local-dir")
        .arg(jar_dir())
        .arg("--watch")
        .env("STREAMGATE_CACHE_DIR", cache_dir());
    let mut server = ServerProcess::start(cmd, port);
    server.until("metrics:").await;
    let banner = server.output.join("\n");
    assert!(
        banner.contains(
            "route sendmessage  -> local-SendMessageFunction (nodejs20.x, x86_64, 10 s, 256 MB)"
        ),
        "{banner}"
    );
    assert_eq!(
        banner.matches("Policies (").count(),
        1,
        "Policies are named once, with every function that has them: {banner}"
    );
    assert!(banner.contains("watching the functions' code"), "{banner}");
    server.terminate().await;
}

async fn refused_without(program: &str, fixture_name: &str) -> String {
    let dir = fixture(fixture_name, &format!("managed-no-{program}"));
    // A PATH with no node and no python3 in it.
    let empty = dir.join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let (mut cmd, port) = ServerProcess::command();
    cmd.arg("--template")
        .arg(dir.join("template.yaml"))
        .arg("--dynamodb-local-dir")
        .arg(jar_dir())
        .env("PATH", &empty)
        .env("STREAMGATE_CACHE_DIR", cache_dir());
    let output = cmd.output().await.expect("the server runs");
    assert!(!output.status.success(), "it refuses to start");
    let _ = port;
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_machine_without_node_or_python_is_told_the_fix() {
    let stderr = refused_without("node", "sam-node-esm").await;
    assert!(
        stderr.contains("no `node` on PATH: install Node.js 18.19 or later"),
        "{stderr}"
    );
    assert!(
        stderr.contains("OnConnectFunction, OnDisconnectFunction, SendMessageFunction"),
        "the functions that need it are named: {stderr}"
    );
    let stderr = refused_without("python3", "sam-python").await;
    assert!(
        stderr.contains("no `python3` on PATH: install Python 3 with pip"),
        "{stderr}"
    );
}
