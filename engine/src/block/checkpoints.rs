//! [`CheckpointRegistry`]: which nodes are marked for checkpointing, and which are written.
//!
//! A written checkpoint is how its node's partitions are read from then on: the typed layer
//! registers the reading node, the planner and the lineage renderer stop their walk at the
//! checkpointed node. Nodes themselves never change (the lineage contract); this registry is
//! the switch, as the persist registry is for cached blocks.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::ids::NodeId;

/// One node's checkpoint: where it goes, the typed layer's writer for it, and once written
/// the typed node that reads it.
#[derive(Clone)]
pub struct Checkpoint {
    /// The directory (any storage URL) its partitions are written under.
    pub dir: String,
    /// The typed layer's writer (opaque to the engine).
    pub writer: Arc<dyn Any + Send + Sync>,
    /// The typed reading node, once written (opaque to the engine).
    pub written: Option<Arc<dyn Any + Send + Sync>>,
    /// Why the last attempt to write it failed, if it did.
    pub last_error: Option<String>,
}

/// The checkpoints of one context, by node.
#[derive(Default)]
pub struct CheckpointRegistry {
    entries: Mutex<HashMap<NodeId, Checkpoint>>,
    /// How many are written: reads skip the lock while none is.
    written: AtomicUsize,
}

impl CheckpointRegistry {
    /// Marks `node` for checkpointing into `dir`, written by `writer` (a second mark keeps
    /// the first).
    pub fn mark(&self, node: NodeId, dir: String, writer: Arc<dyn Any + Send + Sync>) {
        self.lock().entry(node).or_insert(Checkpoint { dir, writer, written: None, last_error: None });
    }

    /// The checkpoint of `node`, if it was marked.
    pub fn get(&self, node: NodeId) -> Option<Checkpoint> {
        self.lock().get(&node).cloned()
    }

    /// Records that `node`'s checkpoint is written and is read through `reader`.
    pub fn set_written(&self, node: NodeId, reader: Arc<dyn Any + Send + Sync>) {
        if let Some(entry) = self.lock().get_mut(&node)
            && entry.written.replace(reader).is_none()
        {
            self.written.fetch_add(1, Ordering::Release);
        }
    }

    /// Records why writing `node`'s checkpoint failed (it stays marked, to be tried again).
    pub fn set_failed(&self, node: NodeId, why: String) {
        if let Some(entry) = self.lock().get_mut(&node) {
            entry.last_error = Some(why);
        }
    }

    /// The reading node of `node`'s written checkpoint. Cost: one atomic load while no
    /// checkpoint is written.
    pub fn written(&self, node: NodeId) -> Option<Arc<dyn Any + Send + Sync>> {
        if self.written.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.lock().get(&node).and_then(|c| c.written.clone())
    }

    /// Whether `node`'s checkpoint is written.
    pub fn is_written(&self, node: NodeId) -> bool {
        self.written(node).is_some()
    }

    /// Every node whose checkpoint is written.
    pub fn written_nodes(&self) -> Vec<NodeId> {
        if self.written.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        self.lock().iter().filter(|(_, c)| c.written.is_some()).map(|(&n, _)| n).collect()
    }

    /// Whether any node is marked and not written yet.
    pub fn any_pending(&self) -> bool {
        self.lock().values().any(|c| c.written.is_none())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Checkpoint>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
