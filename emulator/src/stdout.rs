//! Standard output that never blocks the server: text goes to one writer thread through a
//! queue bounded in pieces (4,096) and bytes (4 MB). When the reader does not keep up (a terminal scrolled back, a pipe nobody
//! reads) new text is dropped and counted, and the count is written once there is room; a
//! closed standard output (`... | head`) loses the text and nothing else. The server's logs,
//! its banner and its functions' output all go through it, in order.

use std::io::Write;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

/// Pieces of text waiting for the terminal at most, before new ones are dropped.
const QUEUED: usize = 4096;

/// Bytes waiting for the terminal at most (a function's lines may each be 256 KB, so the
/// count alone would allow a gigabyte).
const QUEUED_BYTES: usize = 4 * 1024 * 1024;

enum Item {
    Text(String),
    /// Answered once everything queued before it is written.
    Barrier(SyncSender<()>),
}

/// Text handed to a writer thread through a bounded queue; what does not fit is dropped and
/// counted, and the count is written once there is room again.
pub struct QueuedWriter {
    queue: SyncSender<Item>,
    dropped: AtomicU64,
    /// Bytes queued and not yet written.
    queued_bytes: Arc<AtomicUsize>,
}

impl QueuedWriter {
    /// Starts the thread that calls `write` for each queued text.
    pub fn start(write: impl Fn(&str) + Send + 'static) -> QueuedWriter {
        let (queue, items) = std::sync::mpsc::sync_channel::<Item>(QUEUED);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let written = queued_bytes.clone();
        std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || {
                drain(&items, |text| {
                    write(text);
                    written.fetch_sub(text.len(), Ordering::AcqRel);
                })
            })
            .expect("a thread for standard output");
        QueuedWriter {
            queue,
            dropped: AtomicU64::new(0),
            queued_bytes,
        }
    }

    /// Queues `text`, or drops it when the queue is full.
    pub fn send(&self, text: String) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let note = format!(
                "streamgate | {dropped} lines of output dropped: standard output was not read fast enough\n"
            );
            if !self.queue_text(note) {
                // The note itself was counted; the lines it speaks of wait for the next one.
                self.dropped.fetch_add(dropped - 1, Ordering::Relaxed);
            }
        }
        self.queue_text(text);
    }

    /// Queues `text` when both the count and the bytes allow; else counts it as dropped.
    fn queue_text(&self, text: String) -> bool {
        let len = text.len();
        let fits = self
            .queued_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                (q + len <= QUEUED_BYTES).then_some(q + len)
            })
            .is_ok();
        if fits {
            match self.queue.try_send(Item::Text(text)) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(_)) => {
                    self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                }
            }
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Waits at most `within` for what is queued now to be written.
    pub fn flush(&self, within: Duration) {
        let (done, written) = std::sync::mpsc::sync_channel(1);
        if self.queue.try_send(Item::Barrier(done)).is_ok() {
            let _ = written.recv_timeout(within);
        }
    }

    /// Text dropped and not yet reported.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

fn drain(items: &Receiver<Item>, write: impl Fn(&str)) {
    loop {
        match items.recv_timeout(Duration::from_secs(3600)) {
            Ok(Item::Text(t)) => write(&t),
            Ok(Item::Barrier(done)) => {
                let _ = done.try_send(());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn queue() -> &'static QueuedWriter {
    static QUEUE: OnceLock<QueuedWriter> = OnceLock::new();
    QUEUE.get_or_init(|| {
        QueuedWriter::start(|text: &str| {
            let mut out = std::io::stdout().lock();
            // A closed or broken standard output loses the text, nothing else.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        })
    })
}

/// Queues `text` (a whole line, with its newline) for standard output.
pub fn line(text: String) {
    queue().send(text);
}

/// Waits at most `within` for queued output to be written (before the process exits).
pub fn flush(within: Duration) {
    queue().flush(within);
}

/// A `Write` into the queue, one piece per write (tracing writes each event whole).
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        queue().send(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamgate_sync::Locked;

    #[test]
    fn a_writer_that_cannot_keep_up_drops_lines_without_blocking() {
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = std::sync::Mutex::new(blocked);
        let writer = QueuedWriter::start(move |_| {
            let _ = blocked.locked().recv();
        });
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
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("sending never waits on a writer that is stuck");
        assert!(writer.dropped() >= 99, "dropped {}", writer.dropped());
        drop(release);
    }

    #[test]
    fn what_waits_for_the_terminal_is_bounded_in_bytes_too() {
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = std::sync::Mutex::new(blocked);
        let writer = QueuedWriter::start(move |_| {
            let _ = blocked.locked().recv();
        });
        let line = "x".repeat(256 * 1024);
        for _ in 0..100 {
            writer.send(line.clone());
        }
        let queued = writer.queued_bytes.load(Ordering::Acquire);
        assert!(queued <= QUEUED_BYTES, "{queued} bytes wait");
        assert!(
            writer.dropped() >= 100 - (QUEUED_BYTES / line.len()) as u64,
            "dropped {}",
            writer.dropped()
        );
        drop(release);
    }
}
