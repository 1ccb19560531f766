//! The test page in Debian's Chromium, driven by playwright-core, against the local server
//! hosting the real chat handlers with the echo provider.

use std::time::Duration;

use streamgate_contract::Route;
use streamgate_template_host::host::{TemplateHost, TemplateOptions};
use streamgate_tests::local::{LocalServer, browser_tools};
use streamgate_tests::workspace_root;

/// Runs the page script against the server at `addr` (signed in with `token`, if any, as the
/// banner's signed-in page does).
async fn page_test(addr: std::net::SocketAddr, token: Option<&str>) -> std::process::Output {
    let chromium = browser_tools();
    let root = workspace_root();
    let artifacts = root.join("tests/artifacts");
    tokio::process::Command::new("node")
        .arg(root.join("tests/node/chat-page.mjs"))
        .arg(match token {
            Some(t) => format!("http://{addr}/#token={t}"),
            None => format!("http://{addr}/"),
        })
        .arg(Route::Message.key())
        .arg(&artifacts)
        .env("CHROMIUM", &chromium)
        .current_dir(root.join("tests/node"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (install Node.js)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_streams_an_answer_and_shows_errors_in_chromium() {
    // Slow enough that the page visibly streams.
    let server = LocalServer::chat(None, Duration::from_millis(60)).await;
    let output = page_test(server.addr, None).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    server.stop().await;
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_works_against_the_template_host_hosting_the_packaged_bootstraps() {
    for f in streamgate_contract::Function::ALL {
        streamgate_tests::packaging::packaged_bootstrap(*f);
    }
    let root = workspace_root();
    let mut options = TemplateOptions::new(root.join("generated/template.yaml"));
    options.artifacts = Some(root.join("target/lambda"));
    options.dynamodb_local_dir = Some(streamgate_tests::dynamodb_local::jar_dir());
    options.logs = std::sync::Arc::new(|_: &str, _: &str| {});
    options.extra_environment = [(
        streamgate_contract::config::ECHO_DELAY_MS.to_owned(),
        "60".to_owned(),
    )]
    .into();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = streamgate_tests::template_host::sign_in(&mut options, &listener, "page-user");
    let server = TemplateHost::start(options, &listener)
        .await
        .unwrap_or_else(|p| panic!("the generated template serves: {p:#?}"));
    let serving = tokio::spawn(server.gateway.clone().serve(listener));
    let output = page_test(addr, Some(&token)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(15), serving).await;
    assert!(
        output.status.success(),
        "the browser test failed against the template host:\n{stdout}\n{stderr}"
    );
}

/// The `streamgate-server` binary as `just local` runs it (logged in by default): the page is
/// refused without a token and works when opened as the banner's signed-in page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_signs_in_with_the_development_token_and_is_refused_without_it() {
    use tokio::io::AsyncBufReadExt;
    let chromium = browser_tools();
    let port = streamgate_tests::free_port();
    let mut server =
        tokio::process::Command::new(streamgate_tests::workspace_binary("streamgate-server"))
            .args(["--port", &port.to_string(), "--echo-delay-ms", "5"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let mut token = None;
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await
    {
        if let Some(t) = line.trim().strip_prefix("token:") {
            token = Some(t.trim().to_owned());
            break;
        }
    }
    let token = token.expect("the banner prints a token");
    let root = workspace_root();
    let output = tokio::process::Command::new("node")
        .arg(root.join("tests/node/signin-page.mjs"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg(&token)
        .arg(Route::Message.key())
        .arg(root.join("tests/artifacts"))
        .env("CHROMIUM", &chromium)
        .current_dir(root.join("tests/node"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs (install Node.js)");
    let _ = server.start_kill();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
}
