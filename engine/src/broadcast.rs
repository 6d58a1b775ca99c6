//! Broadcast plumbing: each broadcast value is serialized once, at creation, and kept as bytes
//! under its id until destroyed or until its last handle drops (Ember's form of Spark's
//! `ContextCleaner`: ownership says when, no weak-reference queue is polled). In local mode
//! tasks share the driver's value itself (the typed handle holds it); the bytes are what a
//! cluster executor would fetch once.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::ids::BroadcastId;

/// The serialized broadcast values of one context.
#[derive(Default)]
pub struct BroadcastRegistry {
    values: Mutex<Values>,
    /// Signalled on every put (a cluster executor may ask for a value the driver's `main`
    /// has not made yet).
    added: Condvar,
}

#[derive(Default)]
struct Values {
    bytes: HashMap<BroadcastId, Bytes>,
    /// Freed values still served to cluster executors (see [`BroadcastRegistry::retain_freed`]).
    retired: HashMap<BroadcastId, Bytes>,
    retain_freed: bool,
    /// The highest id ever put: ids below it that are absent were destroyed or dropped.
    highest: Option<BroadcastId>,
}

/// Why a broadcast's bytes are not there.
#[derive(Debug, PartialEq, Eq)]
pub enum Missing {
    /// It was made, then destroyed or dropped.
    Gone,
    /// It was not made within the wait.
    NotYet,
}

/// Broadcast `id`'s bytes in its context's registry, freed when this drops (the typed
/// handles share one, so that is when the last handle drops). Holds the registry weakly: it
/// may outlive the context.
#[derive(Debug)]
pub struct BroadcastRegistration {
    id: BroadcastId,
    registry: Weak<BroadcastRegistry>,
}

impl Drop for BroadcastRegistration {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.remove(self.id);
        }
    }
}

impl BroadcastRegistry {
    /// Keeps the serialized value of broadcast `id` until the returned registration drops
    /// (or [`BroadcastRegistry::remove`]).
    pub fn put(self: &Arc<Self>, id: BroadcastId, bytes: Bytes) -> BroadcastRegistration {
        {
            let mut values = self.lock();
            values.bytes.insert(id, bytes);
            values.highest = values.highest.max(Some(id));
        }
        self.added.notify_all();
        BroadcastRegistration { id, registry: Arc::downgrade(self) }
    }

    /// The serialized value, unless destroyed or dropped.
    pub fn bytes(&self, id: BroadcastId) -> Option<Bytes> {
        self.lock().bytes.get(&id).cloned()
    }

    /// The serialized value of `id`, waiting up to `wait` for it to be made.
    ///
    /// # Errors
    /// [`Missing::Gone`] at once for a value made and since freed; [`Missing::NotYet`] after
    /// `wait`.
    pub fn wait_bytes(&self, id: BroadcastId, wait: Duration) -> Result<Bytes, Missing> {
        let until = Instant::now() + wait;
        let mut values = self.lock();
        loop {
            if let Some(bytes) = values.bytes.get(&id).or_else(|| values.retired.get(&id)) {
                return Ok(bytes.clone());
            }
            if values.highest.is_some_and(|h| h >= id) {
                return Err(Missing::Gone);
            }
            let now = Instant::now();
            if now >= until {
                return Err(Missing::NotYet);
            }
            values = self.added.wait_timeout(values, until - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Frees the value; later fetches find nothing (unless freed values are retained).
    pub fn remove(&self, id: BroadcastId) {
        let mut values = self.lock();
        if let Some(bytes) = values.bytes.remove(&id)
            && values.retain_freed
        {
            values.retired.insert(id, bytes);
        }
    }

    /// Keeps freed values for executors from now on: a cluster driver's registry. An
    /// executor's `main` runs behind the driver's (a replacement replays it from the start),
    /// so it asks for broadcasts the driver's `main` has long dropped; as the log of job
    /// outcomes, they are kept for the application's life. Cost: the bytes of every broadcast
    /// the application made.
    pub fn retain_freed(&self) {
        self.lock().retain_freed = true;
    }

    /// How many values are kept, and their total size in bytes (for leak checks).
    pub fn held(&self) -> (usize, u64) {
        let values = self.lock();
        (values.bytes.len(), values.bytes.values().map(|b| b.len() as u64).sum())
    }

    fn lock(&self) -> MutexGuard<'_, Values> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_live_as_long_as_their_registration() {
        let registry: Arc<BroadcastRegistry> = Arc::default();
        let kept = registry.put(BroadcastId(1), Bytes::from_static(b"abc"));
        let dropped = registry.put(BroadcastId(2), Bytes::from_static(b"de"));
        assert_eq!(registry.held(), (2, 5));
        drop(dropped);
        assert_eq!(registry.held(), (1, 3));
        assert!(registry.bytes(BroadcastId(2)).is_none());
        registry.remove(BroadcastId(1));
        drop(kept); // after destroy: nothing left to free
        assert_eq!(registry.held(), (0, 0));
    }
}
