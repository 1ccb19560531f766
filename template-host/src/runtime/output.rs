//! A function's output, read as Lambda reads it: bytes, not text (invalid UTF-8 is shown with
//! replacement characters instead of stopping the reader), cut into lines of at most
//! [`MAX_LINE_BYTES`] (a longer line, or one that never ends, is split, as CloudWatch splits
//! events over 256 KB), and handed to a sink that never blocks the server. Lines are read
//! only as fast as the server's standard output takes them ([`streamgate_emulator::stdout`]):
//! a function printing faster waits on its pipe, as Lambda loses nothing a function prints;
//! only a standard output that takes nothing for seconds has the lines dropped, and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Notify;

/// The longest line kept whole (CloudWatch Logs' event size).
pub const MAX_LINE_BYTES: usize = 256 * 1024;

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

/// Readers of functions' output still reading, told when one ends.
static READING: AtomicUsize = AtomicUsize::new(0);
static READ: Notify = Notify::const_new();

/// Counts one reader in while it lives.
struct Reading;

impl Reading {
    fn start() -> Reading {
        READING.fetch_add(1, Ordering::AcqRel);
        Reading
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        READING.fetch_sub(1, Ordering::AcqRel);
        READ.notify_waiters();
    }
}

/// Waits at most `within` for every function's output to be read to its end (once their
/// processes are stopped, before the server exits): `false` if some was not.
pub async fn all_read(within: Duration) -> bool {
    let until = tokio::time::Instant::now() + within;
    loop {
        let ended = READ.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        if READING.load(Ordering::Acquire) == 0 {
            return true;
        }
        if tokio::time::timeout_at(until, ended).await.is_err() {
            return READING.load(Ordering::Acquire) == 0;
        }
    }
}

/// Reads `stream` to its end, calling `line` for each line once standard output has room
/// (each line the server's standard output drops is counted there instead).
pub async fn read_lines(mut stream: impl AsyncRead + Unpin, mut line: impl FnMut(&str)) {
    let _reading = Reading::start();
    let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
    let mut buf = vec![0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                for l in splitter.push(&buf[..n]) {
                    if streamgate_emulator::stdout::room().await {
                        line(&l);
                    }
                }
            }
        }
    }
    if let Some(l) = splitter.finish()
        && streamgate_emulator::stdout::room().await
    {
        line(&l);
    }
}

/// A sink printing `function | line` on standard output without ever blocking its caller
/// ([`streamgate_emulator::stdout`]).
pub fn stdout_sink() -> super::config::LogSink {
    Arc::new(|function: &str, line: &str| {
        streamgate_emulator::stdout::line(format!("{function} | {line}\n"))
    })
}

/// `sink`, except that EMF lines go into `registry` instead.
pub fn taking_metrics(
    sink: super::config::LogSink,
    registry: &'static streamgate_telemetry::Registry,
) -> super::config::LogSink {
    Arc::new(move |function: &str, line: &str| {
        if !registry.ingest_emf(line) {
            sink(function, line);
        }
    })
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
}
