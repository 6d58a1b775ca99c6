//! Coalesce without a shuffle: each output partition concatenates a run of parent partitions.

use std::ops::Range;
use std::panic::Location;
use std::sync::Arc;

use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};

use super::{Compute, PartitionIter, Rdd, iterator};
use crate::data::Data;
use crate::partitioner::HashPartitioner;

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
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure> {
        let mut parts = Vec::with_capacity(self.inputs[partition].len());
        for p in self.inputs[partition].clone() {
            parts.push(iterator(self.parent.as_ref(), p, ctx)?);
        }
        Ok(Box::new(parts.into_iter().flatten()))
    }
}

impl<T: Data> Rdd<T> {
    /// Reduces the partition count to `partitions` without a shuffle: output partition `i`
    /// concatenates, in order, a contiguous run of input partitions (Spark's coalescer when
    /// there is no locality to follow). Asking for as many partitions as there are, or more,
    /// returns the RDD unchanged; use [`Rdd::repartition`] to increase the count. Narrow: no
    /// shuffle.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.parallelize((1..=6).collect(), 3).coalesce(2);
    /// assert_eq!(rdd.glom().collect()?, vec![vec![1, 2], vec![3, 4, 5, 6]]);
    /// assert_eq!(ctx.parallelize(vec![1], 2).coalesce(5).num_partitions(), 2);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn coalesce(&self, partitions: usize) -> Rdd<T> {
        let partitions = partitions.max(1);
        if partitions >= self.num_partitions() {
            return self.clone();
        }
        let meta = self.context().new_meta("coalesce", Location::caller());
        let groups = coalesce_groups(self.num_partitions(), partitions);
        Rdd::from_node(Arc::new(CoalescedNode::new(meta, Arc::clone(self.node()), groups)), self.context().clone())
    }

    /// Redistributes the elements evenly over `partitions` partitions (more or fewer than
    /// now). Shuffles: each input partition deals its elements round-robin, as Spark's
    /// `repartition` does, starting at a position spread by its index.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.parallelize((0..100).collect::<Vec<i32>>(), 2).repartition(4);
    /// let sizes: Vec<usize> = rdd.glom().collect()?.iter().map(Vec::len).collect();
    /// assert_eq!(sizes, vec![25, 25, 25, 25]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn repartition(&self, partitions: usize) -> Rdd<T> {
        let call_site = Location::caller();
        let n = partitions.max(1);
        let parents = self.num_partitions().max(1);
        let dealt = self.narrow("repartition", call_site, false, move |p, iter, _| {
            // Spreading the starting positions evenly keeps small partitions from all landing
            // in partition 0, and is deterministic (Spark draws it at random).
            let start = p * n / parents;
            Box::new(iter.enumerate().map(move |(j, x)| ((start + j) % n, x)))
        });
        // A usize key below 2^31 lands in partition `key mod n` (see `HashPartitioner`).
        dealt.shuffle_raw(
            "repartition",
            call_site,
            Arc::new(HashPartitioner::new(n)),
            Box::new(|records, _| Ok(Box::new(records.map(|(_, x)| x)))),
        )
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
