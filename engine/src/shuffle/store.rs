//! Shuffle bucket storage: the trait and the local implementation.

use std::collections::HashMap;
use std::sync::RwLock;

use super::output::{Bucket, MapOutput};
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
    /// Stores one map output, replacing an earlier attempt's output for the same map task.
    fn put_map_output(&self, shuffle: ShuffleId, map: usize, output: MapOutput);

    /// One bucket, or `None` when that map output is not (or no longer) here. Cost: no copy
    /// (a file bucket is read by whoever fetched it).
    fn fetch(&self, block: ShuffleBlockId) -> Option<Bucket>;

    /// Whether the output of map task `map` is here.
    fn has_map_output(&self, shuffle: ShuffleId, map: usize) -> bool;

    /// Deletes one map output (lost executor, fault injection).
    fn remove_map_output(&self, shuffle: ShuffleId, map: usize);

    /// Deletes every output of a shuffle.
    fn remove_shuffle(&self, shuffle: ShuffleId);
}

/// The map outputs of this process, each in memory or in a local file as its map task left
/// it ([`super::MapOutputBuffer`]). Dropping an output frees its memory or deletes its file.
#[derive(Default)]
pub struct LocalShuffleStore {
    outputs: RwLock<HashMap<ShuffleId, HashMap<usize, MapOutput>>>,
}

impl ShuffleStore for LocalShuffleStore {
    fn put_map_output(&self, shuffle: ShuffleId, map: usize, output: MapOutput) {
        let mut outputs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        outputs.entry(shuffle).or_default().insert(map, output);
    }

    fn fetch(&self, block: ShuffleBlockId) -> Option<Bucket> {
        let outputs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        outputs.get(&block.shuffle)?.get(&block.map)?.bucket(block.reduce)
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
    use bytes::Bytes;

    use super::*;

    fn memory_bytes(bucket: Option<Bucket>) -> Option<Bytes> {
        match bucket? {
            Bucket::Memory(bytes) => Some(bytes),
            Bucket::File { .. } => panic!("expected a memory bucket"),
        }
    }

    #[test]
    fn put_fetch_remove() {
        let store = LocalShuffleStore::default();
        let s = ShuffleId(3);
        store.put_map_output(s, 1, MapOutput::in_memory(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]));
        let block = ShuffleBlockId { shuffle: s, map: 1, reduce: 1 };
        assert_eq!(memory_bytes(store.fetch(block)).as_deref(), Some(&b"b"[..]));
        assert!(store.fetch(ShuffleBlockId { reduce: 2, ..block }).is_none());
        store.remove_map_output(s, 1);
        assert!(store.fetch(block).is_none());
        store.put_map_output(s, 0, MapOutput::in_memory(vec![Bytes::new()]));
        store.remove_shuffle(s);
        assert!(store.fetch(ShuffleBlockId { shuffle: s, map: 0, reduce: 0 }).is_none());
    }
}
