//! Union: the parents' partitions one after another.

use std::sync::Arc;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};

use super::{Compute, PartitionIter, iterator};

/// Partition `i` is partition `i - offset` of the parent whose range covers `i`.
pub(crate) struct UnionNode<T> {
    meta: NodeMeta,
    parents: Vec<Arc<dyn Compute<T>>>,
    deps: Vec<Dependency>,
    /// First output partition of each parent.
    offsets: Vec<usize>,
    num_partitions: usize,
}

impl<T: 'static> UnionNode<T> {
    pub(crate) fn new(meta: NodeMeta, parents: Vec<Arc<dyn Compute<T>>>) -> Self {
        let mut offsets = Vec::with_capacity(parents.len());
        let mut deps = Vec::with_capacity(parents.len());
        let mut next = 0;
        for parent in &parents {
            let len = parent.num_partitions();
            offsets.push(next);
            deps.push(Dependency::Range {
                parent: Arc::clone(parent) as Arc<dyn LineageNode>,
                in_start: 0,
                out_start: next,
                len,
            });
            next += len;
        }
        UnionNode { meta, parents, deps, offsets, num_partitions: next }
    }
}

impl<T: 'static> LineageNode for UnionNode<T> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.num_partitions
    }

    fn dependencies(&self) -> &[Dependency] {
        &self.deps
    }
}

impl<T: 'static> Compute<T> for UnionNode<T> {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure> {
        // The last parent whose first partition is at or before `partition`; empty parents
        // share an offset with their successor, so take the last match.
        let p = partition.index();
        let k = self.offsets.partition_point(|&start| start <= p) - 1;
        iterator(self.parents[k].as_ref(), PartitionId::new(p - self.offsets[k]), ctx)
    }
}
