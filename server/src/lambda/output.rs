//! A function's output, read as Lambda reads it: bytes, not text (invalid UTF-8 is shown with
//! replacement characters instead of stopping the reader), cut into lines of at most
//! [`MAX_LINE_BYTES`] (a longer line, or one that never ends, is split, as CloudWatch splits
//! events over 256 KB), and handed to a sink that never blocks the server: the default one
//! writes from its own thread through a bounded queue, drops lines when the terminal cannot
//! keep up (counting them), and ignores a closed standard output.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

use tokio::io::{AsyncRead, AsyncReadExt};

/// The longest line kept whole (CloudWatch Logs' event size).
pub const MAX_LINE_BYTES: usize = 256 * 1024;

/// Lines waiting for the terminal at most, before new ones are dropped.
const QUEUED_LINES: usize = 4096;

/// Cuts a byte stream into lines of at most `max` bytes (without their `\n` or `\r\n`).
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max: usize,
}

impl LineSplitter {
    /// A splitter that cuts lines longer than `max` bytes.
    pub fn new(max: usize) -> LineSplitter {
        LineSplitter {
            partial: Vec::new(),
            max: max.max(1),
        }
    }

    /// Takes `bytes` and returns the lines they complete (or that reached the cap).
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        while !bytes.is_empty() {
            let room = self.max - self.partial.len();
            let window = &bytes[..bytes.len().min(room)];
            match window.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.partial.extend_from_slice(&window[..i]);
                    lines.push(self.take());
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.partial.extend_from_slice(window);
                    bytes = &bytes[window.len()..];
                    if self.partial.len() == self.max {
                        lines.push(self.take());
                    }
                }
            }
        }
        lines
    }

    /// What is left when the stream ends.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        if self.partial.last() == Some(&b'\r') {
            self.partial.pop();
        }
        let line = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial.clear();
        line
    }
}

/// Reads `stream` to its end, calling `line` for each line.
pub async fn read_lines(mut stream: impl AsyncRead + Unpin, mut line: impl FnMut(&str)) {
    let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
    let mut buf = vec![0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                for l in splitter.push(&buf[..n]) {
                    line(&l);
                }
            }
        }
    }
    if let Some(l) = splitter.finish() {
        line(&l);
    }
}

/// A sink printing `function | line` on standard output without ever blocking its caller.
pub fn stdout_sink() -> super::pool::LogSink {
    let writer = Arc::new(QueuedWriter::start(|text: &str| {
        let mut out = std::io::stdout().lock();
        // A closed or broken standard output loses the line, nothing else.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }));
    Arc::new(move |function: &str, line: &str| writer.send(format!("{function} | {line}\n")))
}

/// Text handed to a writer thread through a bounded queue; what does not fit is dropped and
/// counted, and the count is written once there is room again.
pub struct QueuedWriter {
    queue: SyncSender<String>,
    dropped: Arc<AtomicU64>,
}

impl QueuedWriter {
    /// Starts the thread that calls `write` for each queued text.
    pub fn start(write: impl Fn(&str) + Send + 'static) -> QueuedWriter {
        let (queue, texts) = std::sync::mpsc::sync_channel::<String>(QUEUED_LINES);
        std::thread::Builder::new()
            .name("function-output".into())
            .spawn(move || {
                for text in texts {
                    write(&text);
                }
            })
            .expect("a thread for function output");
        QueuedWriter {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Queues `text`, or drops it when the queue is full.
    pub fn send(&self, text: String) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = format!(
                "streamgate | {dropped} lines of function output dropped: the output was not read fast enough\n"
            );
            if self.queue.try_send(note).is_err() {
                self.dropped.fetch_add(dropped, Ordering::Relaxed);
            }
        }
        match self.queue.try_send(text) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped and not yet reported.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bytes_cut_at_the_cap() {
        let mut s = LineSplitter::new(8);
        assert_eq!(s.push(b"one\r\ntw"), vec!["one"]);
        assert_eq!(s.push(b"o\n"), vec!["two"]);
        // Invalid UTF-8 is replaced, not a reason to stop.
        assert_eq!(s.push(b"\xff\xfeok\n"), vec!["\u{fffd}\u{fffd}ok"]);
        // A line longer than the cap comes out in pieces, and nothing grows past it.
        assert_eq!(s.push(b"0123456789abcdefXY"), vec!["01234567", "89abcdef"]);
        assert_eq!(s.partial.len(), 2);
        assert_eq!(s.finish().as_deref(), Some("XY"));
        assert_eq!(s.finish(), None);
    }

    #[test]
    fn a_line_that_never_ends_is_held_to_the_cap() {
        let mut s = LineSplitter::new(1024);
        let mut out = 0;
        for _ in 0..1000 {
            out += s.push(&[b'x'; 1000]).len();
            assert!(s.partial.len() <= 1024);
        }
        assert_eq!(out, 1000 * 1000 / 1024);
    }

    #[test]
    fn a_writer_that_cannot_keep_up_drops_lines_without_blocking() {
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = std::sync::Mutex::new(blocked);
        let writer = QueuedWriter::start(move |_| {
            let _ = blocked.lock().unwrap().recv();
        });
        let writer = Arc::new(writer);
        let (done, finished) = std::sync::mpsc::channel();
        let sending = writer.clone();
        std::thread::spawn(move || {
            for i in 0..(QUEUED_LINES + 100) {
                sending.send(format!("{i}\n"));
            }
            let _ = done.send(());
        });
        finished
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("sending never waits on a writer that is stuck");
        assert!(writer.dropped() >= 99, "dropped {}", writer.dropped());
        drop(release);
    }
}
