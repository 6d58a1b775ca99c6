//! [`StorageLevel`]: where a persisted RDD's partitions are kept, and in which form.

use std::fmt;

/// Where and how the partitions of a persisted RDD are kept (Spark's storage levels).
///
/// | level | memory | disk | in memory as |
/// | --- | --- | --- | --- |
/// | `MemoryOnly` | yes | no | values (no decoding on a hit) |
/// | `MemoryOnlySer` | yes | no | bincode bytes (smaller, decoded on each hit) |
/// | `MemoryAndDisk` | yes | on eviction | values |
/// | `MemoryAndDiskSer` | yes | on eviction | bytes |
/// | `DiskOnly` | no | yes | n/a |
///
/// A `MemoryOnly*` block evicted under memory pressure is recomputed from lineage when next
/// needed; a `MemoryAndDisk*` block moves to the context's local disk directory instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum StorageLevel {
    /// Deserialized values in memory; recomputed when evicted.
    MemoryOnly,
    /// Serialized bytes in memory; recomputed when evicted.
    MemoryOnlySer,
    /// Deserialized values in memory; written to local disk when evicted.
    MemoryAndDisk,
    /// Serialized bytes in memory; written to local disk when evicted.
    MemoryAndDiskSer,
    /// Serialized bytes on local disk only.
    DiskOnly,
}

impl StorageLevel {
    /// Whether blocks are kept in memory at first.
    pub fn use_memory(self) -> bool {
        !matches!(self, StorageLevel::DiskOnly)
    }

    /// Whether blocks may live on local disk.
    pub fn use_disk(self) -> bool {
        matches!(self, StorageLevel::MemoryAndDisk | StorageLevel::MemoryAndDiskSer | StorageLevel::DiskOnly)
    }

    /// Whether blocks in memory are values (true) or bincode bytes (false).
    pub fn deserialized(self) -> bool {
        matches!(self, StorageLevel::MemoryOnly | StorageLevel::MemoryAndDisk)
    }
}

impl fmt::Display for StorageLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            StorageLevel::MemoryOnly => "MemoryOnly",
            StorageLevel::MemoryOnlySer => "MemoryOnlySer",
            StorageLevel::MemoryAndDisk => "MemoryAndDisk",
            StorageLevel::MemoryAndDiskSer => "MemoryAndDiskSer",
            StorageLevel::DiskOnly => "DiskOnly",
        };
        f.write_str(name)
    }
}
