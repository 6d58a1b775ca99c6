//! [`BlockManager`]: cached partitions in memory under a budget, on local disk, and the
//! registry of which nodes are persisted at which level.
//!
//! ```text
//!  task computes partition p of a persisted node
//!        │ put                    memory store (LRU, budget)      disk store (temp dir)
//!        ├─ MemoryOnly*      ──▶  [rdd_3_0][rdd_3_1]...  ──evict──▶ dropped (recomputed later)
//!        ├─ MemoryAndDisk*   ──▶  [rdd_5_0]...           ──evict──▶ rdd_5_0 file
//!        └─ DiskOnly         ─────────────────────────────────────▶ rdd_7_0 file
//! ```

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;

use super::checkpoints::CheckpointRegistry;
use super::id::BlockId;
use super::level::StorageLevel;
use super::memory::{BlockData, EncodeFn, Evicted, MemoryStore};
use crate::disk::LocalDisk;
use crate::events::{Event, now_micros};
use crate::ids::NodeId;
use crate::memory::MemoryManager;

/// Where the block manager reports blocks stored and evicted.
pub type BlockEvents = Arc<dyn Fn(Event) + Send + Sync>;

/// A persisted node: its level and the typed layer's opaque helper for reading and writing
/// its blocks (the engine never looks inside).
#[derive(Clone)]
pub struct Persisted {
    /// The storage level.
    pub level: StorageLevel,
    /// The typed layer's block codec for this node.
    pub adapter: Arc<dyn Any + Send + Sync>,
}

/// What storing one block did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PutReport {
    /// Blocks pushed out of memory to make room.
    pub evictions: u64,
    /// Bytes written to local disk (evicted blocks moved there, or disk-level blocks).
    pub bytes_spilled: u64,
}

/// Where a block was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockSource {
    /// In the memory store.
    Memory,
    /// On local disk.
    Disk,
}

/// The block manager of one context. Shared by all worker threads.
pub struct BlockManager {
    manager: Arc<MemoryManager>,
    local_disk: LocalDisk,
    memory: Mutex<MemoryStore>,
    disk: DiskStore,
    persisted: Mutex<HashMap<NodeId, Persisted>>,
    stored_once: Mutex<HashSet<BlockId>>,
    checkpoints: CheckpointRegistry,
    events: Option<BlockEvents>,
}

impl BlockManager {
    /// A block manager keeping cached blocks in `memory`'s storage half.
    pub fn new(memory: Arc<MemoryManager>) -> Self {
        BlockManager {
            manager: Arc::clone(&memory),
            local_disk: LocalDisk::default(),
            memory: Mutex::new(MemoryStore::new(memory)),
            disk: DiskStore::default(),
            persisted: Mutex::new(HashMap::new()),
            stored_once: Mutex::new(HashSet::new()),
            checkpoints: CheckpointRegistry::default(),
            events: None,
        }
    }

    /// Reports every block stored and evicted through `events` (`BlockStored`,
    /// `BlockEvicted`).
    pub fn with_events(mut self, events: BlockEvents) -> Self {
        self.events = Some(events);
        self
    }

    fn emit(&self, event: impl FnOnce() -> Event) {
        if let Some(events) = &self.events {
            events(event());
        }
    }

    /// The context's memory budget.
    pub fn memory_manager(&self) -> &Arc<MemoryManager> {
        &self.manager
    }

    /// Which nodes are checkpointed: a written checkpoint is where its node's partitions are
    /// read from.
    pub fn checkpoints(&self) -> &CheckpointRegistry {
        &self.checkpoints
    }

    /// The context's scratch directory for spilled data.
    pub fn local_disk(&self) -> &LocalDisk {
        &self.local_disk
    }

    /// Marks `node` persisted at `level` (replacing an earlier level).
    pub fn persist(&self, node: NodeId, level: StorageLevel, adapter: Arc<dyn Any + Send + Sync>) {
        lock(&self.persisted).insert(node, Persisted { level, adapter });
    }

    /// Forgets that `node` is persisted and drops its blocks.
    pub fn unpersist(&self, node: NodeId) {
        lock(&self.persisted).remove(&node);
        self.drop_blocks(|id| matches!(id, BlockId::Rdd { node: n, .. } if n == node));
    }

    /// The persistence of `node`, if any.
    pub fn persisted(&self, node: NodeId) -> Option<Persisted> {
        lock(&self.persisted).get(&node).cloned()
    }

    /// The level of every persisted node.
    pub fn persisted_levels(&self) -> HashMap<NodeId, StorageLevel> {
        lock(&self.persisted).iter().map(|(&n, p)| (n, p.level)).collect()
    }

    /// A block from memory (refreshing its recency) or disk.
    pub fn get(&self, id: BlockId) -> Option<(BlockData, BlockSource)> {
        if let Some(data) = lock(&self.memory).get(id) {
            return Some((data, BlockSource::Memory));
        }
        self.disk.read(id).map(|bytes| (BlockData::Bytes(bytes), BlockSource::Disk))
    }

    /// Whether `id` was stored before (so computing it now is a recomputation).
    pub fn was_stored(&self, id: BlockId) -> bool {
        lock(&self.stored_once).contains(&id)
    }

    /// Stores a block at `level`. `encode` turns a `Values` block into bytes when it must move
    /// to disk. A block that fits nowhere is not stored (it will be recomputed).
    pub fn put(&self, id: BlockId, level: StorageLevel, data: BlockData, encode: Option<Arc<EncodeFn>>) -> PutReport {
        let mut report = PutReport::default();
        lock(&self.stored_once).insert(id);
        let size = data.size();
        let to_disk = if level.use_disk() { encode } else { None };
        let overflow = if level.use_memory() {
            let outcome = lock(&self.memory).put(id, data, to_disk.clone());
            for e in outcome.evicted {
                let victim = e.id;
                report.evictions += 1;
                let written = self.evict_to_disk(e);
                report.bytes_spilled += written;
                self.emit(|| Event::BlockEvicted { block: victim, to_disk: written > 0, time: now_micros() });
            }
            outcome.rejected
        } else {
            Some(Evicted { id, data, to_disk })
        };
        let stored = match overflow {
            None => Some((size, 0)),
            Some(block) if level.use_disk() => {
                let written = self.evict_to_disk(block);
                report.bytes_spilled += written;
                (written > 0).then_some((0, written))
            }
            Some(_) => None,
        };
        if let Some((memory_bytes, disk_bytes)) = stored {
            self.emit(|| Event::BlockStored { block: id, level, memory_bytes, disk_bytes, time: now_micros() });
        }
        report
    }

    /// Drops every block (memory and disk) whose id matches `pred`; returns how many.
    pub fn drop_blocks(&self, pred: impl Fn(BlockId) -> bool) -> usize {
        let mut dropped = 0;
        {
            let mut memory = lock(&self.memory);
            for id in memory.ids() {
                if pred(id) {
                    memory.remove(id);
                    dropped += 1;
                }
            }
        }
        dropped + self.disk.remove_matching(&pred)
    }

    /// Bytes of memory in use.
    pub fn memory_used(&self) -> u64 {
        lock(&self.memory).used()
    }

    fn evict_to_disk(&self, e: Evicted) -> u64 {
        let bytes = match (e.data, e.to_disk) {
            (BlockData::Bytes(b), Some(_)) => b,
            (BlockData::Values { values, .. }, Some(encode)) => match encode(values.as_ref()) {
                Some(bytes) => Bytes::from(bytes),
                None => return 0,
            },
            (BlockData::Bytes(b), None) if self.disk_level(e.id) => b,
            _ => return 0,
        };
        self.disk.write(e.id, &bytes)
    }

    fn disk_level(&self, id: BlockId) -> bool {
        let BlockId::Rdd { node, .. } = id;
        self.persisted(node).is_some_and(|p| p.level.use_disk())
    }
}

/// Blocks on local disk, in a temporary directory created on first use and deleted with the
/// context. An I/O error is not fatal: the block is simply not there and will be recomputed.
#[derive(Default)]
struct DiskStore {
    dir: OnceLock<Option<tempfile::TempDir>>,
    files: Mutex<HashMap<BlockId, PathBuf>>,
    /// Names each write's temporary file apart.
    writes: std::sync::atomic::AtomicU64,
}

impl DiskStore {
    fn write(&self, id: BlockId, bytes: &[u8]) -> u64 {
        let Some(dir) = self.dir.get_or_init(|| crate::scratch::create_dir("ember-blocks").ok()) else {
            return 0;
        };
        let path = dir.path().join(id.file_name());
        // Two tasks may compute the same block at once, and a third may be reading it: each
        // write goes to its own file, renamed over the block's, so a reader holding the old
        // file reads it whole and never a half-written one.
        let n = self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let staged = dir.path().join(format!("{}.w{n}", id.file_name()));
        let written = crate::scratch::write_file(&staged, bytes).and_then(|()| std::fs::rename(&staged, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&staged);
        }
        match written {
            Ok(()) => {
                lock(&self.files).insert(id, path);
                bytes.len() as u64
            }
            Err(err) => {
                tracing::warn!(block = %id, %err, "could not write a block to disk; it will be recomputed");
                0
            }
        }
    }

    fn read(&self, id: BlockId) -> Option<Bytes> {
        let path = lock(&self.files).get(&id).cloned()?;
        std::fs::read(path).ok().map(Bytes::from)
    }

    fn remove_matching(&self, pred: &dyn Fn(BlockId) -> bool) -> usize {
        let mut files = lock(&self.files);
        let doomed: Vec<BlockId> = files.keys().copied().filter(|&id| pred(id)).collect();
        for id in &doomed {
            if let Some(path) = files.remove(id) {
                let _ = std::fs::remove_file(path);
            }
        }
        doomed.len()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_disk_moves_evicted_blocks_to_disk() {
        let bm = BlockManager::new(Arc::new(MemoryManager::new(20, 1)));
        let node = NodeId(4);
        bm.persist(node, StorageLevel::MemoryAndDiskSer, Arc::new(()));
        let id = |p| BlockId::rdd(node, crate::ids::PartitionId(p));
        let data = || BlockData::Bytes(Bytes::from(vec![7u8; 6]));
        let encode: Arc<EncodeFn> = Arc::new(|_| Some(Vec::new()));
        assert_eq!(
            bm.put(id(0), StorageLevel::MemoryAndDiskSer, data(), Some(Arc::clone(&encode))),
            PutReport::default()
        );
        let report = bm.put(id(1), StorageLevel::MemoryAndDiskSer, data(), Some(encode));
        assert_eq!(report, PutReport { evictions: 1, bytes_spilled: 6 });
        assert!(matches!(bm.get(id(0)), Some((_, BlockSource::Disk))));
        assert!(matches!(bm.get(id(1)), Some((_, BlockSource::Memory))));
        bm.unpersist(node);
        assert!(bm.get(id(0)).is_none() && bm.get(id(1)).is_none());
        assert!(bm.was_stored(id(0)));
    }

    #[test]
    fn disk_blocks_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let bm = BlockManager::new(Arc::new(MemoryManager::new(1 << 20, 1)));
        let node = NodeId(2);
        bm.persist(node, StorageLevel::DiskOnly, Arc::new(()));
        let id = BlockId::rdd(node, crate::ids::PartitionId(0));
        let encode: Arc<EncodeFn> = Arc::new(|_| Some(Vec::new()));
        let report = bm.put(id, StorageLevel::DiskOnly, BlockData::Bytes(Bytes::from_static(b"secret")), Some(encode));
        assert_eq!(report.bytes_spilled, 6);
        let Some(Some(dir)) = bm.disk.dir.get() else { panic!("the disk store made its directory") };
        let mode = |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&dir.path().join(id.file_name())), 0o600);
    }
}
