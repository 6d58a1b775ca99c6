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

/// Every accumulator of one context, held weakly: an accumulator whose handles are all
/// dropped is forgotten, and updates still arriving for it are ignored.
#[derive(Default)]
pub struct AccumulatorRegistry {
    sinks: Mutex<HashMap<AccumulatorId, Weak<dyn AccumulatorSink>>>,
}

impl AccumulatorRegistry {
    /// Registers the driver side of accumulator `id`.
    pub fn register(&self, id: AccumulatorId, sink: &Arc<dyn AccumulatorSink>) {
        let mut sinks = self.lock();
        sinks.retain(|_, s| s.strong_count() > 0);
        sinks.insert(id, Arc::downgrade(sink));
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

    /// How many accumulators are alive (for leak checks).
    pub fn len(&self) -> usize {
        self.lock().values().filter(|s| s.strong_count() > 0).count()
    }

    /// Whether none is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccumulatorId, Weak<dyn AccumulatorSink>>> {
        self.sinks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
