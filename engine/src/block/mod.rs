//! The block manager: cached RDD partitions kept under a memory budget with LRU eviction and
//! local-disk spill, according to each persisted node's [`StorageLevel`].
//!
//! The engine never looks inside a block: values are `Arc<dyn Any + Send + Sync>` (with a
//! size estimate from the typed layer) or bincode bytes. See [`manager`] for the data flow.

mod checkpoints;
mod id;
mod level;
pub mod manager;
mod memory;

pub use checkpoints::{Checkpoint, CheckpointRegistry};
pub use id::BlockId;
pub use level::StorageLevel;
pub use manager::{BlockManager, BlockSource, Persisted, PutReport};
pub use memory::{BlockData, EncodeFn, Evicted, MemoryStore, PutOutcome};
