//! Taking connections in without being spent by them: a cap on open sockets (the one over it
//! gets a 503 and is closed at once), accept errors backed off and logged once per burst,
//! and a count that follows each socket wherever it goes (through the upgrade too).
//!
//! The decisions (`AcceptBackoff`, [`default_max_connections`]) do no I/O.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Connections the kernel may hold completed for the accept loop. A burst larger than this
/// overflows the queue, and the kernel then drops handshakes the clients believe complete: a
/// client that sends nothing waits on a connection the server never saw. (A listener made
/// with `TcpListener::bind` gets 128.) The kernel caps it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with [`LISTEN_BACKLOG`].
pub fn bind(addr: std::net::SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The response a connection over the cap gets before it is closed.
pub(crate) const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nconnection: close\r\ncontent-length: 33\r\n\r\n\
{\"message\":\"Service Unavailable\"}";

/// File descriptors kept back from the connection cap for everything else the process opens
/// (upstream sockets, DynamoDB, Lambda processes' pipes, files): a quarter of the limit, at
/// most this many.
const RESERVED_DESCRIPTORS: u64 = 256;

/// The default cap on open client sockets: what the process's open-file limit leaves after a
/// reserve, so the limit is never reached by clients alone.
pub fn default_max_connections() -> usize {
    descriptor_limit().map(cap_for_limit).unwrap_or(10_000)
}

/// The cap for an open-file limit of `limit`.
fn cap_for_limit(limit: u64) -> usize {
    let reserve = (limit / 4).min(RESERVED_DESCRIPTORS);
    limit.saturating_sub(reserve).max(1) as usize
}

/// Raises the soft open-file limit to the hard one, as servers do at start-up (a shell's
/// default soft limit, often 1,024, would cap a WebSocket server far below what the machine
/// allows). Returns the limit now in force.
#[cfg(unix)]
pub fn raise_descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct they are given, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Raises the soft open-file limit (not on this platform).
#[cfg(not(unix))]
pub fn raise_descriptor_limit() -> Option<u64> {
    None
}

#[cfg(unix)]
fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given and nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<u64> {
    None
}

/// The open-socket count. A [`Slot`] holds one unit until its socket is dropped.
#[derive(Debug, Default)]
pub(crate) struct Occupancy {
    open: AtomicUsize,
}

impl Occupancy {
    /// One unit, if fewer than `cap` are taken.
    pub(crate) fn try_take(self: &Arc<Self>, cap: usize) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }

    /// Sockets open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// One unit of [`Occupancy`], given back on drop.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Occupancy>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A client socket that holds its [`Slot`]: hyper boxes it into the upgraded connection, so
/// the count follows a WebSocket until it closes.
pub(crate) struct CountedStream {
    inner: TcpStream,
    _slot: Slot,
}

impl CountedStream {
    pub(crate) fn new(inner: TcpStream, slot: Slot) -> CountedStream {
        CountedStream { inner, _slot: slot }
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Refusals being written at once; past this, a refused socket is just closed.
const MAX_REFUSING: usize = 256;

/// How long a refusal may take to write and close.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);

/// Answers a connection over the cap with [`OVER_CAPACITY`] and closes it. The request is
/// read (and dropped) for a moment after the answer so the close does not reset the
/// connection before the client has read the 503; at most [`MAX_REFUSING`] refusals are in
/// progress at once, each for at most [`REFUSAL_GRACE`].
pub(crate) fn refuse(mut stream: TcpStream, refusing: &Arc<Occupancy>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(slot) = refusing.try_take(MAX_REFUSING) else {
        let _ = stream.try_write(OVER_CAPACITY);
        return;
    };
    tokio::spawn(async move {
        let _slot = slot;
        let _ = tokio::time::timeout(REFUSAL_GRACE, async {
            stream.write_all(OVER_CAPACITY).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, io::Error>(())
        })
        .await;
    });
}

/// Whether an accept error is about this process or machine (out of descriptors or memory:
/// retrying at once would spin) rather than about the one connection that failed.
pub(crate) fn is_resource_error(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// What to do after an accept error, and whether to say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pause {
    /// How long to stop accepting.
    pub(crate) wait: Duration,
    /// Whether this error starts a burst (log it; the rest of the burst is not logged).
    pub(crate) first: bool,
}

/// Backoff for resource errors on accept: 10 ms doubling to 1 s, back to 10 ms after a
/// success. A burst is errors less than [`AcceptBackoff::QUIET`] apart (a server at its
/// descriptor limit alternates a few successes and failures; that is one burst).
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    streak: u32,
    last_failure: Option<Instant>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);
    /// Errors further apart than this are separate bursts.
    pub(crate) const QUIET: Duration = Duration::from_secs(10);

    /// A resource error at `now`: how long to wait before the next accept.
    pub(crate) fn failed(&mut self, now: Instant) -> Pause {
        let wait = Self::FIRST
            .saturating_mul(1u32 << self.streak.min(16))
            .min(Self::MAX);
        self.streak = self.streak.saturating_add(1);
        let first = self
            .last_failure
            .is_none_or(|t| now.saturating_duration_since(t) > Self::QUIET);
        self.last_failure = Some(now);
        Pause { wait, first }
    }

    /// An accept succeeded: the next error waits the shortest time again.
    pub(crate) fn succeeded(&mut self) {
        self.streak = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_back_off_to_a_second_and_are_reported_once_per_burst() {
        let mut b = AcceptBackoff::default();
        let t0 = Instant::now();
        let pauses: Vec<Pause> = (0..10).map(|_| b.failed(t0)).collect();
        assert_eq!(pauses[0].wait, Duration::from_millis(10));
        assert_eq!(pauses[1].wait, Duration::from_millis(20));
        assert_eq!(pauses[6].wait, Duration::from_millis(640));
        assert_eq!(pauses[7].wait, Duration::from_secs(1));
        assert_eq!(pauses[9].wait, Duration::from_secs(1));
        assert_eq!(pauses.iter().filter(|p| p.first).count(), 1);
        assert!(pauses[0].first);
        // At the limit, a success now and then does not start a new burst.
        b.succeeded();
        let again = b.failed(t0 + Duration::from_secs(1));
        assert_eq!(
            again.wait,
            Duration::from_millis(10),
            "the wait starts over"
        );
        assert!(!again.first, "still the same burst");
        // After a quiet spell, a new burst is reported again.
        let later = b.failed(t0 + Duration::from_secs(1) + AcceptBackoff::QUIET * 2);
        assert!(later.first);
    }

    #[tokio::test]
    async fn the_listener_queues_a_burst_of_connections() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // 600 handshakes before a single accept: all are queued, none dropped.
        let mut clients = Vec::new();
        for _ in 0..600 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        for _ in 0..600 {
            tokio::time::timeout(Duration::from_secs(5), listener.accept())
                .await
                .expect("every queued connection is accepted")
                .unwrap();
        }
    }

    #[test]
    fn the_default_cap_leaves_descriptors_for_everything_else() {
        assert_eq!(cap_for_limit(64), 48);
        assert_eq!(cap_for_limit(1024), 768);
        assert_eq!(cap_for_limit(1_048_576), 1_048_320);
        assert_eq!(cap_for_limit(1), 1);
    }

    #[test]
    fn the_cap_admits_up_to_its_size_and_frees_a_slot_on_drop() {
        let occupancy = Arc::new(Occupancy::default());
        let a = occupancy.try_take(2).expect("first");
        let _b = occupancy.try_take(2).expect("second");
        assert!(occupancy.try_take(2).is_none(), "over the cap");
        assert_eq!(occupancy.open(), 2);
        drop(a);
        assert!(occupancy.try_take(2).is_some(), "a slot came back");
    }

    #[test]
    fn resource_errors_are_told_from_connection_errors() {
        assert!(is_resource_error(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(is_resource_error(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!is_resource_error(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }

    #[test]
    fn the_refusal_is_a_complete_http_response() {
        let text = std::str::from_utf8(OVER_CAPACITY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).unwrap()["message"],
            "Service Unavailable"
        );
    }
}
