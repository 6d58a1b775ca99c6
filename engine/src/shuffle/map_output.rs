//! The map-output tracker: which map tasks of which shuffle have a usable output.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ids::{ExecutorId, ShuffleId};

/// What a finished map task reports: where its output is and how big each bucket is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapStatus {
    /// The executor holding the buckets.
    pub location: ExecutorId,
    /// Encoded size of each bucket, indexed by reduce partition.
    pub bucket_sizes: Vec<u64>,
}

/// The driver's table `(shuffle, map) → MapStatus`.
#[derive(Default)]
pub struct MapOutputTracker {
    shuffles: Mutex<HashMap<ShuffleId, Vec<Option<MapStatus>>>>,
}

impl MapOutputTracker {
    /// Makes room for a shuffle with `num_maps` map tasks; keeps what is known if it exists.
    pub fn register_shuffle(&self, shuffle: ShuffleId, num_maps: usize) {
        let mut shuffles = self.lock();
        shuffles.entry(shuffle).or_insert_with(|| vec![None; num_maps]);
    }

    /// Records the output of map task `map`.
    pub fn register_map_output(&self, shuffle: ShuffleId, map: usize, status: MapStatus) {
        let mut shuffles = self.lock();
        if let Some(slot) = shuffles.get_mut(&shuffle).and_then(|maps| maps.get_mut(map)) {
            *slot = Some(status);
        }
    }

    /// Forgets the output of map task `map` (it was lost).
    pub fn unregister_map_output(&self, shuffle: ShuffleId, map: usize) {
        let mut shuffles = self.lock();
        if let Some(slot) = shuffles.get_mut(&shuffle).and_then(|maps| maps.get_mut(map)) {
            *slot = None;
        }
    }

    /// The map tasks of `shuffle` without a registered output, in order. A shuffle never
    /// registered has all of its `num_maps` tasks missing.
    pub fn missing_maps(&self, shuffle: ShuffleId, num_maps: usize) -> Vec<usize> {
        let shuffles = self.lock();
        match shuffles.get(&shuffle) {
            Some(maps) => (0..maps.len()).filter(|&m| maps[m].is_none()).collect(),
            None => (0..num_maps).collect(),
        }
    }

    /// The map tasks of `shuffle` with a registered output, in order.
    pub fn registered_maps(&self, shuffle: ShuffleId) -> Vec<usize> {
        let shuffles = self.lock();
        shuffles.get(&shuffle).map_or_else(Vec::new, |maps| (0..maps.len()).filter(|&m| maps[m].is_some()).collect())
    }

    /// Whether `shuffle` is registered and every one of its map tasks has an output. A shuffle
    /// never registered is not complete, even one with no map tasks: reducers could not fetch
    /// from it.
    pub fn is_complete(&self, shuffle: ShuffleId) -> bool {
        self.lock().get(&shuffle).is_some_and(|maps| maps.iter().all(Option::is_some))
    }

    /// The status of every map task, or `None` for the first missing one (its index in `Err`).
    pub fn statuses(&self, shuffle: ShuffleId) -> Result<Vec<MapStatus>, usize> {
        let shuffles = self.lock();
        let Some(maps) = shuffles.get(&shuffle) else { return Err(0) };
        maps.iter().enumerate().map(|(m, s)| s.clone().ok_or(m)).collect()
    }

    /// Forgets a shuffle entirely.
    pub fn remove_shuffle(&self, shuffle: ShuffleId) {
        self.lock().remove(&shuffle);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ShuffleId, Vec<Option<MapStatus>>>> {
        self.shuffles.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> MapStatus {
        MapStatus { location: ExecutorId(0), bucket_sizes: vec![1, 2] }
    }

    #[test]
    fn tracks_missing_outputs() {
        let t = MapOutputTracker::default();
        let s = ShuffleId(0);
        assert_eq!(t.missing_maps(s, 3), vec![0, 1, 2]);
        t.register_shuffle(s, 3);
        t.register_map_output(s, 1, status());
        assert_eq!(t.missing_maps(s, 3), vec![0, 2]);
        assert_eq!(t.statuses(s), Err(0));
        t.register_map_output(s, 0, status());
        t.register_map_output(s, 2, status());
        assert!(t.missing_maps(s, 3).is_empty());
        assert_eq!(t.statuses(s).map(|v| v.len()), Ok(3));
        t.unregister_map_output(s, 2);
        assert_eq!(t.statuses(s), Err(2));
        t.remove_shuffle(s);
        assert_eq!(t.missing_maps(s, 3), vec![0, 1, 2]);
    }
}
