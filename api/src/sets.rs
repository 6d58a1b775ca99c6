//! Set-like operations: `subtract`, `subtract_by_key`, `intersection`, thin over `cogroup`.

use std::hash::Hash;
use std::panic::Location;
use std::sync::Arc;

use crate::data::Data;
use crate::partitioner::{HashPartitioner, Partitioner};
use crate::rdd::Rdd;

impl<T: Data + Hash + Eq> Rdd<T> {
    /// The elements of this RDD (duplicates kept) that are not equal to any element of
    /// `other`. Shuffles both inputs, into as many partitions as this RDD has (Spark's rule).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let mut left = ctx.parallelize(vec![1, 2, 2, 3, 4], 2).subtract(&ctx.parallelize(vec![2, 4], 1)).collect()?;
    /// left.sort();
    /// assert_eq!(left, vec![1, 3]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn subtract(&self, other: &Rdd<T>) -> Rdd<T> {
        self.subtract_impl(other, self.num_partitions(), Location::caller())
    }

    /// [`Rdd::subtract`] into `partitions` partitions.
    #[track_caller]
    pub fn subtract_with_partitions(&self, other: &Rdd<T>, partitions: usize) -> Rdd<T> {
        self.subtract_impl(other, partitions, Location::caller())
    }

    fn subtract_impl(&self, other: &Rdd<T>, partitions: usize, call_site: &'static Location<'static>) -> Rdd<T> {
        let keyed =
            |rdd: &Rdd<T>| rdd.narrow("subtract", call_site, false, |_, iter, _| Box::new(iter.map(|x| (x, ()))));
        let partitioner = Arc::new(HashPartitioner::new(partitions.max(1)));
        keyed(self).subtract_by_key_impl(&keyed(other), partitioner, call_site).narrow(
            "subtract",
            call_site,
            false,
            |_, iter, _| Box::new(iter.map(|(x, ())| x)),
        )
    }

    /// The distinct elements present in both RDDs. Shuffles both inputs (Spark's default
    /// partitioner for two inputs: an input's hash partitioner, else the larger partition
    /// count).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![1, 2, 2, 3], 2);
    /// let mut both = a.intersection(&ctx.parallelize(vec![2, 3, 3, 5], 3)).collect()?;
    /// both.sort();
    /// assert_eq!(both, vec![2, 3]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn intersection(&self, other: &Rdd<T>) -> Rdd<T> {
        self.intersection_impl(other, None, Location::caller())
    }

    /// [`Rdd::intersection`] into `partitions` partitions.
    #[track_caller]
    pub fn intersection_with_partitions(&self, other: &Rdd<T>, partitions: usize) -> Rdd<T> {
        self.intersection_impl(other, Some(partitions), Location::caller())
    }

    fn intersection_impl(
        &self,
        other: &Rdd<T>,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<T> {
        let keyed =
            |rdd: &Rdd<T>| rdd.narrow("intersection", call_site, false, |_, iter, _| Box::new(iter.map(|x| (x, ()))));
        let (left, right) = (keyed(self), keyed(other));
        let partitioner = left.pair_partitioner(&right, partitions);
        left.cogroup_impl(&right, partitioner, "intersection", call_site).narrow(
            "intersection",
            call_site,
            false,
            |_, iter, _| Box::new(iter.filter(|(_, (vs, ws))| !vs.is_empty() && !ws.is_empty()).map(|(x, _)| x)),
        )
    }
}

impl<K: Data + Hash + Eq, V: Data> Rdd<(K, V)> {
    /// The pairs of this RDD (duplicates kept) whose key does not occur in `other`.
    /// Shuffles each input not already partitioned like the output (a hash partitioner over
    /// this RDD's partition count, Spark's rule).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let a = ctx.parallelize(vec![(1, 'a'), (2, 'b'), (1, 'c')], 2);
    /// let mut kept = a.subtract_by_key(&ctx.parallelize(vec![(2, ())], 1)).collect()?;
    /// kept.sort();
    /// assert_eq!(kept, vec![(1, 'a'), (1, 'c')]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn subtract_by_key<W: Data>(&self, other: &Rdd<(K, W)>) -> Rdd<(K, V)> {
        let partitioner = Arc::new(HashPartitioner::new(self.num_partitions().max(1)));
        self.subtract_by_key_impl(other, partitioner, Location::caller())
    }

    /// [`Rdd::subtract_by_key`] into `partitions` partitions.
    #[track_caller]
    pub fn subtract_by_key_with_partitions<W: Data>(&self, other: &Rdd<(K, W)>, partitions: usize) -> Rdd<(K, V)> {
        let partitioner = Arc::new(HashPartitioner::new(partitions.max(1)));
        self.subtract_by_key_impl(other, partitioner, Location::caller())
    }

    fn subtract_by_key_impl<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        partitioner: Arc<dyn Partitioner<K>>,
        call_site: &'static Location<'static>,
    ) -> Rdd<(K, V)> {
        self.cogroup_impl(other, partitioner, "subtract_by_key", call_site).narrow(
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
