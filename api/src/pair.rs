//! Operations on key-value RDDs, `Rdd<(K, V)>`: they appear exactly when elements are pairs.
//!
//! Every aggregating operation is a thin layer over one general aggregator,
//! [`Rdd::combine_by_key`]; joins are a thin layer over [`Rdd::cogroup`]. An operation whose
//! input is already partitioned by the partitioner it needs does not shuffle again.

use std::collections::HashMap;
use std::hash::Hash;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use ember_engine::{PartitionerKind, TaskContext};
use rand::{RngExt, SeedableRng};

use crate::data::Data;
use crate::error::Result;
use crate::partitioner::{HashPartitioner, Partitioner, RangePartitioner};
use crate::rdd::cogroup::{CoGroupedNode, Side};
use crate::rdd::shuffled::{MapSource, ShuffleWriter, ShuffledNode};
use crate::rdd::{PartitionIter, Rdd, iterator};
use crate::spill::aggregate::{combine_external, combine_partial};
use crate::spill::sort::sort_external;

/// What `cogroup` yields: each key with its values from the first and from the second input.
pub type CoGrouped<K, V, W> = (K, (Vec<V>, Vec<W>));

/// What `cogroup3` yields: each key with its values from each of the three inputs.
pub type CoGrouped3<K, V, W1, W2> = (K, (Vec<V>, Vec<W1>, Vec<W2>));

/// What `full_outer_join` yields: each key with a value from either side or both.
pub type FullOuter<K, V, W> = (K, (Option<V>, Option<W>));

pub(crate) type CreateFn<V, C> = Arc<dyn Fn(V) -> C + Send + Sync>;
pub(crate) type MergeFn<C, V> = Arc<dyn Fn(C, V) -> C + Send + Sync>;

impl<K: Data, V: Data> Rdd<(K, V)> {
    /// Applies `f` to every value, keeping keys and the partitioner. Narrow.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let doubled = ctx.parallelize(vec![('a', 1), ('b', 2)], 2).map_values(|v| v * 2);
    /// assert_eq!(doubled.collect()?, vec![('a', 2), ('b', 4)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn map_values<U: Data, F>(&self, f: F) -> Rdd<(K, U)>
    where
        F: Fn(V) -> U + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow("map_values", Location::caller(), true, move |_, iter, _| {
            let f = Arc::clone(&f);
            Box::new(iter.map(move |(k, v)| (k, f(v))))
        })
    }

    /// Replaces every value by the values `f` returns for it, keeping the key and the
    /// partitioner. Narrow.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let spread = ctx.parallelize(vec![('a', 2)], 1).flat_map_values(|n| 0..n);
    /// assert_eq!(spread.collect()?, vec![('a', 0), ('a', 1)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn flat_map_values<U: Data, I, F>(&self, f: F) -> Rdd<(K, U)>
    where
        I: IntoIterator<Item = U> + 'static,
        F: Fn(V) -> I + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.narrow("flat_map_values", Location::caller(), true, move |_, iter, _| {
            let f = Arc::clone(&f);
            Box::new(iter.flat_map(move |(k, v)| f(v).into_iter().map(move |u| (k.clone(), u))))
        })
    }

    /// Shuffles the pairs unchanged and hands each reduce partition's stream to `reduce`.
    pub(crate) fn shuffle_raw<O: Data>(
        &self,
        op_name: &'static str,
        call_site: &'static Location<'static>,
        partitioner: Arc<dyn Partitioner<K>>,
        reduce: Box<crate::rdd::shuffled::ReduceFn<K, V, O>>,
    ) -> Rdd<O> {
        let ctx = self.context().clone();
        let parent = Arc::clone(self.node());
        let desc = partitioner.describe();
        let source: Box<MapSource<K, V>> = Box::new(move |p, tc| iterator(parent.as_ref(), p, tc));
        let writer = Arc::new(ShuffleWriter::new(source, partitioner));
        let shuffle = ctx.engine().new_shuffle(self.lineage_node(), desc, writer);
        let meta = ctx.new_meta(op_name, call_site);
        Rdd::from_node(Arc::new(ShuffledNode::new(meta, shuffle, reduce)), ctx)
    }

    /// The keys. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![('a', 1), ('b', 2)], 2).keys().collect()?, vec!['a', 'b']);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn keys(&self) -> Rdd<K> {
        self.narrow("keys", Location::caller(), false, |_, iter, _| Box::new(iter.map(|(k, _)| k)))
    }

    /// The values. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![('a', 1), ('b', 2)], 2).values().collect()?, vec![1, 2]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn values(&self) -> Rdd<V> {
        self.narrow("values", Location::caller(), false, |_, iter, _| Box::new(iter.map(|(_, v)| v)))
    }
}

impl<K: Data + Hash + Eq, V: Data> Rdd<(K, V)> {
    /// The partitioner a shuffle uses when none is given: `partitions` if given; otherwise the
    /// input's own hash partitioner if it has one (so no reshuffle is needed); otherwise the
    /// context's default parallelism, or the input's partition count (Spark's rule).
    pub(crate) fn default_partitioner(&self, partitions: Option<usize>) -> Arc<dyn Partitioner<K>> {
        if let Some(n) = partitions {
            return Arc::new(HashPartitioner::new(n));
        }
        if let Some(desc) = self.node().partitioner().filter(|d| d.kind == PartitionerKind::Hash) {
            return Arc::new(HashPartitioner::new(desc.num_partitions));
        }
        let n = self.context().default_parallelism().unwrap_or(self.num_partitions()).max(1);
        Arc::new(HashPartitioner::new(n))
    }

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
    /// # use ember::prelude::*;
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
        let partitioner = self.default_partitioner(None);
        self.combine_by_key_impl(
            "combine_by_key",
            Location::caller(),
            partitioner,
            true,
            Arc::new(create),
            Arc::new(merge_value),
            Arc::new(merge_combiners),
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
        let partitioner = self.default_partitioner(Some(partitions));
        self.combine_by_key_impl(
            "combine_by_key",
            Location::caller(),
            partitioner,
            true,
            Arc::new(create),
            Arc::new(merge_value),
            Arc::new(merge_combiners),
        )
    }

    /// The one implementation behind every aggregation by key.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn combine_by_key_impl<C: Data>(
        &self,
        op_name: &'static str,
        call_site: &'static Location<'static>,
        partitioner: Arc<dyn Partitioner<K>>,
        map_side_combine: bool,
        create: CreateFn<V, C>,
        merge_value: MergeFn<C, V>,
        merge_combiners: MergeFn<C, C>,
    ) -> Rdd<(K, C)> {
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
        let parent = Arc::clone(self.node());
        let lineage_parent = self.lineage_node();
        let desc = partitioner.describe();
        let meta = ctx.new_meta(op_name, call_site);
        if map_side_combine {
            let source: Box<MapSource<K, C>> = Box::new(move |p, tc| {
                let records = iterator(parent.as_ref(), p, tc)?;
                Ok(combine_partial(records, Arc::clone(&create), Arc::clone(&merge_value), &map_hint, tc))
            });
            let writer = Arc::new(ShuffleWriter::new(source, partitioner));
            let shuffle = ctx.engine().new_shuffle(lineage_parent, desc, writer);
            let reduce = Box::new(move |records: PartitionIter<(K, C)>, tc: &TaskContext| {
                combine_external(records, &|c| c, merge_combiners.as_ref(), &merge_combiners, &reduce_hint, tc)
            });
            Rdd::from_node(Arc::new(ShuffledNode::new(meta, shuffle, reduce)), ctx)
        } else {
            let source: Box<MapSource<K, V>> = Box::new(move |p, tc| iterator(parent.as_ref(), p, tc));
            let writer = Arc::new(ShuffleWriter::new(source, partitioner));
            let shuffle = ctx.engine().new_shuffle(lineage_parent, desc, writer);
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
    /// # use ember::prelude::*;
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
        let f: MergeFn<V, V> = Arc::new(f);
        let partitioner = self.default_partitioner(partitions);
        self.combine_by_key_impl("reduce_by_key", call_site, partitioner, true, Arc::new(|v| v), Arc::clone(&f), f)
    }

    /// Folds the values of each key with `f`, starting from `zero` once per key and input
    /// partition (so a non-neutral `zero` counts once per partition holding the key, as in
    /// Spark). Shuffles.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
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
        let f: MergeFn<V, V> = Arc::new(f);
        let partitioner = self.default_partitioner(None);
        self.aggregate_by_key_with("fold_by_key", zero, Arc::clone(&f), f, partitioner, Location::caller())
    }

    /// [`Rdd::fold_by_key`] into `partitions` partitions.
    #[track_caller]
    pub fn fold_by_key_with_partitions<F>(&self, zero: V, f: F, partitions: usize) -> Rdd<(K, V)>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let f: MergeFn<V, V> = Arc::new(f);
        let partitioner = self.default_partitioner(Some(partitions));
        self.aggregate_by_key_with("fold_by_key", zero, Arc::clone(&f), f, partitioner, Location::caller())
    }

    /// Aggregates the values of each key into a `U`: per key and input partition, start from
    /// `zero` and fold values in with `seq`; then merge the partitions' results with `comb`.
    /// Shuffles.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
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
        let partitioner = self.default_partitioner(None);
        self.aggregate_by_key_with(
            "aggregate_by_key",
            zero,
            Arc::new(seq),
            Arc::new(comb),
            partitioner,
            Location::caller(),
        )
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
        let partitioner = self.default_partitioner(Some(partitions));
        self.aggregate_by_key_with(
            "aggregate_by_key",
            zero,
            Arc::new(seq),
            Arc::new(comb),
            partitioner,
            Location::caller(),
        )
    }

    /// Per key and input partition: `zero`, then `seq` over the values; then `comb` across
    /// partitions. The one implementation of `fold_by_key` and `aggregate_by_key`.
    fn aggregate_by_key_with<U: Data>(
        &self,
        op_name: &'static str,
        zero: U,
        seq: MergeFn<U, V>,
        comb: MergeFn<U, U>,
        partitioner: Arc<dyn Partitioner<K>>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, U)> {
        let first = Arc::clone(&seq);
        let create: CreateFn<V, U> = Arc::new(move |v| first(zero.clone(), v));
        self.combine_by_key_impl(op_name, call_site, partitioner, true, create, seq, comb)
    }

    /// Groups the values of each key into a `Vec` (in no particular order). Shuffles every
    /// value (no map-side combine, as in Spark); prefer `reduce_by_key` or
    /// `aggregate_by_key` when the group is only folded afterwards.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
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

    fn group_by_key_impl(&self, partitions: Option<usize>, call_site: &'static Location<'static>) -> Rdd<(K, Vec<V>)> {
        let partitioner = self.default_partitioner(partitions);
        self.combine_by_key_impl(
            "group_by_key",
            call_site,
            partitioner,
            false,
            Arc::new(|v| vec![v]),
            Arc::new(|mut vs: Vec<V>, v| {
                vs.push(v);
                vs
            }),
            Arc::new(|mut a: Vec<V>, b: Vec<V>| {
                a.extend(b);
                a
            }),
        )
    }

    /// Redistributes the pairs with `partitioner`. Returns this RDD unchanged when it is
    /// already partitioned that way; otherwise shuffles.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let parts = ctx.parallelize(vec![(0u32, 'a'), (1, 'b'), (2, 'c')], 1).partition_by(HashPartitioner::new(2));
    /// assert_eq!(parts.glom().collect()?, vec![vec![(0, 'a'), (2, 'c')], vec![(1, 'b')]]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn partition_by(&self, partitioner: impl Partitioner<K>) -> Rdd<(K, V)> {
        self.partition_by_impl(Arc::new(partitioner), Location::caller())
    }

    fn partition_by_impl(
        &self,
        partitioner: Arc<dyn Partitioner<K>>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, V)> {
        if self.node().partitioner() == Some(&partitioner.describe()) {
            return self.clone();
        }
        self.shuffle_raw("partition_by", call_site, partitioner, Box::new(|records, _| Ok(records)))
    }

    /// Counts the pairs of each key, returned to the driver. Runs a job (a shuffle with
    /// map-side combine).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let counts = ctx.parallelize(vec![('a', 1), ('b', 2), ('a', 3)], 2).count_by_key()?;
    /// assert_eq!((counts[&'a'], counts[&'b']), (2, 1));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn count_by_key(&self) -> Result<HashMap<K, u64>> {
        let call_site = Location::caller();
        let ones = self.narrow("count_by_key", call_site, true, |_, iter, _| Box::new(iter.map(|(k, _)| (k, 1u64))));
        ones.reduce_by_key_impl(|a, b| a + b, None, call_site).collect_as_map()
    }

    /// Collects the pairs into a `HashMap` on the driver (a later pair wins over an earlier
    /// one with the same key). Runs a job.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let map = ctx.parallelize(vec![('a', 1), ('b', 2)], 2).collect_as_map()?;
    /// assert_eq!(map[&'b'], 2);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn collect_as_map(&self) -> Result<HashMap<K, V>> {
        Ok(self.collect()?.into_iter().collect())
    }

    /// Groups both RDDs by key: for every key in either, `(key, (its values here, its values
    /// in other))`. Shuffles each input that is not already partitioned like the output.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![(1, 'x'), (2, 'y')], 2);
    /// let b = ctx.parallelize(vec![(1, 10)], 1);
    /// let mut g = a.cogroup(&b).collect()?;
    /// g.sort();
    /// assert_eq!(g, vec![(1, (vec!['x'], vec![10])), (2, (vec!['y'], vec![]))]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn cogroup<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<CoGrouped<K, V, W>> {
        let partitioner = self.pair_partitioner(other, None);
        self.cogroup_impl(other, partitioner, "cogroup", Location::caller())
    }

    /// [`Rdd::cogroup`] into `partitions` partitions.
    #[track_caller]
    pub fn cogroup_with_partitions<W: Data>(&self, other: &Rdd<(K, W)>, partitions: usize) -> Rdd<CoGrouped<K, V, W>> {
        let partitioner = self.pair_partitioner(other, Some(partitions));
        self.cogroup_impl(other, partitioner, "cogroup", Location::caller())
    }

    /// Groups three RDDs by key: for every key in any of them, `(key, (values here, values
    /// in a, values in b))`. Shuffles each input not already partitioned like the output
    /// (the first two are co-grouped, then the third joins them without re-shuffling them).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let x = ctx.parallelize(vec![(1, 'x')], 2);
    /// let y = ctx.parallelize(vec![(1, 10), (2, 20)], 1);
    /// let z = ctx.parallelize(vec![(3, 0.5)], 3);
    /// let mut g = x.cogroup3(&y, &z).collect()?;
    /// g.sort_by_key(|(k, _)| *k);
    /// assert_eq!(g, vec![(1, (vec!['x'], vec![10], vec![])), (2, (vec![], vec![20], vec![])), (3, (vec![], vec![], vec![0.5]))]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn cogroup3<W1: Data, W2: Data>(&self, a: &Rdd<(K, W1)>, b: &Rdd<(K, W2)>) -> Rdd<CoGrouped3<K, V, W1, W2>> {
        self.cogroup3_impl(a, b, None, Location::caller())
    }

    /// [`Rdd::cogroup3`] into `partitions` partitions.
    #[track_caller]
    pub fn cogroup3_with_partitions<W1: Data, W2: Data>(
        &self,
        a: &Rdd<(K, W1)>,
        b: &Rdd<(K, W2)>,
        partitions: usize,
    ) -> Rdd<CoGrouped3<K, V, W1, W2>> {
        self.cogroup3_impl(a, b, Some(partitions), Location::caller())
    }

    fn cogroup3_impl<W1: Data, W2: Data>(
        &self,
        a: &Rdd<(K, W1)>,
        b: &Rdd<(K, W2)>,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<CoGrouped3<K, V, W1, W2>> {
        let partitioner = match partitions {
            Some(n) => self.pair_partitioner(a, Some(n)),
            None => {
                // Spark's rule over all three inputs: an existing hash partitioner, else the
                // default parallelism or the largest partition count.
                let hashed = [self.node().partitioner(), a.node().partitioner(), b.node().partitioner()]
                    .into_iter()
                    .flatten()
                    .filter(|d| d.kind == PartitionerKind::Hash)
                    .map(|d| d.num_partitions)
                    .max();
                let largest = self.num_partitions().max(a.num_partitions()).max(b.num_partitions());
                let n = hashed.or(self.context().default_parallelism()).unwrap_or(largest).max(1);
                Arc::new(HashPartitioner::new(n)) as Arc<dyn Partitioner<K>>
            }
        };
        let first_two = self.cogroup_impl(a, Arc::clone(&partitioner), "cogroup3", call_site);
        first_two.cogroup_impl(b, partitioner, "cogroup3", call_site).narrow(
            "cogroup3",
            call_site,
            true,
            |_, iter, _| {
                Box::new(iter.map(|(k, (vs, ws))| {
                    let (left, middle) = vs.into_iter().next().unwrap_or_default();
                    (k, (left, middle, ws))
                }))
            },
        )
    }

    /// Spark's `defaultPartitioner` for two inputs: a given count wins; then the hash
    /// partitioner of either input (the larger one), so it needs no shuffle; then the default
    /// parallelism or the larger partition count.
    pub(crate) fn pair_partitioner<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: Option<usize>,
    ) -> Arc<dyn Partitioner<K>> {
        if let Some(n) = partitions {
            return Arc::new(HashPartitioner::new(n));
        }
        let hashed = [self.node().partitioner(), other.node().partitioner()]
            .into_iter()
            .flatten()
            .filter(|d| d.kind == PartitionerKind::Hash)
            .map(|d| d.num_partitions)
            .max();
        let n = hashed
            .or(self.context().default_parallelism())
            .unwrap_or(self.num_partitions().max(other.num_partitions()))
            .max(1);
        Arc::new(HashPartitioner::new(n))
    }

    pub(crate) fn cogroup_impl<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: Arc<dyn Partitioner<K>>,
        op_name: &'static str,
        call_site: &'static Location<'static>,
    ) -> Rdd<CoGrouped<K, V, W>> {
        let desc = partitioner.describe();
        let left = side(self, &partitioner);
        let right = side(other, &partitioner);
        let meta = self.context().new_meta(op_name, call_site);
        Rdd::from_node(Arc::new(CoGroupedNode::new(meta, left, right, desc)), self.context().clone())
    }

    /// Inner join: `(k, (v, w))` for every `v` of `k` here and every `w` of `k` in `other`.
    /// Shuffles each input that is not already partitioned like the output.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let ages = ctx.parallelize(vec![(1, 31), (2, 42)], 2); // (person id, age)
    /// let towns = ctx.parallelize(vec![(1, 'O'), (1, 'R'), (3, 'L')], 2); // (person id, town)
    /// let mut joined = ages.join(&towns).collect()?;
    /// joined.sort();
    /// assert_eq!(joined, vec![(1, (31, 'O')), (1, (31, 'R'))]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (V, W))> {
        let partitioner = self.pair_partitioner(other, None);
        self.join_impl(other, partitioner, Location::caller())
    }

    /// [`Rdd::join`] into `partitions` partitions.
    #[track_caller]
    pub fn join_with_partitions<W: Data>(&self, other: &Rdd<(K, W)>, partitions: usize) -> Rdd<(K, (V, W))> {
        let partitioner = self.pair_partitioner(other, Some(partitions));
        self.join_impl(other, partitioner, Location::caller())
    }

    fn join_impl<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: Arc<dyn Partitioner<K>>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, (V, W))> {
        self.cogroup_impl(other, partitioner, "join", call_site).narrow("join", call_site, true, |_, iter, _| {
            Box::new(iter.flat_map(|(k, (vs, ws))| {
                let mut pairs = Vec::with_capacity(vs.len() * ws.len());
                for v in &vs {
                    for w in &ws {
                        pairs.push((k.clone(), (v.clone(), w.clone())));
                    }
                }
                pairs
            }))
        })
    }

    /// Left outer join: like [`Rdd::join`], plus `(k, (v, None))` for each `v` whose key `k`
    /// is absent from `other`. Shuffles each input not already partitioned like the output.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![(1, 'a'), (2, 'b')], 2);
    /// let mut j = a.left_outer_join(&ctx.parallelize(vec![(1, 10)], 1)).collect()?;
    /// j.sort();
    /// assert_eq!(j, vec![(1, ('a', Some(10))), (2, ('b', None))]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn left_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (V, Option<W>))> {
        let partitioner = self.pair_partitioner(other, None);
        self.outer_join_impl(other, partitioner, "left_outer_join", Location::caller(), |vs, ws| {
            let ws: Vec<Option<W>> = if ws.is_empty() { vec![None] } else { ws.into_iter().map(Some).collect() };
            cross(vs, ws)
        })
    }

    /// [`Rdd::left_outer_join`] into `partitions` partitions.
    #[track_caller]
    pub fn left_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (V, Option<W>))> {
        let partitioner = self.pair_partitioner(other, Some(partitions));
        self.outer_join_impl(other, partitioner, "left_outer_join", Location::caller(), |vs, ws| {
            let ws: Vec<Option<W>> = if ws.is_empty() { vec![None] } else { ws.into_iter().map(Some).collect() };
            cross(vs, ws)
        })
    }

    /// Right outer join: like [`Rdd::join`], plus `(k, (None, w))` for each `w` of `other`
    /// whose key `k` is absent here. Shuffles each input not already partitioned like the
    /// output.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![(1, 'a')], 2);
    /// let mut j = a.right_outer_join(&ctx.parallelize(vec![(1, 10), (3, 30)], 1)).collect()?;
    /// j.sort();
    /// assert_eq!(j, vec![(1, (Some('a'), 10)), (3, (None, 30))]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn right_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (Option<V>, W))> {
        let partitioner = self.pair_partitioner(other, None);
        self.outer_join_impl(other, partitioner, "right_outer_join", Location::caller(), right_outer)
    }

    /// [`Rdd::right_outer_join`] into `partitions` partitions.
    #[track_caller]
    pub fn right_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (Option<V>, W))> {
        let partitioner = self.pair_partitioner(other, Some(partitions));
        self.outer_join_impl(other, partitioner, "right_outer_join", Location::caller(), right_outer)
    }

    /// Full outer join: every `(k, (Some(v), Some(w)))` of the inner join, plus
    /// `(k, (Some(v), None))` and `(k, (None, Some(w)))` for keys present on one side only.
    /// Shuffles each input not already partitioned like the output.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![(1, 'a'), (2, 'b')], 2);
    /// let mut j = a.full_outer_join(&ctx.parallelize(vec![(1, 10), (3, 30)], 1)).collect()?;
    /// j.sort();
    /// assert_eq!(j, vec![(1, (Some('a'), Some(10))), (2, (Some('b'), None)), (3, (None, Some(30)))]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn full_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<FullOuter<K, V, W>> {
        let partitioner = self.pair_partitioner(other, None);
        self.outer_join_impl(other, partitioner, "full_outer_join", Location::caller(), full_outer)
    }

    /// [`Rdd::full_outer_join`] into `partitions` partitions.
    #[track_caller]
    pub fn full_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<FullOuter<K, V, W>> {
        let partitioner = self.pair_partitioner(other, Some(partitions));
        self.outer_join_impl(other, partitioner, "full_outer_join", Location::caller(), full_outer)
    }

    /// The join family over `cogroup`: `pairs` turns one key's two value lists into the
    /// joined values of that key.
    fn outer_join_impl<W: Data, O: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: Arc<dyn Partitioner<K>>,
        op_name: &'static str,
        call_site: &'static Location<'static>,
        pairs: fn(Vec<V>, Vec<W>) -> Vec<O>,
    ) -> Rdd<(K, O)> {
        self.cogroup_impl(other, partitioner, op_name, call_site).narrow(op_name, call_site, true, move |_, iter, _| {
            Box::new(iter.flat_map(move |(k, (vs, ws))| pairs(vs, ws).into_iter().map(move |o| (k.clone(), o))))
        })
    }

    /// The values of `key`, brought to the driver. When this RDD's partitioner is a hash
    /// partitioner, only the partition that can hold `key` is computed; otherwise every
    /// partition is scanned.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let sums = ctx.parallelize(vec![('a', 1), ('b', 2), ('a', 3)], 2).reduce_by_key(|x, y| x + y);
    /// assert_eq!(sums.lookup(&'a')?, vec![4]);
    /// assert!(sums.lookup(&'z')?.is_empty());
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn lookup(&self, key: &K) -> Result<Vec<V>> {
        let partitions: Vec<usize> = match self.node().partitioner() {
            Some(desc) if desc.kind == PartitionerKind::Hash => {
                vec![Partitioner::<K>::partition(&HashPartitioner::new(desc.num_partitions), key)]
            }
            _ => (0..self.num_partitions()).collect(),
        };
        let wanted = key.clone();
        let parts = self.context().run_job(self, &partitions, move |_, iter, _| {
            Ok(iter.filter(|(k, _)| *k == wanted).map(|(_, v)| v).collect::<Vec<V>>())
        })?;
        Ok(parts.into_iter().flatten().collect())
    }
}

/// Every `(v, w)` of `vs` × `ws`.
fn cross<V: Clone, W: Clone>(vs: Vec<V>, ws: Vec<W>) -> Vec<(V, W)> {
    let mut out = Vec::with_capacity(vs.len() * ws.len());
    for v in &vs {
        for w in &ws {
            out.push((v.clone(), w.clone()));
        }
    }
    out
}

fn right_outer<V: Clone, W: Clone>(vs: Vec<V>, ws: Vec<W>) -> Vec<(Option<V>, W)> {
    let vs: Vec<Option<V>> = if vs.is_empty() { vec![None] } else { vs.into_iter().map(Some).collect() };
    cross(vs, ws)
}

fn full_outer<V: Clone, W: Clone>(vs: Vec<V>, ws: Vec<W>) -> Vec<(Option<V>, Option<W>)> {
    let vs: Vec<Option<V>> = if vs.is_empty() { vec![None] } else { vs.into_iter().map(Some).collect() };
    let ws: Vec<Option<W>> = if ws.is_empty() { vec![None] } else { ws.into_iter().map(Some).collect() };
    cross(vs, ws)
}

/// How `rdd` feeds a co-group partitioned by `partitioner`: directly when it is already
/// partitioned that way, through a shuffle otherwise.
fn side<K: Data + Hash + Eq, X: Data>(rdd: &Rdd<(K, X)>, partitioner: &Arc<dyn Partitioner<K>>) -> Side<K, X> {
    let desc = partitioner.describe();
    if rdd.node().partitioner() == Some(&desc) {
        return Side::Narrow(Arc::clone(rdd.node()));
    }
    let parent = Arc::clone(rdd.node());
    let source: Box<MapSource<K, X>> = Box::new(move |p, tc| iterator(parent.as_ref(), p, tc));
    let writer = Arc::new(ShuffleWriter::new(source, Arc::clone(partitioner)));
    Side::Shuffled(rdd.context().engine().new_shuffle(rdd.lineage_node(), desc, writer))
}

impl<K: Data + Ord, V: Data> Rdd<(K, V)> {
    /// All pairs sorted by key across partitions (partition 0 holds the smallest keys, or the
    /// largest when descending). Samples the keys first to build a range partitioner (this
    /// runs a small job now, as Spark's `sortByKey` does), then shuffles and sorts each
    /// partition. The relative order of equal keys is not specified.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let pairs = ctx.parallelize(vec![(3, 'c'), (1, 'a'), (2, 'b')], 2);
    /// assert_eq!(pairs.sort_by_key(true).collect()?, vec![(1, 'a'), (2, 'b'), (3, 'c')]);
    /// assert_eq!(pairs.sort_by_key(false).keys().collect()?, vec![3, 2, 1]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn sort_by_key(&self, ascending: bool) -> Rdd<(K, V)> {
        self.sort_by_key_impl(ascending, None, Location::caller())
    }

    /// [`Rdd::sort_by_key`] into `partitions` partitions.
    #[track_caller]
    pub fn sort_by_key_with_partitions(&self, ascending: bool, partitions: usize) -> Rdd<(K, V)> {
        self.sort_by_key_impl(ascending, Some(partitions), Location::caller())
    }

    pub(crate) fn sort_by_key_impl(
        &self,
        ascending: bool,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, V)> {
        let n = partitions.unwrap_or(self.num_partitions()).max(1);
        let sort = move |records: PartitionIter<(K, V)>, tc: &TaskContext| sort_external(records, ascending, tc);
        match self.sample_bounds(n, call_site) {
            Ok(bounds) => {
                let partitioner = Arc::new(RangePartitioner::from_bounds(bounds, n, ascending));
                self.shuffle_raw("sort_by_key", call_site, partitioner, Box::new(sort))
            }
            Err(err) => {
                // The sampling job failed: the sorted RDD fails with that cause when used.
                let message = format!("sampling keys for sort_by_key failed: {err}");
                let failing: Rdd<(K, V)> = self.failing("sort_by_key", call_site, message);
                failing.shuffle_raw(
                    "sort_by_key",
                    call_site,
                    Arc::new(RangePartitioner::from_bounds(Vec::new(), n, ascending)),
                    Box::new(sort),
                )
            }
        }
    }

    /// Range bounds for `n` partitions from a weighted sample of the keys (Spark's
    /// `RangePartitioner`): each partition contributes a reservoir sample of its keys, weighted
    /// by how many keys it had per sampled key.
    fn sample_bounds(&self, n: usize, call_site: &'static Location<'static>) -> Result<Vec<K>> {
        if n <= 1 || self.num_partitions() == 0 {
            return Ok(Vec::new());
        }
        let sample_size = (20 * n).min(1_000_000);
        let per_partition = (3 * sample_size).div_ceil(self.num_partitions());
        let keys = self.narrow("sort_by_key", call_site, false, |_, iter, _| Box::new(iter.map(|(k, _)| k)));
        let samples = self.context().run_all(&keys, move |p, iter, _| {
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0x5eed_0000 + p as u64);
            let mut reservoir: Vec<K> = Vec::with_capacity(per_partition);
            let mut seen = 0usize;
            for key in iter {
                seen += 1;
                if reservoir.len() < per_partition {
                    reservoir.push(key);
                } else {
                    let slot = rng.random_range(0..seen);
                    if slot < per_partition {
                        reservoir[slot] = key;
                    }
                }
            }
            Ok((seen, reservoir))
        })?;
        let mut weighted: Vec<(K, f64)> = Vec::new();
        for (seen, reservoir) in samples {
            if reservoir.is_empty() {
                continue;
            }
            let weight = seen as f64 / reservoir.len() as f64;
            weighted.extend(reservoir.into_iter().map(|k| (k, weight)));
        }
        weighted.sort_by(|a, b| a.0.cmp(&b.0));
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let step = total / n as f64;
        let mut bounds: Vec<K> = Vec::with_capacity(n - 1);
        let (mut cumulative, mut target) = (0.0, step);
        for (key, weight) in weighted {
            if bounds.len() == n - 1 {
                break;
            }
            cumulative += weight;
            if cumulative >= target && bounds.last().is_none_or(|last| *last < key) {
                bounds.push(key);
                target += step;
            }
        }
        Ok(bounds)
    }
}
