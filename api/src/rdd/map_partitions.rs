//! The one narrow node: partition `i` is a function of parent partition `i`.

use std::marker::PhantomData;
use std::sync::Arc;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta, PartitionerDesc};
use ember_engine::{TaskContext, TaskFailure};

use super::{Compute, PartitionIter, iterator};

type PartitionFn<T, U> = dyn Fn(usize, PartitionIter<T>, &TaskContext) -> PartitionIter<U> + Send + Sync;

/// `map`, `filter`, `flat_map`, `map_partitions`, `glom`, `key_by`, ...: each is this node
/// with a different function. The function runs once per partition and wraps the parent's
/// iterator, so a chain of them streams records without materialising.
pub(crate) struct MapPartitionsNode<T, U> {
    meta: NodeMeta,
    parent: Arc<dyn Compute<T>>,
    deps: [Dependency; 1],
    partitioner: Option<PartitionerDesc>,
    f: Box<PartitionFn<T, U>>,
    _out: PhantomData<fn() -> U>,
}

impl<T: 'static, U> MapPartitionsNode<T, U> {
    pub(crate) fn new<F>(
        meta: NodeMeta,
        parent: Arc<dyn Compute<T>>,
        partitioner: Option<PartitionerDesc>,
        f: F,
    ) -> Self
    where
        F: Fn(usize, PartitionIter<T>, &TaskContext) -> PartitionIter<U> + Send + Sync + 'static,
    {
        let deps = [Dependency::OneToOne(Arc::clone(&parent) as Arc<dyn LineageNode>)];
        MapPartitionsNode { meta, parent, deps, partitioner, f: Box::new(f), _out: PhantomData }
    }
}

impl<T: 'static, U> LineageNode for MapPartitionsNode<T, U> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.parent.num_partitions()
    }

    fn dependencies(&self) -> &[Dependency] {
        &self.deps
    }

    fn partitioner(&self) -> Option<&PartitionerDesc> {
        self.partitioner.as_ref()
    }
}

impl<T: 'static, U> Compute<U> for MapPartitionsNode<T, U> {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<U>, TaskFailure> {
        let input = iterator(self.parent.as_ref(), partition, ctx)?;
        Ok((self.f)(partition.index(), input, ctx))
    }
}
