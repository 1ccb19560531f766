//! What functions start, write and hold, and what the server does about it.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_function_starts_dies_with_its_process() {
    let dir = scratch_dir("hostile-orphans-idle");
    let function = leaves_a_background_child(&dir);
    let (template, config) = write_template(&dir, &function, connect_only());
    let served = serve(&template, config, |_| {}).await;
    assert_eq!(upgrade_status(served.addr).await, 101);
    let background: u32 = written(&dir.join("background")).await.parse().unwrap();
    assert!(alive(background));
    // An idle stop (as after --idle-process-timeout-s) takes the background child too.
    served.server.host.stop_all_idle();
    gone_within(&[background], Duration::from_secs(5)).await;
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_of_the_server_nothing_it_started_is_left() {
    let dir = scratch_dir("hostile-orphans-kill");
    let function = leaves_a_background_child(&dir);
    let (template, _) = write_template(&dir, &function, connect_only());
    // A table, so DynamoDB Local (a JVM) runs too.
    let mut t: Value = serde_json::from_str(&std::fs::read_to_string(&template).unwrap()).unwrap();
    with_table(&mut t);
    std::fs::write(&template, t.to_string()).unwrap();
    let jar_dir = streamgate_tests::dynamodb_local::jar_dir();
    let (mut server, addr) = server_process(
        &template,
        &["--dynamodb-local-dir", &jar_dir.display().to_string()],
        &[],
    )
    .await;
    assert_eq!(upgrade_status(addr).await, 101);
    let background: u32 = written(&dir.join("background")).await.parse().unwrap();
    let pid = server.id().unwrap();
    let started = descendants(pid);
    assert!(started.contains(&background), "{started:?}");
    assert!(
        started
            .iter()
            .any(|p| std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.contains("DynamoDBLocal"))),
        "DynamoDB Local runs under the server"
    );
    // SIGKILL: the server gets no chance to clean up.
    server.start_kill().unwrap();
    server.wait().await.unwrap();
    gone_within(&started, Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_output_and_a_closed_stdout_do_not_stop_the_functions() {
    let dir = scratch_dir("hostile-output");
    // Each invocation prints bytes that are not UTF-8, then answers.
    let function = bootstrap(
        &dir,
        "",
        r#"printf 'bad \xff\xfe bytes\n'"#,
        r#"{"statusCode": 200}"#,
    );
    let (template, _) = write_template(&dir, &function, connect_only());
    let (mut server, addr) = server_process(&template, &["--max-concurrency", "2"], &[]).await;
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    // Read while standard output is open: the bad bytes arrive as replacement characters.
    assert_eq!(upgrade_status(addr).await, 101);
    let mut seen = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await
    {
        let done = line.contains("REPORT RequestId");
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains("bad \u{fffd}\u{fffd} bytes")),
        "{seen:?}"
    );
    // Then standard output closes (`... | head`): every later call still gets its answer,
    // well past the two process slots.
    drop(lines);
    for _ in 0..6 {
        assert_eq!(upgrade_status(addr).await, 101);
    }
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server is still running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_waiting_for_a_busy_function_end_at_the_integration_timeout() {
    let dir = scratch_dir("hostile-queue");
    // One process at most, each invocation 3 s.
    let function = bootstrap(&dir, "", "sleep 3", r#"{"statusCode": 200}"#);
    let mut route = ApiRoute::proxy(reserved::CONNECT);
    route.integration_timeout = Some(Duration::from_millis(500));
    let (template, config) = write_template(&dir, &function, vec![route]);
    let served = serve(&template, config, |o| o.max_concurrency = 1).await;
    let addr = served.addr;
    let calls: Vec<_> = (0..4)
        .map(|_| tokio::spawn(async move { upgrade_status(addr).await }))
        .collect();
    for c in calls {
        // API Gateway's answer to an integration that did not answer in time.
        assert_eq!(c.await.unwrap(), 504);
    }
    // The three that waited gave up at the deadline instead of running later.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let ran = std::fs::read_to_string(dir.join("invocations")).unwrap_or_default();
    assert_eq!(ran.lines().count(), 1, "invocations that ran: {ran}");
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_output_nobody_reads_does_not_stop_the_server() {
    let dir = scratch_dir("hostile-full-stdout");
    // Each invocation prints 1 MB (10,000 lines), far past what a pipe holds.
    let function = bootstrap(
        &dir,
        "",
        r#"head -c 1000000 /dev/zero | tr '\0' x | fold -w 100"#,
        r#"{"statusCode": 200}"#,
    );
    let (template, _) = write_template(&dir, &function, connect_only());
    // Standard output is a pipe this test never reads: the server's logs and the functions'
    // output fill it within the first call.
    let (mut server, addr) = server_process(
        &template,
        &["--max-concurrency", "2"],
        &[("RUST_LOG", "debug")],
    )
    .await;
    for i in 0..6 {
        let status = tokio::time::timeout(Duration::from_secs(20), upgrade_status(addr))
            .await
            .unwrap_or_else(|_| {
                panic!("connection {i} got no answer: the server waits on its standard output")
            });
        assert_eq!(status, 101);
    }
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server is still running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_output_reaches_a_file_whole() {
    let dir = scratch_dir("hostile-output-burst");
    // One invocation prints 200,000 numbered lines (about 30 MB) as fast as it can, then its
    // last line, then answers.
    const LINES: usize = 200_000;
    let pad = "x".repeat(120);
    let function = bootstrap(
        &dir,
        "",
        &format!(r#"seq -f "burst %.0f {pad}" 1 {LINES}; echo "burst-end $id""#),
        r#"{"statusCode": 200}"#,
    );
    let (template, _) = write_template(&dir, &function, connect_only());
    let out_path = dir.join("server-output");
    let out = std::fs::File::create(&out_path).unwrap();
    let (mut server, addr) = server_writing_to(&template, &[], &[], Stdio::from(out)).await;
    assert_eq!(upgrade_status(addr).await, 101);
    // The server stops right after the answer: what the function printed before it still
    // reaches the file.
    let pid = i32::try_from(server.id().unwrap()).unwrap();
    // SAFETY: kill(2) signals the server process this test started.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = tokio::time::timeout(Duration::from_secs(60), server.wait())
        .await
        .expect("the server stops within 60 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(&out_path).unwrap();
    let mut seen = vec![false; LINES + 1];
    let mut count = 0;
    for line in text.lines() {
        if let Some(rest) = line.split(" | burst ").nth(1) {
            let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
            assert!(!seen[n], "line {n} twice");
            seen[n] = true;
            count += 1;
        }
    }
    let notices: Vec<&str> = text.lines().filter(|l| l.contains("dropped")).collect();
    let first = &notices[..notices.len().min(3)];
    assert_eq!(
        count,
        LINES,
        "lines that reached the file; {} drop notices, the first {first:?}",
        notices.len()
    );
    assert!(notices.is_empty(), "no drop notice: {first:?}");
    assert!(
        text.lines().any(|l| l.contains("| burst-end ")),
        "the function's last line reached the file"
    );
}
