//! `streamgate-relay`, the voice waiter as it runs on ECS: the drain on SIGTERM, the health
//! endpoint, keepalive pings, the relay-only surface, and the catalog from a file or an S3
//! object (moto's server on loopback) with its refresh.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use streamgate_tests::mock_realtime::MockRealtime;
use streamgate_tests::packaging::{MotoServer, scratch_dir};
use streamgate_tests::relay_process::{RelayProcess, drain_scenario, http_get};
use streamgate_tests::workspace_binary;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "sk-relay-test";

fn relay_binary() -> Vec<OsString> {
    vec![workspace_binary("streamgate-relay").into()]
}

fn catalog(restaurant: &str, dish: &str) -> String {
    json!({"restaurants": [{"id": restaurant, "name": format!("{restaurant} diner"),
        "menu": [{"name": dish, "price": 4.5, "description": "house special"}]}]})
    .to_string()
}

async fn restaurants(relay: &RelayProcess) -> Vec<Value> {
    let (status, body) = http_get(&relay.url("/restaurants.json")).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn eventually(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sigterm_drains_three_live_sessions_and_exits_0() {
    let mock = MockRealtime::start(KEY).await;
    let url = mock.url();
    let mut relay = RelayProcess::start(
        &relay_binary(),
        &["--realtime-url", &url, "--drain-timeout-s", "10"],
        &[("OPENAI_API_KEY", KEY)],
    )
    .await
    .unwrap();
    drain_scenario(&mut relay, &mock, Duration::from_secs(10)).await;
    assert!(
        !relay.output().contains(KEY),
        "the key never reaches the logs"
    );
    // Its metrics leave at exit as EMF lines (as on ECS), each valid, with the three
    // sessions counted and timed.
    let emf: Vec<Value> = relay
        .output()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(streamgate_tests::emf::is_emf)
        .collect();
    for line in &emf {
        let problems = streamgate_tests::emf::problems(line, &[]);
        assert!(problems.is_empty(), "{problems:?} in {line}");
        assert_eq!(line["Service"], "streamgate-relay");
    }
    let value = |name: &str| emf.iter().find_map(|l| l.get(name).cloned());
    assert_eq!(value("voice_sessions"), Some(json!(3)), "{emf:?}");
    assert_eq!(
        value("voice_session_seconds").and_then(|v| v.as_array().map(Vec::len)),
        Some(3)
    );
}

#[tokio::test]
async fn the_relay_alone_serves_the_voice_page_health_and_pings_and_no_chat_api() {
    let mock = MockRealtime::start(KEY).await;
    let url = mock.url();
    let relay = RelayProcess::start(
        &relay_binary(),
        &["--realtime-url", &url, "--ping-interval-s", "1"],
        &[("OPENAI_API_KEY", KEY)],
    )
    .await
    .unwrap();
    let (status, page) = http_get(&relay.url("/")).await;
    assert_eq!(status, 200);
    assert!(page.contains("voice waiter"), "the voice page at /");
    let (status, health) = http_get(&relay.url("/healthz")).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&health).unwrap()["status"],
        "ok"
    );
    let menus = restaurants(&relay).await;
    assert!(
        menus[0]["menu"].as_array().is_some_and(|m| !m.is_empty()),
        "restaurants come with their menus: {menus:?}"
    );
    // No chat API here.
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{}/", relay.addr))
            .await
            .is_err()
    );
    assert_eq!(http_get(&relay.url("/dev/@connections/x")).await.0, 404);
    // A quiet session still sees traffic: pings, under the load balancer's idle timeout.
    let mut ws = relay.voice("r-123").await;
    let started = Instant::now();
    let ping = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Ping(_))) => return started.elapsed(),
                Some(Ok(_)) => continue,
                other => panic!("no ping: {other:?}"),
            }
        }
    })
    .await
    .expect("a ping within 5 s");
    assert!(
        ping >= Duration::from_millis(500),
        "pinged after {ping:?}, not at once"
    );
    // A client's clean close is answered with a close frame (not a dropped connection).
    use futures::SinkExt;
    ws.send(Message::Close(Some(
        tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: 1000.into(),
            reason: "bye".into(),
        },
    )))
    .await
    .unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(c))) => return c.map(|c| u16::from(c.code)),
                Some(Ok(_)) => continue,
                other => panic!("no close echoed: {other:?}"),
            }
        }
    })
    .await
    .expect("the close is echoed within 5 s");
    assert_eq!(echoed, Some(1000));
}

#[tokio::test]
async fn the_catalog_comes_from_s3_is_refreshed_and_a_bad_one_is_refused() {
    let moto = MotoServer::start();
    let home = scratch_dir("relay-s3");
    let put = |text: &str| {
        let file = home.join("catalog.json");
        std::fs::write(&file, text).unwrap();
        let out = moto
            .aws(&home)
            .args([
                "s3",
                "cp",
                file.to_str().unwrap(),
                "s3://menus/prod/catalog.json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mb = moto
        .aws(&home)
        .args(["s3", "mb", "s3://menus"])
        .output()
        .unwrap();
    assert!(
        mb.status.success(),
        "{}",
        String::from_utf8_lossy(&mb.stderr)
    );
    let endpoint = moto.endpoint();
    let env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDLOCAL"),
        ("AWS_SECRET_ACCESS_KEY", "local-secret"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL_S3", endpoint.as_str()),
    ];

    // A missing object stops the relay at start with the reason.
    let missing = RelayProcess::start(
        &relay_binary(),
        &["--catalog", "s3://menus/prod/catalog.json"],
        &env,
    )
    .await
    .err()
    .expect("no catalog, no relay");
    assert!(
        missing.contains("s3://menus/prod/catalog.json")
            && missing.contains("no such bucket or object"),
        "{missing}"
    );
    // So does an invalid one.
    put(r#"{"restaurants":[]}"#);
    let invalid = RelayProcess::start(
        &relay_binary(),
        &["--catalog", "s3://menus/prod/catalog.json"],
        &env,
    )
    .await
    .err()
    .expect("an invalid catalog, no relay");
    assert!(invalid.contains("has no restaurants"), "{invalid}");

    put(&catalog("r-1", "Soup"));
    let relay = RelayProcess::start(
        &relay_binary(),
        &[
            "--catalog",
            "s3://menus/prod/catalog.json",
            "--catalog-refresh-s",
            "1",
        ],
        &env,
    )
    .await
    .unwrap();
    assert_eq!(restaurants(&relay).await[0]["menu"][0]["name"], "Soup");
    // A changed object is picked up.
    put(&catalog("r-2", "Noodles"));
    eventually(
        "the new catalog served",
        Duration::from_secs(10),
        async || restaurants(&relay).await[0]["id"] == "r-2",
    )
    .await;
    // A broken one is logged and the last good one stays.
    put("{ not json");
    eventually("the refusal logged", Duration::from_secs(10), async || {
        relay.output().contains("catalog not refreshed")
    })
    .await;
    assert_eq!(restaurants(&relay).await[0]["id"], "r-2");
    let handshake =
        tokio_tungstenite::connect_async(format!("ws://{}/realtime?restaurantId=r-1", relay.addr))
            .await;
    match handshake {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!(
            "a restaurant gone from the catalog: {:?}",
            other.map(|_| ())
        ),
    }
}

#[tokio::test]
async fn a_catalog_file_is_refreshed_when_it_changes() {
    let dir = scratch_dir("relay-file");
    let file = dir.join("catalog.json");
    std::fs::write(&file, catalog("r-a", "Bread")).unwrap();
    let path = file.to_str().unwrap().to_owned();
    let relay = RelayProcess::start(
        &relay_binary(),
        &["--catalog", &path, "--catalog-refresh-s", "1"],
        &[],
    )
    .await
    .unwrap();
    assert_eq!(restaurants(&relay).await[0]["id"], "r-a");
    std::fs::write(&file, catalog("r-b", "Butter, salted")).unwrap();
    eventually(
        "the edited file served",
        Duration::from_secs(10),
        async || restaurants(&relay).await[0]["id"] == "r-b",
    )
    .await;
    let gone = RelayProcess::start(
        &relay_binary(),
        &["--catalog", "/nonexistent/catalog.json"],
        &[],
    )
    .await
    .err()
    .expect("a missing file, no relay");
    assert!(
        gone.contains("cannot read the catalog /nonexistent/catalog.json"),
        "{gone}"
    );
}

#[tokio::test]
async fn at_rust_log_trace_the_upstream_key_never_reaches_the_logs() {
    // A canary key: were any library to log the upstream handshake's headers (tungstenite
    // does at trace), it would show up in the output.
    const CANARY: &str = "sk-canary-7f3a9c1e5b";
    let mock = MockRealtime::start(CANARY).await;
    let url = mock.url();
    // JSON, as on ECS (the text format goes through the same filter).
    {
        let format = "json";
        let relay = RelayProcess::start(
            &relay_binary(),
            &["--realtime-url", &url, "--log-format", format],
            &[("OPENAI_API_KEY", CANARY), ("RUST_LOG", "trace")],
        )
        .await
        .unwrap();
        let mut ws = relay.voice("r-123").await;
        streamgate_tests::local::send(&mut ws, r#"{"type":"start_session"}"#).await;
        streamgate_tests::relay_process::until_frame(&mut ws, "session_started").await;
        let output = relay.output();
        assert!(
            output.contains("opening the upstream Realtime socket"),
            "trace logging is on ({format}):\n{output}"
        );
        assert!(
            !output.contains(CANARY) && !output.contains("canary-7f3a"),
            "the key is in the {format} logs:\n{output}"
        );
        assert!(
            !output.to_ascii_lowercase().contains("bearer"),
            "no authorization header is logged ({format})"
        );
    }
}
