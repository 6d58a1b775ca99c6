//! The one narrow node: partition `i` is a function of parent partition `i`.

use std::marker::PhantomData;
use std::sync::Arc;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta, PartitionerDesc};
use ember_engine::{TaskContext, TaskFailure};

use super::{Compute, PartitionIter, iterator, teardown};

type PartitionFn<T, U> = dyn Fn(usize, PartitionIter<T>, &TaskContext) -> PartitionIter<U> + Send + Sync;

/// `map`, `filter`, `flat_map`, `map_partitions`, `glom`, `key_by`, ...: each is this node
/// with a different function. The function runs once per partition and wraps the parent's
/// iterator, so a chain of them streams records without materialising.
///
/// Its parent is held twice (typed, and as its one dependency), both taken by its drop and
/// handed to [`teardown::drop_later`], so a chain of any length drops without recursion.
pub(crate) struct MapPartitionsNode<T: 'static, U> {
    meta: NodeMeta,
    /// `None` only once the node is being dropped.
    parent: Option<Arc<dyn Compute<T>>>,
    deps: Vec<Dependency>,
    /// The parent's partition count, kept so that asking is `O(1)`, not `O(depth)`.
    num_partitions: usize,
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
        let deps = vec![Dependency::OneToOne(Arc::clone(&parent) as Arc<dyn LineageNode>)];
        let num_partitions = parent.num_partitions();
        let f = Box::new(f);
        MapPartitionsNode { meta, parent: Some(parent), deps, num_partitions, partitioner, f, _out: PhantomData }
    }
}

impl<T: 'static, U> Drop for MapPartitionsNode<T, U> {
    fn drop(&mut self) {
        let parents = (self.parent.take(), std::mem::take(&mut self.deps));
        teardown::drop_later(Box::new(parents));
    }
}

impl<T: 'static, U> LineageNode for MapPartitionsNode<T, U> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.num_partitions
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
        let parent = self.parent.as_deref().expect("only the node's drop takes its parent");
        let input = iterator(parent, partition, ctx)?;
        Ok((self.f)(partition.index(), input, ctx))
    }
}
