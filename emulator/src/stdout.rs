//! Standard output that never blocks the server and loses nothing it can keep: text goes to
//! one writer thread through a queue bounded in pieces (4,096) and bytes (4 MB), written in
//! batches. The server's logs, its banner and its functions' output all go through it, in
//! order.
//!
//! Functions' output is held back rather than dropped: their readers wait for [`room`] (the
//! queue below half) before each line, so a function printing faster than standard output
//! takes blocks on its own pipe, as a process writing to a slow terminal does. Only when the
//! writer makes no progress at all for [`STALL`] (a pipe nobody reads, a terminal paused) do
//! functions' lines go past without waiting, and then they are dropped beyond three quarters
//! of the queue: the last quarter stays for the server's own lines (an invocation's `END` and
//! `REPORT`, the logs), which are dropped only when the queue is full. What was dropped is
//! counted and reported in one notice, written once the burst is over (no text for a second,
//! or every ten seconds of a continuous one), and before a [`flush`]. A closed standard output
//! (`... | head`) loses the text and nothing else.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Pieces of text waiting for the terminal at most, before new ones are dropped.
const QUEUED: usize = 4096;

/// Bytes waiting for the terminal at most (a function's lines may each be 256 KB, so the
/// count alone would allow a gigabyte).
const QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// While the writer is stalled, functions' output is queued up to three quarters of the
/// queue: the rest is the server's.
const FUNCTION_PIECES: usize = QUEUED / 4 * 3;
const FUNCTION_BYTES: usize = QUEUED_BYTES / 4 * 3;

/// [`room`] answers once the queue is below half of both bounds: the quarter up to the
/// functions' share takes the lines readers send between two checks (1,024 pieces, 1 MB).
const ROOM_PIECES: usize = QUEUED / 2;
const ROOM_BYTES: usize = QUEUED_BYTES / 2;

/// A writer that writes nothing for this long is stalled: functions stop waiting for it.
pub const STALL: Duration = Duration::from_secs(2);

/// One write takes up to this much queued text.
const BATCH_BYTES: usize = 256 * 1024;

/// No text for this long ends a burst, and its dropped lines are reported.
const QUIET: Duration = Duration::from_secs(1);

/// During a continuous burst, dropped lines are reported this often at most.
const NOTICE_EVERY: Duration = Duration::from_secs(10);

enum Item {
    Text(String),
    /// Answered once everything queued before it is written.
    Barrier(SyncSender<()>),
}

/// What the writer thread and the senders share.
#[derive(Default)]
struct Counters {
    /// Pieces queued and not yet written.
    pieces: AtomicUsize,
    /// Bytes queued and not yet written.
    bytes: AtomicUsize,
    /// Pieces dropped and not yet reported.
    dropped: AtomicU64,
    /// The writer has written nothing for [`STALL`] while functions waited.
    stalled: AtomicBool,
    /// Told after each write.
    progress: Notify,
}

impl Counters {
    /// Counts one piece of `len` bytes in, if it stays within `pieces` and `bytes`.
    fn reserve(&self, len: usize, pieces: usize, bytes: usize) -> bool {
        let within = |cap: usize, add: usize| move |q: usize| (q + add <= cap).then_some(q + add);
        if self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, within(bytes, len))
            .is_err()
        {
            return false;
        }
        if self
            .pieces
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, within(pieces, 1))
            .is_err()
        {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn release(&self, pieces: usize, bytes: usize) {
        self.pieces.fetch_sub(pieces, Ordering::AcqRel);
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    fn below_half(&self) -> bool {
        self.pieces.load(Ordering::Acquire) < ROOM_PIECES
            && self.bytes.load(Ordering::Acquire) < ROOM_BYTES
    }
}

/// Text handed to a writer thread through a bounded queue (see the module's documentation).
pub struct QueuedWriter {
    queue: Sender<Item>,
    counters: Arc<Counters>,
}

impl QueuedWriter {
    /// Starts the thread that calls `write` with each batch of queued text.
    pub fn start(write: impl FnMut(&str) + Send + 'static) -> QueuedWriter {
        // Unbounded as a channel; bounded by the counters, checked before each send.
        let (queue, items) = std::sync::mpsc::channel::<Item>();
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        std::thread::Builder::new()
            .name("stdout".into())
            .spawn(move || drain(&items, &shared, write))
            .expect("a thread for standard output");
        QueuedWriter { queue, counters }
    }

    /// Queues the server's own `text`, or drops it when the queue is full.
    pub fn send(&self, text: String) {
        let len = text.len();
        if !self.counters.reserve(len, QUEUED, QUEUED_BYTES) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        } else if self.queue.send(Item::Text(text)).is_err() {
            self.counters.release(1, len);
        }
    }

    /// Resolves once a function's next line can be queued without crowding the queue: `true`
    /// then. While the writer is stalled it resolves at once, `false` when the functions' share
    /// is full (the line is then counted as dropped, and must not be sent).
    pub async fn room(&self) -> bool {
        let counters = &self.counters;
        loop {
            if counters.below_half() {
                return true;
            }
            if counters.stalled.load(Ordering::Acquire) {
                return self.functions_fit();
            }
            let progress = counters.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if counters.below_half() {
                return true;
            }
            if tokio::time::timeout(STALL, progress).await.is_err() {
                counters.stalled.store(true, Ordering::Release);
                return self.functions_fit();
            }
        }
    }

    /// Whether the functions' share has room for one more line; if not, one is dropped.
    fn functions_fit(&self) -> bool {
        let counters = &self.counters;
        let fits = counters.pieces.load(Ordering::Acquire) < FUNCTION_PIECES
            && counters.bytes.load(Ordering::Acquire) < FUNCTION_BYTES;
        if !fits {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        fits
    }

    /// Waits at most `within` for what is queued now to be written, with the notice of what
    /// was dropped.
    pub fn flush(&self, within: Duration) {
        let (done, written) = std::sync::mpsc::sync_channel(1);
        if self.queue.send(Item::Barrier(done)).is_ok() {
            let _ = written.recv_timeout(within);
        }
    }

    /// Text dropped and not yet reported.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread: batches of queued text, each written at once, and the notices.
fn drain(items: &Receiver<Item>, counters: &Counters, mut write: impl FnMut(&str)) {
    let mut batch = String::new();
    // Since when dropped lines wait for their notice.
    let mut unreported_since: Option<Instant> = None;
    loop {
        if unreported_since.is_none() && counters.dropped.load(Ordering::Relaxed) > 0 {
            unreported_since = Some(Instant::now());
        }
        let wait = if unreported_since.is_some() {
            QUIET
        } else {
            Duration::from_secs(3600)
        };
        let mut next = match items.recv_timeout(wait) {
            Ok(item) => Some(item),
            Err(RecvTimeoutError::Timeout) => {
                report(counters, &mut write, &mut unreported_since);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                report(counters, &mut write, &mut unreported_since);
                return;
            }
        };
        let mut pieces = 0;
        let mut barrier = None;
        while let Some(item) = next.take() {
            match item {
                Item::Text(t) => {
                    batch.push_str(&t);
                    pieces += 1;
                }
                Item::Barrier(done) => {
                    barrier = Some(done);
                    break;
                }
            }
            if batch.len() < BATCH_BYTES {
                next = items.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            write(&batch);
        }
        counters.release(pieces, batch.len());
        batch.clear();
        counters.stalled.store(false, Ordering::Release);
        counters.progress.notify_waiters();
        let overdue = unreported_since.is_some_and(|t| t.elapsed() >= NOTICE_EVERY);
        if barrier.is_some() || overdue {
            report(counters, &mut write, &mut unreported_since);
        }
        if let Some(done) = barrier {
            let _ = done.try_send(());
        }
    }
}

/// Writes the notice of what was dropped since the last one, if anything was.
fn report(counters: &Counters, write: &mut impl FnMut(&str), since: &mut Option<Instant>) {
    let dropped = counters.dropped.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        write(&format!(
            "streamgate | {dropped} lines of output dropped: standard output was not read fast enough\n"
        ));
    }
    *since = None;
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

/// Queues the server's `text` (a whole line, with its newline) for standard output.
pub fn line(text: String) {
    queue().send(text);
}

/// Resolves when standard output has room for a function's next line: `false` when it is
/// stalled and the functions' share is full, and the line is to be dropped (it is counted).
pub async fn room() -> bool {
    queue().room().await
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
mod tests;
