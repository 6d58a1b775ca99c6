//! Shuffle bucket storage: the trait and the in-memory implementation.

use std::collections::HashMap;
use std::sync::RwLock;

use bytes::Bytes;

use crate::ids::ShuffleId;

/// One bucket: the records map task `map` of `shuffle` sent to reduce partition `reduce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShuffleBlockId {
    /// The shuffle.
    pub shuffle: ShuffleId,
    /// The map partition that wrote it.
    pub map: usize,
    /// The reduce partition that reads it.
    pub reduce: usize,
}

/// Where shuffle buckets live. Implementations are shared by all worker threads.
pub trait ShuffleStore: Send + Sync {
    /// Stores every bucket of one map output (index = reduce partition), replacing an earlier
    /// attempt's output for the same map task.
    fn put_map_output(&self, shuffle: ShuffleId, map: usize, buckets: Vec<Bytes>);

    /// One bucket, or `None` when that map output is not (or no longer) here.
    fn fetch(&self, block: ShuffleBlockId) -> Option<Bytes>;

    /// Whether the output of map task `map` is here.
    fn has_map_output(&self, shuffle: ShuffleId, map: usize) -> bool;

    /// Deletes one map output (lost executor, fault injection).
    fn remove_map_output(&self, shuffle: ShuffleId, map: usize);

    /// Deletes every output of a shuffle.
    fn remove_shuffle(&self, shuffle: ShuffleId);
}

/// Buckets kept in memory, as reference-counted byte buffers (a fetch copies nothing).
#[derive(Default)]
pub struct MemoryShuffleStore {
    outputs: RwLock<HashMap<ShuffleId, HashMap<usize, Vec<Bytes>>>>,
}

impl ShuffleStore for MemoryShuffleStore {
    fn put_map_output(&self, shuffle: ShuffleId, map: usize, buckets: Vec<Bytes>) {
        let mut outputs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        outputs.entry(shuffle).or_default().insert(map, buckets);
    }

    fn fetch(&self, block: ShuffleBlockId) -> Option<Bytes> {
        let outputs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        outputs.get(&block.shuffle)?.get(&block.map)?.get(block.reduce).cloned()
    }

    fn has_map_output(&self, shuffle: ShuffleId, map: usize) -> bool {
        let outputs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        outputs.get(&shuffle).is_some_and(|maps| maps.contains_key(&map))
    }

    fn remove_map_output(&self, shuffle: ShuffleId, map: usize) {
        let mut outputs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        if let Some(maps) = outputs.get_mut(&shuffle) {
            maps.remove(&map);
        }
    }

    fn remove_shuffle(&self, shuffle: ShuffleId) {
        let mut outputs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        outputs.remove(&shuffle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_fetch_remove() {
        let store = MemoryShuffleStore::default();
        let s = ShuffleId(3);
        store.put_map_output(s, 1, vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]);
        let block = ShuffleBlockId { shuffle: s, map: 1, reduce: 1 };
        assert_eq!(store.fetch(block).as_deref(), Some(&b"b"[..]));
        assert_eq!(store.fetch(ShuffleBlockId { reduce: 2, ..block }), None);
        store.remove_map_output(s, 1);
        assert_eq!(store.fetch(block), None);
        store.put_map_output(s, 0, vec![Bytes::new()]);
        store.remove_shuffle(s);
        assert_eq!(store.fetch(ShuffleBlockId { shuffle: s, map: 0, reduce: 0 }), None);
    }
}
