//! The memory store: blocks in the storage half of the memory budget (shared with in-memory
//! shuffle outputs), least recently used evicted first.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use super::id::BlockId;
use crate::memory::MemoryManager;

/// Encodes a block of values to bytes, for moving it to disk on eviction; `None` when the
/// values cannot be encoded, and the evicted block is then dropped (recomputed when needed).
pub type EncodeFn = dyn Fn(&(dyn Any + Send + Sync)) -> Option<Vec<u8>> + Send + Sync;

/// A block's contents.
#[derive(Clone)]
pub enum BlockData {
    /// Deserialized values (the typed layer knows their type), with a size estimate in bytes.
    Values {
        /// The values, shared by every reader (a hit copies nothing).
        values: Arc<dyn Any + Send + Sync>,
        /// Estimated bytes, as accounted against the budget.
        size: u64,
    },
    /// Bincode bytes.
    Bytes(Bytes),
}

impl BlockData {
    /// The bytes this block counts against the memory budget.
    pub fn size(&self) -> u64 {
        match self {
            BlockData::Values { size, .. } => *size,
            BlockData::Bytes(b) => b.len() as u64,
        }
    }
}

/// A block pushed out of memory, with the encoder to move it to disk when its level says so.
pub struct Evicted {
    /// The block.
    pub id: BlockId,
    /// Its contents.
    pub data: BlockData,
    /// Set when the block should move to disk rather than be dropped.
    pub to_disk: Option<Arc<EncodeFn>>,
}

struct Entry {
    data: BlockData,
    tick: u64,
    to_disk: Option<Arc<EncodeFn>>,
}

/// What storing one block did.
#[derive(Default)]
pub struct PutOutcome {
    /// Blocks pushed out to make room, least recently used first.
    pub evicted: Vec<Evicted>,
    /// The block itself when it could not be stored (larger than the storage half, or the
    /// room is held by shuffle outputs, which are not evictable).
    pub rejected: Option<Evicted>,
}

/// Blocks in memory, accounted against the storage half of the memory budget. Not
/// synchronised: the block manager holds it in a mutex. Lookups refresh a block's recency;
/// inserts evict the least recently used blocks.
pub struct MemoryStore {
    memory: Arc<MemoryManager>,
    used: u64,
    tick: u64,
    entries: HashMap<BlockId, Entry>,
    lru: BTreeMap<u64, BlockId>,
}

impl MemoryStore {
    /// An empty store drawing on `memory`'s storage half.
    pub fn new(memory: Arc<MemoryManager>) -> Self {
        MemoryStore { memory, used: 0, tick: 0, entries: HashMap::new(), lru: BTreeMap::new() }
    }

    /// Bytes held by blocks.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// The block, marked most recently used.
    pub fn get(&mut self, id: BlockId) -> Option<BlockData> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(&id)?;
        self.lru.remove(&entry.tick);
        entry.tick = tick;
        self.lru.insert(tick, id);
        Some(entry.data.clone())
    }

    /// Stores a block, evicting least recently used blocks until it fits. A block larger than
    /// the storage half is rejected with nothing evicted.
    pub fn put(&mut self, id: BlockId, data: BlockData, to_disk: Option<Arc<EncodeFn>>) -> PutOutcome {
        let size = data.size();
        let mut outcome = PutOutcome::default();
        if size > self.memory.storage_limit() {
            outcome.rejected = Some(Evicted { id, data, to_disk });
            return outcome;
        }
        self.remove(id);
        while !self.memory.try_acquire_storage(size) {
            let Some((_, victim)) = self.lru.pop_first() else {
                outcome.rejected = Some(Evicted { id, data, to_disk });
                return outcome;
            };
            if let Some(entry) = self.entries.remove(&victim) {
                self.release(entry.data.size());
                outcome.evicted.push(Evicted { id: victim, data: entry.data, to_disk: entry.to_disk });
            }
        }
        self.tick += 1;
        self.used += size;
        self.lru.insert(self.tick, id);
        self.entries.insert(id, Entry { data, tick: self.tick, to_disk });
        outcome
    }

    fn release(&mut self, size: u64) {
        self.used -= size;
        self.memory.release_storage(size);
    }

    /// Removes a block, returning it.
    pub fn remove(&mut self, id: BlockId) -> Option<BlockData> {
        let entry = self.entries.remove(&id)?;
        self.lru.remove(&entry.tick);
        self.release(entry.data.size());
        Some(entry.data)
    }

    /// The ids of every block held.
    pub fn ids(&self) -> Vec<BlockId> {
        self.entries.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::NodeId;

    fn bytes(n: usize) -> BlockData {
        BlockData::Bytes(Bytes::from(vec![0u8; n]))
    }

    fn stored(outcome: &PutOutcome) -> bool {
        outcome.rejected.is_none() && outcome.evicted.is_empty()
    }

    #[test]
    fn evicts_least_recently_used() {
        let memory = Arc::new(MemoryManager::new(20, 1));
        let mut store = MemoryStore::new(Arc::clone(&memory));
        let id = |p| BlockId::rdd(NodeId(1), crate::ids::PartitionId(p));
        assert!(stored(&store.put(id(0), bytes(4), None)));
        assert!(stored(&store.put(id(1), bytes(4), None)));
        assert!(store.get(id(0)).is_some()); // 1 is now the least recently used
        let outcome = store.put(id(2), bytes(4), None);
        assert!(outcome.rejected.is_none(), "fits after eviction");
        assert_eq!(outcome.evicted.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id(1)]);
        assert_eq!((store.used(), memory.storage_used()), (8, 8));
        assert!(store.get(id(1)).is_none());
        let too_big = store.put(id(3), bytes(11), None);
        assert!(too_big.rejected.is_some() && too_big.evicted.is_empty());
        assert_eq!(store.remove(id(0)).map(|d| d.size()), Some(4));
        assert_eq!((store.used(), memory.storage_used()), (4, 4));
    }

    #[test]
    fn storage_held_elsewhere_is_not_evictable() {
        let memory = Arc::new(MemoryManager::new(20, 1));
        let mut store = MemoryStore::new(Arc::clone(&memory));
        let id = |p| BlockId::rdd(NodeId(1), crate::ids::PartitionId(p));
        assert!(stored(&store.put(id(0), bytes(4), None)));
        assert!(memory.try_acquire_storage(5), "a shuffle output takes 5 of the 10");
        let outcome = store.put(id(1), bytes(6), None);
        assert_eq!(outcome.evicted.len(), 1, "the cached block gives way");
        assert!(outcome.rejected.is_some(), "but the shuffle output's share does not");
        assert_eq!((store.used(), memory.storage_used()), (0, 5));
    }
}
