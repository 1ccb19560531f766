//! The test page in Debian's Chromium, driven by playwright-core, against the local server
//! hosting the real chat handlers with the echo provider.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use streamgate_contract::Route;
use streamgate_core::memory::MemoryStore;
use streamgate_core::{ChatApp, ChatSettings};
use streamgate_server::push::LocalPush;
use streamgate_server::{ChatIntegration, GatewayConfig, Registry};
use streamgate_tests::local::LocalServer;
use streamgate_tests::workspace_root;

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).is_file(),
        "Chromium is not installed at {path}: run `just setup` (it installs Debian's chromium package)"
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_streams_an_answer_and_shows_errors_in_chromium() {
    let chromium = chromium();
    let root = workspace_root();
    assert!(
        root.join("tests/node/node_modules/playwright-core")
            .is_dir(),
        "playwright-core is not installed: run `just setup`"
    );
    let registry = Arc::new(Registry::new(None));
    let app = ChatApp {
        store: Arc::new(MemoryStore::new()),
        push: Arc::new(LocalPush(registry.clone())),
        // Slow enough that the page visibly streams.
        llm: Arc::new(streamgate_llm::EchoProvider::new(Duration::from_millis(60))),
        settings: ChatSettings::default(),
    };
    let server = LocalServer::start(
        GatewayConfig::default(),
        Arc::new(ChatIntegration(app)),
        registry,
        None,
    )
    .await;
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
