//! Shuffle bucket storage: the trait and the local implementation.

use std::collections::HashMap;
use std::sync::RwLock;

use super::output::{Bucket, MapOutput};
use crate::ids::{PartitionId, ShuffleId};

/// One bucket: the records map task `map` of `shuffle` sent to reduce partition `reduce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ShuffleBlockId {
    /// The shuffle.
    pub shuffle: ShuffleId,
    /// The map partition that wrote it.
    pub map: PartitionId,
    /// The reduce partition that reads it.
    pub reduce: PartitionId,
}

/// Where shuffle buckets live. Implementations are shared by all worker threads.
pub trait ShuffleStore: Send + Sync {
    /// Stores one map output, replacing an earlier attempt's output for the same map task.
    fn put_map_output(&self, shuffle: ShuffleId, map: PartitionId, output: MapOutput);

    /// One bucket, or `None` when that map output is not (or no longer) here. Cost: no copy
    /// (a file bucket is read by whoever fetched it).
    fn fetch(&self, block: ShuffleBlockId) -> Option<Bucket>;

    /// The buckets of reduce partition `reduce` from each of `maps` of `shuffle`, in the
    /// order given: `None` for each map output that is not here. The local store answers
    /// under one lock; the default asks [`ShuffleStore::fetch`] once per map.
    fn fetch_column(&self, shuffle: ShuffleId, reduce: PartitionId, maps: &[PartitionId]) -> Vec<Option<Bucket>> {
        maps.iter().map(|&map| self.fetch(ShuffleBlockId { shuffle, map, reduce })).collect()
    }

    /// Whether the output of map task `map` is here.
    fn has_map_output(&self, shuffle: ShuffleId, map: PartitionId) -> bool;

    /// Deletes one map output (lost executor, fault injection).
    fn remove_map_output(&self, shuffle: ShuffleId, map: PartitionId);

    /// Deletes every output of a shuffle.
    fn remove_shuffle(&self, shuffle: ShuffleId);

    /// How many map outputs are stored, over every shuffle (for leak checks).
    fn len(&self) -> usize;

    /// Whether no map output is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The map outputs of this process, each in memory or in a local file as its map task left
/// it ([`super::MapOutputBuffer`]). Dropping an output frees its memory or deletes its file.
#[derive(Default)]
pub struct LocalShuffleStore {
    outputs: RwLock<HashMap<ShuffleId, HashMap<PartitionId, MapOutput>>>,
}

impl ShuffleStore for LocalShuffleStore {
    fn put_map_output(&self, shuffle: ShuffleId, map: PartitionId, output: MapOutput) {
        let mut outputs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        outputs.entry(shuffle).or_default().insert(map, output);
    }

    fn fetch(&self, block: ShuffleBlockId) -> Option<Bucket> {
        let outputs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        outputs.get(&block.shuffle)?.get(&block.map)?.bucket(block.reduce.index())
    }

    fn fetch_column(&self, shuffle: ShuffleId, reduce: PartitionId, maps: &[PartitionId]) -> Vec<Option<Bucket>> {
        let outputs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        let Some(outputs) = outputs.get(&shuffle) else { return vec![None; maps.len()] };
        maps.iter().map(|map| outputs.get(map)?.bucket(reduce.index())).collect()
    }

    fn has_map_output(&self, shuffle: ShuffleId, map: PartitionId) -> bool {
        let outputs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        outputs.get(&shuffle).is_some_and(|maps| maps.contains_key(&map))
    }

    fn remove_map_output(&self, shuffle: ShuffleId, map: PartitionId) {
        let mut outputs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        if let Some(maps) = outputs.get_mut(&shuffle) {
            maps.remove(&map);
        }
    }

    fn remove_shuffle(&self, shuffle: ShuffleId) {
        let mut outputs = self.outputs.write().unwrap_or_else(|e| e.into_inner());
        outputs.remove(&shuffle);
    }

    fn len(&self) -> usize {
        let outputs = self.outputs.read().unwrap_or_else(|e| e.into_inner());
        outputs.values().map(HashMap::len).sum()
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
        store.put_map_output(
            s,
            PartitionId(1),
            MapOutput::in_memory(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]),
        );
        let block = ShuffleBlockId { shuffle: s, map: PartitionId(1), reduce: PartitionId(1) };
        assert_eq!(memory_bytes(store.fetch(block)).as_deref(), Some(&b"b"[..]));
        assert!(store.fetch(ShuffleBlockId { reduce: PartitionId(2), ..block }).is_none());
        let column = store.fetch_column(s, PartitionId(0), &[PartitionId(1), PartitionId(0)]);
        assert_eq!(column.iter().map(|b| b.as_ref().map(Bucket::len)).collect::<Vec<_>>(), [Some(1), None]);
        store.remove_map_output(s, PartitionId(1));
        assert!(store.fetch(block).is_none());
        store.put_map_output(s, PartitionId(0), MapOutput::in_memory(vec![Bytes::new()]));
        assert_eq!(store.len(), 1);
        store.remove_shuffle(s);
        assert!(store.fetch(ShuffleBlockId { shuffle: s, map: PartitionId(0), reduce: PartitionId(0) }).is_none());
        assert!(store.is_empty());
    }
}
