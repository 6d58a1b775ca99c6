//! [`TaskMetrics`]: what one task attempt measured, summed per stage and job.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What one task attempt measured.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Records read from sources (files, collections) and from shuffles.
    pub records_read: u64,
    /// Records written: to shuffle buckets, to output files, or returned as results.
    pub records_written: u64,
    /// Encoded bytes written to shuffle buckets.
    pub shuffle_bytes_written: u64,
    /// Encoded bytes fetched from shuffle buckets.
    pub shuffle_bytes_read: u64,
    /// Wall time of the attempt.
    pub duration: Duration,
    /// Encoded bytes of a result task's value, sent to the driver.
    pub result_bytes: u64,
    /// Cached partitions found (in memory or on disk) instead of being computed.
    pub cache_hits: u64,
    /// Partitions of persisted nodes that were not cached and had to be computed.
    pub cache_misses: u64,
    /// Blocks pushed out of memory while this attempt stored its own.
    pub cache_evictions: u64,
    /// Bytes written to local disk because memory ran out or the level said so: evicted or
    /// disk-level cached blocks, shuffle outputs, sorted runs of aggregations and sorts.
    pub bytes_spilled: u64,
    /// Times a task structure (shuffle write buffers, an aggregation table, a sort buffer)
    /// was denied memory and spilled to local disk.
    pub spills: u64,
    /// The most execution memory the attempt held at once (aggregated as a maximum).
    pub peak_execution_memory: u64,
    /// Cache misses on blocks that had been stored before (evicted or lost): recomputed
    /// from lineage.
    pub recomputed_partitions: u64,
}

impl TaskMetrics {
    /// Adds `other`'s counters (and duration) to these.
    pub fn add(&mut self, other: &TaskMetrics) {
        self.records_read += other.records_read;
        self.records_written += other.records_written;
        self.shuffle_bytes_written += other.shuffle_bytes_written;
        self.shuffle_bytes_read += other.shuffle_bytes_read;
        self.duration += other.duration;
        self.result_bytes += other.result_bytes;
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
        self.cache_evictions += other.cache_evictions;
        self.bytes_spilled += other.bytes_spilled;
        self.spills += other.spills;
        self.peak_execution_memory = self.peak_execution_memory.max(other.peak_execution_memory);
        self.recomputed_partitions += other.recomputed_partitions;
    }
}
