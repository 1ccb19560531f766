//! Locks that outlive a panic.
//!
//! A `std::sync::Mutex` is poisoned when a thread panics while holding it, and every later
//! `lock().unwrap()` panics too: in a server, one bad request under a pool's lock would turn
//! every later call to that pool into a failure. The state behind the locks in this workspace
//! is kept consistent at every await and every early return (a guard is never held across a
//! step that can leave it half-written), so taking a poisoned lock back is safe, and it is
//! what every crate does through [`Locked`].

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Taking a lock whether or not an earlier holder panicked.
pub trait Locked<T: ?Sized> {
    /// The guard, recovered from poisoning.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T: ?Sized> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Reading and writing an `RwLock` whether or not an earlier holder panicked.
pub trait ReadWrite<T: ?Sized> {
    /// The read guard, recovered from poisoning.
    fn reading(&self) -> RwLockReadGuard<'_, T>;
    /// The write guard, recovered from poisoning.
    fn writing(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> ReadWrite<T> for RwLock<T> {
    fn reading(&self) -> RwLockReadGuard<'_, T> {
        self.read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn writing(&self) -> RwLockWriteGuard<'_, T> {
        self.write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_lock_poisoned_by_a_panic_is_taken_back_with_its_state() {
        let shared = Arc::new(Mutex::new(vec![1]));
        let held = shared.clone();
        let panicked = std::thread::spawn(move || {
            let mut v = held.lock().unwrap();
            v.push(2);
            panic!("a handler panicked under the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shared.is_poisoned());
        assert_eq!(*shared.locked(), vec![1, 2]);
        shared.locked().push(3);
        assert_eq!(shared.locked().len(), 3);
    }

    #[test]
    fn a_poisoned_rwlock_still_reads_and_writes() {
        let shared = Arc::new(RwLock::new(0));
        let held = shared.clone();
        let _ = std::thread::spawn(move || {
            let _w = held.write().unwrap();
            panic!("panicked while writing");
        })
        .join();
        assert!(shared.is_poisoned());
        *shared.writing() += 1;
        assert_eq!(*shared.reading(), 1);
    }
}
