//! The memory store: blocks under a byte budget, least recently used evicted first.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use super::id::BlockId;

/// Encodes a block of values to bytes, for moving it to disk on eviction.
pub type EncodeFn = dyn Fn(&(dyn Any + Send + Sync)) -> Vec<u8> + Send + Sync;

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

/// Blocks in memory under `budget` bytes. Not synchronised: the block manager holds it in a
/// mutex. Lookups refresh a block's recency; inserts evict the least recently used blocks.
pub struct MemoryStore {
    budget: u64,
    used: u64,
    tick: u64,
    entries: HashMap<BlockId, Entry>,
    lru: BTreeMap<u64, BlockId>,
}

impl MemoryStore {
    /// An empty store holding at most `budget` bytes.
    pub fn new(budget: u64) -> Self {
        MemoryStore { budget, used: 0, tick: 0, entries: HashMap::new(), lru: BTreeMap::new() }
    }

    /// Bytes in use.
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
    /// the whole budget is not stored: it comes back in `Err` with nothing evicted.
    pub fn put(
        &mut self,
        id: BlockId,
        data: BlockData,
        to_disk: Option<Arc<EncodeFn>>,
    ) -> Result<Vec<Evicted>, Evicted> {
        let size = data.size();
        if size > self.budget {
            return Err(Evicted { id, data, to_disk });
        }
        self.remove(id);
        let mut evicted = Vec::new();
        while self.used + size > self.budget {
            let Some((_, victim)) = self.lru.pop_first() else { break };
            if let Some(entry) = self.entries.remove(&victim) {
                self.used -= entry.data.size();
                evicted.push(Evicted { id: victim, data: entry.data, to_disk: entry.to_disk });
            }
        }
        self.tick += 1;
        self.used += size;
        self.lru.insert(self.tick, id);
        self.entries.insert(id, Entry { data, tick: self.tick, to_disk });
        Ok(evicted)
    }

    /// Removes a block, returning it.
    pub fn remove(&mut self, id: BlockId) -> Option<BlockData> {
        let entry = self.entries.remove(&id)?;
        self.lru.remove(&entry.tick);
        self.used -= entry.data.size();
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

    #[test]
    fn evicts_least_recently_used() {
        let mut store = MemoryStore::new(10);
        let id = |p| BlockId::rdd(NodeId(1), p);
        assert!(store.put(id(0), bytes(4), None).is_ok_and(|e| e.is_empty()));
        assert!(store.put(id(1), bytes(4), None).is_ok_and(|e| e.is_empty()));
        assert!(store.get(id(0)).is_some()); // 1 is now the least recently used
        let evicted = store.put(id(2), bytes(4), None).ok().expect("fits after eviction");
        assert_eq!(evicted.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id(1)]);
        assert_eq!(store.used(), 8);
        assert!(store.get(id(1)).is_none());
        assert!(store.put(id(3), bytes(11), None).is_err());
        assert_eq!(store.remove(id(0)).map(|d| d.size()), Some(4));
        assert_eq!(store.used(), 4);
    }
}
