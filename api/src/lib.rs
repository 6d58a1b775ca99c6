//! # Ember
//!
//! Apache Spark's core programming model, resilient distributed datasets, for Rust: lazy,
//! typed transformations over partitioned data, run in parallel on every core of a machine.
//!
//! ```
//! use ember::prelude::*;
//!
//! fn main() -> ember::Result<()> {
//!     let ctx = Context::local(2)?;
//!     let lines = ctx.parallelize(vec!["to be or not to be".to_string(), "to see".to_string()], 2);
//!     let counts = lines
//!         .flat_map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
//!         .map(|word| (word, 1u64))
//!         .reduce_by_key(|a, b| a + b); // a shuffle, combined on the map side first
//!     let top = counts.top_by(2, |(_, n)| *n)?; // the action: runs a job of two stages
//!     assert_eq!(top, vec![("to".to_string(), 3), ("be".to_string(), 2)]);
//!     Ok(())
//! }
//! ```
//!
//! ## Cargo features
//!
//! With default features Ember reads and writes local files and `memory://`, and has the
//! whole RDD API. Each feature adds what it names, and its dependencies:
//!
//! | feature | adds |
//! | --- | --- |
//! | `s3` | `s3://` (and `s3a://`): AWS S3 and S3-compatible servers |
//! | `gcs` | `gs://`: Google Cloud Storage |
//! | `azure` | `az://`: Azure Blob Storage |
//! | `http` | `http://`, `https://`: HTTP and WebDAV servers |
//! | `parquet` | `Context::read_parquet` and `Rdd::save_as_parquet` (Arrow, snappy) |
//! | `full` | all of the above |
//!
//! The object stores share an HTTP and TLS stack (reqwest over rustls and ring, no C
//! build). A URL of a store kind the build lacks is refused with an error naming the
//! feature.
//!
//! ## Concepts
//!
//! * A [`Context`] owns the worker threads (`Context::local(n)`, or `Context::from_env()`
//!   reading `EMBER_MASTER=local[N]`) and creates source RDDs: [`Context::parallelize`],
//!   [`Context::range`], [`Context::text_file`]. [`Context::text_lines`] reads the same lines
//!   as [`Text`], a string that shares the read buffer, so a word count over it allocates
//!   nothing per line or word.
//! * An [`Rdd<T>`] is an immutable, partitioned dataset described by its lineage.
//!   Transformations (`map`, `filter`, `flat_map`, `reduce_by_key`, `join`, `sort_by_key`,
//!   ...) build new RDDs and run nothing. Elements implement [`Data`] (automatically, for
//!   every `Clone + Send + Sync + Serialize + DeserializeOwned + 'static` type).
//! * Operations on pairs appear on `Rdd<(K, V)>` only. Keys add `Hash + Eq`; sorting `Ord`.
//! * Actions (`collect`, `count`, `reduce`, `take`, `save_as_text_file`, ...) run a job:
//!   the lineage is cut into stages at every shuffle, each stage runs one task per
//!   partition, and narrow operations are fused so a partition streams through them.
//! * A shuffle's output is kept while an RDD can reach it, so a second action on the same
//!   reduced RDD reruns no map stage ([`Context::last_job`] shows skipped stages).
//! * Every action has an async form (`count_async`, `collect_async`, ...) returning a
//!   [`JobHandle`]: a future, a blocking [`wait`](JobHandle::wait), a
//!   [`cancel`](JobHandle::cancel) and a [`progress`](JobHandle::progress) report. Many jobs
//!   run at once on one context, from one thread or many; [`as_completed`] yields their
//!   results as they finish; job groups cancel together ([`Context::set_job_group`]).
//! * A task that panics (or whose `try_map`, `try_flat_map`, `try_filter` closure returns
//!   an `Err`) fails its job at once in local mode (`local[N,F]` gives F attempts); the
//!   job's [`Error`] says what failed ([`kind`](Error::kind)) and names the operation whose
//!   closure failed by its call site, the partition, the attempt, the element and the panic
//!   message and location; the context stays usable.
//! * What happens is told as [`Event`]s to [`Listener`]s: a console progress bar on a
//!   terminal, an event log ([`ContextBuilder::event_log`]), `tracing`, and your own
//!   ([`Context::add_listener`]).
//! * [`Rdd::lineage`] prints the lineage with its stage boundaries, like Spark's
//!   `toDebugString`.

pub mod accumulator;
mod aggregator;
pub mod broadcast;
pub mod context;
pub mod data;
pub mod error;
#[doc(hidden)]
pub mod fault;
mod interrupt;
mod job;
mod logging;
mod ops;
#[cfg(feature = "parquet")]
mod parquet_io;
pub mod partitioner;
pub mod prelude;
pub mod rdd;
mod spill;
pub mod stats;
#[doc(hidden)]
pub mod testing;
pub mod text;

pub use ops::{actions, pair};

pub use accumulator::{Accumulator, AccumulatorParam};
#[doc(no_inline)]
pub use actions::SaveMode;
pub use broadcast::Broadcast;
pub use context::{Context, ContextBuilder};
pub use data::Data;
pub use ember_engine::StorageLevel;
pub use ember_engine::events::{Event, JobResult, OperatorInfo, StageInfo, StageOutcome, TaskEndReason};
pub use ember_engine::lineage::MAX_NARROW_DEPTH;
pub use ember_engine::{JobProgress, Listener, StageProgress};
pub use error::{Error, ErrorKind, Result};
pub use interrupt::INTERRUPTED_EXIT_STATUS;
pub use job::{AsCompleted, JobHandle, as_completed};
#[doc(no_inline)]
pub use pair::{CoGrouped, CoGrouped3, FullOuter};
pub use partitioner::{HashPartitioner, Partitioner, RangePartitioner};
pub use rdd::{Compute, PartitionIter, Rdd};
pub use stats::StatCounter;
pub use text::Text;

/// The README's examples, compiled and run as doc-tests so they cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The storage layer: URLs, listings, splits, object files and output commits.
pub use ember_storage as storage;

/// Engine types that appear in the API: ids, job metrics and progress, the event log's
/// reader, and what a custom [`Compute`] node needs.
pub mod engine {
    pub use ember_engine::events::log::{FORMAT_VERSION, LogHeader, read_event_log};
    pub use ember_engine::ids::{
        AccumulatorId, AttemptId, BroadcastId, JobId, NodeId, PartitionId, ShuffleId, StageId,
    };
    pub use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
    pub use ember_engine::{
        JobMetrics, PartitionerDesc, PartitionerKind, StageMetrics, TaskContext, TaskFailure, TaskMetrics,
    };
}
