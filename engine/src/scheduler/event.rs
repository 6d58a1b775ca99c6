//! The state machine's one input ([`SchedulerEvent`]) and one output ([`Command`]).

use std::sync::Arc;

use bytes::Bytes;

use super::{JobMetrics, JobProgress};
use crate::error::JobError;
use crate::events::Event;
use crate::executor::TaskReport;
use crate::ids::{AccumulatorId, ExecutorId, JobId, PartitionId, ShuffleId};
use crate::lineage::LineageNode;
use crate::task::TaskDescriptor;

/// A job as an action submits it: the partitions it needs of its final node.
pub struct JobSubmission {
    /// The job's id (from the context's id generator).
    pub job: JobId,
    /// The node whose partitions the result stage computes.
    pub final_node: Arc<dyn LineageNode>,
    /// The partitions the action needs, distinct and in the order it wants its values.
    pub partitions: Vec<PartitionId>,
    /// `action at file:line`.
    pub action: String,
    /// The job group of the submitting thread.
    pub group: Option<String>,
    /// The nodes whose checkpoint is written: the plan stops there.
    pub truncated: Vec<crate::ids::NodeId>,
    /// Whether the job's outcome reaches cluster executors only once the driver's caller
    /// releases it ([`crate::EngineContext::release_outcome`]): for an action that writes
    /// after its tasks (a save's commit, checkpoints), so that an executor's `main` reads
    /// the output only once it is there.
    pub held: bool,
}

/// Which jobs a cancellation reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelTarget {
    /// One job.
    Job(JobId),
    /// Every active job of a job group.
    Group(String),
    /// Every active job.
    All,
}

/// Everything the scheduler reacts to.
pub enum SchedulerEvent {
    /// A new job.
    Submit(JobSubmission),
    /// An attempt ended (its report from the backend).
    TaskEnded(TaskReport),
    /// Cancel jobs; `reason` completes "job N cancelled ..." (e.g. "by its handle").
    Cancel {
        /// The jobs.
        target: CancelTarget,
        /// Why, for the error message.
        reason: String,
    },
    /// The loop carried out an [`Command::ApplyAccumulators`]: `error` is `Some` when a merge
    /// failed (a panic or an undecodable update), which fails the job.
    AccumulatorsApplied {
        /// The job the updates were applied for.
        job: JobId,
        /// The accumulator that failed and why.
        error: Option<(AccumulatorId, String)>,
    },
    /// An executor joined with `slots` task slots.
    ExecutorAdded {
        /// The executor.
        executor: ExecutorId,
        /// How many attempts it runs at once.
        slots: usize,
    },
    /// An executor is gone: its running attempts and the map outputs it held are lost.
    ExecutorLost {
        /// The executor.
        executor: ExecutorId,
    },
    /// Every executor is gone and none is coming: every active job fails with `reason`
    /// instead of waiting forever.
    NoExecutors {
        /// Which executor went last and why, for the jobs' errors.
        reason: String,
    },
    /// No RDD can reach this shuffle anymore.
    ShuffleDropped(ShuffleId),
    /// The context is stopping: every active job fails.
    Stop,
}

/// What the state machine asks its loop to do, in order.
#[derive(Debug)]
pub enum Command {
    /// Start this attempt on this executor.
    Launch {
        /// The attempt.
        task: TaskDescriptor,
        /// Where.
        executor: ExecutorId,
    },
    /// Stop this attempt (it still reports, as cancelled).
    Kill(TaskDescriptor),
    /// Delete map outputs from the shuffle store: the given maps of a shuffle, or every
    /// output of it when `maps` is `None`.
    Unregister {
        /// The shuffle.
        shuffle: ShuffleId,
        /// The map outputs, or all.
        maps: Option<Vec<PartitionId>>,
    },
    /// Merge an accepted attempt's accumulator updates on the driver, then report back with
    /// [`SchedulerEvent::AccumulatorsApplied`].
    ApplyAccumulators {
        /// The job the attempt counts for.
        job: JobId,
        /// The updates, encoded.
        updates: Vec<(AccumulatorId, Bytes)>,
    },
    /// Tell the listeners.
    Emit(Event),
    /// The job is over: its values in the order of the requested partitions, or why it
    /// failed. Its tasks have all stopped.
    Finish {
        /// The job.
        job: JobId,
        /// The encoded values, or the error.
        result: Result<Vec<Bytes>, JobError>,
        /// What it did.
        metrics: JobMetrics,
        /// Its progress at the end.
        progress: JobProgress,
    },
}
