//! Zipping two RDDs partition by partition: partition `i` of each side feeds partition `i`.

use std::panic::Location;
use std::sync::Arc;

use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};

use super::{Compute, PartitionIter, Rdd, iterator};
use crate::data::Data;

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
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<O>, TaskFailure> {
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
struct ZipExact<T, U> {
    left: PartitionIter<T>,
    right: PartitionIter<U>,
    ctx: TaskContext,
    what: String,
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

impl<T: Data> Rdd<T> {
    /// Pairs the `j`-th element of each partition with the `j`-th element of the same
    /// partition of `other`. Narrow: no shuffle. Both RDDs must have the same partition
    /// count and the same number of elements in each partition (as when one is a `map` of
    /// the other).
    ///
    /// # Errors
    /// The action fails with [`crate::Error::Job`] when the partition counts or sizes differ.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![1, 2, 3], 2);
    /// assert_eq!(a.zip(&a.map(|x| x * 10)).collect()?, vec![(1, 10), (2, 20), (3, 30)]);
    /// assert!(a.zip(&ctx.parallelize(vec![1, 2, 3], 3)).collect().is_err());
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn zip<U: Data>(&self, other: &Rdd<U>) -> Rdd<(T, U)> {
        let meta = self.context().new_meta("zip", Location::caller());
        let what = meta.describe();
        let f = Box::new(move |left, right, ctx: &TaskContext| -> PartitionIter<(T, U)> {
            Box::new(ZipExact { left, right, ctx: ctx.clone(), what: what.clone() })
        });
        let node = ZippedNode::new(meta, Arc::clone(self.node()), Arc::clone(other.node()), f);
        Rdd::from_node(Arc::new(node), self.context().clone())
    }

    /// Combines partition `i` of this RDD and partition `i` of `other` with `f`, which gets
    /// both iterators and returns the new partition's elements. Narrow: no shuffle. The
    /// partition counts must be equal (partition sizes may differ).
    ///
    /// # Errors
    /// The action fails with [`crate::Error::Job`] when the partition counts differ.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![1, 2, 3], 2);
    /// let b = ctx.parallelize(vec!['x', 'y', 'z', 'w'], 2);
    /// let sizes = a.zip_partitions(&b, |xs, ys| std::iter::once((xs.count(), ys.count())));
    /// assert_eq!(sizes.collect()?, vec![(1, 2), (2, 2)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn zip_partitions<U: Data, O: Data, I, F>(&self, other: &Rdd<U>, f: F) -> Rdd<O>
    where
        I: IntoIterator<Item = O>,
        I::IntoIter: 'static,
        F: Fn(PartitionIter<T>, PartitionIter<U>) -> I + Send + Sync + 'static,
    {
        let meta = self.context().new_meta("zip_partitions", Location::caller());
        let f =
            Box::new(move |left, right, _: &TaskContext| -> PartitionIter<O> { Box::new(f(left, right).into_iter()) });
        let node = ZippedNode::new(meta, Arc::clone(self.node()), Arc::clone(other.node()), f);
        Rdd::from_node(Arc::new(node), self.context().clone())
    }
}
