//! Processes that leave their function's process group (`setsid`, a daemon's double fork)
//! die with the function all the same, as everything in a Lambda sandbox goes with it: after
//! the function exits, after an idle stop, and after SIGTERM or SIGKILL of the server. Each
//! is looked for in `/proc` by the pid it wrote, never by name; a plain background child is
//! checked beside them.

use super::*;

/// Init code that starts a plain background child, a `setsid` child and a double-forked
/// daemon (its middle process exits at once, so the daemon is an orphan from the start),
/// each writing its pid into `DIR`.
const LEAVES_THE_GROUP: &str = r#"sleep 1000 & echo $! > "$DIR/plain"
setsid sh -c 'echo $$ > "$PARITY_RECORDER_URL/session"; exec sleep 1000' &
( setsid sh -c 'echo $$ > "$PARITY_RECORDER_URL/daemon"; exec sleep 1000' & )"#;

/// The pids the function's init wrote.
async fn started(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for name in ["plain", "session", "daemon"] {
        let pid: u32 = written(&dir.join(name)).await.parse().unwrap();
        assert!(alive(pid), "{name} ({pid}) runs");
        pids.push(pid);
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_that_leave_the_group_go_with_an_idle_stop() {
    let dir = scratch_dir("hostile-sessions-idle");
    let function = bootstrap(&dir, LEAVES_THE_GROUP, "", r#"{"statusCode": 200}"#);
    let (template, config) = write_template(&dir, &function, connect_only());
    let served = serve(&template, config, |_| {}).await;
    assert_eq!(upgrade_status(served.addr).await, 101);
    let pids = started(&dir).await;
    // They outlive nothing while the function runs: a second call finds them still there.
    assert_eq!(upgrade_status(served.addr).await, 101);
    assert!(pids.iter().all(|p| alive(*p)));
    served.server.host.stop_all_idle();
    gone_within(&pids, Duration::from_secs(5)).await;
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_that_leave_the_group_go_when_the_function_exits() {
    let dir = scratch_dir("hostile-sessions-exit");
    // The process ends after its second invocation (as a crash would end it).
    let function = bootstrap(
        &dir,
        LEAVES_THE_GROUP,
        r#"if [ -f "$DIR/once" ]; then curl -sS -X POST -d '{"statusCode": 200}' "$API/invocation/$id/response" > /dev/null; exit 3; fi; touch "$DIR/once""#,
        r#"{"statusCode": 200}"#,
    );
    let (template, config) = write_template(&dir, &function, connect_only());
    let served = serve(&template, config, |_| {}).await;
    assert_eq!(upgrade_status(served.addr).await, 101);
    let pids = started(&dir).await;
    assert_eq!(upgrade_status(served.addr).await, 101);
    gone_within(&pids, Duration::from_secs(5)).await;
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_that_leave_the_group_go_with_the_server_on_sigterm_and_sigkill() {
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        let dir = scratch_dir(&format!("hostile-sessions-signal-{signal}"));
        let function = bootstrap(&dir, LEAVES_THE_GROUP, "", r#"{"statusCode": 200}"#);
        let (template, _) = write_template(&dir, &function, connect_only());
        let (mut server, addr) = server_process(&template, &[], &[]).await;
        assert_eq!(upgrade_status(addr).await, 101);
        let pids = started(&dir).await;
        // Counted in the function's sandbox and told to the watcher within a scan (50 ms);
        // a busy machine may run the scan thread late, and a process younger than one scan
        // is the documented gap, so the signal comes well after.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let pid = i32::try_from(server.id().unwrap()).unwrap();
        // SAFETY: kill(2) signals the server process this test started.
        unsafe {
            libc::kill(pid, signal);
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), server.wait()).await;
        gone_within(&pids, Duration::from_secs(10)).await;
    }
}
