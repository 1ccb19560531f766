//! The test page in Debian's Chromium, driven by playwright-core, against the local server
//! hosting the real chat handlers with the echo provider.

use std::time::Duration;

use streamgate_contract::Route;
use streamgate_tests::local::{LocalServer, browser_tools};
use streamgate_tests::workspace_root;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_streams_an_answer_and_shows_errors_in_chromium() {
    let chromium = browser_tools();
    let root = workspace_root();
    // Slow enough that the page visibly streams.
    let server = LocalServer::chat(None, Duration::from_millis(60)).await;
    let artifacts = root.join("tests/artifacts");
    let output = tokio::process::Command::new("node")
        .arg(root.join("tests/node/chat-page.mjs"))
        .arg(format!("http://{}/", server.addr))
        .arg(Route::Message.key())
        .arg(&artifacts)
        .env("CHROMIUM", &chromium)
        .current_dir(root.join("tests/node"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (install Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    server.stop().await;
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
}
