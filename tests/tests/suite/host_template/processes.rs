//! Lambda's process behaviours under the template host, over the parity function: warm
//! reuse, cold starts, idle stops, timeouts, init errors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use streamgate_contract::Route;
use streamgate_emulator::GatewayConfig;
use streamgate_emulator::api::{ApiRoute, reserved};
use streamgate_template_host::host::TemplateOptions;
use streamgate_tests::local::{Behaviour, Recorder, closed, connect, next_json, next_text, send};
use streamgate_tests::packaging::scratch_dir;
use streamgate_tests::template_host::template_for;

use super::Running;

/// A two-way `$default` route over the parity function, with `timeout_s` as the function's
/// timeout.
async fn scripted(
    recorder: &Arc<Recorder>,
    timeout_s: u64,
    tune: impl FnOnce(&mut TemplateOptions),
) -> (Running, tokio::task::JoinHandle<()>) {
    let mut default = ApiRoute::proxy(reserved::DEFAULT);
    default.two_way = true;
    default.function_timeout = Duration::from_secs(timeout_s);
    scripted_api(recorder, vec![default], tune).await
}

/// `routes` over the parity function.
async fn scripted_api(
    recorder: &Arc<Recorder>,
    routes: Vec<ApiRoute>,
    tune: impl FnOnce(&mut TemplateOptions),
) -> (Running, tokio::task::JoinHandle<()>) {
    let (url, task) = streamgate_tests::template_host::serve_recorder(recorder.clone(), None).await;
    let dir = scratch_dir(&format!(
        "scripted-{}",
        streamgate_emulator::ids::new_api_id()
    ));
    std::fs::create_dir_all(dir.join("function")).unwrap();
    std::os::unix::fs::symlink(
        streamgate_tests::template_host::parity_function(),
        dir.join("function/bootstrap"),
    )
    .unwrap();
    let config = GatewayConfig {
        routes,
        ..GatewayConfig::default()
    };
    std::fs::write(
        dir.join("template.json"),
        template_for(&config, &dir.join("function"), &url, false).to_string(),
    )
    .unwrap();
    let mut options = TemplateOptions::new(dir.join("template.json"));
    options.gateway = config;
    options.logs = Arc::new(|_: &str, _: &str| {});
    tune(&mut options);
    let running = Running::start(options).await;
    *recorder.registry_slot() = Some(running.server.gateway.registry().clone());
    (running, task)
}

fn processes(running: &Running) -> usize {
    running
        .server
        .host
        .pool_of(reserved::DEFAULT)
        .unwrap()
        .processes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_processes_are_reused_busy_ones_add_cold_starts_and_idle_ones_stop() {
    let recorder = Recorder::new(|_, event| match event.body.as_deref() {
        Some("slow") => Behaviour::SleepThenBody(Duration::from_millis(800), "ok".into()),
        _ => Behaviour::Body("ok".into()),
    });
    let (running, task) = scripted(&recorder, 30, |o| {
        o.idle_process_timeout = Duration::from_secs(2);
    })
    .await;
    let mut ws = connect(&running.url()).await;
    for _ in 0..3 {
        send(&mut ws, "quick").await;
        assert_eq!(next_text(&mut ws).await, "ok");
    }
    assert_eq!(
        processes(&running),
        1,
        "one warm process serves one after another"
    );
    let mut other = connect(&running.url()).await;
    send(&mut ws, "slow").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&mut other, "slow").await;
    recorder.wait_for(Route::Default, 5).await;
    assert_eq!(next_text(&mut ws).await, "ok");
    assert_eq!(next_text(&mut other).await, "ok");
    assert_eq!(
        processes(&running),
        2,
        "a busy process makes the next invocation cold"
    );
    let pool = running
        .server
        .host
        .pool_of(reserved::DEFAULT)
        .unwrap()
        .clone();
    assert_eq!(
        pool.timings().iter().filter(|t| t.init.is_some()).count(),
        2,
        "two cold starts"
    );
    assert_eq!(pool.cold_starts(), 2, "two processes started");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(processes(&running), 0, "idle processes are stopped");
    send(&mut ws, "quick").await;
    assert_eq!(next_text(&mut ws).await, "ok");
    assert_eq!(
        pool.cold_starts(),
        3,
        "after an idle stop, the next invocation is cold"
    );
    drop((ws, other));
    running.stop().await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_past_its_timeout_is_stopped_and_the_client_gets_the_error_frame() {
    let recorder = Recorder::new(|_, event| match event.body.as_deref() {
        Some("hang") => Behaviour::Sleep(Duration::from_secs(20)),
        _ => Behaviour::Ok,
    });
    let (running, task) = scripted(&recorder, 1, |_| {}).await;
    let mut ws = connect(&running.url()).await;
    let started = std::time::Instant::now();
    send(&mut ws, "hang").await;
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["message"], "Internal server error");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(processes(&running), 0, "the timed-out process is killed");
    send(&mut ws, "fine").await;
    recorder.wait_for(Route::Default, 2).await;
    ws.close(None).await.unwrap();
    let _ = closed(&mut ws).await;
    running.stop().await;
    task.abort();
}

#[tokio::test]
async fn an_init_error_refuses_the_handshake_with_502() {
    let recorder = Recorder::ok();
    let routes = vec![
        ApiRoute::proxy(reserved::CONNECT),
        ApiRoute::proxy(reserved::DEFAULT),
    ];
    let (running, task) = scripted_api(&recorder, routes, |o| {
        o.extra_environment =
            BTreeMap::from([("PARITY_INIT_ERROR".into(), "no configuration".into())]);
    })
    .await;
    match tokio_tungstenite::connect_async(running.url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 502),
        other => panic!("expected 502, got {other:?}"),
    }
    assert!(recorder.events().is_empty(), "the handler never ran");
    running.stop().await;
    task.abort();
}
