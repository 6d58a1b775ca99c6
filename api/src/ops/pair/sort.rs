//! `sort_by_key`: a range partitioner from a sample of the keys, then a shuffle that sorts
//! each partition.

use std::panic::Location;
use std::sync::Arc;

use ember_engine::TaskContext;

use crate::context::Action;
use crate::data::Data;
use crate::error::Result;
use crate::partitioner::{RangePartitioner, range_bounds, range_sample_per_partition, sample_keys};
use crate::rdd::{PartitionIter, Rdd};
use crate::spill::sort::sort_external;

impl<K: Data + Ord, V: Data> Rdd<(K, V)> {
    /// All pairs sorted by key across partitions (partition 0 holds the smallest keys, or the
    /// largest when descending). Samples the keys first to build a range partitioner (this
    /// runs a small job now, as Spark's `sortByKey` does), then shuffles and sorts each
    /// partition. The relative order of equal keys is not specified.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
    /// `RangePartitioner`): one small job in which each partition contributes a reservoir
    /// sample of its keys ([`sample_keys`]), then [`range_bounds`].
    fn sample_bounds(&self, n: usize, call_site: &'static Location<'static>) -> Result<Vec<K>> {
        if n <= 1 || self.num_partitions() == 0 {
            return Ok(Vec::new());
        }
        let per_partition = range_sample_per_partition(n, self.num_partitions());
        let keys = self.narrow("sort_by_key", call_site, false, |_, iter, _| Box::new(iter.map(|(k, _)| k)));
        let partitions: Vec<usize> = (0..keys.num_partitions()).collect();
        let action = Action::at("sort_by_key (sampling the range bounds)", call_site);
        let samples = self
            .context()
            .run_job(&keys, &partitions, action, move |p, iter, _| Ok(sample_keys(p, iter, per_partition)))?;
        Ok(range_bounds(samples, n))
    }
}
