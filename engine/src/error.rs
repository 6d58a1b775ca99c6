//! Why a task attempt failed ([`TaskFailure`]) and why a job failed ([`JobError`]).

use std::fmt;

use crate::ids::{JobId, ShuffleId, StageId};

/// The boxed error a user closure or a storage call can fail with inside a task.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why one task attempt failed. A closed set, matched exhaustively by the scheduler.
#[derive(Debug)]
pub enum TaskFailure {
    /// User code panicked; the payload's message is kept.
    Panic {
        /// The panic message (or a placeholder when the payload was not a string).
        message: String,
    },
    /// The task returned an error: bad input, an I/O failure, a decode failure.
    Error(BoxError),
    /// A reducer could not find the output of map task `map` of `shuffle`: the map output was
    /// lost, so the scheduler reruns that map task instead of counting a retry.
    FetchFailed {
        /// The shuffle whose output is missing.
        shuffle: ShuffleId,
        /// The map partition whose output is missing.
        map: usize,
    },
}

impl TaskFailure {
    /// Whether this failure uses up one of the task's attempts. A fetch failure is the map
    /// side's fault, not the reducer's, so it does not.
    pub fn counts_toward_retries(&self) -> bool {
        match self {
            TaskFailure::Panic { .. } | TaskFailure::Error(_) => true,
            TaskFailure::FetchFailed { .. } => false,
        }
    }

    /// Wraps any error as a task failure.
    pub fn error(err: impl Into<BoxError>) -> Self {
        TaskFailure::Error(err.into())
    }

    /// The message of a panic payload, as `std::panic::catch_unwind` returns it.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        TaskFailure::Panic { message }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Panic { message } => write!(f, "panicked: {message}"),
            TaskFailure::Error(e) => write!(f, "{e}"),
            TaskFailure::FetchFailed { shuffle, map } => {
                write!(f, "output of map task {map} of {shuffle} is missing")
            }
        }
    }
}

/// Why a job failed. It names the job, the stage, the partition and the attempt, and keeps
/// the last task failure as its cause.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A task failed on every attempt it was allowed.
    #[error(
        "job {job} aborted: task for partition {partition} of stage {stage} ({stage_name}) \
         failed on attempt {attempt} of {max_attempts}: {failure}"
    )]
    TaskFailed {
        /// The job that was aborted.
        job: JobId,
        /// The stage the failing task belonged to.
        stage: StageId,
        /// The stage's last operation and its call site, e.g. `map at src/main.rs:12`.
        stage_name: String,
        /// The partition the task computed.
        partition: usize,
        /// The attempt number of the last failure (counting from 1).
        attempt: u32,
        /// How many attempts a task is allowed.
        max_attempts: u32,
        /// The last failure.
        failure: TaskFailure,
    },
    /// A stage kept losing its parents' map outputs and was given up on.
    #[error("job {job} aborted: stage {stage} ({stage_name}) hit {count} fetch failures in a row")]
    TooManyFetchFailures {
        /// The job that was aborted.
        job: JobId,
        /// The stage whose tasks could not fetch their input.
        stage: StageId,
        /// The stage's description.
        stage_name: String,
        /// How many times the stage was resubmitted.
        count: u32,
    },
    /// Nothing was running and nothing could be launched, yet the job was not done. This is a
    /// bug in Ember's scheduler; please report it with the job's lineage.
    #[error("job {job} stalled: no task running and none runnable (a scheduler bug; please report it)")]
    Stalled {
        /// The job.
        job: JobId,
    },
    /// The context's worker threads are gone, so nothing can run.
    #[error("the context's executor has shut down")]
    ExecutorGone,
}
