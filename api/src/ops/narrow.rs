//! Narrow operators on any `Rdd<T>`: each output partition is computed from a fixed set of
//! input partitions, with no shuffle. `map`, `filter`, `flat_map` and the other one-parent
//! operators are a few lines over [`Rdd::narrow`] (one `MapPartitionsNode`); `union`,
//! `coalesce`, `zip`, `zip_partitions` and `cartesian` each build their own node from
//! `rdd/`.

use std::convert::Infallible;
use std::panic::Location;
use std::sync::Arc;

use ember_engine::TaskContext;

use crate::data::Data;
use crate::rdd::cartesian::CartesianNode;
use crate::rdd::coalesced::{CoalescedNode, coalesce_groups};
use crate::rdd::stream::{FilterStream, FlatMapStream, MapStream, TryMapStream};
use crate::rdd::union::UnionNode;
use crate::rdd::zipped::{ZipExact, ZippedNode};
use crate::rdd::{PartitionIter, Rdd};

impl<T: Data> Rdd<T> {
    /// Applies `f` to every element. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![1, 2, 3], 2).map(|x| x * 10).collect()?, vec![10, 20, 30]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn map<U: Data, F>(&self, f: F) -> Rdd<U>
    where
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow_layer("map", Location::caller(), false, move |_, iter, _, op| {
            let f = Arc::clone(&f);
            Box::new(MapStream::new(iter, op, move |x| f(x)))
        })
    }

    /// Applies a fallible `f` to every element: an `Err` fails the task with that error as
    /// its cause, and the job's error names this call site, the partition and the element's
    /// index ([`Error::call_site`](crate::Error::call_site),
    /// [`Error::element`](crate::Error::element)). Narrow: no shuffle. Local mode tries a
    /// task once, so a bad record fails the job at once.
    ///
    /// # Examples
    /// ```
    /// use std::error::Error as _;
    /// use ember::prelude::*;
    ///
    /// let ctx = Context::local(2)?;
    /// let lines = ctx.parallelize(vec!["1".to_string(), "2".to_string(), "x".to_string()], 1);
    /// let err = lines.try_map(|s| s.parse::<u32>()).collect().unwrap_err();
    /// assert_eq!(err.element(), Some(2));
    /// assert!(err.to_string().contains("invalid digit"), "{err}");
    /// assert!(err.source().is_some(), "the parse error is the cause");
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn try_map<U: Data, E, F>(&self, f: F) -> Rdd<U>
    where
        E: std::error::Error + Send + Sync + 'static,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow_layer("try_map", Location::caller(), false, move |_, iter, _, op| {
            let f = Arc::clone(&f);
            Box::new(TryMapStream::new(iter, op, move |x| f(x)))
        })
    }

    /// Applies `f` to every element and flattens what it returns (any `IntoIterator`).
    /// Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let words = ctx
    ///     .parallelize(vec!["to be".to_string(), "or not".to_string()], 2)
    ///     .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>());
    /// assert_eq!(words.collect()?, vec!["to", "be", "or", "not"]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn flat_map<U: Data, I, F>(&self, f: F) -> Rdd<U>
    where
        I: IntoIterator<Item = U> + 'static,
        F: Fn(T) -> I + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow_layer("flat_map", Location::caller(), false, move |_, iter, _, op| {
            let f = Arc::clone(&f);
            Box::new(FlatMapStream::new(iter, op, move |x| Ok::<_, Infallible>(f(x))))
        })
    }

    /// Applies a fallible `f` to every element and flattens what its `Ok` holds: an `Err`
    /// fails the task with that error as its cause, naming this call site, the partition and
    /// the element's index. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    ///
    /// let ctx = Context::local(2)?;
    /// let rows = ctx.parallelize(vec!["1,2".to_string(), "3,x".to_string()], 1);
    /// let numbers = rows.try_flat_map(|row| row.split(',').map(str::parse::<u32>).collect::<Result<Vec<_>, _>>());
    /// let err = numbers.collect().unwrap_err();
    /// assert!(err.call_site().is_some_and(|at| at.starts_with("try_flat_map at ")), "{err}");
    /// assert_eq!(err.element(), Some(1));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn try_flat_map<U: Data, I, E, F>(&self, f: F) -> Rdd<U>
    where
        I: IntoIterator<Item = U> + 'static,
        E: std::error::Error + Send + Sync + 'static,
        F: Fn(T) -> Result<I, E> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow_layer("try_flat_map", Location::caller(), false, move |_, iter, _, op| {
            let f = Arc::clone(&f);
            Box::new(FlatMapStream::new(iter, op, move |x| f(x)))
        })
    }

    /// Keeps the elements for which `predicate` is true. Narrow; keeps the partitioner.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(0, 10, 1, 3).filter(|x| x % 4 == 0).collect()?, vec![0, 4, 8]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn filter<F>(&self, predicate: F) -> Rdd<T>
    where
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        self.narrow_layer("filter", Location::caller(), true, move |_, iter, _, op| {
            let predicate = Arc::clone(&predicate);
            Box::new(FilterStream::new(iter, op, move |x: &T| predicate(x)))
        })
    }

    /// Keeps the elements for which a fallible `predicate` answers `Ok(true)`: an `Err`
    /// fails the task with that error as its cause, naming this call site, the partition
    /// and the element's index. Narrow; keeps the partitioner.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    ///
    /// let ctx = Context::local(2)?;
    /// let rows = ctx.parallelize(vec!["7".to_string(), "12".to_string()], 1);
    /// let big = rows.try_filter(|s| s.parse::<u32>().map(|n| n > 9));
    /// assert_eq!(big.collect()?, vec!["12".to_string()]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn try_filter<E, F>(&self, predicate: F) -> Rdd<T>
    where
        E: std::error::Error + Send + Sync + 'static,
        F: Fn(&T) -> Result<bool, E> + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        self.narrow_layer("try_filter", Location::caller(), true, move |_, iter, _, op| {
            let predicate = Arc::clone(&predicate);
            Box::new(FilterStream::new(iter, op, move |x: &T| predicate(x)))
        })
    }

    /// Transforms each partition as a whole: `f` receives the partition's iterator and returns
    /// the new partition's elements (any `IntoIterator`, lazy or not). Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let sums = ctx.parallelize(vec![1, 2, 3, 4], 2).map_partitions(|it| std::iter::once(it.sum::<i32>()));
    /// assert_eq!(sums.collect()?, vec![3, 7]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn map_partitions<U: Data, I, F>(&self, f: F) -> Rdd<U>
    where
        I: IntoIterator<Item = U>,
        I::IntoIter: 'static,
        F: Fn(PartitionIter<T>) -> I + Send + Sync + 'static,
    {
        self.narrow("map_partitions", Location::caller(), false, move |_, iter, _| Box::new(f(iter).into_iter()))
    }

    /// Like [`Rdd::map_partitions`], and `f` also receives the partition's index.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let tagged = ctx.parallelize(vec!['a', 'b', 'c'], 2).map_partitions_with_index(|i, it| it.map(move |c| (i, c)));
    /// assert_eq!(tagged.collect()?, vec![(0, 'a'), (1, 'b'), (1, 'c')]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn map_partitions_with_index<U: Data, I, F>(&self, f: F) -> Rdd<U>
    where
        I: IntoIterator<Item = U>,
        I::IntoIter: 'static,
        F: Fn(usize, PartitionIter<T>) -> I + Send + Sync + 'static,
    {
        self.narrow("map_partitions_with_index", Location::caller(), false, move |p, iter, _| {
            Box::new(f(p, iter).into_iter())
        })
    }

    /// Pairs every element with a key computed from it: `(f(x), x)`. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let keyed = ctx.parallelize(vec!["apple".to_string(), "kiwi".to_string()], 2).key_by(|s| s.len());
    /// assert_eq!(keyed.collect()?, vec![(5, "apple".to_string()), (4, "kiwi".to_string())]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn key_by<K: Data, F>(&self, f: F) -> Rdd<(K, T)>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.key_by_impl(f, Location::caller())
    }

    pub(crate) fn key_by_impl<K: Data, F>(&self, f: F, call_site: &'static Location<'static>) -> Rdd<(K, T)>
    where
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow("key_by", call_site, false, move |_, iter, _| {
            let f = Arc::clone(&f);
            Box::new(iter.map(move |x| (f(&x), x)))
        })
    }

    /// Turns each partition into one element: the `Vec` of its elements. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![1, 2, 3], 3).glom().collect()?, vec![vec![1], vec![2], vec![3]]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn glom(&self) -> Rdd<Vec<T>> {
        self.narrow("glom", Location::caller(), false, |_, iter, _| Box::new(std::iter::once(iter.collect::<Vec<T>>())))
    }

    /// Pairs every element with a unique id without running a job: the `j`-th element of
    /// partition `k` gets `j·P + k` (P = the partition count), so ids have gaps when
    /// partitions differ in size. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let ids = ctx.parallelize(vec!['a', 'b', 'c'], 2).zip_with_unique_id();
    /// assert_eq!(ids.collect()?, vec![('a', 0), ('b', 1), ('c', 3)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn zip_with_unique_id(&self) -> Rdd<(T, u64)> {
        let n = self.num_partitions() as u64;
        self.narrow("zip_with_unique_id", Location::caller(), false, move |p, iter, _| {
            Box::new(iter.zip(0u64..).map(move |(x, j)| (x, j * n + p as u64)))
        })
    }

    /// This RDD's partitions followed by `other`'s, duplicates kept. Narrow: no shuffle; the
    /// result has the sum of both partition counts.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let both = ctx.parallelize(vec![1, 2], 1).union(&ctx.parallelize(vec![2, 3], 2));
    /// assert_eq!((both.num_partitions(), both.collect()?), (3, vec![1, 2, 2, 3]));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn union(&self, other: &Rdd<T>) -> Rdd<T> {
        let meta = self.context().new_meta("union", Location::caller());
        let node = UnionNode::new(meta, vec![Arc::clone(self.node()), Arc::clone(other.node())]);
        Rdd::from_node(Arc::new(node), self.context().clone())
    }

    /// Reduces the partition count to `partitions` without a shuffle: output partition `i`
    /// concatenates, in order, a contiguous run of input partitions (Spark's coalescer when
    /// there is no locality to follow). Asking for as many partitions as there are, or more,
    /// returns the RDD unchanged; use [`Rdd::repartition`] to increase the count. Narrow: no
    /// shuffle.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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

    /// Pairs the `j`-th element of each partition with the `j`-th element of the same
    /// partition of `other`. Narrow: no shuffle. Both RDDs must have the same partition
    /// count and the same number of elements in each partition (as when one is a `map` of
    /// the other).
    ///
    /// # Errors
    /// The action fails with an error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) when the partition counts or sizes differ.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
            Box::new(ZipExact::new(left, right, ctx.clone(), what.clone()))
        });
        let node = ZippedNode::new(meta, Arc::clone(self.node()), Arc::clone(other.node()), f);
        Rdd::from_node(Arc::new(node), self.context().clone())
    }

    /// Combines partition `i` of this RDD and partition `i` of `other` with `f`, which gets
    /// both iterators and returns the new partition's elements. Narrow: no shuffle. The
    /// partition counts must be equal (partition sizes may differ).
    ///
    /// # Errors
    /// The action fails with an error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) when the partition counts differ.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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

    /// Every pair `(x, y)` of an element `x` of this RDD and an element `y` of `other`, in
    /// P·Q partitions (one per pair of input partitions). Narrow: no shuffle, but each output
    /// partition reads one partition of each side, so inputs are recomputed Q and P times
    /// (persist them when they are expensive).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
