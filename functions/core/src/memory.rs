//! In-memory connection records and quotas: the local server's default, and the tests'.

use std::collections::HashMap;
use std::sync::Mutex;
use streamgate_sync::Locked;

use async_trait::async_trait;
use streamgate_contract::ConnectionRecord;

use crate::ports::{ConnectionStore, QuotaStore, StoreError};

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
        self.records.locked()
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

/// Quotas in maps: counters, and places with their expiries.
#[derive(Debug, Default)]
pub struct MemoryQuotas {
    state: Mutex<QuotaState>,
}

#[derive(Debug, Default)]
struct QuotaState {
    counters: HashMap<String, u64>,
    places: HashMap<String, HashMap<String, u64>>,
}

impl MemoryQuotas {
    /// No quota spent.
    pub fn new() -> MemoryQuotas {
        MemoryQuotas::default()
    }

    /// The counter `key` (0 when never spent).
    pub fn counter(&self, key: &str) -> u64 {
        self.lock().counters.get(key).copied().unwrap_or(0)
    }

    /// How many places the set `key` holds (expired ones included until the next take).
    pub fn places(&self, key: &str) -> usize {
        self.lock().places.get(key).map_or(0, HashMap::len)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QuotaState> {
        self.state.locked()
    }
}

#[async_trait]
impl QuotaStore for MemoryQuotas {
    async fn spend(
        &self,
        key: &str,
        amount: u64,
        limit: u64,
        _ttl: u64,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let used = state.counters.entry(key.to_owned()).or_insert(0);
        if used.saturating_add(amount) > limit {
            return Ok(false);
        }
        *used += amount;
        Ok(true)
    }

    async fn adjust(&self, key: &str, delta: i64, _ttl: u64) -> Result<(), StoreError> {
        let mut state = self.lock();
        let used = state.counters.entry(key.to_owned()).or_insert(0);
        *used = used.saturating_add_signed(delta);
        Ok(())
    }

    async fn take_place(
        &self,
        key: &str,
        id: &str,
        limit: u32,
        now: u64,
        expires: u64,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let set = state.places.entry(key.to_owned()).or_default();
        set.retain(|_, until| *until > now);
        if !set.contains_key(id) && set.len() >= limit as usize {
            return Ok(false);
        }
        set.insert(id.to_owned(), expires);
        Ok(true)
    }

    async fn free_place(&self, key: &str, id: &str) -> Result<(), StoreError> {
        if let Some(set) = self.lock().places.get_mut(key) {
            set.remove(id);
        }
        Ok(())
    }
}
