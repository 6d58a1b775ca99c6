//! Operations on key-value RDDs, `Rdd<(K, V)>`: they appear exactly when elements are pairs.
//!
//! Every aggregating operation is a thin layer over one general aggregator,
//! [`Rdd::combine_by_key`]; joins are a thin layer over [`Rdd::cogroup`]. An operation whose
//! input is already partitioned by the partitioner it needs does not shuffle again.

// This file: the narrow value operations and `partition_by`. The aggregations by key (and the
// actions over them) are in `aggregate.rs`; co-groups, joins, `subtract_by_key` and `lookup`
// in `join.rs`; `sort_by_key` in `sort.rs`.

mod aggregate;
mod join;
mod sort;

use std::hash::Hash;
use std::panic::Location;
use std::sync::Arc;

use ember_engine::task::Operation;

use crate::data::Data;
use crate::partitioner::Partitioner;
use crate::rdd::Rdd;
use crate::rdd::shuffled::{ReduceFn, ShuffledNode, records_of, shuffle_of};

pub use crate::rdd::cogroup::CoGrouped;
pub use join::{CoGrouped3, FullOuter};

impl<K: Data, V: Data> Rdd<(K, V)> {
    /// Applies `f` to every value, keeping keys and the partitioner. Narrow.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
    /// use ember::prelude::*;
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
        reduce: Box<ReduceFn<K, V, O>>,
    ) -> Rdd<O> {
        let shuffle = shuffle_of(self, Operation::new(op_name, call_site), partitioner, records_of(self));
        let meta = self.context().new_meta(op_name, call_site);
        Rdd::from_node(Arc::new(ShuffledNode::new(meta, shuffle, reduce)), self.context().clone())
    }

    /// The keys. Narrow: no shuffle.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
    /// use ember::prelude::*;
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
    /// Redistributes the pairs with `partitioner`. Returns this RDD unchanged when it is
    /// already partitioned that way; otherwise shuffles.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
}
