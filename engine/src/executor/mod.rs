//! Executors: where task attempts run, and the seam the scheduler talks to them through.
//!
//! ```text
//!  scheduler ── launch(TaskDescriptor, executor) ──▶ Backend ── resolve work by id ──▶ run_attempt
//!      ▲            kill(TaskDescriptor)                │          (WorkRegistry)
//!      └──────────────── TaskReport (ids, bytes) ◀──────┘
//! ```
//!
//! Only ids and bytes cross the seam: a [`crate::task::TaskDescriptor`] names the work
//! ([`crate::ids::WorkId`]), the partition and the attempt, and every process resolves the
//! work from the lineage it built itself ([`WorkRegistry`]). A [`TaskReport`] carries the
//! result value, the accumulator updates and any output-commit message as encoded bytes,
//! and the map output's location filled in by the backend. Local mode is a pool of worker
//! threads ([`LocalBackend`]); [`SerializingBackend`] runs the same pool but passes every
//! descriptor and report through the codec, as a process boundary would, to prove the seam.

mod local;
mod runner;
mod serializing;
mod work;

pub use local::LocalBackend;
pub use runner::{TaskOutcome, TaskOutput, run_attempt};
pub use serializing::SerializingBackend;
pub use work::{ResultFn, Work, WorkRegistry};

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::block::BlockManager;
use crate::error::TaskFailure;
use crate::fault::FaultPlan;
use crate::ids::{AccumulatorId, ExecutorId};
use crate::shuffle::{MapStatus, ShuffleRegistry};
use crate::task::{TaskDescriptor, TaskMetrics};

/// Something that runs task attempts on executors with a fixed number of task slots each.
///
/// Contract: every launched attempt is reported exactly once through the backend's
/// [`ReportSink`], whether it succeeded, failed, was killed before it started or was stopped
/// while running. `launch` and `kill` never block on a task.
pub trait Backend: Send + Sync {
    /// The executors and how many attempts each runs at once. The scheduler launches no more
    /// attempts on an executor than it has slots.
    fn executors(&self) -> Vec<(ExecutorId, usize)>;

    /// Starts `task` on `executor`.
    fn launch(&self, task: TaskDescriptor, executor: ExecutorId);

    /// Asks a launched attempt to stop: a queued one is reported cancelled without running,
    /// a running one sees its cancellation token at its next batch of records. An attempt
    /// that has already ended is left alone.
    fn kill(&self, task: TaskDescriptor);

    /// A job ended with `result` (its values or error), after its tasks stopped. The cluster
    /// backend sends it to every executor, whose own `main` waits on the action; local
    /// backends ignore it.
    /// `held`: the outcome waits for [`Backend::release_outcome`] (the driver's action still
    /// writes).
    fn job_ended(&self, _job: crate::ids::JobId, _result: &Result<Vec<Bytes>, crate::error::JobError>, _held: bool) {}

    /// The driver's action that held job `job`'s outcome has finished: send it now.
    fn release_outcome(&self, _job: crate::ids::JobId) {}
}

/// Where a backend sends each attempt's report. Called on the backend's threads.
pub type ReportSink = Arc<dyn Fn(TaskReport) + Send + Sync>;

/// What a successful attempt produced, as the scheduler sees it.
#[derive(Debug, Serialize, Deserialize)]
pub enum TaskSuccess {
    /// A map task's output is stored on the executor; here is where and how big.
    MapOutput(MapStatus),
    /// A result task's encoded value (for a save, its output-commit message).
    Value(Bytes),
}

/// How one attempt ended, as it crosses back from the executor: ids, metrics and bytes.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskReport {
    /// The attempt.
    pub task: TaskDescriptor,
    /// The executor that ran it.
    pub executor: ExecutorId,
    /// Success or failure.
    pub result: Result<TaskSuccess, TaskFailure>,
    /// What it measured.
    pub metrics: TaskMetrics,
    /// Its accumulator updates, encoded (applied by the driver only if the scheduler accepts
    /// the attempt's success).
    pub accumulators: Vec<(AccumulatorId, Bytes)>,
    /// The cached partitions it stored on its executor: later tasks over them prefer it.
    pub blocks: Vec<crate::block::BlockId>,
}

impl TaskReport {
    /// The report for `outcome` of `task` run on `executor`: the backend fills in the map
    /// output's location.
    pub fn new(task: TaskDescriptor, executor: ExecutorId, outcome: TaskOutcome) -> Self {
        let TaskOutcome { result, metrics, accumulators, blocks } = outcome;
        let result = result.map(|output| match output {
            TaskOutput::MapOutput { bucket_sizes } => {
                TaskSuccess::MapOutput(MapStatus { location: executor, bucket_sizes })
            }
            TaskOutput::Value(bytes) => TaskSuccess::Value(bytes),
        });
        TaskReport { task, executor, result, metrics, accumulators, blocks }
    }

    /// The report of an attempt killed before it ran.
    pub fn cancelled(task: TaskDescriptor, executor: ExecutorId) -> Self {
        TaskReport {
            task,
            executor,
            result: Err(TaskFailure::Cancelled),
            metrics: TaskMetrics::default(),
            accumulators: Vec::new(),
            blocks: Vec::new(),
        }
    }
}

/// What an executor needs to run attempts: the shuffle store and tracker, the block manager,
/// the work registry and (in tests) the fault plan.
#[derive(Clone)]
pub struct ExecutorEnv {
    /// Shuffle buckets and the map-output tracker.
    pub shuffles: Arc<ShuffleRegistry>,
    /// Cached blocks and execution memory.
    pub blocks: Arc<BlockManager>,
    /// The work every descriptor names.
    pub works: Arc<WorkRegistry>,
    /// Attempts to fail on purpose (tests).
    pub faults: Arc<FaultPlan>,
    /// How long a launched attempt waits for its work to be registered: zero in local mode
    /// (the driver registered it before launching); on a cluster executor, long enough for
    /// this process's own `main` to reach the action.
    pub work_wait: std::time::Duration,
}
