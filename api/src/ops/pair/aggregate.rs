//! Aggregation by key: `combine_by_key`, the one implementation under every aggregation
//! (`reduce_by_key`, `fold_by_key`, `aggregate_by_key`, `group_by_key`, and `distinct`), and
//! the actions over it (`count_by_key`, `collect_as_map`).

use std::collections::HashMap;
use std::hash::Hash;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use ember_engine::TaskContext;
use ember_engine::task::Operation;

use crate::aggregator::{Aggregator, CreateFn, MergeFn};
use crate::context::Action;
use crate::data::Data;
use crate::error::Result;
use crate::job::JobHandle;
use crate::partitioner::{Partitioner, default_partitioner};
use crate::rdd::shuffled::{MapSource, ShuffledNode, records_of, shuffle_of};
use crate::rdd::stream::collect_records;
use crate::rdd::{PartitionIter, Rdd, iterator};
use crate::spill::aggregate::{combine_external, combine_partial};

impl<K: Data + Hash + Eq, V: Data> Rdd<(K, V)> {
    /// The general aggregation (Spark's `combineByKey`): per key, `create` turns the first
    /// value seen in a map partition into a combiner, `merge_value` folds the partition's
    /// later values into it, and `merge_combiners` merges the partitions' combiners after the
    /// shuffle. Combining happens before the shuffle (map-side combine), so only one record
    /// per key and map partition crosses it.
    ///
    /// Shuffles into as many partitions as the input has, unless the input is already hash
    /// partitioned that way (then it combines in place, without a shuffle).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let scores = ctx.parallelize(vec![('a', 3.0), ('b', 1.0), ('a', 5.0)], 2);
    /// // (sum, count) per key, then the mean.
    /// let mut means = scores
    ///     .combine_by_key(|v| (v, 1), |(s, n), v| (s + v, n + 1), |(s1, n1), (s2, n2)| (s1 + s2, n1 + n2))
    ///     .map_values(|(s, n)| s / n as f64)
    ///     .collect()?;
    /// means.sort_by(|a, b| a.0.cmp(&b.0));
    /// assert_eq!(means, vec![('a', 4.0), ('b', 1.0)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn combine_by_key<C: Data>(
        &self,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
    ) -> Rdd<(K, C)> {
        self.combine_by_key_impl(
            "combine_by_key",
            Aggregator::new(create, merge_value, merge_combiners),
            None,
            Location::caller(),
        )
    }

    /// [`Rdd::combine_by_key`] into `partitions` partitions.
    #[track_caller]
    pub fn combine_by_key_with_partitions<C: Data>(
        &self,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
        partitions: usize,
    ) -> Rdd<(K, C)> {
        self.combine_by_key_impl(
            "combine_by_key",
            Aggregator::new(create, merge_value, merge_combiners),
            Some(partitions),
            Location::caller(),
        )
    }

    /// The one implementation behind every aggregation by key, into `partitions` partitions
    /// (when `None`, as [`default_partitioner`] chooses).
    pub(crate) fn combine_by_key_impl<C: Data>(
        &self,
        op_name: &'static str,
        aggregator: Aggregator<V, C>,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, C)> {
        let partitioner: Arc<dyn Partitioner<K>> =
            Arc::new(default_partitioner(&[self.node().as_ref()], partitions, self.context().default_parallelism()));
        let Aggregator { create, merge_value, merge_combiners, map_side } = aggregator;
        // One size hint per side of the operation, shared by its tasks.
        let (map_hint, reduce_hint) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        if self.node().partitioner() == Some(&partitioner.describe()) {
            // Every key already lives in exactly one partition: combine in place.
            return self.narrow(op_name, call_site, true, move |_, iter, ctx| {
                match combine_external(iter, create.as_ref(), merge_value.as_ref(), &merge_combiners, &map_hint, ctx) {
                    Ok(combined) => combined,
                    Err(failure) => {
                        ctx.fail(failure);
                        Box::new(std::iter::empty())
                    }
                }
            });
        }
        let ctx = self.context().clone();
        let meta = ctx.new_meta(op_name, call_site);
        if map_side {
            let parent = Arc::clone(self.node());
            let source: Box<MapSource<K, C>> = Box::new(move |p, tc| {
                let records = iterator(parent.as_ref(), p, tc)?;
                Ok(combine_partial(records, Arc::clone(&create), Arc::clone(&merge_value), &map_hint, tc))
            });
            let shuffle = shuffle_of(self, Operation::new(op_name, call_site), partitioner, source);
            let reduce = Box::new(move |records: PartitionIter<(K, C)>, tc: &TaskContext| {
                combine_external(records, &|c| c, merge_combiners.as_ref(), &merge_combiners, &reduce_hint, tc)
            });
            Rdd::from_node(Arc::new(ShuffledNode::new(meta, shuffle, reduce)), ctx)
        } else {
            let shuffle = shuffle_of(self, Operation::new(op_name, call_site), partitioner, records_of(self));
            let reduce = Box::new(move |records: PartitionIter<(K, V)>, tc: &TaskContext| {
                combine_external(records, create.as_ref(), merge_value.as_ref(), &merge_combiners, &reduce_hint, tc)
            });
            Rdd::from_node(Arc::new(ShuffledNode::new(meta, shuffle, reduce)), ctx)
        }
    }

    /// Merges the values of each key with `f` (associative and commutative), combining on
    /// the map side first. Shuffles into as many partitions as the input has.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let words = vec!["a".to_string(), "b".to_string(), "a".to_string()];
    /// let mut counts = ctx.parallelize(words, 2).map(|w| (w, 1)).reduce_by_key(|x, y| x + y).collect()?;
    /// counts.sort();
    /// assert_eq!(counts, vec![("a".to_string(), 2), ("b".to_string(), 1)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn reduce_by_key<F>(&self, f: F) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_impl(f, None, Location::caller())
    }

    /// [`Rdd::reduce_by_key`] into `partitions` partitions.
    #[track_caller]
    pub fn reduce_by_key_with_partitions<F>(&self, f: F, partitions: usize) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.reduce_by_key_impl(f, Some(partitions), Location::caller())
    }

    fn reduce_by_key_impl<F>(
        &self,
        f: F,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.combine_by_key_impl("reduce_by_key", Aggregator::reducing(f), partitions, call_site)
    }

    /// Folds the values of each key with `f`, starting from `zero` once per key and input
    /// partition (so a non-neutral `zero` counts once per partition holding the key, as in
    /// Spark). Shuffles.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let sums = ctx.parallelize(vec![('a', 1), ('a', 2)], 1).fold_by_key(0, |x, y| x + y).collect()?;
    /// assert_eq!(sums, vec![('a', 3)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn fold_by_key<F>(&self, zero: V, f: F) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.fold_by_key_impl(zero, f, None, Location::caller())
    }

    /// [`Rdd::fold_by_key`] into `partitions` partitions.
    #[track_caller]
    pub fn fold_by_key_with_partitions<F>(&self, zero: V, f: F, partitions: usize) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        self.fold_by_key_impl(zero, f, Some(partitions), Location::caller())
    }

    fn fold_by_key_impl<F>(
        &self,
        zero: V,
        f: F,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let f: MergeFn<V, V> = Arc::new(f);
        self.aggregate_by_key_impl("fold_by_key", zero, Arc::clone(&f), f, partitions, call_site)
    }

    /// Aggregates the values of each key into a `U`: per key and input partition, start from
    /// `zero` and fold values in with `seq`; then merge the partitions' results with `comb`.
    /// Shuffles.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let lens = ctx.parallelize(vec![('a', "xy".to_string()), ('a', "z".to_string())], 2)
    ///     .aggregate_by_key(0usize, |n, s| n + s.len(), |a, b| a + b)
    ///     .collect()?;
    /// assert_eq!(lens, vec![('a', 3)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn aggregate_by_key<U: Data>(
        &self,
        zero: U,
        seq: impl Fn(U, V) -> U + Send + Sync + 'static,
        comb: impl Fn(U, U) -> U + Send + Sync + 'static,
    ) -> Rdd<(K, U)> {
        self.aggregate_by_key_impl("aggregate_by_key", zero, Arc::new(seq), Arc::new(comb), None, Location::caller())
    }

    /// [`Rdd::aggregate_by_key`] into `partitions` partitions.
    #[track_caller]
    pub fn aggregate_by_key_with_partitions<U: Data>(
        &self,
        zero: U,
        seq: impl Fn(U, V) -> U + Send + Sync + 'static,
        comb: impl Fn(U, U) -> U + Send + Sync + 'static,
        partitions: usize,
    ) -> Rdd<(K, U)> {
        self.aggregate_by_key_impl(
            "aggregate_by_key",
            zero,
            Arc::new(seq),
            Arc::new(comb),
            Some(partitions),
            Location::caller(),
        )
    }

    /// Per key and input partition: `zero`, then `seq` over the values; then `comb` across
    /// partitions. The one implementation of `fold_by_key` and `aggregate_by_key`.
    fn aggregate_by_key_impl<U: Data>(
        &self,
        op_name: &'static str,
        zero: U,
        seq: MergeFn<U, V>,
        comb: MergeFn<U, U>,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, U)> {
        let first = Arc::clone(&seq);
        let create: CreateFn<V, U> = Arc::new(move |v| first(zero.clone(), v));
        let aggregator = Aggregator { create, merge_value: seq, merge_combiners: comb, map_side: true };
        self.combine_by_key_impl(op_name, aggregator, partitions, call_site)
    }

    /// Groups the values of each key into a `Vec` (in no particular order). Shuffles every
    /// value (no map-side combine, as in Spark); prefer `reduce_by_key` or
    /// `aggregate_by_key` when the group is only folded afterwards.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let mut groups = ctx.parallelize(vec![(1, 'a'), (2, 'b'), (1, 'c')], 2).group_by_key().collect()?;
    /// groups.iter_mut().for_each(|(_, vs)| vs.sort());
    /// groups.sort();
    /// assert_eq!(groups, vec![(1, vec!['a', 'c']), (2, vec!['b'])]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn group_by_key(&self) -> Rdd<(K, Vec<V>)> {
        self.group_by_key_impl(None, Location::caller())
    }

    /// [`Rdd::group_by_key`] into `partitions` partitions.
    #[track_caller]
    pub fn group_by_key_with_partitions(&self, partitions: usize) -> Rdd<(K, Vec<V>)> {
        self.group_by_key_impl(Some(partitions), Location::caller())
    }

    pub(crate) fn group_by_key_impl(
        &self,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, Vec<V>)> {
        let aggregator = Aggregator::new(
            |v| vec![v],
            |mut vs: Vec<V>, v| {
                vs.push(v);
                vs
            },
            |mut a: Vec<V>, b: Vec<V>| {
                a.extend(b);
                a
            },
        );
        self.combine_by_key_impl("group_by_key", aggregator.without_map_side_combine(), partitions, call_site)
    }

    /// Counts the pairs of each key, returned to the driver. Runs a job (a shuffle with
    /// map-side combine).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let counts = ctx.parallelize(vec![('a', 1), ('b', 2), ('a', 3)], 2).count_by_key()?;
    /// assert_eq!((counts[&'a'], counts[&'b']), (2, 1));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn count_by_key(&self) -> Result<HashMap<K, u64>> {
        self.count_by_key_async().wait()
    }

    /// [`Rdd::count_by_key`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn count_by_key_async(&self) -> JobHandle<HashMap<K, u64>> {
        let action = Action::here("count_by_key");
        let call_site = action.call_site();
        let ones = self.narrow("count_by_key", call_site, true, |_, iter, _| Box::new(iter.map(|(k, _)| (k, 1u64))));
        ones.reduce_by_key_impl(|a, b| a + b, None, call_site).collect_as_map_for(action)
    }

    /// Collects the pairs into a `HashMap` on the driver (a later pair wins over an earlier
    /// one with the same key). Runs a job.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let map = ctx.parallelize(vec![('a', 1), ('b', 2)], 2).collect_as_map()?;
    /// assert_eq!(map[&'b'], 2);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn collect_as_map(&self) -> Result<HashMap<K, V>> {
        self.collect_as_map_async().wait()
    }

    /// [`Rdd::collect_as_map`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn collect_as_map_async(&self) -> JobHandle<HashMap<K, V>> {
        self.collect_as_map_for(Action::here("collect_as_map"))
    }

    /// Collects the pairs into a map for `action`.
    pub(crate) fn collect_as_map_for(&self, action: Action) -> JobHandle<HashMap<K, V>> {
        self.context().submit_all(
            self,
            action,
            |_, iter, _| collect_records(iter),
            |parts: Result<Vec<Vec<(K, V)>>>| Ok(parts?.into_iter().flatten().collect()),
        )
    }
}
