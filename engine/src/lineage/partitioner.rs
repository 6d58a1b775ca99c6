//! Untyped description of a partitioner, enough to tell whether two nodes are co-partitioned.

use std::fmt;

/// What kind of partitioner placed the records. Equality means "same placement function".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PartitionerKind {
    /// Ember's hash partitioner: xxh3 of the key, modulo the partition count.
    Hash,
    /// A range partitioner; the fingerprint identifies its bounds.
    Range {
        /// A stable hash of the serialized bounds and the direction.
        fingerprint: u64,
    },
    /// A user-defined partitioner, identified by the name and fingerprint it reports.
    Custom {
        /// The partitioner's name, e.g. its type name.
        name: String,
        /// Distinguishes differently configured instances of the same type.
        fingerprint: u64,
    },
}

/// A partitioner as the engine sees it: its kind and how many partitions it produces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionerDesc {
    /// The placement function.
    pub kind: PartitionerKind,
    /// How many partitions it produces.
    pub num_partitions: usize,
}

impl fmt::Display for PartitionerDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PartitionerKind::Hash => write!(f, "hash({})", self.num_partitions),
            PartitionerKind::Range { .. } => write!(f, "range({})", self.num_partitions),
            PartitionerKind::Custom { name, .. } => write!(f, "{name}({})", self.num_partitions),
        }
    }
}
