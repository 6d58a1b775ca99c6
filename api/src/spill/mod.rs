//! Larger than memory: aggregation tables and sort buffers that live under the running task's
//! share of execution memory ([`ember_engine::memory`]) and spill sorted runs to local disk
//! when they are denied more, merged back as one sorted stream at the end (external
//! sort/merge, as Spark's `ExternalAppendOnlyMap` and `ExternalSorter` do).
//!
//! ```text
//!  records ─▶ in-memory table / buffer ──denied memory──▶ sort ─▶ run file ─┐
//!                     │ input ends                                          │
//!                     ▼                                                     ▼
//!             sort what is left ─────────────▶ k-way merge of every run ─▶ output
//! ```
//!
//! * [`aggregate`]: by-key aggregation. Keys need only `Hash + Eq`, so runs are ordered by
//!   the key's hash and the merge combines the entries of equal keys within one hash.
//! * [`sort`]: `sort_by_key`, runs ordered by key.
//! * [`run`]: writing and reading runs; [`merge`]: the k-way merge; [`estimate`]: how
//!   many bytes a table or buffer holds.
//!
//! With no memory pressure nothing is sorted or written: the structures behave exactly as
//! plain in-memory ones. What stays over budget, documented in the README: one group of
//! `group_by_key` (or one key of a join) must fit in memory; a merge holds one read buffer
//! ([`run::READ_BUFFER`]) and one record per run it merges, at most [`merge::MAX_WIDTH`] runs.

pub(crate) mod aggregate;
pub(crate) mod estimate;
pub(crate) mod merge;
pub(crate) mod run;
pub(crate) mod sort;

use std::path::PathBuf;

use ember_storage::StorageError;

/// Why spilling to, or reading back from, local disk failed. The task fails with it (and is
/// retried like any failed task).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpillError {
    /// Creating or writing a run file failed.
    #[error("cannot spill to local disk: {0}")]
    Write(#[from] std::io::Error),
    /// A record could not be encoded for the run.
    #[error("cannot encode a record to spill it: {0}")]
    Encode(#[source] Box<StorageError>),
    /// A run could not be read back.
    #[error("cannot read back spilled run {path}: {source}")]
    Read {
        /// The run's file.
        path: PathBuf,
        /// What went wrong.
        source: Box<StorageError>,
    },
}

/// A task context with `budget` bytes of memory (half of it execution memory for the one
/// task slot), for unit tests of the spilling structures.
#[cfg(test)]
pub(crate) fn test_context(budget: u64) -> ember_engine::TaskContext {
    ember_engine::TaskContext::standalone(ember_engine::ids::PartitionId(0), budget)
}
