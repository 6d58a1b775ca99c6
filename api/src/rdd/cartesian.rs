//! The cartesian product of two RDDs: one output partition per pair of input partitions.

use std::ops::Range;
use std::sync::Arc;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};

use super::stream::collect_records;
use super::{Compute, PartitionIter, iterator};
use crate::data::Data;

/// Partition `i·Q + j` holds `(x, y)` for every `x` of left partition `i` and `y` of right
/// partition `j` (Q = the right side's partition count).
pub(crate) struct CartesianNode<T, U> {
    meta: NodeMeta,
    left: Arc<dyn Compute<T>>,
    right: Arc<dyn Compute<U>>,
    deps: [Dependency; 2],
}

impl<T: 'static, U: 'static> CartesianNode<T, U> {
    pub(crate) fn new(meta: NodeMeta, left: Arc<dyn Compute<T>>, right: Arc<dyn Compute<U>>) -> Self {
        let (p, q) = (left.num_partitions(), right.num_partitions());
        let left_inputs: Vec<Range<usize>> = (0..p * q).map(|k| k / q..k / q + 1).collect();
        let right_inputs: Vec<Range<usize>> = (0..p * q).map(|k| k % q..k % q + 1).collect();
        let deps = [
            Dependency::Ranges { parent: Arc::clone(&left) as Arc<dyn LineageNode>, inputs: left_inputs.into() },
            Dependency::Ranges { parent: Arc::clone(&right) as Arc<dyn LineageNode>, inputs: right_inputs.into() },
        ];
        CartesianNode { meta, left, right, deps }
    }
}

impl<T: 'static, U: 'static> LineageNode for CartesianNode<T, U> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.left.num_partitions() * self.right.num_partitions()
    }

    fn dependencies(&self) -> &[Dependency] {
        &self.deps
    }
}

impl<T: Data, U: Data> Compute<(T, U)> for CartesianNode<T, U> {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<(T, U)>, TaskFailure> {
        let (p, q) = (partition.index(), self.right.num_partitions());
        // The right partition is held in memory once; the left one streams past it.
        let right = collect_records(iterator(self.right.as_ref(), PartitionId::new(p % q), ctx)?)?;
        let right: Arc<Vec<U>> = Arc::new(right);
        let left = iterator(self.left.as_ref(), PartitionId::new(p / q), ctx)?;
        Ok(Box::new(left.flat_map(move |x| {
            let right = Arc::clone(&right);
            (0..right.len()).map(move |j| (x.clone(), right[j].clone()))
        })))
    }
}
