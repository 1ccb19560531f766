//! The README's run commands, exactly as it spells them (read from the README, with only a
//! `--port` added): `just local` and `just local-lambda` serve the test page and answer a
//! chat message over the WebSocket their banner prints, signed in with the token it prints
//! (and refuse the socket without it), and SIGTERM leaves no process of theirs behind.

use std::time::Duration;

use serde_json::json;
use streamgate_contract::Route;
use streamgate_tests::free_port;
use streamgate_tests::local::{answer, connect, send};
use streamgate_tests::readme::{ShellCommand, banner_url, command_after, readme};

/// Long enough for `cargo run` to build the server when `just test` has not built it in this
/// feature set (it has, so the banner usually comes in seconds).
const BANNER_WITHIN: Duration = Duration::from_secs(900);

/// The banner line the wait ends at: the last one about signing in.
const SIGNED_IN: &str = "signed-in page:";

/// What a user does after the banner: the test page loads, a socket without the token is
/// refused, and a message sent over the WebSocket it printed, with the token it printed,
/// comes back as an answer.
async fn page_and_round_trip(banner: &[String], port: u16) {
    let ws_url = banner_url(banner, "WebSocket:");
    let page_url = banner_url(banner, "test page:");
    let token = banner_url(banner, "token:");
    assert_eq!(ws_url, format!("ws://localhost:{port}/dev"));
    assert_eq!(page_url, format!("http://localhost:{port}/"));
    assert_eq!(
        banner_url(banner, SIGNED_IN),
        format!("{page_url}#token={token}")
    );
    match tokio_tungstenite::connect_async(&ws_url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("a socket without the token: {other:?}"),
    }

    let page = reqwest::get(&page_url).await.expect("the test page loads");
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<title>streamgate test page</title>"),
        "the test page: {}",
        &html[..html.len().min(300)]
    );

    let mut ws = connect(&format!("{ws_url}?token={token}")).await;
    send(
        &mut ws,
        &json!({"action": Route::Message.key(), "data": "hello from the README", "requestId": "readme-1"})
            .to_string(),
    )
    .await;
    assert_eq!(answer(&mut ws).await, "hello from the README");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_run_command_serves_the_page_and_answers() {
    let command = command_after(&readme(), "**Run it**", "cargo install");
    let port = free_port();
    let mut run = ShellCommand::start(&format!("{command} --port {port}"), &[]);
    let banner = run.wait_for_line(SIGNED_IN, BANNER_WITHIN).await;
    page_and_round_trip(&banner, port).await;
    run.stop(Duration::from_secs(40)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_local_lambda_command_serves_the_packaged_functions() {
    let command = command_after(&readme(), "## Any WebSocket template", "just local-lambda");
    let port = free_port();
    // The arm64 artifacts `just test` packaged (under qemu-aarch64 on an x86_64 machine):
    // the recipe finds them current and builds nothing.
    let mut run = ShellCommand::start(
        &format!("{command} --port {port}"),
        &[("STREAMGATE_LAMBDA_ARCH", "arm64")],
    );
    let banner = run.wait_for_line(SIGNED_IN, BANNER_WITHIN).await;
    let output = run.output();
    assert!(
        output.contains("packaged for arm64 and newer than their sources"),
        "the recipe did not find the arm64 artifacts current (run `just package arm64` first; `just test` does):\n{output}"
    );
    page_and_round_trip(&banner, port).await;
    run.stop(Duration::from_secs(40)).await;
}
