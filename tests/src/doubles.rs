//! In-process test doubles of the handlers' ports: a push that records frames (and can
//! answer 410), and a store that checks each call against the contract's permissions.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use streamgate_contract::{ConnectionRecord, Function, Permission, ServerFrame};
use streamgate_core::memory::MemoryStore;
use streamgate_core::{ClientPush, ConnectionStore, PushError, StoreError, Target};

/// What a [`RecordingPush`] does with a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushBehaviour {
    /// Accept every post.
    Accept,
    /// Accept this many posts, then answer 410 Gone.
    GoneAfter(usize),
    /// Answer 429 this many times, then accept.
    ThrottleFirst(usize),
    /// Accept `accept` posts, answer 429 `throttle` times, then accept again (a client
    /// that stops reading for a while).
    ThrottleAfter {
        /// Posts accepted first.
        accept: usize,
        /// 429s after them.
        throttle: usize,
    },
}

/// Records the frames posted to clients.
pub struct RecordingPush {
    behaviour: PushBehaviour,
    posts: Mutex<Vec<(Target, String)>>,
    refused: Mutex<usize>,
    first_post_at: Mutex<Option<tokio::time::Instant>>,
    disconnects: Mutex<usize>,
}

impl RecordingPush {
    /// A push that behaves as told.
    pub fn new(behaviour: PushBehaviour) -> Arc<RecordingPush> {
        Arc::new(RecordingPush {
            behaviour,
            posts: Mutex::new(Vec::new()),
            refused: Mutex::new(0),
            first_post_at: Mutex::new(None),
            disconnects: Mutex::new(0),
        })
    }

    /// Every accepted post, in order.
    pub fn posts(&self) -> Vec<(Target, String)> {
        self.posts.lock().unwrap().clone()
    }

    /// Every accepted post, parsed as a server frame.
    pub fn frames(&self) -> Vec<ServerFrame> {
        self.posts()
            .iter()
            .map(|(_, d)| serde_json::from_str(d).expect("posts are server frames"))
            .collect()
    }

    /// How many times a connection was closed (`DELETE @connections`).
    pub fn disconnects(&self) -> usize {
        *self.disconnects.lock().unwrap()
    }

    /// When the first post was accepted.
    pub fn first_post_at(&self) -> Option<tokio::time::Instant> {
        *self.first_post_at.lock().unwrap()
    }

    /// The answer text: the chunks' contents, concatenated.
    pub fn answer(&self) -> String {
        self.frames()
            .iter()
            .filter_map(|f| match f {
                ServerFrame::Chunk { content, .. } => Some(content.as_str()),
                _ => None,
            })
            .collect()
    }
}

#[async_trait]
impl ClientPush for RecordingPush {
    async fn post(&self, to: &Target, data: &str) -> Result<(), PushError> {
        let accepted = self.posts.lock().unwrap().len();
        match self.behaviour {
            PushBehaviour::GoneAfter(n) if accepted >= n => return Err(PushError::Gone),
            PushBehaviour::ThrottleFirst(n) => {
                let mut refused = self.refused.lock().unwrap();
                if *refused < n {
                    *refused += 1;
                    return Err(PushError::Throttled);
                }
            }
            PushBehaviour::ThrottleAfter { accept, throttle } if accepted >= accept => {
                let mut refused = self.refused.lock().unwrap();
                if *refused < throttle {
                    *refused += 1;
                    return Err(PushError::Throttled);
                }
            }
            _ => {}
        }
        self.first_post_at
            .lock()
            .unwrap()
            .get_or_insert_with(tokio::time::Instant::now);
        self.posts
            .lock()
            .unwrap()
            .push((to.clone(), data.to_owned()));
        Ok(())
    }

    async fn disconnect(&self, _to: &Target) -> Result<(), PushError> {
        *self.disconnects.lock().unwrap() += 1;
        Ok(())
    }
}

/// A memory store that fails the test when a handler touches it beyond its function's
/// contract permissions (what the IAM role would refuse in AWS).
pub struct GuardedStore {
    /// The records.
    pub inner: MemoryStore,
    function: Function,
}

impl GuardedStore {
    /// A store for `function`'s handler.
    pub fn new(function: Function) -> GuardedStore {
        GuardedStore {
            inner: MemoryStore::new(),
            function,
        }
    }

    fn check(&self, p: Permission) {
        assert!(
            self.function.may(p),
            "the {} handler used {p:?}, which its contract (and IAM role) does not grant",
            self.function.name()
        );
    }
}

#[async_trait]
impl ConnectionStore for GuardedStore {
    async fn put(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        self.check(Permission::PutConnection);
        self.inner.put(record).await
    }

    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        self.check(Permission::GetConnection);
        self.inner.get(connection_id).await
    }

    async fn delete(&self, connection_id: &str) -> Result<(), StoreError> {
        self.check(Permission::DeleteConnection);
        self.inner.delete(connection_id).await
    }
}

/// A store whose every call fails.
pub struct BrokenStore;

#[async_trait]
impl ConnectionStore for BrokenStore {
    async fn put(&self, _: &ConnectionRecord) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("injected failure".into()))
    }
    async fn get(&self, _: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        Err(StoreError::Unavailable("injected failure".into()))
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("injected failure".into()))
    }
}
