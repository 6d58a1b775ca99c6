//! Co-grouping two keyed RDDs: the basis of the join family.

use std::hash::Hash;
use std::sync::Arc;

use ember_engine::lineage::{Dependency, LineageNode, NodeMeta, PartitionerDesc, ShuffleDependency};
use ember_engine::{TaskContext, TaskFailure};

use super::shuffled::read_shuffle;
use super::{Compute, PartitionIter, iterator};
use crate::data::Data;
use crate::pair::CoGrouped;

/// How one input reaches the co-grouped partition: through a shuffle, or directly when it is
/// already partitioned like the output (no shuffle needed).
pub(crate) enum Side<K, X> {
    /// Read the shuffle's bucket for the partition.
    Shuffled(Arc<ShuffleDependency>),
    /// Read the same partition of an already co-partitioned parent.
    Narrow(Arc<dyn Compute<(K, X)>>),
}

impl<K: Data, X: Data> Side<K, X> {
    fn dependency(&self) -> Dependency {
        match self {
            Side::Shuffled(dep) => Dependency::Shuffle(Arc::clone(dep)),
            Side::Narrow(parent) => Dependency::OneToOne(Arc::clone(parent) as Arc<dyn LineageNode>),
        }
    }

    fn records(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<(K, X)>, TaskFailure> {
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
}

impl<K: Data, V: Data, W: Data> CoGroupedNode<K, V, W> {
    pub(crate) fn new(meta: NodeMeta, left: Side<K, V>, right: Side<K, W>, partitioner: PartitionerDesc) -> Self {
        let deps = vec![left.dependency(), right.dependency()];
        CoGroupedNode { meta, left, right, deps, partitioner }
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

impl<K: Data + Hash + Eq, V: Data, W: Data> Compute<CoGrouped<K, V, W>> for CoGroupedNode<K, V, W> {
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<CoGrouped<K, V, W>>, TaskFailure> {
        let mut groups: hashbrown::HashMap<K, (Vec<V>, Vec<W>)> = hashbrown::HashMap::new();
        for (k, v) in self.left.records(partition, ctx)? {
            groups.entry(k).or_default().0.push(v);
        }
        for (k, w) in self.right.records(partition, ctx)? {
            groups.entry(k).or_default().1.push(w);
        }
        Ok(Box::new(groups.into_iter()))
    }
}
