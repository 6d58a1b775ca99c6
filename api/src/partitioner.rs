//! Partitioners: which reduce partition a key goes to.
//!
//! Placement must agree between every process and every release, so hashing uses a
//! specified function (xxh3-64 of the bytes the key's `Hash` impl writes), never a randomly
//! seeded hasher.

use std::hash::{Hash, Hasher};

use ember_engine::{PartitionerDesc, PartitionerKind};
use serde::Serialize;

/// Maps keys to partitions `0..num_partitions()`. Implement it to control placement; two
/// RDDs whose partitioners [`describe`](Partitioner::describe) equally are co-partitioned,
/// so a keyed operation between them does not shuffle.
///
/// # Examples
/// ```
/// use ember::prelude::*;
///
/// /// Even keys to partition 0, odd keys to partition 1.
/// struct Parity;
/// impl Partitioner<u32> for Parity {
///     fn num_partitions(&self) -> usize { 2 }
///     fn partition(&self, key: &u32) -> usize { (*key % 2) as usize }
/// }
///
/// let ctx = Context::local(2)?;
/// let parts = ctx.parallelize(vec![(1u32, 'a'), (2, 'b'), (3, 'c')], 1).partition_by(Parity).glom().collect()?;
/// assert_eq!(parts, vec![vec![(2, 'b')], vec![(1, 'a'), (3, 'c')]]);
/// # Ok::<(), ember::Error>(())
/// ```
pub trait Partitioner<K>: Send + Sync + 'static {
    /// How many partitions keys are placed into (at least 1).
    fn num_partitions(&self) -> usize;

    /// The partition of `key`, in `0..num_partitions()`. Must be deterministic.
    fn partition(&self, key: &K) -> usize;

    /// Identifies the placement for co-partitioning checks. The default names the type, so
    /// give configurable partitioners a fingerprint of their settings.
    fn describe(&self) -> PartitionerDesc {
        PartitionerDesc {
            kind: PartitionerKind::Custom { name: std::any::type_name::<Self>().to_owned(), fingerprint: 0 },
            num_partitions: self.num_partitions(),
        }
    }
}

/// Places a key by its stable hash modulo the partition count (Spark's `HashPartitioner`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashPartitioner {
    partitions: usize,
}

impl HashPartitioner {
    /// A hash partitioner over `partitions` partitions.
    ///
    /// # Panics
    /// If `partitions` is 0.
    pub fn new(partitions: usize) -> Self {
        assert!(partitions >= 1, "a partitioner needs at least one partition");
        HashPartitioner { partitions }
    }
}

impl<K: Hash> Partitioner<K> for HashPartitioner {
    fn num_partitions(&self) -> usize {
        self.partitions
    }

    fn partition(&self, key: &K) -> usize {
        (stable_hash(key) % self.partitions as u64) as usize
    }

    fn describe(&self) -> PartitionerDesc {
        PartitionerDesc { kind: PartitionerKind::Hash, num_partitions: self.partitions }
    }
}

/// Places keys by sorted bounds: partition `i` holds keys in `(bounds[i-1], bounds[i]]`, so
/// partitions are ordered (reversed when descending). Built by `sort_by_key` from a sample.
#[derive(Clone, Debug)]
pub struct RangePartitioner<K> {
    bounds: Vec<K>,
    partitions: usize,
    ascending: bool,
    fingerprint: u64,
}

impl<K: Ord + Serialize> RangePartitioner<K> {
    /// A range partitioner with the given sorted, distinct upper bounds over `partitions`
    /// partitions (at least `bounds.len() + 1`; the extra ones stay empty).
    ///
    /// # Panics
    /// If the bounds are not strictly increasing or there are too few partitions.
    pub fn from_bounds(bounds: Vec<K>, partitions: usize, ascending: bool) -> Self {
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "range bounds must be strictly increasing");
        assert!(partitions > bounds.len(), "a range partitioner needs more partitions than bounds");
        let encoded = ember_storage::codec::encode(&(&bounds, partitions, ascending)).unwrap_or_default();
        let fingerprint = xxhash_rust::xxh3::xxh3_64(&encoded);
        RangePartitioner { bounds, partitions, ascending, fingerprint }
    }

    /// The upper bounds.
    pub fn bounds(&self) -> &[K] {
        &self.bounds
    }
}

impl<K: Ord + Serialize + Send + Sync + 'static> Partitioner<K> for RangePartitioner<K> {
    fn num_partitions(&self) -> usize {
        self.partitions
    }

    fn partition(&self, key: &K) -> usize {
        let index = self.bounds.partition_point(|bound| bound < key);
        if self.ascending { index } else { self.bounds.len() - index }
    }

    fn describe(&self) -> PartitionerDesc {
        PartitionerDesc {
            kind: PartitionerKind::Range { fingerprint: self.fingerprint },
            num_partitions: self.partitions,
        }
    }
}

/// xxh3-64 of the bytes `key`'s `Hash` impl writes: the same on every process and release
/// (for a given platform endianness).
pub fn stable_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut hasher = StableHasher::default();
    key.hash(&mut hasher);
    hasher.digest()
}

/// Collects the written bytes (on the stack for typical keys) and hashes them once at the end,
/// because one-shot xxh3 is much faster on short inputs than the streaming state.
struct StableHasher {
    inline: [u8; 64],
    len: usize,
    spilled: Vec<u8>,
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher { inline: [0; 64], len: 0, spilled: Vec::new() }
    }
}

impl StableHasher {
    fn digest(&self) -> u64 {
        if self.spilled.is_empty() {
            xxhash_rust::xxh3::xxh3_64(&self.inline[..self.len])
        } else {
            xxhash_rust::xxh3::xxh3_64(&self.spilled)
        }
    }
}

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        if self.spilled.is_empty() && self.len + bytes.len() <= self.inline.len() {
            self.inline[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            if self.spilled.is_empty() {
                self.spilled.extend_from_slice(&self.inline[..self.len]);
            }
            self.spilled.extend_from_slice(bytes);
        }
    }

    fn finish(&self) -> u64 {
        self.digest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_fixed() {
        // Pinned values: if these change, keys move between partitions across releases.
        assert_eq!(stable_hash(&42u64), xxhash_rust::xxh3::xxh3_64(&42u64.to_ne_bytes()));
        let long = "x".repeat(100);
        let mut bytes = long.as_bytes().to_vec();
        bytes.push(0xff);
        assert_eq!(stable_hash(&long), xxhash_rust::xxh3::xxh3_64(&bytes));
        assert_eq!(stable_hash("ab"), xxhash_rust::xxh3::xxh3_64(b"ab\xff"));
    }

    #[test]
    fn hash_partitions_in_range() {
        let p = HashPartitioner::new(7);
        for k in 0..1000u32 {
            assert!(Partitioner::<u32>::partition(&p, &k) < 7);
        }
    }

    #[test]
    fn range_partitioner_orders_partitions() {
        let asc = RangePartitioner::from_bounds(vec![10, 20], 3, true);
        assert_eq!([5, 10, 11, 20, 21].map(|k| asc.partition(&k)), [0, 0, 1, 1, 2]);
        let desc = RangePartitioner::from_bounds(vec![10, 20], 3, false);
        assert_eq!([5, 10, 11, 20, 21].map(|k| desc.partition(&k)), [2, 2, 1, 1, 0]);
        assert_ne!(Partitioner::<i32>::describe(&asc), Partitioner::<i32>::describe(&desc));
    }
}
