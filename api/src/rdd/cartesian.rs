//! The cartesian product of two RDDs: one output partition per pair of input partitions.

use std::ops::Range;
use std::panic::Location;
use std::sync::Arc;

use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};

use super::{Compute, PartitionIter, Rdd, iterator};
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
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<(T, U)>, TaskFailure> {
        let q = self.right.num_partitions();
        // The right partition is held in memory once; the left one streams past it.
        let right: Arc<Vec<U>> = Arc::new(iterator(self.right.as_ref(), partition % q, ctx)?.collect());
        let left = iterator(self.left.as_ref(), partition / q, ctx)?;
        Ok(Box::new(left.flat_map(move |x| {
            let right = Arc::clone(&right);
            (0..right.len()).map(move |j| (x.clone(), right[j].clone()))
        })))
    }
}

impl<T: Data> Rdd<T> {
    /// Every pair `(x, y)` of an element `x` of this RDD and an element `y` of `other`, in
    /// P·Q partitions (one per pair of input partitions). Narrow: no shuffle, but each output
    /// partition reads one partition of each side, so inputs are recomputed Q and P times
    /// (persist them when they are expensive).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let pairs = ctx.parallelize(vec![1, 2], 2).cartesian(&ctx.parallelize(vec!['a', 'b'], 1));
    /// assert_eq!(pairs.num_partitions(), 2);
    /// assert_eq!(pairs.collect()?, vec![(1, 'a'), (1, 'b'), (2, 'a'), (2, 'b')]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn cartesian<U: Data>(&self, other: &Rdd<U>) -> Rdd<(T, U)> {
        let meta = self.context().new_meta("cartesian", Location::caller());
        let node = CartesianNode::new(meta, Arc::clone(self.node()), Arc::clone(other.node()));
        Rdd::from_node(Arc::new(node), self.context().clone())
    }
}
