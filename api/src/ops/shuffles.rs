//! Operators on any `Rdd<T>` that shuffle (`distinct`, `repartition`, `group_by`,
//! `sort_by`, each thin over a pair operation), and `zip_with_index`, which runs a job while
//! it is built.

use std::hash::Hash;
use std::panic::Location;
use std::sync::Arc;

use crate::aggregator::Aggregator;
use crate::context::Action;
use crate::data::Data;
use crate::partitioner::HashPartitioner;
use crate::rdd::Rdd;

impl<T: Data> Rdd<T> {
    /// One copy of each distinct element. Shuffles (into as many partitions as this RDD has).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let mut d = ctx.parallelize(vec![3, 1, 3, 2, 1], 2).distinct().collect()?;
    /// d.sort();
    /// assert_eq!(d, vec![1, 2, 3]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn distinct(&self) -> Rdd<T>
    where
        T: Hash + Eq,
    {
        self.distinct_impl(None, Location::caller())
    }

    /// [`Rdd::distinct`] into `partitions` partitions.
    #[track_caller]
    pub fn distinct_with_partitions(&self, partitions: usize) -> Rdd<T>
    where
        T: Hash + Eq,
    {
        self.distinct_impl(Some(partitions), Location::caller())
    }

    fn distinct_impl(&self, partitions: Option<usize>, call_site: &'static Location<'static>) -> Rdd<T>
    where
        T: Hash + Eq,
    {
        let pairs = self.narrow("distinct", call_site, false, |_, iter, _| Box::new(iter.map(|x| (x, ()))));
        let aggregator = Aggregator::new(|()| (), |(), ()| (), |(), ()| ());
        pairs.combine_by_key_impl("distinct", aggregator, partitions, call_site).narrow(
            "distinct",
            call_site,
            false,
            |_, iter, _| Box::new(iter.map(|(x, ())| x)),
        )
    }

    /// Redistributes the elements evenly over `partitions` partitions (more or fewer than
    /// now). Shuffles: each input partition deals its elements round-robin, as Spark's
    /// `repartition` does, starting at a position spread by its index.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.parallelize((0..100).collect::<Vec<i32>>(), 2).repartition(4);
    /// let sizes: Vec<usize> = rdd.glom().collect()?.iter().map(Vec::len).collect();
    /// assert_eq!(sizes, vec![25, 25, 25, 25]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn repartition(&self, partitions: usize) -> Rdd<T> {
        let call_site = Location::caller();
        let n = partitions.max(1);
        let parents = self.num_partitions().max(1);
        let dealt = self.narrow("repartition", call_site, false, move |p, iter, _| {
            // Spreading the starting positions evenly keeps small partitions from all landing
            // in partition 0, and is deterministic (Spark draws it at random).
            let start = p * n / parents;
            Box::new(iter.enumerate().map(move |(j, x)| ((start + j) % n, x)))
        });
        // A usize key below 2^31 lands in partition `key mod n` (see `HashPartitioner`).
        dealt.shuffle_raw(
            "repartition",
            call_site,
            Arc::new(HashPartitioner::new(n)),
            Box::new(|records, _| Ok(Box::new(records.map(|(_, x)| x)))),
        )
    }

    /// Groups the elements by `key(x)`: `(key, every element with that key)`, in no
    /// particular order within a group. Shuffles (as `key_by` then `group_by_key`).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let mut groups = ctx.parallelize(vec![1, 2, 3, 4, 5], 2).group_by(|x| x % 2).collect()?;
    /// groups.iter_mut().for_each(|(_, xs)| xs.sort());
    /// groups.sort();
    /// assert_eq!(groups, vec![(0, vec![2, 4]), (1, vec![1, 3, 5])]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn group_by<K, F>(&self, key: F) -> Rdd<(K, Vec<T>)>
    where
        K: Data + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.group_by_impl(key, None, Location::caller())
    }

    /// [`Rdd::group_by`] into `partitions` partitions.
    #[track_caller]
    pub fn group_by_with_partitions<K, F>(&self, key: F, partitions: usize) -> Rdd<(K, Vec<T>)>
    where
        K: Data + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.group_by_impl(key, Some(partitions), Location::caller())
    }

    fn group_by_impl<K, F>(
        &self,
        key: F,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, Vec<T>)>
    where
        K: Data + Hash + Eq,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.key_by_impl(key, call_site).group_by_key_impl(partitions, call_site)
    }

    /// All elements sorted by `key(x)`, ascending or descending, across partitions: partition
    /// 0 holds the smallest keys. Shuffles with a range partitioner built from a sample (the
    /// sampling runs a small job now, as in Spark). Equal keys keep no particular order.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let words: Vec<String> = ["ccc", "a", "bb"].map(String::from).to_vec();
    /// let sorted = ctx.parallelize(words, 2).sort_by(|s| s.len(), true);
    /// assert_eq!(sorted.collect()?, ["a", "bb", "ccc"]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn sort_by<K, F>(&self, key: F, ascending: bool) -> Rdd<T>
    where
        K: Data + Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.sort_by_impl(key, ascending, None, Location::caller())
    }

    /// [`Rdd::sort_by`] into `partitions` partitions.
    #[track_caller]
    pub fn sort_by_with_partitions<K, F>(&self, key: F, ascending: bool, partitions: usize) -> Rdd<T>
    where
        K: Data + Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.sort_by_impl(key, ascending, Some(partitions), Location::caller())
    }

    fn sort_by_impl<K, F>(
        &self,
        key: F,
        ascending: bool,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<T>
    where
        K: Data + Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let key = Arc::new(key);
        let keyed = self.narrow("sort_by", call_site, false, move |_, iter, _| {
            let key = Arc::clone(&key);
            Box::new(iter.map(move |x| (key(&x), x)))
        });
        keyed
            .sort_by_key_impl(ascending, partitions, call_site)
            .narrow("sort_by", call_site, false, |_, iter, _| Box::new(iter.map(|(_, x)| x)))
    }

    /// Pairs every element with its position in collect order: `(x, index)`. Narrow, but
    /// like Spark it first runs a job now, counting the elements of every partition but the
    /// last to learn each partition's starting index. If that job fails, the returned RDD
    /// fails with its cause when used.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let indexed = ctx.parallelize(vec!['a', 'b', 'c'], 2).zip_with_index();
    /// assert_eq!(indexed.collect()?, vec![('a', 0), ('b', 1), ('c', 2)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn zip_with_index(&self) -> Rdd<(T, u64)> {
        let call_site = Location::caller();
        let counted: Vec<usize> = (0..self.num_partitions().saturating_sub(1)).collect();
        let action = Action::at("zip_with_index (counting partitions)", call_site);
        let starts = match self.context().run_job(self, &counted, action, |_, iter, _| Ok(iter.count() as u64)) {
            Ok(counts) => counts.into_iter().fold(vec![0u64], |mut starts, c| {
                starts.push(starts[starts.len() - 1] + c);
                starts
            }),
            Err(err) => {
                let message = format!("counting partitions for zip_with_index failed: {err}");
                return self.failing("zip_with_index", call_site, message);
            }
        };
        let starts = Arc::new(starts);
        self.narrow("zip_with_index", call_site, false, move |p, iter, _| Box::new(iter.zip(starts[p]..)))
    }
}
