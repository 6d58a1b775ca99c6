//! Broadcast plumbing: each broadcast value is serialized once, at creation, and kept as bytes
//! under its id until destroyed or until its last handle drops (Ember's form of Spark's
//! `ContextCleaner`: ownership says when, no weak-reference queue is polled). In local mode
//! tasks share the driver's value itself (the typed handle holds it); the bytes are what a
//! cluster executor would fetch once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use bytes::Bytes;

use crate::ids::BroadcastId;

/// The serialized broadcast values of one context.
#[derive(Default)]
pub struct BroadcastRegistry {
    values: Mutex<HashMap<BroadcastId, Bytes>>,
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
        self.lock().insert(id, bytes);
        BroadcastRegistration { id, registry: Arc::downgrade(self) }
    }

    /// The serialized value, unless destroyed or dropped.
    pub fn bytes(&self, id: BroadcastId) -> Option<Bytes> {
        self.lock().get(&id).cloned()
    }

    /// Frees the value; later fetches find nothing.
    pub fn remove(&self, id: BroadcastId) {
        self.lock().remove(&id);
    }

    /// How many values are kept, and their total size in bytes (for leak checks).
    pub fn held(&self) -> (usize, u64) {
        let values = self.lock();
        (values.len(), values.values().map(|b| b.len() as u64).sum())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<BroadcastId, Bytes>> {
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
