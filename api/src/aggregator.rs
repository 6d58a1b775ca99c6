//! [`Aggregator`]: the three functions of an aggregation by key (Spark's `Aggregator`), and
//! whether they run on the map side of the shuffle too.
//!
//! Every shuffle that combines (`combine_by_key` and the operations over it) takes one; the
//! spilling tables (`spill::aggregate`) and the co-group node take its function types. It
//! sits below all of them and imports none of them.

use std::sync::Arc;

/// Turns the first value of a key into a combiner.
pub(crate) type CreateFn<V, C> = Arc<dyn Fn(V) -> C + Send + Sync>;

/// Folds a value (or, as `MergeFn<C, C>`, another combiner) into a combiner.
pub(crate) type MergeFn<C, V> = Arc<dyn Fn(C, V) -> C + Send + Sync>;

/// How values `V` of a key aggregate into a combiner `C`: per key, `create` turns the first
/// value seen in a partition into a combiner, `merge_value` folds the partition's later values
/// into it, and `merge_combiners` merges the combiners of different partitions (or of spilled
/// runs). With `map_side`, combining starts before the shuffle, so only one record per key and
/// map partition crosses it; without (as `group_by_key`, where combining saves nothing), every
/// value crosses and the reduce side does all of it.
pub(crate) struct Aggregator<V, C> {
    pub(crate) create: CreateFn<V, C>,
    pub(crate) merge_value: MergeFn<C, V>,
    pub(crate) merge_combiners: MergeFn<C, C>,
    pub(crate) map_side: bool,
}

impl<V, C> Aggregator<V, C> {
    /// An aggregator that combines on the map side too.
    pub(crate) fn new(
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
    ) -> Self {
        Aggregator {
            create: Arc::new(create),
            merge_value: Arc::new(merge_value),
            merge_combiners: Arc::new(merge_combiners),
            map_side: true,
        }
    }

    /// The same functions, run on the reduce side only.
    pub(crate) fn without_map_side_combine(self) -> Self {
        Aggregator { map_side: false, ..self }
    }
}

impl<V: 'static> Aggregator<V, V> {
    /// Merges the values of a key with `f`, which is both `merge_value` and
    /// `merge_combiners`; the first value is its own combiner (`reduce_by_key`).
    pub(crate) fn reducing(f: impl Fn(V, V) -> V + Send + Sync + 'static) -> Self {
        let f: MergeFn<V, V> = Arc::new(f);
        Aggregator { create: Arc::new(|v| v), merge_value: Arc::clone(&f), merge_combiners: f, map_side: true }
    }
}
