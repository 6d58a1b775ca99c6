//! Hash aggregation by key, the inner loop of every `*_by_key` operation on both sides of a
//! shuffle.
//!
//! One hash table per partition, keyed by the record's key. A combiner is updated in place
//! (taken out, merged, put back) so `merge` can take it by value, as Spark's API does,
//! without requiring `C: Default`. (Partitioning the records into cache-sized sub-tables
//! first was measured on the word-count corpus and gave no gain, so the table stays simple.)

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};

use hashbrown::HashMap;
use hashbrown::hash_map::RawEntryMut;

use crate::rdd::PartitionIter;

/// Aggregates `records` by key: the first value of a key in the stream goes through
/// `create`, each later one is folded in with `merge`, in stream order. Returns every key
/// with its combiner, in no particular order. Memory: one entry per distinct key.
///
/// `size_hint` is shared by the tasks of one operation: each starts with room for as many
/// keys as the largest partition seen so far, so a table of hundreds of thousands of keys is
/// not rebuilt (and every key rehashed) at each doubling.
pub(crate) fn combine_by_key<K, V, C>(
    mut records: impl Iterator<Item = (K, V)>,
    create: &dyn Fn(V) -> C,
    merge: &dyn Fn(C, V) -> C,
    size_hint: &AtomicUsize,
) -> PartitionIter<(K, C)>
where
    K: Hash + Eq + 'static,
    C: 'static,
{
    let mut combined: HashMap<K, C> = HashMap::with_capacity(size_hint.load(Ordering::Relaxed));
    // Records are pulled a batch at a time and hashed first, then looked up back to back:
    // with only the probes in the second loop, the processor keeps several table misses in
    // flight at once instead of one per trip through the record iterator.
    let mut batch: Vec<(u64, K, V)> = Vec::with_capacity(BATCH);
    loop {
        batch.extend(records.by_ref().take(BATCH).map(|(k, v)| (combined.hasher().hash_one(&k), k, v)));
        if batch.is_empty() {
            break;
        }
        for (hash, k, v) in batch.drain(..) {
            match combined.raw_entry_mut().from_key_hashed_nocheck(hash, &k) {
                RawEntryMut::Occupied(entry) => {
                    entry.replace_entry_with(|_, c| Some(merge(c, v)));
                }
                RawEntryMut::Vacant(entry) => {
                    entry.insert_hashed_nocheck(hash, k, create(v));
                }
            }
        }
    }
    size_hint.fetch_max(combined.len(), Ordering::Relaxed);
    Box::new(combined.into_iter())
}

/// Records hashed ahead of their lookups.
const BATCH: usize = 32;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// An order-sensitive fold: (first value, polynomial hash of the values in stream order).
    fn create(v: u64) -> (u64, u64) {
        (v, v)
    }

    fn merge((first, acc): (u64, u64), v: u64) -> (u64, u64) {
        (first, acc.wrapping_mul(31).wrapping_add(v))
    }

    #[test]
    fn matches_a_sequential_fold_in_stream_order() {
        let records: Vec<(u32, u64)> = (0..300_000u64).map(|i| ((i * 7919 % 10_007) as u32, i)).collect();
        let mut expected: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for &(k, v) in &records {
            let next = match expected.remove(&k) {
                None => create(v),
                Some(c) => merge(c, v),
            };
            expected.insert(k, next);
        }
        let hint = AtomicUsize::new(0);
        let got: BTreeMap<u32, (u64, u64)> = combine_by_key(records.into_iter(), &create, &merge, &hint).collect();
        assert_eq!(got, expected);
        assert_eq!(hint.load(Ordering::Relaxed), 10_007, "the hint remembers the table size");
    }

    #[test]
    fn keeps_stream_order_within_a_key() {
        let records = vec![("a", 1), ("b", 2), ("a", 3), ("a", 4), ("b", 5)];
        let push = |mut acc: Vec<i32>, v| {
            acc.push(v);
            acc
        };
        let mut got: Vec<(&str, Vec<i32>)> =
            combine_by_key(records.into_iter(), &|v| vec![v], &push, &AtomicUsize::new(64)).collect();
        got.sort();
        assert_eq!(got, vec![("a", vec![1, 3, 4]), ("b", vec![2, 5])]);
    }
}
