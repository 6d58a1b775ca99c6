//! [`Event`]: what happened in an application, as the scheduler and the block manager report it.
//!
//! Events are plain serde data (the event log writes them as JSON lines, one per line, tagged
//! by `"event"`); times are Unix time in microseconds. A listener sees them in the order the
//! scheduler produced them; block events come from the tasks that stored or evicted blocks
//! and interleave with the rest.

use serde::{Deserialize, Serialize};

use crate::block::{BlockId, StorageLevel};
use crate::ids::{AttemptId, ExecutorId, JobId, NodeId, PartitionId, ShuffleId, StageId};
use crate::scheduler::JobMetrics;
use crate::task::TaskMetrics;

/// Unix time in microseconds.
pub type Micros = u64;

/// The current Unix time in microseconds (0 before 1970).
pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// One thing that happened. New kinds may be added (`#[non_exhaustive]`); a reader of an
/// event log skips lines whose `"event"` it does not know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
#[non_exhaustive]
pub enum Event {
    /// The context started.
    ApplicationStart {
        /// The application's id, unique per context (`app-YYYYMMDDhhmmss-xxxxxxxx`).
        app_id: String,
        /// The name given to the context.
        app_name: String,
        /// Where it runs: `local[N]`.
        master: String,
        /// Task slots.
        parallelism: usize,
        /// Ember's version.
        version: String,
        /// When.
        time: Micros,
    },
    /// An action submitted a job.
    JobStart {
        /// The job.
        job: JobId,
        /// `action at file:line`, e.g. `count at src/main.rs:14`.
        action: String,
        /// The job group the submitting thread had set, if any.
        group: Option<String>,
        /// Every stage of the job's DAG, parents first; the result stage last.
        stages: Vec<StageInfo>,
        /// When.
        time: Micros,
    },
    /// A stage started running tasks (for the first time, or again after lost outputs).
    StageSubmitted {
        /// The stage.
        stage: StageId,
        /// The jobs that need it.
        jobs: Vec<JobId>,
        /// `op at file:line` of its last operation.
        name: String,
        /// Tasks it will run now (its partitions whose output is missing).
        tasks: usize,
        /// All its partitions.
        partitions: usize,
        /// When.
        time: Micros,
    },
    /// A task attempt was launched on an executor's slot.
    TaskStart {
        /// The job it runs for.
        job: JobId,
        /// The stage.
        stage: StageId,
        /// The partition.
        partition: PartitionId,
        /// The attempt.
        attempt: AttemptId,
        /// Where.
        executor: ExecutorId,
        /// When.
        time: Micros,
    },
    /// A task attempt ended.
    TaskEnd {
        /// The job it ran for.
        job: JobId,
        /// The stage.
        stage: StageId,
        /// The partition.
        partition: PartitionId,
        /// The attempt.
        attempt: AttemptId,
        /// Where it ran.
        executor: ExecutorId,
        /// How it ended.
        reason: TaskEndReason,
        /// What it measured.
        metrics: TaskMetrics,
        /// When it was launched.
        launched: Micros,
        /// When it ended.
        time: Micros,
    },
    /// A stage stopped running: all its tasks succeeded, it failed, or no job needs it anymore.
    StageCompleted {
        /// The stage.
        stage: StageId,
        /// How it ended.
        outcome: StageOutcome,
        /// When.
        time: Micros,
    },
    /// A cached block was stored.
    BlockStored {
        /// The block.
        block: BlockId,
        /// Its storage level.
        level: StorageLevel,
        /// Bytes it holds in memory (an estimate for deserialized values).
        memory_bytes: u64,
        /// Bytes it holds on local disk.
        disk_bytes: u64,
        /// When.
        time: Micros,
    },
    /// A cached block left memory: moved to disk, or dropped.
    BlockEvicted {
        /// The block.
        block: BlockId,
        /// Whether it went to local disk (otherwise it is recomputed when next needed).
        to_disk: bool,
        /// When.
        time: Micros,
    },
    /// A job ended.
    JobEnd {
        /// The job.
        job: JobId,
        /// How.
        result: JobResult,
        /// The error's message, when it failed or was cancelled.
        error: Option<String>,
        /// What it did, stage by stage.
        metrics: JobMetrics,
        /// When.
        time: Micros,
    },
    /// The context stopped.
    ApplicationEnd {
        /// When.
        time: Micros,
    },
}

impl Event {
    /// The event's time.
    pub fn time(&self) -> Micros {
        match self {
            Event::ApplicationStart { time, .. }
            | Event::JobStart { time, .. }
            | Event::StageSubmitted { time, .. }
            | Event::TaskStart { time, .. }
            | Event::TaskEnd { time, .. }
            | Event::StageCompleted { time, .. }
            | Event::BlockStored { time, .. }
            | Event::BlockEvicted { time, .. }
            | Event::JobEnd { time, .. }
            | Event::ApplicationEnd { time } => *time,
        }
    }
}

/// A stage as a job's DAG shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageInfo {
    /// The stage.
    pub stage: StageId,
    /// `op at file:line` of its last operation.
    pub name: String,
    /// The shuffle it writes; `None` for the job's result stage.
    pub shuffle: Option<ShuffleId>,
    /// Its tasks (partitions).
    pub tasks: usize,
    /// The stages whose shuffle output it reads.
    pub parents: Vec<StageId>,
    /// Whether its output already existed when the job started, so it runs no task for it.
    pub skipped: bool,
    /// The operations it runs, its last one first; each names its narrow parents in the
    /// stage (the DAG inside the stage box).
    pub operators: Vec<OperatorInfo>,
}

/// One operation (lineage node) inside a stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorInfo {
    /// The node.
    pub node: NodeId,
    /// The operation, e.g. `map`.
    pub op: String,
    /// `file:line` where the user called it.
    pub call_site: String,
    /// Its partitions.
    pub partitions: usize,
    /// Its parents within the stage (narrow dependencies).
    pub parents: Vec<NodeId>,
    /// The shuffles it reads (the stage's inputs from other stages).
    pub shuffles: Vec<ShuffleId>,
}

/// How a task attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
#[non_exhaustive]
pub enum TaskEndReason {
    /// It succeeded.
    Success,
    /// User code panicked or returned an error, or a read failed; counts toward retries.
    Failed {
        /// The failure's message.
        message: String,
    },
    /// Map outputs it needed were missing; the map tasks rerun.
    FetchFailed {
        /// The failure's message.
        message: String,
    },
    /// It was stopped: its job was cancelled or failed, or its stage was no longer needed.
    Cancelled,
    /// Its executor was lost.
    ExecutorLost,
}

/// How a stage stopped running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
#[non_exhaustive]
pub enum StageOutcome {
    /// Every task it ran succeeded.
    Succeeded,
    /// It failed, ending the jobs that needed it.
    Failed {
        /// Why.
        message: String,
    },
    /// No job needs it anymore (they were cancelled or failed elsewhere).
    Abandoned,
}

/// How a job ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum JobResult {
    /// It returned its result.
    Succeeded,
    /// It failed.
    Failed,
    /// It was cancelled.
    Cancelled,
}
