//! Dependencies between lineage nodes: narrow ones stay inside a stage, shuffles cut stages.

use std::ops::Range;
use std::sync::{Arc, Weak};

use super::{LineageNode, PartitionerDesc};
use crate::error::TaskFailure;
use crate::ids::{PartitionId, ShuffleId};
use crate::shuffle::MapOutput;
use crate::task::TaskContext;

/// How a child partition depends on its parent's partitions.
#[derive(Clone)]
pub enum Dependency {
    /// Child partition `i` reads parent partition `i` (map, filter, ...).
    OneToOne(Arc<dyn LineageNode>),
    /// Child partitions `out_start..out_start + len` read parent partitions
    /// `in_start..in_start + len` (union).
    Range {
        /// The parent.
        parent: Arc<dyn LineageNode>,
        /// First parent partition covered.
        in_start: usize,
        /// First child partition covered.
        out_start: usize,
        /// How many partitions.
        len: usize,
    },
    /// Child partition `i` reads the parent partitions `inputs[i]`, a contiguous range that
    /// may be empty or cover several parent partitions (coalesce without a shuffle, one side
    /// of a cartesian product). Narrow: it stays inside the stage.
    Ranges {
        /// The parent.
        parent: Arc<dyn LineageNode>,
        /// For each child partition, the parent partitions it reads.
        inputs: Arc<[Range<usize>]>,
    },
    /// Every child partition reads a bucket of every parent partition: a stage boundary.
    Shuffle(Arc<ShuffleDependency>),
}

impl Dependency {
    /// The parent node.
    pub fn parent(&self) -> &Arc<dyn LineageNode> {
        match self {
            Dependency::OneToOne(parent) | Dependency::Range { parent, .. } | Dependency::Ranges { parent, .. } => {
                parent
            }
            Dependency::Shuffle(dep) => &dep.parent,
        }
    }
}

/// Computes one map partition and splits it into one serialized bucket per reduce partition.
///
/// Built by the typed layer from the parent's compute function, the partitioner and the
/// optional map-side combiner, so the engine runs shuffle-map tasks without knowing the
/// record types.
pub trait MapOutputWriter: Send + Sync {
    /// Computes map partition `map` and returns its output: exactly one bucket per reduce
    /// partition, each a run of encoded records, built with a
    /// [`crate::shuffle::MapOutputBuffer`] so it spills under memory pressure. Runs on a worker
    /// thread, once per task attempt.
    ///
    /// # Errors
    /// Any failure of the parent's computation or of encoding, as a [`TaskFailure`].
    fn write(&self, map: PartitionId, ctx: &TaskContext) -> Result<MapOutput, TaskFailure>;
}

/// Told when a shuffle can no longer be reached from any RDD, so its map outputs can be
/// freed. Implemented by the context's scheduler loop; called from whichever thread drops the
/// last handle to the shuffle, so it must only pass the news on, never block or do I/O.
pub trait ShuffleCleanup: Send + Sync {
    /// `shuffle`'s dependency was dropped.
    fn shuffle_dropped(&self, shuffle: ShuffleId);
}

/// A shuffle: the parent whose output is redistributed, the reduce-side partitioner, and the
/// writer that produces the buckets. Dropping the last handle frees the shuffle's outputs.
pub struct ShuffleDependency {
    /// The shuffle's id, assigned in creation order.
    pub shuffle_id: ShuffleId,
    /// The map side.
    pub parent: Arc<dyn LineageNode>,
    /// How records are placed on the reduce side.
    pub partitioner: PartitionerDesc,
    /// Computes and buckets one map partition.
    pub writer: Arc<dyn MapOutputWriter>,
    cleanup: Option<Weak<dyn ShuffleCleanup>>,
}

impl ShuffleDependency {
    /// A shuffle of `parent` into `partitioner.num_partitions` reduce partitions.
    pub(crate) fn new(
        shuffle_id: ShuffleId,
        parent: Arc<dyn LineageNode>,
        partitioner: PartitionerDesc,
        writer: Arc<dyn MapOutputWriter>,
        cleanup: Option<Weak<dyn ShuffleCleanup>>,
    ) -> Self {
        ShuffleDependency { shuffle_id, parent, partitioner, writer, cleanup }
    }

    /// How many map tasks the shuffle has: one per parent partition.
    pub fn num_maps(&self) -> usize {
        self.parent.num_partitions()
    }
}

impl Drop for ShuffleDependency {
    // Spark's ContextCleaner frees a shuffle once no RDD can reach it; here the last reference
    // to the dependency is exactly that moment.
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.as_ref().and_then(Weak::upgrade) {
            cleanup.shuffle_dropped(self.shuffle_id);
        }
    }
}
