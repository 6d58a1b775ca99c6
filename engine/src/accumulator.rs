//! Accumulator plumbing: tasks collect untyped partial values per attempt; the driver applies
//! an attempt's updates once, for the first successful attempt of each (stage, partition).
//!
//! ```text
//!  task attempt (worker thread)                        driver (JobRun::on_success)
//!  acc.add(x) ─▶ TaskContext slot[acc id] ─outcome─▶  first success of (stage, p)?
//!                (dropped if the attempt fails)          yes ─▶ AccumulatorRegistry::apply
//!                                                        no  ─▶ ignored (a duplicate)
//! ```

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::ids::AccumulatorId;

/// The partial values one attempt produced, per accumulator.
pub type AccumulatorUpdates = Vec<(AccumulatorId, Box<dyn Any + Send>)>;

/// The driver side of one accumulator, implemented by the typed layer: merges a task's
/// partial value (of the type the typed layer put there) into the driver's value.
pub trait AccumulatorSink: Send + Sync {
    /// Merges one partial value.
    fn merge(&self, update: Box<dyn Any + Send>);
}

/// Every accumulator of one context.
#[derive(Default)]
pub struct AccumulatorRegistry {
    sinks: Mutex<HashMap<AccumulatorId, Arc<dyn AccumulatorSink>>>,
}

impl AccumulatorRegistry {
    /// Registers the driver side of accumulator `id`.
    pub fn register(&self, id: AccumulatorId, sink: Arc<dyn AccumulatorSink>) {
        self.sinks.lock().unwrap_or_else(|e| e.into_inner()).insert(id, sink);
    }

    /// Applies one successful attempt's updates. Updates for an unknown id are dropped.
    pub fn apply(&self, updates: AccumulatorUpdates) {
        for (id, update) in updates {
            let sink = self.sinks.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned();
            if let Some(sink) = sink {
                sink.merge(update);
            }
        }
    }
}
