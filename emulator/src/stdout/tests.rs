use super::*;
use streamgate_sync::Locked;

/// A writer blocked until the returned sender is dropped, then keeping what it is given.
fn blocked_writer() -> (
    QueuedWriter,
    std::sync::mpsc::Sender<()>,
    Arc<std::sync::Mutex<String>>,
) {
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let written = Arc::new(std::sync::Mutex::new(String::new()));
    let kept = written.clone();
    let writer = QueuedWriter::start(move |text| {
        let _ = blocked.recv();
        kept.locked().push_str(text);
    });
    (writer, release, written)
}

#[test]
fn a_writer_that_cannot_keep_up_drops_lines_without_blocking() {
    let (writer, release, _) = blocked_writer();
    let writer = Arc::new(writer);
    let (done, finished) = std::sync::mpsc::channel();
    let sending = writer.clone();
    std::thread::spawn(move || {
        for i in 0..(QUEUED + 100) {
            sending.send(format!("{i}\n"));
        }
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .expect("sending never waits on a writer that is stuck");
    assert!(writer.dropped() >= 99, "dropped {}", writer.dropped());
    drop(release);
}

#[test]
fn what_waits_for_the_terminal_is_bounded_in_bytes_too() {
    let (writer, release, _) = blocked_writer();
    let line = "x".repeat(256 * 1024);
    for _ in 0..100 {
        writer.send(line.clone());
    }
    let queued = writer.counters.bytes.load(Ordering::Acquire);
    assert!(queued <= QUEUED_BYTES, "{queued} bytes wait");
    assert!(
        writer.dropped() >= 100 - (QUEUED_BYTES / line.len()) as u64,
        "dropped {}",
        writer.dropped()
    );
    drop(release);
}

#[test]
fn what_was_dropped_is_told_in_one_notice_once_there_is_room() {
    let (writer, release, written) = blocked_writer();
    const SENT: usize = QUEUED + 900;
    for i in 0..SENT {
        writer.send(format!("line {i}\n"));
    }
    drop(release);
    writer.flush(Duration::from_secs(30));
    let text = written.locked().clone();
    let lines = text.lines().filter(|l| l.starts_with("line ")).count();
    let notices: Vec<&str> = text.lines().filter(|l| l.contains("dropped")).collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let told: usize = notices[0]
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in {:?}", notices[0]));
    assert_eq!(lines + told, SENT, "every line is written or counted");
    assert!(told >= 900 - 1, "{told}");
}

#[tokio::test]
async fn a_slow_writer_holds_functions_back_instead_of_losing_their_lines() {
    let written = Arc::new(std::sync::Mutex::new(String::new()));
    let kept = written.clone();
    let writer = QueuedWriter::start(move |text| {
        std::thread::sleep(Duration::from_millis(5));
        kept.locked().push_str(text);
    });
    const LINES: usize = 20_000;
    for i in 0..LINES {
        assert!(writer.room().await, "room while the writer moves");
        writer.send(format!("{i}\n"));
    }
    writer.send("REPORT\n".into());
    writer.flush(Duration::from_secs(30));
    let text = written.locked().clone();
    let numbers: Vec<usize> = text
        .lines()
        .take(LINES)
        .map(|l| l.parse().expect("only the function's lines, in order"))
        .collect();
    assert_eq!(numbers, (0..LINES).collect::<Vec<_>>());
    assert_eq!(text.lines().nth(LINES), Some("REPORT"));
    assert_eq!(writer.dropped(), 0);
    assert!(!text.contains("dropped"), "no notice");
}

#[tokio::test]
async fn a_stuck_writer_stops_holding_functions_back_and_keeps_the_servers_quarter() {
    let (writer, release, _) = blocked_writer();
    let started = Instant::now();
    for i in 0..QUEUED {
        if writer.room().await {
            writer.send(format!("{i}\n"));
        }
    }
    let waited = started.elapsed();
    assert!(
        waited >= STALL && waited < STALL * 10,
        "functions wait for a stalled writer once, about {STALL:?}: {waited:?}"
    );
    let dropped = writer.dropped();
    assert!(
        dropped as usize >= QUEUED - FUNCTION_PIECES - 1,
        "functions' lines beyond their share are dropped: {dropped}"
    );
    // The server's own lines (an invocation's END and REPORT) still fit.
    writer.send("END\n".into());
    writer.send("REPORT\n".into());
    assert_eq!(writer.dropped(), dropped);
    drop(release);
}
