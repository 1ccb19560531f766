//! A socket's outgoing queue: bounded for posts, with room always made for the final close
//! frame. An idle socket's queue holds no buffer at all (a channel would allocate a block of
//! slots per socket up front, most of an idle connection's cost), and a queue that grew for a
//! burst gives its buffer back once drained.

use std::collections::VecDeque;
use std::sync::Mutex;

use streamgate_sync::Locked;
use tokio::sync::Notify;

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRefused {
    /// The queue holds its capacity: the client is not reading fast enough.
    Full,
    /// The socket is closing: nothing more is sent.
    Closed,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    /// A close asked for from outside (`DELETE @connections`), with its code.
    close_requested: Option<u16>,
}

/// A bounded queue with one consumer (the socket's writer).
pub struct OutQueue<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    ready: Notify,
    closing: Notify,
}

/// Above this many slots, a drained queue gives its buffer back.
const KEEP_SLOTS: usize = 16;

impl<T> OutQueue<T> {
    /// An empty queue holding at most `capacity` items.
    pub fn new(capacity: usize) -> OutQueue<T> {
        OutQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                close_requested: None,
            }),
            capacity: capacity.max(1),
            ready: Notify::new(),
            closing: Notify::new(),
        }
    }

    /// Queues `item` if there is room and the queue is open.
    pub fn try_push(&self, item: T) -> Result<(), PushRefused> {
        {
            let mut s = self.state.locked();
            if s.closed {
                return Err(PushRefused::Closed);
            }
            if s.items.len() >= self.capacity {
                return Err(PushRefused::Full);
            }
            s.items.push_back(item);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Closes the queue after `last` (if any), which is queued whatever the capacity: the
    /// close frame always gets a place. Later pushes are refused; the consumer gets what is
    /// queued, then `None`.
    pub fn close(&self, last: Option<T>) {
        {
            let mut s = self.state.locked();
            if s.closed {
                return;
            }
            if let Some(last) = last {
                s.items.push_back(last);
            }
            s.closed = true;
        }
        self.ready.notify_one();
    }

    /// Asks the socket's owner to close it with `code` (see [`OutQueue::close_requested`]).
    pub fn request_close(&self, code: u16) {
        {
            let mut s = self.state.locked();
            if s.closed || s.close_requested.is_some() {
                return;
            }
            s.close_requested = Some(code);
        }
        self.closing.notify_one();
    }

    /// Resolves with the code once a close is asked for.
    pub async fn close_requested(&self) -> u16 {
        loop {
            if let Some(code) = self.state.locked().close_requested {
                return code;
            }
            self.closing.notified().await;
        }
    }

    /// Whether the queue is closed.
    pub fn is_closed(&self) -> bool {
        self.state.locked().closed
    }

    /// The next item; `None` once the queue is closed and empty.
    pub async fn pop(&self) -> Option<T> {
        loop {
            {
                let mut s = self.state.locked();
                if let Some(item) = s.items.pop_front() {
                    if s.items.is_empty() && s.items.capacity() > KEEP_SLOTS {
                        s.items = VecDeque::new();
                    }
                    return Some(item);
                }
                if s.closed {
                    return None;
                }
            }
            // A push between the check and here stores a permit, so this returns at once.
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pushes_are_bounded_and_the_close_always_gets_a_place() {
        let q = OutQueue::new(2);
        assert_eq!(q.try_push(1), Ok(()));
        assert_eq!(q.try_push(2), Ok(()));
        assert_eq!(q.try_push(3), Err(PushRefused::Full));
        q.close(Some(99));
        assert_eq!(q.try_push(4), Err(PushRefused::Closed));
        assert_eq!(q.pop().await, Some(1));
        assert_eq!(q.pop().await, Some(2));
        assert_eq!(
            q.pop().await,
            Some(99),
            "the close frame, past the capacity"
        );
        assert_eq!(q.pop().await, None);
        q.close(Some(100));
        assert_eq!(q.pop().await, None, "closed once");
    }

    #[tokio::test]
    async fn the_consumer_wakes_for_a_push_and_for_the_close() {
        let q = std::sync::Arc::new(OutQueue::new(4));
        let consumer = tokio::spawn({
            let q = q.clone();
            async move {
                let mut got = Vec::new();
                while let Some(i) = q.pop().await {
                    got.push(i);
                }
                got
            }
        });
        tokio::task::yield_now().await;
        q.try_push(7).unwrap();
        tokio::task::yield_now().await;
        q.try_push(8).unwrap();
        q.close(None);
        assert_eq!(consumer.await.unwrap(), vec![7, 8]);
    }

    #[tokio::test]
    async fn a_close_request_reaches_the_owner_once() {
        let q = std::sync::Arc::new(OutQueue::<u8>::new(4));
        let owner = tokio::spawn({
            let q = q.clone();
            async move { q.close_requested().await }
        });
        tokio::task::yield_now().await;
        q.request_close(1000);
        q.request_close(4000);
        assert_eq!(owner.await.unwrap(), 1000, "the first request wins");
    }

    #[tokio::test]
    async fn a_drained_queue_gives_its_buffer_back() {
        let q = OutQueue::new(256);
        for i in 0..100 {
            q.try_push(i).unwrap();
        }
        for _ in 0..100 {
            q.pop().await;
        }
        assert_eq!(q.state.locked().items.capacity(), 0);
    }
}
