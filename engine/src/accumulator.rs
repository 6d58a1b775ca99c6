//! Accumulator plumbing: tasks collect partial values per attempt and send them, encoded,
//! with their report; the driver merges an attempt's updates once, when the scheduler
//! accepts that attempt (the first success of each partition).
//!
//! ```text
//!  task attempt (worker thread)                          driver (scheduler loop)
//!  acc.add(x) ─▶ TaskContext slot[acc id] ─encoded─▶  accepted? ── ApplyAccumulators ──▶ sink.merge(bytes)
//!                (dropped if the attempt fails)            (a panicking merge fails that job only)
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;

use crate::ids::AccumulatorId;

/// The driver side of one accumulator, implemented by the typed layer: decodes a task's
/// partial value and merges it into the driver's value.
pub trait AccumulatorSink: Send + Sync {
    /// Merges one encoded partial value.
    ///
    /// # Errors
    /// Why the bytes are not a partial value of this accumulator.
    fn merge(&self, update: &[u8]) -> Result<(), String>;
}

/// Every accumulator of one context, held weakly so that the registry never keeps one
/// alive: when the last handle on an accumulator drops, its [`Registration`] removes its
/// entry, and updates still arriving for it are ignored.
#[derive(Default)]
pub struct AccumulatorRegistry {
    sinks: Mutex<HashMap<AccumulatorId, Weak<dyn AccumulatorSink>>>,
}

/// Accumulator `id`'s entry in its context's registry, removed when this drops (the typed
/// handles share one). Holds the registry weakly: it may outlive the context.
#[derive(Debug)]
pub struct Registration {
    id: AccumulatorId,
    registry: Weak<AccumulatorRegistry>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.lock().remove(&self.id);
        }
    }
}

impl AccumulatorRegistry {
    /// Registers the driver side of accumulator `id` until the returned registration drops.
    /// Cost: `O(1)`.
    pub fn register(self: &Arc<Self>, id: AccumulatorId, sink: &Arc<dyn AccumulatorSink>) -> Registration {
        self.lock().insert(id, Arc::downgrade(sink));
        Registration { id, registry: Arc::downgrade(self) }
    }

    /// Applies one accepted attempt's updates, in order. A merge that panics or fails stops
    /// there and names its accumulator and why.
    pub fn apply(&self, updates: Vec<(AccumulatorId, Bytes)>) -> Option<(AccumulatorId, String)> {
        for (id, update) in updates {
            let sink = self.lock().get(&id).and_then(Weak::upgrade);
            let Some(sink) = sink else { continue };
            match crate::scheduler::guarded(|| sink.merge(&update)) {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return Some((id, why)),
                Err(panic) => return Some((id, format!("its merge panicked: {panic}"))),
            }
        }
        None
    }

    /// How many accumulators are registered (for leak checks): those with a live handle.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccumulatorId, Weak<dyn AccumulatorSink>>> {
        self.sinks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sink;

    impl AccumulatorSink for Sink {
        fn merge(&self, _update: &[u8]) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn an_entry_lives_as_long_as_its_registration() {
        let registry: Arc<AccumulatorRegistry> = Arc::default();
        let sink: Arc<dyn AccumulatorSink> = Arc::new(Sink);
        let first = registry.register(AccumulatorId(1), &sink);
        let second = registry.register(AccumulatorId(2), &sink);
        assert_eq!(registry.len(), 2);
        drop(first);
        assert_eq!(registry.len(), 1, "dropped at once, not at the next registration");
        drop(registry);
        drop(second); // outliving its registry is fine
    }
}
