//! The shuffle: where map outputs live between a map stage and the reducers that read them.
//!
//! ```text
//!  map task m (stage S1)                       reduce task r (stage S2)
//!  compute partition m of the parent           fetch bucket (shuffle, m', r) for every m'
//!                                              whose status says it is not empty (column r)
//!  ├─ combine by key (when an aggregator)      ├─ decode records batch by batch
//!  ├─ bucket by partitioner(key) → r           └─ merge / group / sort, stream out
//!  └─ encode each bucket (bincode) ──put──▶ ShuffleStore ──fetch──▶
//! ```
//!
//! The [`ShuffleStore`] trait is the seam: a local store ([`LocalShuffleStore`]) keeps each
//! map output in memory when the storage half of the memory budget has room, and in a local
//! file otherwise ([`MapOutputBuffer`] decides, spilling as it writes); remote fetch from
//! another executor plugs in behind the same calls. The [`MapOutputTracker`] is the driver's record of which
//! map outputs exist; the scheduler skips a map stage whose outputs are all registered, and
//! reruns only the map tasks whose outputs are missing.

mod map_output;
mod output;
mod store;

pub use map_output::{BucketSizes, MapOutputTracker, MapStatus, column_of};
pub use output::{Bucket, MapOutput, MapOutputBuffer, RangesReader};
pub use store::{LocalShuffleStore, ShuffleBlockId, ShuffleStore};

use std::sync::Arc;

use crate::ids::{ExecutorId, PartitionId, ShuffleId};

/// The shuffle store and the map-output tracker of one context: what a task needs to write
/// its buckets and to find the buckets it reads. The scheduler writes the tracker; tasks and
/// the scheduler's loop write the store.
pub struct ShuffleRegistry {
    /// Where buckets live.
    pub store: Arc<dyn ShuffleStore>,
    /// Which map outputs exist.
    pub tracker: Arc<MapOutputTracker>,
    /// On a cluster executor: where the driver's map statuses and other executors' buckets
    /// come from. `None` in local mode and on the driver, where `tracker` and `store` say all.
    pub remote: Option<Arc<dyn RemoteShuffle>>,
}

/// How a reducer on a cluster executor finds and reads buckets held by other processes.
pub trait RemoteShuffle: Send + Sync {
    /// Reduce partition `reduce`'s column of `shuffle`, as [`MapOutputTracker::column`], with
    /// the executor holding each bucket.
    ///
    /// # Errors
    /// Every map task without an output, as [`MapOutputTracker::column`].
    fn column(
        &self,
        shuffle: ShuffleId,
        reduce: PartitionId,
    ) -> Result<Vec<(PartitionId, u64, ExecutorId)>, Vec<PartitionId>>;

    /// The buckets of `reduce` from `maps` (each with the executor holding it), in order:
    /// `None` for each one that could not be read (its executor is gone or lost it).
    fn fetch(&self, shuffle: ShuffleId, reduce: PartitionId, maps: &[(PartitionId, ExecutorId)])
    -> Vec<Option<Bucket>>;
}

impl ShuffleRegistry {
    /// A registry over `store`, with an empty tracker.
    pub fn new(store: Arc<dyn ShuffleStore>) -> Self {
        ShuffleRegistry { store, tracker: Arc::default(), remote: None }
    }

    /// A cluster executor's registry: its own store, buckets elsewhere read through `remote`.
    pub fn with_remote(store: Arc<dyn ShuffleStore>, remote: Arc<dyn RemoteShuffle>) -> Self {
        ShuffleRegistry { store, tracker: Arc::default(), remote: Some(remote) }
    }

    /// Forgets a shuffle and frees its buckets.
    pub fn remove_shuffle(&self, shuffle: ShuffleId) {
        self.tracker.remove_shuffle(shuffle);
        self.store.remove_shuffle(shuffle);
    }
}
