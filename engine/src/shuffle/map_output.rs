//! The map-output tracker: which map tasks of which shuffle have a usable output, and where.
//!
//! The scheduler is its only writer (it registers an output when it accepts a map task's
//! success and forgets outputs it learns are lost); reduce tasks read it to find their
//! buckets. Shared behind a lock for that reason; every call holds it briefly.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};

use crate::ids::{ExecutorId, PartitionId, ShuffleId};

/// What a finished map task reports: where its output is and how big each bucket is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapStatus {
    /// The executor holding the buckets (filled in by the backend that ran the task).
    pub location: ExecutorId,
    /// Encoded size of each bucket, indexed by reduce partition.
    pub bucket_sizes: Vec<u64>,
}

type Outputs = HashMap<ShuffleId, Vec<Option<MapStatus>>>;

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
            *slot = Some(status);
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

    /// For each map task of `shuffle`, whether its output is registered; `None` for a shuffle
    /// never registered. One lock for the whole answer, as a reduce task needs.
    pub fn presence(&self, shuffle: ShuffleId) -> Option<Vec<bool>> {
        self.read().get(&shuffle).map(|maps| maps.iter().map(Option::is_some).collect())
    }

    /// The status of every map task, or the first missing one's index in `Err`.
    pub fn statuses(&self, shuffle: ShuffleId) -> Result<Vec<MapStatus>, PartitionId> {
        let shuffles = self.read();
        let Some(maps) = shuffles.get(&shuffle) else { return Err(PartitionId(0)) };
        maps.iter().enumerate().map(|(m, s)| s.clone().ok_or(PartitionId::new(m))).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(at: u32) -> MapStatus {
        MapStatus { location: ExecutorId(at), bucket_sizes: vec![1, 2] }
    }

    fn p(i: u32) -> PartitionId {
        PartitionId(i)
    }

    #[test]
    fn tracks_missing_outputs() {
        let t = MapOutputTracker::default();
        let s = ShuffleId(0);
        assert_eq!(t.missing_maps(s, 3), vec![p(0), p(1), p(2)]);
        assert_eq!(t.presence(s), None);
        t.register_shuffle(s, 3);
        t.register_map_output(s, p(1), status(0));
        assert_eq!(t.missing_maps(s, 3), vec![p(0), p(2)]);
        assert_eq!(t.presence(s), Some(vec![false, true, false]));
        assert_eq!(t.statuses(s), Err(p(0)));
        t.register_map_output(s, p(0), status(0));
        t.register_map_output(s, p(2), status(1));
        assert!(t.missing_maps(s, 3).is_empty() && t.is_complete(s));
        assert_eq!(t.statuses(s).map(|v| v.len()), Ok(3));
        assert!(t.unregister_map_output(s, p(2)));
        assert!(!t.unregister_map_output(s, p(2)), "already gone");
        assert_eq!(t.statuses(s), Err(p(2)));
        t.register_map_output(s, p(2), status(1));
        assert_eq!(t.unregister_executor(ExecutorId(1)), vec![(s, p(2))]);
        t.remove_shuffle(s);
        assert_eq!(t.missing_maps(s, 3), vec![p(0), p(1), p(2)]);
        assert!(t.is_empty());
    }
}
