//! Co-groups and everything over them: `cogroup`, `cogroup3`, the join family,
//! `subtract_by_key`; and `lookup`.

use std::hash::Hash;
use std::panic::Location;
use std::sync::Arc;

use ember_engine::PartitionerKind;
use ember_engine::lineage::LineageNode;
use ember_engine::task::Operation;

use crate::context::Action;
use crate::data::Data;
use crate::error::Result;
use crate::job::JobHandle;
use crate::partitioner::{HashPartitioner, Partitioner, default_partitioner};
use crate::rdd::Rdd;
use crate::rdd::cogroup::{CoGrouped, CoGroupedNode, Side};

/// What `cogroup3` yields: each key with its values from each of the three inputs.
pub type CoGrouped3<K, V, W1, W2> = (K, (Vec<V>, Vec<W1>, Vec<W2>));

/// What `full_outer_join` yields: each key with a value from either side or both.
pub type FullOuter<K, V, W> = (K, (Option<V>, Option<W>));

impl<K: Data + Hash + Eq, V: Data> Rdd<(K, V)> {
    /// Groups both RDDs by key: for every key in either, `(key, (its values here, its values
    /// in other))`. Shuffles each input that is not already partitioned like the output.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
        self.cogroup_impl(other, "cogroup", None, Location::caller())
    }

    /// [`Rdd::cogroup`] into `partitions` partitions.
    #[track_caller]
    pub fn cogroup_with_partitions<W: Data>(&self, other: &Rdd<(K, W)>, partitions: usize) -> Rdd<CoGrouped<K, V, W>> {
        self.cogroup_impl(other, "cogroup", Some(partitions), Location::caller())
    }

    /// Groups three RDDs by key: for every key in any of them, `(key, (values here, values
    /// in a, values in b))`. Shuffles each input not already partitioned like the output
    /// (the first two are co-grouped, then the third joins them without re-shuffling them).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
        // Spark's rule over all three inputs; both co-groups use the one partitioner, so the
        // second does not re-shuffle the first's output.
        let inputs = [self.node().as_ref() as &dyn LineageNode, a.node().as_ref(), b.node().as_ref()];
        let partitioner: Arc<dyn Partitioner<K>> =
            Arc::new(default_partitioner(&inputs, partitions, self.context().default_parallelism()));
        let first_two = self.cogroup_with_partitioner(a, Arc::clone(&partitioner), "cogroup3", call_site);
        first_two.cogroup_with_partitioner(b, partitioner, "cogroup3", call_site).narrow(
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

    /// [`Rdd::cogroup`] as operation `op_name`, into `partitions` partitions (when `None`,
    /// as [`default_partitioner`] chooses for both inputs).
    pub(crate) fn cogroup_impl<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        op_name: &'static str,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<CoGrouped<K, V, W>> {
        let inputs = [self.node().as_ref() as &dyn LineageNode, other.node().as_ref()];
        let partitioner = default_partitioner(&inputs, partitions, self.context().default_parallelism());
        self.cogroup_with_partitioner(other, Arc::new(partitioner), op_name, call_site)
    }

    /// The co-group node under every co-group and join: both inputs placed by `partitioner`.
    pub(crate) fn cogroup_with_partitioner<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: Arc<dyn Partitioner<K>>,
        op_name: &'static str,
        call_site: &'static Location<'static>,
    ) -> Rdd<CoGrouped<K, V, W>> {
        let desc = partitioner.describe();
        let op = Operation::new(op_name, call_site);
        let left = Side::of(self, op, &partitioner);
        let right = Side::of(other, op, &partitioner);
        let meta = self.context().new_meta(op_name, call_site);
        Rdd::from_node(Arc::new(CoGroupedNode::new(meta, left, right, desc)), self.context().clone())
    }

    /// Inner join: `(k, (v, w))` for every `v` of `k` here and every `w` of `k` in `other`.
    /// Shuffles each input that is not already partitioned like the output.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
        self.join_impl(other, None, Location::caller())
    }

    /// [`Rdd::join`] into `partitions` partitions.
    #[track_caller]
    pub fn join_with_partitions<W: Data>(&self, other: &Rdd<(K, W)>, partitions: usize) -> Rdd<(K, (V, W))> {
        self.join_impl(other, Some(partitions), Location::caller())
    }

    fn join_impl<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, (V, W))> {
        self.cogroup_impl(other, "join", partitions, call_site).narrow("join", call_site, true, |_, iter, _| {
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
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![(1, 'a'), (2, 'b')], 2);
    /// let mut j = a.left_outer_join(&ctx.parallelize(vec![(1, 10)], 1)).collect()?;
    /// j.sort();
    /// assert_eq!(j, vec![(1, ('a', Some(10))), (2, ('b', None))]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn left_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (V, Option<W>))> {
        self.outer_join_impl(other, "left_outer_join", left_outer, None, Location::caller())
    }

    /// [`Rdd::left_outer_join`] into `partitions` partitions.
    #[track_caller]
    pub fn left_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (V, Option<W>))> {
        self.outer_join_impl(other, "left_outer_join", left_outer, Some(partitions), Location::caller())
    }

    /// Right outer join: like [`Rdd::join`], plus `(k, (None, w))` for each `w` of `other`
    /// whose key `k` is absent here. Shuffles each input not already partitioned like the
    /// output.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![(1, 'a')], 2);
    /// let mut j = a.right_outer_join(&ctx.parallelize(vec![(1, 10), (3, 30)], 1)).collect()?;
    /// j.sort();
    /// assert_eq!(j, vec![(1, (Some('a'), 10)), (3, (None, 30))]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn right_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, (Option<V>, W))> {
        self.outer_join_impl(other, "right_outer_join", right_outer, None, Location::caller())
    }

    /// [`Rdd::right_outer_join`] into `partitions` partitions.
    #[track_caller]
    pub fn right_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<(K, (Option<V>, W))> {
        self.outer_join_impl(other, "right_outer_join", right_outer, Some(partitions), Location::caller())
    }

    /// Full outer join: every `(k, (Some(v), Some(w)))` of the inner join, plus
    /// `(k, (Some(v), None))` and `(k, (None, Some(w)))` for keys present on one side only.
    /// Shuffles each input not already partitioned like the output.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![(1, 'a'), (2, 'b')], 2);
    /// let mut j = a.full_outer_join(&ctx.parallelize(vec![(1, 10), (3, 30)], 1)).collect()?;
    /// j.sort();
    /// assert_eq!(j, vec![(1, (Some('a'), Some(10))), (2, (Some('b'), None)), (3, (None, Some(30)))]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn full_outer_join<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<FullOuter<K, V, W>> {
        self.outer_join_impl(other, "full_outer_join", full_outer, None, Location::caller())
    }

    /// [`Rdd::full_outer_join`] into `partitions` partitions.
    #[track_caller]
    pub fn full_outer_join_with_partitions<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: usize,
    ) -> Rdd<FullOuter<K, V, W>> {
        self.outer_join_impl(other, "full_outer_join", full_outer, Some(partitions), Location::caller())
    }

    /// The join family over `cogroup`: `pairs` turns one key's two value lists into the
    /// joined values of that key.
    fn outer_join_impl<W: Data, O: Data>(
        &self,
        other: &Rdd<(K, W)>,
        op_name: &'static str,
        pairs: fn(Vec<V>, Vec<W>) -> Vec<O>,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, O)> {
        self.cogroup_impl(other, op_name, partitions, call_site).narrow(op_name, call_site, true, move |_, iter, _| {
            Box::new(iter.flat_map(move |(k, (vs, ws))| pairs(vs, ws).into_iter().map(move |o| (k.clone(), o))))
        })
    }

    /// The values of `key`, brought to the driver. When this RDD's partitioner is a hash
    /// partitioner, only the partition that can hold `key` is computed; otherwise every
    /// partition is scanned.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let sums = ctx.parallelize(vec![('a', 1), ('b', 2), ('a', 3)], 2).reduce_by_key(|x, y| x + y);
    /// assert_eq!(sums.lookup(&'a')?, vec![4]);
    /// assert!(sums.lookup(&'z')?.is_empty());
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn lookup(&self, key: &K) -> Result<Vec<V>> {
        self.lookup_async(key).wait()
    }

    /// [`Rdd::lookup`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn lookup_async(&self, key: &K) -> JobHandle<Vec<V>> {
        let partitions: Vec<usize> = match self.node().partitioner() {
            Some(desc) if desc.kind == PartitionerKind::Hash => {
                vec![Partitioner::<K>::partition(&HashPartitioner::new(desc.num_partitions), key)]
            }
            _ => (0..self.num_partitions()).collect(),
        };
        let wanted = key.clone();
        self.context().submit(
            self,
            partitions,
            Action::here("lookup"),
            move |_, iter, _| Ok(iter.filter(|(k, _)| *k == wanted).map(|(_, v)| v).collect::<Vec<V>>()),
            |parts: Result<Vec<Vec<V>>>| Ok(parts?.into_iter().flatten().collect()),
        )
    }

    /// The pairs of this RDD (duplicates kept) whose key does not occur in `other`.
    /// Shuffles each input not already partitioned like the output (a hash partitioner over
    /// this RDD's partition count, Spark's rule).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![(1, 'a'), (2, 'b'), (1, 'c')], 2);
    /// let mut kept = a.subtract_by_key(&ctx.parallelize(vec![(2, ())], 1)).collect()?;
    /// kept.sort();
    /// assert_eq!(kept, vec![(1, 'a'), (1, 'c')]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn subtract_by_key<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, V)> {
        self.subtract_by_key_impl(other, None, Location::caller())
    }

    /// [`Rdd::subtract_by_key`] into `partitions` partitions.
    #[track_caller]
    pub fn subtract_by_key_with_partitions<W: Data>(&self, other: &Rdd<(K, W)>, partitions: usize) -> Rdd<(K, V)> {
        self.subtract_by_key_impl(other, Some(partitions), Location::caller())
    }

    /// Into `partitions` partitions, or as many as this RDD has (Spark's rule for the
    /// subtractions, not [`crate::partitioner::default_partitioner`]'s).
    pub(crate) fn subtract_by_key_impl<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, V)> {
        let partitioner = Arc::new(HashPartitioner::new(partitions.unwrap_or(self.num_partitions()).max(1)));
        self.cogroup_with_partitioner(other, partitioner, "subtract_by_key", call_site).narrow(
            "subtract_by_key",
            call_site,
            true,
            |_, iter, _| {
                Box::new(
                    iter.filter(|(_, (_, ws))| ws.is_empty())
                        .flat_map(|(k, (vs, _))| vs.into_iter().map(move |v| (k.clone(), v))),
                )
            },
        )
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

fn left_outer<V: Clone, W: Clone>(vs: Vec<V>, ws: Vec<W>) -> Vec<(V, Option<W>)> {
    let ws: Vec<Option<W>> = if ws.is_empty() { vec![None] } else { ws.into_iter().map(Some).collect() };
    cross(vs, ws)
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
