//! Set-like operations: `subtract` (over `subtract_by_key`) and `intersection` (over `cogroup`).

use std::hash::Hash;
use std::panic::Location;

use crate::data::Data;
use crate::rdd::Rdd;

impl<T: Data + Hash + Eq> Rdd<T> {
    /// The elements of this RDD (duplicates kept) that are not equal to any element of
    /// `other`. Shuffles both inputs, into as many partitions as this RDD has (Spark's rule).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let mut left = ctx.parallelize(vec![1, 2, 2, 3, 4], 2).subtract(&ctx.parallelize(vec![2, 4], 1)).collect()?;
    /// left.sort();
    /// assert_eq!(left, vec![1, 3]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn subtract(&self, other: &Rdd<T>) -> Rdd<T> {
        self.subtract_impl(other, None, Location::caller())
    }

    /// [`Rdd::subtract`] into `partitions` partitions.
    #[track_caller]
    pub fn subtract_with_partitions(&self, other: &Rdd<T>, partitions: usize) -> Rdd<T> {
        self.subtract_impl(other, Some(partitions), Location::caller())
    }

    fn subtract_impl(
        &self,
        other: &Rdd<T>,
        partitions: Option<usize>,
        call_site: &'static Location<'static>,
    ) -> Rdd<T> {
        let keyed =
            |rdd: &Rdd<T>| rdd.narrow("subtract", call_site, false, |_, iter, _| Box::new(iter.map(|x| (x, ()))));
        keyed(self).subtract_by_key_impl(&keyed(other), partitions, call_site).narrow(
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
    /// use ember::prelude::*;
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
        left.cogroup_impl(&right, "intersection", partitions, call_site).narrow(
            "intersection",
            call_site,
            false,
            |_, iter, _| Box::new(iter.filter(|(_, (vs, ws))| !vs.is_empty() && !ws.is_empty()).map(|(x, _)| x)),
        )
    }
}
