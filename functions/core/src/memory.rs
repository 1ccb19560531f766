//! An in-memory connection store: the local server's default, and the tests'.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use streamgate_contract::ConnectionRecord;

use crate::ports::{ConnectionStore, StoreError};

/// Connection records in a map.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, ConnectionRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Every record (in no particular order).
    pub fn all(&self) -> Vec<ConnectionRecord> {
        self.lock().values().cloned().collect()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConnectionRecord>> {
        // A panic while holding the lock cannot leave a map half-updated: recover it.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn put(&self, record: &ConnectionRecord) -> Result<(), StoreError> {
        self.lock()
            .insert(record.connection_id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        Ok(self.lock().get(connection_id).cloned())
    }

    async fn delete(&self, connection_id: &str) -> Result<(), StoreError> {
        self.lock().remove(connection_id);
        Ok(())
    }
}
