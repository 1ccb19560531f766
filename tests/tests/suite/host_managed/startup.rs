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

#[tokio::test]
async fn the_sdk_is_installed_once_into_the_cache_with_progress_on_screen() {
    use std::sync::{Arc, Mutex};
    use streamgate_template_host::runtime::managed::{self, PYTHON_SDK};
    use streamgate_template_host::template::rules::Family;

    let cache = streamgate_tests::packaging::scratch_dir("managed-fresh-cache");
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let say = {
        let said = said.clone();
        move |line: &str| said.lock().unwrap().push(line.to_owned())
    };
    let toolchain = managed::prepare(Family::Python, &cache, &say)
        .await
        .unwrap_or_else(|e| panic!("boto3 installs with pip (is pip installed?): {e}"));
    let lines = said.lock().unwrap().clone();
    let folder = cache.join("sdk").join(PYTHON_SDK.folder);
    assert!(
        lines[0].starts_with(&format!(
            "installing boto3 ({}, pinned) into {}",
            PYTHON_SDK.packages.join(" "),
            folder.display()
        )),
        "{lines:?}"
    );
    assert!(
        lines.iter().skip(1).any(|l| l.starts_with("  ")),
        "pip's own lines: {lines:?}"
    );
    assert!(
        lines.last().unwrap().starts_with("installed boto3 in "),
        "{lines:?}"
    );
    assert_eq!(toolchain.sdk, folder);
    assert!(folder.join("boto3/__init__.py").is_file());
    assert!(folder.join(".complete").is_file());
    let left: Vec<_> = std::fs::read_dir(cache.join("sdk"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left.len(), 1, "no temporary folder is left: {left:?}");

    // Once: the next start finds it and says nothing.
    said.lock().unwrap().clear();
    managed::prepare(Family::Python, &cache, &say)
        .await
        .unwrap();
    assert!(
        said.lock().unwrap().is_empty(),
        "{:?}",
        said.lock().unwrap()
    );
}
