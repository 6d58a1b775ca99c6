//! Sources from the driver's memory: `parallelize` (a `Vec`) and `range` (generated numbers).

use std::ops::Range;
use std::sync::Arc;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};

use super::stream::Interruptible;
use super::{Compute, PartitionIter};
use crate::data::Data;

/// Spark's slicing: slice `i` of `slices` over `len` elements is `i·len/slices ..
/// (i+1)·len/slices`.
pub(crate) fn slice_bounds(len: usize, slices: usize) -> Vec<Range<usize>> {
    let (len, slices) = (len as u128, slices as u128);
    (0..slices).map(|i| (i * len / slices) as usize..((i + 1) * len / slices) as usize).collect()
}

/// A `Vec` held by the driver, cut into slices. Tasks clone the elements of their slice.
pub(crate) struct ParallelCollectionNode<T> {
    meta: NodeMeta,
    data: Arc<Vec<T>>,
    slices: Vec<Range<usize>>,
}

impl<T> ParallelCollectionNode<T> {
    pub(crate) fn new(meta: NodeMeta, data: Vec<T>, slices: usize) -> Self {
        let slices = slice_bounds(data.len(), slices);
        ParallelCollectionNode { meta, data: Arc::new(data), slices }
    }
}

impl<T: Data> LineageNode for ParallelCollectionNode<T> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.slices.len()
    }

    fn dependencies(&self) -> &[Dependency] {
        &[]
    }
}

impl<T: Data> Compute<T> for ParallelCollectionNode<T> {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure> {
        let range = self.slices[partition.index()].clone();
        ctx.add_records_read(range.len() as u64);
        let data = Arc::clone(&self.data);
        Ok(Box::new(Interruptible::new(Box::new(range.map(move |i| data[i].clone())), ctx)))
    }
}

/// `start, start + step, ...` excluding `end`, generated per partition.
pub(crate) struct RangeNode {
    meta: NodeMeta,
    start: i64,
    step: i64,
    slices: Vec<Range<usize>>,
}

impl RangeNode {
    pub(crate) fn new(meta: NodeMeta, start: i64, end: i64, step: i64, slices: usize) -> Self {
        let span = end as i128 - start as i128;
        let step128 = step as i128;
        let count = if span == 0 || (span > 0) != (step > 0) {
            0
        } else {
            // Ceiling division of two values with the same sign.
            ((span.abs() + step128.abs() - 1) / step128.abs()) as usize
        };
        RangeNode { meta, start, step, slices: slice_bounds(count, slices) }
    }
}

impl LineageNode for RangeNode {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.slices.len()
    }

    fn dependencies(&self) -> &[Dependency] {
        &[]
    }
}

impl Compute<i64> for RangeNode {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<i64>, TaskFailure> {
        let range = self.slices[partition.index()].clone();
        ctx.add_records_read(range.len() as u64);
        let (start, step) = (self.start as i128, self.step as i128);
        // Every generated value lies between start and end, so it fits in an i64.
        let numbers = range.map(move |i| (start + i as i128 * step) as i64);
        Ok(Box::new(Interruptible::new(Box::new(numbers), ctx)))
    }
}

#[cfg(test)]
mod tests {
    use super::slice_bounds;

    #[test]
    fn slices_like_spark() {
        assert_eq!(slice_bounds(3, 7), vec![0..0, 0..0, 0..1, 1..1, 1..2, 2..2, 2..3]);
        assert_eq!(slice_bounds(10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(slice_bounds(0, 2), vec![0..0, 0..0]);
    }
}
