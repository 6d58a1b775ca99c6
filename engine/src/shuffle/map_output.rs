//! The map-output tracker: which map tasks of which shuffle have a usable output, and where.
//!
//! The scheduler is its only writer (it registers an output when it accepts a map task's
//! success and forgets outputs it learns are lost); reduce tasks read it to find their
//! buckets. Shared behind a lock for that reason; every call holds it briefly.
//!
//! Memory is linear in the map statuses, and a status is compact: a shuffle of `M` maps and
//! `R` reducers costs `O(M)` plus 12 bytes per non-empty bucket, never more than 8 bytes per
//! bucket ([`BucketSizes`]). A reduce task reads only its own column
//! ([`MapOutputTracker::column`]): `O(M · log)` under the read lock, nothing cloned but the
//! non-empty entries of that column.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

use crate::ids::{ExecutorId, PartitionId, ShuffleId};

/// What a finished map task reports: where its output is and how big each bucket is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapStatus {
    /// The executor holding the buckets (filled in by the backend that ran the task).
    pub location: ExecutorId,
    /// Encoded size of each bucket, indexed by reduce partition.
    pub bucket_sizes: BucketSizes,
}

/// The exact encoded size of each bucket of one map output, in the smaller of two forms:
/// dense (8 bytes per bucket) or sparse (12 bytes per non-empty bucket, the others empty).
///
/// Why exact, where Spark's `HighlyCompressedMapStatus` keeps an average: a reducer skips
/// every bucket the status says is empty without asking the store, and the shuffle-bytes
/// metrics stay exact; a wide shuffle over few records (the case that costs `M · R`) is
/// almost all empty buckets, which the sparse form does not store at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketSizes {
    buckets: u32,
    form: SizesForm,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum SizesForm {
    Dense(Box<[u64]>),
    /// The non-empty buckets' reduce partitions, ascending, and their sizes.
    Sparse {
        reduces: Box<[u32]>,
        sizes: Box<[u64]>,
    },
}

impl BucketSizes {
    /// The sizes of `buckets` buckets whose non-empty ones are `non_empty`, as
    /// `(reduce partition, size)` in ascending order of partition.
    ///
    /// # Panics
    /// When a partition is out of range or out of order (a bug in the caller), or when there
    /// are more than `u32::MAX` buckets.
    pub fn from_non_empty(buckets: usize, non_empty: impl IntoIterator<Item = (usize, u64)>) -> Self {
        let count = u32::try_from(buckets).expect("a shuffle has fewer than 2^32 reduce partitions");
        let (mut reduces, mut sizes) = (Vec::new(), Vec::new());
        for (reduce, size) in non_empty.into_iter().filter(|&(_, size)| size > 0) {
            assert!(reduce < buckets && reduces.last().is_none_or(|&r| (r as usize) < reduce), "bucket {reduce}");
            reduces.push(reduce as u32);
            sizes.push(size);
        }
        let form = if reduces.len() * 12 < buckets * 8 {
            SizesForm::Sparse { reduces: reduces.into(), sizes: sizes.into() }
        } else {
            let mut dense = vec![0; buckets];
            for (&r, &size) in reduces.iter().zip(&sizes) {
                dense[r as usize] = size;
            }
            SizesForm::Dense(dense.into())
        };
        BucketSizes { buckets: count, form }
    }

    /// The sizes of `sizes.len()` buckets, indexed by reduce partition.
    pub fn from_sizes(sizes: &[u64]) -> Self {
        Self::from_non_empty(sizes.len(), sizes.iter().copied().enumerate())
    }

    /// How many buckets (reduce partitions) there are.
    pub fn len(&self) -> usize {
        self.buckets as usize
    }

    /// Whether there are no buckets at all.
    pub fn is_empty(&self) -> bool {
        self.buckets == 0
    }

    /// The size of bucket `reduce` (0 when empty or out of range). Cost: `O(log)` sparse.
    pub fn size(&self, reduce: usize) -> u64 {
        match &self.form {
            SizesForm::Dense(sizes) => sizes.get(reduce).copied().unwrap_or(0),
            SizesForm::Sparse { reduces, sizes } => {
                let Ok(reduce) = u32::try_from(reduce) else { return 0 };
                reduces.binary_search(&reduce).map_or(0, |i| sizes[i])
            }
        }
    }

    /// The sum of every bucket's size.
    pub fn total(&self) -> u64 {
        match &self.form {
            SizesForm::Dense(sizes) | SizesForm::Sparse { sizes, .. } => sizes.iter().sum(),
        }
    }

    /// Every bucket's size, indexed by reduce partition (for tests and tools: `O(buckets)`).
    pub fn to_vec(&self) -> Vec<u64> {
        (0..self.len()).map(|r| self.size(r)).collect()
    }
}

type Outputs = HashMap<ShuffleId, Vec<Option<Arc<MapStatus>>>>;

/// The driver's table `(shuffle, map) → MapStatus`.
#[derive(Default)]
pub struct MapOutputTracker {
    shuffles: RwLock<Outputs>,
}

impl MapOutputTracker {
    /// Makes room for a shuffle with `num_maps` map tasks; keeps what is known if it exists.
    pub fn register_shuffle(&self, shuffle: ShuffleId, num_maps: usize) {
        self.write().entry(shuffle).or_insert_with(|| vec![None; num_maps]);
    }

    /// Records the output of map task `map` (replacing an earlier attempt's).
    pub fn register_map_output(&self, shuffle: ShuffleId, map: PartitionId, status: MapStatus) {
        if let Some(slot) = self.write().get_mut(&shuffle).and_then(|maps| maps.get_mut(map.index())) {
            *slot = Some(Arc::new(status));
        }
    }

    /// Forgets the output of map task `map` (it was lost). Returns whether one was registered.
    pub fn unregister_map_output(&self, shuffle: ShuffleId, map: PartitionId) -> bool {
        let mut shuffles = self.write();
        match shuffles.get_mut(&shuffle).and_then(|maps| maps.get_mut(map.index())) {
            Some(slot) => slot.take().is_some(),
            None => false,
        }
    }

    /// Forgets every output held by `executor` (it was lost); returns them.
    pub fn unregister_executor(&self, executor: ExecutorId) -> Vec<(ShuffleId, PartitionId)> {
        let mut lost = Vec::new();
        for (&shuffle, maps) in self.write().iter_mut() {
            for (m, slot) in maps.iter_mut().enumerate() {
                if slot.as_ref().is_some_and(|s| s.location == executor) {
                    *slot = None;
                    lost.push((shuffle, PartitionId::new(m)));
                }
            }
        }
        lost.sort();
        lost
    }

    /// The map tasks of `shuffle` without a registered output, in order. A shuffle never
    /// registered has all of its `num_maps` tasks missing.
    pub fn missing_maps(&self, shuffle: ShuffleId, num_maps: usize) -> Vec<PartitionId> {
        match self.read().get(&shuffle) {
            Some(maps) => PartitionId::all(maps.len()).filter(|m| maps[m.index()].is_none()).collect(),
            None => PartitionId::all(num_maps).collect(),
        }
    }

    /// Whether `shuffle` is registered and every one of its map tasks has an output. A shuffle
    /// never registered is not complete, even one with no map tasks: reducers could not fetch
    /// from it.
    pub fn is_complete(&self, shuffle: ShuffleId) -> bool {
        self.read().get(&shuffle).is_some_and(|maps| maps.iter().all(Option::is_some))
    }

    /// Reduce partition `reduce`'s column of `shuffle`: the map tasks whose bucket for it is
    /// not empty, in map order, with each bucket's size. One lock for the whole answer, as a
    /// reduce task needs; cost `O(maps · log)`, and only the non-empty entries are copied.
    ///
    /// # Errors
    /// Every map task without a registered output, in order (`[0]` for a shuffle never
    /// registered), so that the scheduler reruns them all at once.
    pub fn column(&self, shuffle: ShuffleId, reduce: PartitionId) -> Result<Vec<(PartitionId, u64)>, Vec<PartitionId>> {
        let shuffles = self.read();
        let Some(maps) = shuffles.get(&shuffle) else { return Err(vec![PartitionId(0)]) };
        let column = column_of(maps.iter().map(Option::as_deref), reduce)?;
        Ok(column.into_iter().map(|(map, size, _)| (map, size)).collect())
    }

    /// The status of every map task (shared, not copied), or the first missing one's index
    /// in `Err`.
    pub fn statuses(&self, shuffle: ShuffleId) -> Result<Vec<Arc<MapStatus>>, PartitionId> {
        let shuffles = self.read();
        let Some(maps) = shuffles.get(&shuffle) else { return Err(PartitionId(0)) };
        maps.iter().enumerate().map(|(m, s)| s.clone().ok_or(PartitionId::new(m))).collect()
    }

    /// Every map task's status of `shuffle` (`None`: no output), copied, for a cluster
    /// executor asking where they are; empty for a shuffle not registered. Cost: `O(maps)`.
    pub fn snapshot(&self, shuffle: ShuffleId) -> Vec<Option<MapStatus>> {
        self.read().get(&shuffle).map_or_else(Vec::new, |maps| maps.iter().map(|s| s.as_deref().cloned()).collect())
    }

    /// Forgets a shuffle entirely.
    pub fn remove_shuffle(&self, shuffle: ShuffleId) {
        self.write().remove(&shuffle);
    }

    /// How many shuffles are tracked (for leak checks).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no shuffle is tracked.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> RwLockReadGuard<'_, Outputs> {
        // A poisoned lock only means a panic between two map operations, which leave the map
        // consistent.
        self.shuffles.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Outputs> {
        self.shuffles.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reduce partition `reduce`'s column of one shuffle whose map statuses, by map partition,
/// are `statuses`: the non-empty buckets in map order, with their sizes and where they are.
/// Shared by the driver's tracker and a cluster executor's copy of its statuses.
///
/// # Errors
/// Every map task without a status, in order.
pub fn column_of<'a>(
    statuses: impl Iterator<Item = Option<&'a MapStatus>>,
    reduce: PartitionId,
) -> Result<Vec<(PartitionId, u64, ExecutorId)>, Vec<PartitionId>> {
    let mut column = Vec::new();
    let mut missing = Vec::new();
    for (m, status) in statuses.enumerate() {
        let map = PartitionId::new(m);
        match status {
            Some(status) => match status.bucket_sizes.size(reduce.index()) {
                0 => {}
                size => column.push((map, size, status.location)),
            },
            None => missing.push(map),
        }
    }
    if missing.is_empty() { Ok(column) } else { Err(missing) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(at: u32) -> MapStatus {
        MapStatus { location: ExecutorId(at), bucket_sizes: BucketSizes::from_sizes(&[1, 2]) }
    }

    fn p(i: u32) -> PartitionId {
        PartitionId(i)
    }

    #[test]
    fn tracks_missing_outputs() {
        let t = MapOutputTracker::default();
        let s = ShuffleId(0);
        assert_eq!(t.missing_maps(s, 3), vec![p(0), p(1), p(2)]);
        assert_eq!(t.column(s, p(0)), Err(vec![p(0)]));
        t.register_shuffle(s, 3);
        t.register_map_output(s, p(1), status(0));
        assert_eq!(t.missing_maps(s, 3), vec![p(0), p(2)]);
        assert_eq!(t.column(s, p(1)), Err(vec![p(0), p(2)]));
        assert_eq!(t.statuses(s), Err(p(0)));
        t.register_map_output(s, p(0), status(0));
        t.register_map_output(s, p(2), status(1));
        assert!(t.missing_maps(s, 3).is_empty() && t.is_complete(s));
        assert_eq!(t.statuses(s).map(|v| v.len()), Ok(3));
        assert_eq!(t.column(s, p(1)), Ok(vec![(p(0), 2), (p(1), 2), (p(2), 2)]));
        assert_eq!(t.column(s, p(5)), Ok(vec![]), "no map wrote to a partition out of range");
        assert!(t.unregister_map_output(s, p(2)));
        assert!(!t.unregister_map_output(s, p(2)), "already gone");
        assert_eq!(t.statuses(s), Err(p(2)));
        t.register_map_output(s, p(2), status(1));
        assert_eq!(t.unregister_executor(ExecutorId(1)), vec![(s, p(2))]);
        t.remove_shuffle(s);
        assert_eq!(t.missing_maps(s, 3), vec![p(0), p(1), p(2)]);
        assert!(t.is_empty());
    }

    #[test]
    fn bucket_sizes_are_exact_in_the_smaller_form() {
        let mut wide = vec![0; 10_000];
        wide[17] = 5;
        wide[9_999] = 1;
        let sparse = BucketSizes::from_sizes(&wide);
        assert!(matches!(sparse.form, SizesForm::Sparse { ref reduces, .. } if reduces.len() == 2));
        assert_eq!(
            (sparse.len(), sparse.size(17), sparse.size(18), sparse.size(9_999), sparse.total()),
            (10_000, 5, 0, 1, 6)
        );
        assert_eq!(sparse.to_vec(), wide);
        let full = BucketSizes::from_sizes(&[3, 0, 4]);
        assert!(matches!(full.form, SizesForm::Dense(_)));
        assert_eq!((full.size(0), full.size(1), full.size(2), full.size(3)), (3, 0, 4, 0));
        assert_eq!(BucketSizes::from_non_empty(3, [(0, 3), (2, 4)]), full, "one value, one form");
        assert!(BucketSizes::from_sizes(&[]).is_empty());
    }
}
