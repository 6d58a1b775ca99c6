//! Coalesce without a shuffle: each output partition concatenates a run of parent partitions.

use std::ops::Range;
use std::sync::Arc;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};

use super::{Compute, PartitionIter, iterator};

/// Spark's grouping of `parents` partitions into `n` when there is no locality to follow:
/// output partition `i` reads parent partitions `i·P/n .. (i+1)·P/n`.
pub(crate) fn coalesce_groups(parents: usize, n: usize) -> Vec<Range<usize>> {
    (0..n).map(|i| i * parents / n..(i + 1) * parents / n).collect()
}

/// Partition `i` is parent partitions `inputs[i]`, one after another, in order.
pub(crate) struct CoalescedNode<T> {
    meta: NodeMeta,
    parent: Arc<dyn Compute<T>>,
    inputs: Arc<[Range<usize>]>,
    deps: [Dependency; 1],
}

impl<T: 'static> CoalescedNode<T> {
    pub(crate) fn new(meta: NodeMeta, parent: Arc<dyn Compute<T>>, inputs: Vec<Range<usize>>) -> Self {
        let inputs: Arc<[Range<usize>]> = inputs.into();
        let deps =
            [Dependency::Ranges { parent: Arc::clone(&parent) as Arc<dyn LineageNode>, inputs: Arc::clone(&inputs) }];
        CoalescedNode { meta, parent, inputs, deps }
    }
}

impl<T: 'static> LineageNode for CoalescedNode<T> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.inputs.len()
    }

    fn dependencies(&self) -> &[Dependency] {
        &self.deps
    }
}

impl<T: 'static> Compute<T> for CoalescedNode<T> {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure> {
        let inputs = self.inputs[partition.index()].clone();
        let mut parts = Vec::with_capacity(inputs.len());
        for p in inputs {
            parts.push(iterator(self.parent.as_ref(), PartitionId::new(p), ctx)?);
        }
        Ok(Box::new(parts.into_iter().flatten()))
    }
}

#[cfg(test)]
mod tests {
    use super::coalesce_groups;

    #[test]
    fn groups_like_spark() {
        assert_eq!(coalesce_groups(5, 2), vec![0..2, 2..5]);
        assert_eq!(coalesce_groups(7, 3), vec![0..2, 2..4, 4..7]);
        assert_eq!(coalesce_groups(4, 4), vec![0..1, 1..2, 2..3, 3..4]);
    }
}
