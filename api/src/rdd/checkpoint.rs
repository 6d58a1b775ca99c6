//! `checkpoint()`: a node whose partitions, once written to the checkpoint directory, are
//! read from there, and whose lineage then starts at the checkpoint.

use std::sync::{Arc, OnceLock};

use ember_engine::lineage::{Dependency, LineageNode, NodeMeta, PartitionerDesc};
use ember_engine::{TaskContext, TaskFailure};

use super::{Compute, PartitionIter, Rdd, iterator};
use crate::actions::SaveMode;
use crate::context::Context;
use crate::data::Data;
use crate::error::Result;

/// Before its data is written, computes through its parent (one narrow dependency); after,
/// reads the object files under `dir` and has no dependencies. The switch happens once, when
/// the driver finishes writing (Spark's `RDDCheckpointData` does the same).
pub(crate) struct CheckpointNode<T> {
    meta: NodeMeta,
    original: Arc<dyn Compute<T>>,
    deps: [Dependency; 1],
    partitioner: Option<PartitionerDesc>,
    dir: String,
    source: OnceLock<Arc<dyn Compute<T>>>,
}

impl<T: Data> CheckpointNode<T> {
    pub(crate) fn new(meta: NodeMeta, original: Arc<dyn Compute<T>>, dir: String) -> Self {
        let deps = [Dependency::OneToOne(Arc::clone(&original) as Arc<dyn LineageNode>)];
        let partitioner = original.partitioner().cloned();
        CheckpointNode { meta, original, deps, partitioner, dir, source: OnceLock::new() }
    }

    pub(crate) fn dir(&self) -> &str {
        &self.dir
    }

    pub(crate) fn is_written(&self) -> bool {
        self.source.get().is_some()
    }

    /// Writes the parent's partitions under `dir` (one job), then switches to reading them.
    pub(crate) fn write(&self, ctx: &Context) -> Result<()> {
        if self.is_written() {
            return Ok(());
        }
        let parent = Rdd::from_node(Arc::clone(&self.original), ctx.clone());
        parent.save_as_object_file_with(&self.dir, SaveMode::Overwrite)?;
        let written = ctx.object_file::<T>(&self.dir)?;
        let _ = self.source.set(Arc::clone(written.node()));
        Ok(())
    }
}

impl<T: Data> LineageNode for CheckpointNode<T> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.original.num_partitions()
    }

    fn dependencies(&self) -> &[Dependency] {
        match self.source.get() {
            Some(_) => &[],
            None => &self.deps,
        }
    }

    fn partitioner(&self) -> Option<&PartitionerDesc> {
        self.partitioner.as_ref()
    }
}

impl<T: Data> Compute<T> for CheckpointNode<T> {
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure> {
        match self.source.get() {
            Some(source) => iterator(source.as_ref(), partition, ctx),
            None => iterator(self.original.as_ref(), partition, ctx),
        }
    }
}
