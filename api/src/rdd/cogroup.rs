//! Co-grouping two keyed RDDs: the basis of the join family.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta, PartitionerDesc, ShuffleDependency};
use ember_engine::task::Operation;
use ember_engine::{TaskContext, TaskFailure};

use super::shuffled::{read_shuffle, records_of, shuffle_of};
use super::{Compute, PartitionIter, Rdd, iterator};
use crate::aggregator::MergeFn;
use crate::data::Data;
use crate::partitioner::Partitioner;
use crate::spill::aggregate::combine_external;

/// What `cogroup` yields: each key with its values from the first and from the second input.
pub type CoGrouped<K, V, W> = (K, (Vec<V>, Vec<W>));

/// How one input reaches the co-grouped partition: through a shuffle, or directly when it is
/// already partitioned like the output (no shuffle needed).
pub(crate) enum Side<K, X> {
    /// Read the shuffle's bucket for the partition.
    Shuffled(Arc<ShuffleDependency>),
    /// Read the same partition of an already co-partitioned parent.
    Narrow(Arc<dyn Compute<(K, X)>>),
}

impl<K: Data + Hash + Eq, X: Data> Side<K, X> {
    /// How `rdd` feeds a co-group partitioned by `partitioner`: directly when it is already
    /// partitioned that way, through a shuffle otherwise.
    pub(crate) fn of(rdd: &Rdd<(K, X)>, op: Operation, partitioner: &Arc<dyn Partitioner<K>>) -> Self {
        if rdd.node().partitioner() == Some(&partitioner.describe()) {
            return Side::Narrow(Arc::clone(rdd.node()));
        }
        Side::Shuffled(shuffle_of(rdd, op, Arc::clone(partitioner), records_of(rdd)))
    }
}

impl<K: Data, X: Data> Side<K, X> {
    fn dependency(&self) -> Dependency {
        match self {
            Side::Shuffled(dep) => Dependency::Shuffle(Arc::clone(dep)),
            Side::Narrow(parent) => Dependency::OneToOne(Arc::clone(parent) as Arc<dyn LineageNode>),
        }
    }

    fn records(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<(K, X)>, TaskFailure> {
        match self {
            Side::Shuffled(dep) => read_shuffle(dep, partition, ctx),
            Side::Narrow(parent) => iterator(parent.as_ref(), partition, ctx),
        }
    }
}

/// Partition `p` holds, for every key placed in `p` on either side, the key with all its
/// values from each side: `(k, (vs, ws))`.
pub(crate) struct CoGroupedNode<K, V, W> {
    meta: NodeMeta,
    left: Side<K, V>,
    right: Side<K, W>,
    deps: Vec<Dependency>,
    partitioner: PartitionerDesc,
    size_hint: AtomicUsize,
}

impl<K: Data, V: Data, W: Data> CoGroupedNode<K, V, W> {
    pub(crate) fn new(meta: NodeMeta, left: Side<K, V>, right: Side<K, W>, partitioner: PartitionerDesc) -> Self {
        let deps = vec![left.dependency(), right.dependency()];
        CoGroupedNode { meta, left, right, deps, partitioner, size_hint: AtomicUsize::new(0) }
    }
}

impl<K: Data, V: Data, W: Data> LineageNode for CoGroupedNode<K, V, W> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.partitioner.num_partitions
    }

    fn dependencies(&self) -> &[Dependency] {
        &self.deps
    }

    fn partitioner(&self) -> Option<&PartitionerDesc> {
        Some(&self.partitioner)
    }
}

/// One key's values from each side.
type Group<V, W> = (Vec<V>, Vec<W>);

/// A value from one side of a co-group.
enum Tagged<V, W> {
    Left(V),
    Right(W),
}

impl<K: Data + Hash + Eq, V: Data, W: Data> Compute<CoGrouped<K, V, W>> for CoGroupedNode<K, V, W> {
    /// Groups both sides' values by key in one aggregation (so it spills like any other when
    /// the task's memory share runs out): the left side's records first, then the right's.
    fn compute(
        &self,
        partition: PartitionId,
        ctx: &TaskContext,
    ) -> Result<PartitionIter<CoGrouped<K, V, W>>, TaskFailure> {
        let left = self.left.records(partition, ctx)?.map(|(k, v)| (k, Tagged::Left(v)));
        let right = self.right.records(partition, ctx)?.map(|(k, w)| (k, Tagged::Right(w)));
        let merge_groups: MergeFn<Group<V, W>, Group<V, W>> = Arc::new(|mut a, b| {
            a.0.extend(b.0);
            a.1.extend(b.1);
            a
        });
        combine_external(
            Box::new(left.chain(right)),
            &|tagged| add((Vec::new(), Vec::new()), tagged),
            &add,
            &merge_groups,
            &self.size_hint,
            ctx,
        )
    }
}

/// Adds one side's value to a key's group.
fn add<V, W>(mut group: Group<V, W>, tagged: Tagged<V, W>) -> Group<V, W> {
    match tagged {
        Tagged::Left(v) => group.0.push(v),
        Tagged::Right(w) => group.1.push(w),
    }
    group
}
