//! Partitioners: which reduce partition a key goes to.
//!
//! Placement must agree between every process and every release, so hashing uses a
//! specified function (xxh3-64 of the bytes the key's `Hash` impl writes), never a randomly
//! seeded hasher.

use std::hash::{Hash, Hasher};

use ember_engine::lineage::LineageNode;
use ember_engine::{PartitionerDesc, PartitionerKind};
use rand::{RngExt, SeedableRng};
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

/// The name of the partitioner `desc` describes, for messages: a custom partitioner's
/// reported name (its type name unless it says otherwise).
pub(crate) fn name(desc: &PartitionerDesc) -> String {
    match &desc.kind {
        PartitionerKind::Hash => "HashPartitioner".to_owned(),
        PartitionerKind::Range { .. } => "RangePartitioner".to_owned(),
        PartitionerKind::Custom { name, .. } => name.clone(),
    }
}

/// A partitioner placed a key outside `0..num_partitions()` (a bug in the partitioner): the
/// map task writing the shuffle fails with this.
#[derive(Debug)]
pub(crate) struct PartitionOutOfRange {
    /// The partitioner's name ([`name`]).
    pub(crate) partitioner: String,
    /// What `partition(key)` returned.
    pub(crate) index: usize,
    /// What `num_partitions()` reported.
    pub(crate) partitions: usize,
    /// The map partition the key was read from.
    pub(crate) map: usize,
}

impl std::fmt::Display for PartitionOutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let PartitionOutOfRange { partitioner, index, partitions, map } = self;
        write!(
            f,
            "partitioner {partitioner} placed a key of map partition {map} in partition {index}, \
             out of its range 0..{partitions}; partition(key) must be below num_partitions()"
        )
    }
}

impl std::error::Error for PartitionOutOfRange {}

/// Places a key by its hash modulo the partition count (Spark's `HashPartitioner`).
///
/// A key whose `Hash` writes a single integer (every integer type, and newtypes over one) is
/// placed the way Spark places it: by Java's `hashCode` of the number, so a key `k` with
/// `0 <= k < 2^31` lands in partition `k mod n` exactly as in Spark. Every other key is placed
/// by [`stable_hash`].
///
/// # Examples
/// ```
/// use ember::prelude::*;
///
/// let p = HashPartitioner::new(4);
/// assert_eq!(Partitioner::<i64>::partition(&p, &10), 2); // 10 mod 4, as in Spark
/// assert!(Partitioner::<String>::partition(&p, &"ten".to_string()) < 4);
/// ```
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
        let mut hasher = StableHasher::default();
        key.hash(&mut hasher);
        match hasher.single_int {
            Some(java_hash) if hasher.writes == 1 => java_hash.rem_euclid(self.partitions as i64) as usize,
            _ => (hasher.digest() % self.partitions as u64) as usize,
        }
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

/// How many keys each of `parents` partitions samples to place range bounds for `n`
/// partitions (Spark's `RangePartitioner`): about 20 keys per output partition, at most a
/// million in all, over-sampled three times and shared out evenly.
pub(crate) fn range_sample_per_partition(n: usize, parents: usize) -> usize {
    let sample_size = (20 * n).min(1_000_000);
    (3 * sample_size).div_ceil(parents)
}

/// A reservoir sample of up to `size` of the `keys` of map partition `partition` (seeded by
/// the partition, so it is the same on every run), with how many keys there were.
pub(crate) fn sample_keys<K>(partition: usize, keys: impl Iterator<Item = K>, size: usize) -> (usize, Vec<K>) {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(0x5eed_0000 + partition as u64);
    let mut reservoir: Vec<K> = Vec::with_capacity(size);
    let mut seen = 0usize;
    for key in keys {
        seen += 1;
        if reservoir.len() < size {
            reservoir.push(key);
        } else {
            let slot = rng.random_range(0..seen);
            if slot < size {
                reservoir[slot] = key;
            }
        }
    }
    (seen, reservoir)
}

/// Range bounds for `n` partitions from a weighted sample of the keys (Spark's
/// `RangePartitioner`): each partition's `(keys seen, sampled keys)` from [`sample_keys`],
/// every sampled key weighted by how many keys its partition had per sampled key. The bounds
/// are strictly increasing and at most `n - 1` (`n` is at least 2).
pub(crate) fn range_bounds<K: Ord>(samples: Vec<(usize, Vec<K>)>, n: usize) -> Vec<K> {
    let mut weighted: Vec<(K, f64)> = Vec::new();
    for (seen, reservoir) in samples {
        if reservoir.is_empty() {
            continue;
        }
        let weight = seen as f64 / reservoir.len() as f64;
        weighted.extend(reservoir.into_iter().map(|k| (k, weight)));
    }
    weighted.sort_by(|a, b| a.0.cmp(&b.0));
    let total: f64 = weighted.iter().map(|(_, w)| w).sum();
    let step = total / n as f64;
    let mut bounds: Vec<K> = Vec::with_capacity(n - 1);
    let (mut cumulative, mut target) = (0.0, step);
    for (key, weight) in weighted {
        if bounds.len() == n - 1 {
            break;
        }
        cumulative += weight;
        if cumulative >= target && bounds.last().is_none_or(|last| *last < key) {
            bounds.push(key);
            target += step;
        }
    }
    bounds
}

/// The partitioner a shuffle of `inputs` uses when the operation is given none: `partitions`
/// if given; otherwise the hash partitioner of an input (the largest, when several have
/// one), so that input needs no reshuffle; otherwise `default_parallelism` (the context's),
/// or the largest partition count among the inputs (Spark's `defaultPartitioner`). The one
/// place this choice is made, for one input (`reduce_by_key`, `group_by_key`, ...) and for
/// several (`cogroup`, the joins, `intersection`).
pub(crate) fn default_partitioner(
    inputs: &[&dyn LineageNode],
    partitions: Option<usize>,
    default_parallelism: Option<usize>,
) -> HashPartitioner {
    if let Some(n) = partitions {
        return HashPartitioner::new(n);
    }
    let hashed = inputs
        .iter()
        .filter_map(|input| input.partitioner())
        .filter(|d| d.kind == PartitionerKind::Hash)
        .map(|d| d.num_partitions)
        .max();
    let largest = inputs.iter().map(|input| input.num_partitions()).max().unwrap_or(0);
    HashPartitioner::new(hashed.or(default_parallelism).unwrap_or(largest).max(1))
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
///
/// It also remembers Java's `hashCode` of the first integer written and how many writes there
/// were, so [`HashPartitioner`] can place single-integer keys as Spark does.
struct StableHasher {
    inline: [u8; 64],
    len: usize,
    spilled: Vec<u8>,
    writes: u32,
    single_int: Option<i64>,
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher { inline: [0; 64], len: 0, spilled: Vec::new(), writes: 0, single_int: None }
    }
}

/// Records an integer write: its bytes as any write, and its Java hash code when it is the
/// first write (`Integer.hashCode` for 32 bits or fewer, `Long.hashCode` above).
macro_rules! int_writes {
    ($($method:ident: $ty:ty => $java:expr;)*) => {
        $(
            fn $method(&mut self, value: $ty) {
                let first = self.writes == 0;
                self.write(&value.to_ne_bytes());
                if first {
                    let java: fn($ty) -> i64 = $java;
                    self.single_int = Some(java(value));
                }
            }
        )*
    };
}

/// Java's `Long.hashCode`: the two halves xor-ed, as a signed 32-bit value.
fn java_long_hash(value: u64) -> i64 {
    ((value ^ (value >> 32)) as u32 as i32) as i64
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
        self.writes += 1;
    }

    int_writes! {
        write_u8: u8 => |v| v as i64;
        write_i8: i8 => |v| v as i64;
        write_u16: u16 => |v| v as i64;
        write_i16: i16 => |v| v as i64;
        write_u32: u32 => |v| v as i32 as i64;
        write_i32: i32 => |v| v as i64;
        write_u64: u64 => java_long_hash;
        write_i64: i64 => |v| java_long_hash(v as u64);
        write_usize: usize => |v| java_long_hash(v as u64);
        write_isize: isize => |v| java_long_hash(v as u64);
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
    fn integer_keys_are_placed_like_spark() {
        let p = HashPartitioner::new(7);
        for k in 0..1000i64 {
            assert_eq!(Partitioner::<i64>::partition(&p, &k), (k % 7) as usize);
            assert_eq!(Partitioner::<u32>::partition(&p, &(k as u32)), (k % 7) as usize);
        }
        // Long.hashCode(-1) = 0 and Long.hashCode(2^32) = 1 in Java.
        assert_eq!(Partitioner::<i64>::partition(&p, &-1), 0);
        assert_eq!(Partitioner::<i64>::partition(&p, &(1 << 32)), 1);
        // Integer.hashCode(-3) = -3, and Spark's nonNegativeMod(-3, 7) = 4.
        assert_eq!(Partitioner::<i32>::partition(&p, &-3), 4);
        // A tuple writes two integers: hashed, not placed by the first one.
        let spread: std::collections::HashSet<usize> =
            (0..100u64).map(|k| Partitioner::<(u64, u64)>::partition(&p, &(0, k))).collect();
        assert!(spread.len() > 1);
    }

    #[test]
    fn hash_partitions_in_range() {
        let p = HashPartitioner::new(7);
        for k in 0..1000u32 {
            assert!(Partitioner::<u32>::partition(&p, &k) < 7);
        }
    }

    #[test]
    fn range_bounds_split_a_sample_evenly() {
        let (seen, all) = sample_keys(0, 0..100, 1000);
        assert_eq!((seen, all.len()), (100, 100));
        assert_eq!(range_bounds(vec![(seen, all)], 4), vec![24, 49, 74]);
        // A partition sampled at one key in ten weighs ten times as much per key.
        let (seen, some) = sample_keys(1, 0..1000, 100);
        assert_eq!((seen, some.len()), (1000, 100));
        assert_eq!(range_bounds(vec![(seen, some), (10, (0..10).collect())], 2).len(), 1);
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
