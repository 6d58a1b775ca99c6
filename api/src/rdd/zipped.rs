//! Zipping two RDDs partition by partition: partition `i` of each side feeds partition `i`.

use std::sync::Arc;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};

use super::{Compute, PartitionIter, iterator};

type ZipFn<T, U, O> = dyn Fn(PartitionIter<T>, PartitionIter<U>, &TaskContext) -> PartitionIter<O> + Send + Sync;

/// Partition `i` is `f(left partition i, right partition i)`. Both sides must have the same
/// partition count; a task fails (naming both counts) when they do not.
pub(crate) struct ZippedNode<T, U, O> {
    meta: NodeMeta,
    left: Arc<dyn Compute<T>>,
    right: Arc<dyn Compute<U>>,
    deps: [Dependency; 2],
    f: Box<ZipFn<T, U, O>>,
}

impl<T: 'static, U: 'static, O> ZippedNode<T, U, O> {
    pub(crate) fn new(
        meta: NodeMeta,
        left: Arc<dyn Compute<T>>,
        right: Arc<dyn Compute<U>>,
        f: Box<ZipFn<T, U, O>>,
    ) -> Self {
        let deps = [
            Dependency::OneToOne(Arc::clone(&left) as Arc<dyn LineageNode>),
            Dependency::OneToOne(Arc::clone(&right) as Arc<dyn LineageNode>),
        ];
        ZippedNode { meta, left, right, deps, f }
    }
}

impl<T: 'static, U: 'static, O> LineageNode for ZippedNode<T, U, O> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.left.num_partitions()
    }

    fn dependencies(&self) -> &[Dependency] {
        &self.deps
    }
}

impl<T: 'static, U: 'static, O> Compute<O> for ZippedNode<T, U, O> {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<O>, TaskFailure> {
        let (l, r) = (self.left.num_partitions(), self.right.num_partitions());
        if l != r {
            return Err(TaskFailure::error(format!(
                "{}: can't zip RDDs with unequal numbers of partitions ({l} and {r})",
                self.meta.describe()
            )));
        }
        let left = iterator(self.left.as_ref(), partition, ctx)?;
        let right = iterator(self.right.as_ref(), partition, ctx)?;
        Ok((self.f)(left, right, ctx))
    }
}

/// Pairs up two streams element by element; records a task failure when one ends first.
pub(crate) struct ZipExact<T, U> {
    left: PartitionIter<T>,
    right: PartitionIter<U>,
    ctx: TaskContext,
    what: String,
}

impl<T, U> ZipExact<T, U> {
    /// Zips `left` and `right` for the task `ctx`; `what` names the node in the failure.
    pub(crate) fn new(left: PartitionIter<T>, right: PartitionIter<U>, ctx: TaskContext, what: String) -> Self {
        ZipExact { left, right, ctx, what }
    }
}

impl<T, U> Iterator for ZipExact<T, U> {
    type Item = (T, U);

    fn next(&mut self) -> Option<(T, U)> {
        match (self.left.next(), self.right.next()) {
            (Some(x), Some(y)) => Some((x, y)),
            (None, None) => None,
            _ => {
                self.ctx.fail(TaskFailure::error(format!(
                    "{}: can only zip RDDs with the same number of elements in each partition (partition {})",
                    self.what,
                    self.ctx.partition()
                )));
                None
            }
        }
    }
}
