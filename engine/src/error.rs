//! Why a task attempt failed ([`TaskFailure`]) and why a job failed ([`JobError`]).
//!
//! Both are serde data: a failure travels from the executor that saw it to the driver, and a
//! job's error is what every process of the application is told. A user's error inside a
//! task keeps its message and the messages of its sources; across a process boundary it
//! arrives as a [`RemoteError`] with the same text.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{AccumulatorId, AttemptId, ExecutorId, JobId, PartitionId, ShuffleId, StageId};
pub use crate::task::site::FailureSite;

/// The boxed error a user closure or a storage call can fail with inside a task.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why one task attempt failed. The scheduler matches on it exhaustively; new kinds may be
/// added (`#[non_exhaustive]`).
#[derive(Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskFailure {
    /// User code panicked; the payload's message is kept.
    Panic {
        /// The panic message (or a placeholder when the payload was not a string).
        message: String,
        /// Where the panic was raised (`file:line:col`), when the hook saw it.
        location: Option<String>,
        /// The operation whose code panicked and the element it was on, when known.
        site: Option<FailureSite>,
    },
    /// The task returned an error: bad input, an I/O failure, a decode failure, a user
    /// closure's `Err`.
    Error {
        /// The error, with its sources.
        #[serde(with = "remote")]
        error: BoxError,
        /// The operation whose code returned it and the element it was on, when known.
        site: Option<FailureSite>,
    },
    /// A reducer could not find the outputs of map tasks `maps` of `shuffle`: they were
    /// lost, so the scheduler reruns those map tasks instead of counting a retry.
    FetchFailed {
        /// The shuffle whose outputs are missing.
        shuffle: ShuffleId,
        /// The map partitions whose outputs are missing (at least one).
        maps: Vec<PartitionId>,
    },
    /// The attempt was stopped because its job was cancelled or failed, or its stage is no
    /// longer needed.
    Cancelled,
    /// The executor running the attempt was lost.
    ExecutorLost {
        /// The lost executor.
        executor: ExecutorId,
    },
}

impl TaskFailure {
    /// Whether this failure uses up one of the task's attempts. A fetch failure is the map
    /// side's fault and a lost executor the cluster's, not the task's, so they do not; nor
    /// does a cancellation.
    pub fn counts_toward_retries(&self) -> bool {
        match self {
            TaskFailure::Panic { .. } | TaskFailure::Error { .. } => true,
            TaskFailure::FetchFailed { .. } | TaskFailure::Cancelled | TaskFailure::ExecutorLost { .. } => false,
        }
    }

    /// Wraps any error as a task failure.
    pub fn error(err: impl Into<BoxError>) -> Self {
        TaskFailure::Error { error: err.into(), site: None }
    }

    /// A panic with `message` (the payload's text), raised at `location`.
    pub fn panic(message: impl Into<String>, location: Option<String>) -> Self {
        TaskFailure::Panic { message: message.into(), location, site: None }
    }

    /// The message of a panic payload, as `std::panic::catch_unwind` returns it.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        TaskFailure::panic(panic_message(payload.as_ref()), None)
    }

    /// The same failure, placed at `site` unless it already has a place (only a panic or an
    /// error has one).
    pub fn at(mut self, site: Option<FailureSite>) -> Self {
        if let TaskFailure::Panic { site: slot, .. } | TaskFailure::Error { site: slot, .. } = &mut self
            && slot.is_none()
        {
            *slot = site;
        }
        self
    }

    /// The panic message, when user code panicked.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            TaskFailure::Panic { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Where user code panicked (`file:line:col`), when it did.
    pub fn panic_location(&self) -> Option<&str> {
        match self {
            TaskFailure::Panic { location, .. } => location.as_deref(),
            _ => None,
        }
    }

    /// The operation whose code failed and the element it was on, when known.
    pub fn site(&self) -> Option<&FailureSite> {
        match self {
            TaskFailure::Panic { site, .. } | TaskFailure::Error { site, .. } => site.as_ref(),
            _ => None,
        }
    }
}

/// `map at src/main.rs:13 failed on element 4: `, or nothing when the site is unknown.
fn write_site(f: &mut fmt::Formatter<'_>, site: Option<&FailureSite>) -> fmt::Result {
    match site {
        Some(FailureSite { operation, element: Some(element) }) => {
            write!(f, "{operation} failed on element {element}: ")
        }
        Some(FailureSite { operation, element: None }) => write!(f, "{operation} failed: "),
        None => Ok(()),
    }
}

/// The text of a panic payload: a `&str` or `String` payload, or a placeholder.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

impl TaskFailure {
    /// The failure's text without its site (`panicked at ...: message`, or the error).
    fn fmt_without_site(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Panic { message, location, .. } => match location {
                Some(location) => write!(f, "panicked at {location}: {message}"),
                None => write!(f, "panicked: {message}"),
            },
            TaskFailure::Error { error, .. } => write_error_chain(f, error.as_ref()),
            other => fmt::Display::fmt(other, f),
        }
    }
}

/// `error` and the messages of its sources that it does not quote already.
fn write_error_chain(f: &mut fmt::Formatter<'_>, e: &(dyn std::error::Error + 'static)) -> fmt::Result {
    write!(f, "{e}")?;
    let mut source = e.source();
    while let Some(cause) = source {
        // Storage and codec errors quote their cause already; skip repeats.
        let text = cause.to_string();
        if !e.to_string().contains(&text) {
            write!(f, ": {text}")?;
        }
        source = cause.source();
    }
    Ok(())
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Panic { message, location, site } => {
                write_site(f, site.as_ref())?;
                match location {
                    Some(location) => write!(f, "panicked at {location}: {message}"),
                    None => write!(f, "panicked: {message}"),
                }
            }
            TaskFailure::Error { error, site } => {
                write_site(f, site.as_ref())?;
                write_error_chain(f, error.as_ref())
            }
            TaskFailure::FetchFailed { shuffle, maps } => {
                write!(f, "output of map task")?;
                if maps.len() > 1 {
                    write!(f, "s")?;
                }
                for (i, map) in maps.iter().take(8).enumerate() {
                    write!(f, "{}{map}", if i == 0 { " " } else { ", " })?;
                }
                if maps.len() > 8 {
                    write!(f, " and {} more", maps.len() - 8)?;
                }
                write!(f, " of {shuffle} missing")
            }
            TaskFailure::Cancelled => write!(f, "cancelled"),
            TaskFailure::ExecutorLost { executor } => write!(f, "{executor} was lost"),
        }
    }
}

/// An error that crossed a process (or serialization) boundary: its message and its
/// sources' messages, as the side that saw it printed them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    message: String,
    source: Option<Box<RemoteError>>,
}

impl RemoteError {
    /// The text of `error` and of its chain of sources.
    pub fn capture(error: &(dyn std::error::Error + 'static)) -> Self {
        RemoteError { message: error.to_string(), source: error.source().map(|s| Box::new(RemoteError::capture(s))) }
    }

    /// `error` captured with `tag` appended to its own message (which executor ran it).
    pub fn tagged(error: &(dyn std::error::Error + Send + Sync + 'static), tag: &str) -> Self {
        let mut captured = RemoteError::capture(error);
        captured.message.push_str(tag);
        captured
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// Serde for a [`BoxError`]: written as a [`RemoteError`], read back as one.
mod remote {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{BoxError, RemoteError};

    pub(super) fn serialize<S: Serializer>(error: &BoxError, serializer: S) -> Result<S::Ok, S::Error> {
        RemoteError::capture(error.as_ref()).serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BoxError, D::Error> {
        Ok(Box::new(RemoteError::deserialize(deserializer)?))
    }
}

/// What kind of failure ended a job. New kinds may be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum JobErrorKind {
    /// A task failed on every attempt it was allowed (a panic or an error in user code, a
    /// read that failed).
    TaskFailed,
    /// A stage kept losing its parents' map outputs and was given up on.
    FetchFailures,
    /// The job was cancelled: through its handle, its job group, `cancel_all_jobs`, or an
    /// interrupt.
    Cancelled,
    /// Merging a task's accumulator update on the driver failed (the accumulator's `merge`
    /// panicked, or the update could not be decoded).
    AccumulatorFailed,
    /// The context stopped (it was dropped, or its threads are gone) before the job ended.
    Stopped,
    /// Nothing was running and nothing could be launched, yet the job was not done: a bug in
    /// Ember's scheduler.
    Stalled,
    /// Every executor of a cluster application was lost and none replaced it.
    NoExecutors,
}

/// Why a job failed: its kind, the job, and where it applies the stage, the partition, the
/// attempt and the last task failure as the cause. Opaque: read it through its accessors.
#[derive(Serialize, Deserialize)]
pub struct JobError(Box<Inner>);

#[derive(Debug, Serialize, Deserialize)]
struct Inner {
    kind: JobErrorKind,
    job: JobId,
    stage: Option<StageId>,
    stage_name: Option<String>,
    partition: Option<PartitionId>,
    attempt: Option<AttemptId>,
    max_attempts: Option<u32>,
    failure: Option<TaskFailure>,
    detail: Option<String>,
}

impl JobError {
    fn new(kind: JobErrorKind, job: JobId) -> Self {
        JobError(Box::new(Inner {
            kind,
            job,
            stage: None,
            stage_name: None,
            partition: None,
            attempt: None,
            max_attempts: None,
            failure: None,
            detail: None,
        }))
    }

    /// A task of `stage` failed on its last allowed attempt, `attempt`, with `failure`.
    pub fn task_failed(
        job: JobId,
        stage: StageId,
        stage_name: String,
        partition: PartitionId,
        attempt: AttemptId,
        max_attempts: u32,
        failure: TaskFailure,
    ) -> Self {
        let mut err = JobError::new(JobErrorKind::TaskFailed, job);
        err.0.stage = Some(stage);
        err.0.stage_name = Some(stage_name);
        err.0.partition = Some(partition);
        err.0.attempt = Some(attempt);
        err.0.max_attempts = Some(max_attempts);
        err.0.failure = Some(failure);
        err
    }

    /// `stage` was resubmitted `count` times after fetch failures and given up on.
    pub fn fetch_failures(job: JobId, stage: StageId, stage_name: String, count: u32) -> Self {
        let mut err = JobError::new(JobErrorKind::FetchFailures, job);
        err.0.stage = Some(stage);
        err.0.stage_name = Some(stage_name);
        err.0.detail = Some(count.to_string());
        err
    }

    /// The job was cancelled; `reason` says by whom ("by its handle", "with job group x").
    pub fn cancelled(job: JobId, reason: impl Into<String>) -> Self {
        let mut err = JobError::new(JobErrorKind::Cancelled, job);
        err.0.detail = Some(reason.into());
        err
    }

    /// Merging accumulator `accumulator`'s update failed with `why`.
    pub fn accumulator_failed(job: JobId, accumulator: AccumulatorId, why: String) -> Self {
        let mut err = JobError::new(JobErrorKind::AccumulatorFailed, job);
        err.0.detail = Some(format!("merging the update of {accumulator} failed: {why}"));
        err
    }

    /// The context stopped before the job ended.
    pub fn stopped(job: JobId) -> Self {
        JobError::new(JobErrorKind::Stopped, job)
    }

    /// The scheduler found nothing to run for an unfinished job (a bug).
    pub fn stalled(job: JobId) -> Self {
        JobError::new(JobErrorKind::Stalled, job)
    }

    /// Every executor was lost: `reason` names the last and why.
    pub fn no_executors(job: JobId, reason: &str) -> Self {
        let mut err = JobError::new(JobErrorKind::NoExecutors, job);
        err.0.detail = Some(reason.to_owned());
        err
    }

    /// The same error for another job that failed for the same reason (a stage that two
    /// jobs share failed).
    pub fn for_job(&self, job: JobId) -> Self {
        JobError(Box::new(Inner {
            kind: self.0.kind,
            job,
            stage: self.0.stage,
            stage_name: self.0.stage_name.clone(),
            partition: self.0.partition,
            attempt: self.0.attempt,
            max_attempts: self.0.max_attempts,
            failure: self.0.failure.as_ref().map(copy_failure),
            detail: self.0.detail.clone(),
        }))
    }

    /// What kind of failure it was.
    pub fn kind(&self) -> JobErrorKind {
        self.0.kind
    }

    /// The job that failed.
    pub fn job(&self) -> JobId {
        self.0.job
    }

    /// The stage whose failure ended the job, when one did.
    pub fn stage(&self) -> Option<StageId> {
        self.0.stage
    }

    /// `op at file:line` of the failing stage's last operation.
    pub fn stage_name(&self) -> Option<&str> {
        self.0.stage_name.as_deref()
    }

    /// The partition whose task failed.
    pub fn partition(&self) -> Option<PartitionId> {
        self.0.partition
    }

    /// The failing task's last attempt (counting from 0).
    pub fn attempt(&self) -> Option<AttemptId> {
        self.0.attempt
    }

    /// How many attempts the task was allowed.
    pub fn max_attempts(&self) -> Option<u32> {
        self.0.max_attempts
    }

    /// The last task failure, the cause of a [`JobErrorKind::TaskFailed`] error.
    pub fn failure(&self) -> Option<&TaskFailure> {
        self.0.failure.as_ref()
    }

    /// The panic message of the failing task, when user code panicked.
    pub fn panic_message(&self) -> Option<&str> {
        self.0.failure.as_ref().and_then(TaskFailure::panic_message)
    }

    /// Where the failing task's user code panicked (`file:line:col`), when it did.
    pub fn panic_location(&self) -> Option<&str> {
        self.0.failure.as_ref().and_then(TaskFailure::panic_location)
    }

    /// The operation whose code failed (`map at src/main.rs:13`: in a fused chain, the one
    /// whose closure panicked or returned the error, not the stage's last) and the element's
    /// index within that operation's input in the partition, when known.
    pub fn failure_site(&self) -> Option<&FailureSite> {
        self.0.failure.as_ref().and_then(TaskFailure::site)
    }
}

/// A copy of a failure for a second job's error: a boxed error cannot be cloned, so it is
/// carried on as its text.
fn copy_failure(failure: &TaskFailure) -> TaskFailure {
    match failure {
        TaskFailure::Panic { message, location, site } => {
            TaskFailure::Panic { message: message.clone(), location: location.clone(), site: site.clone() }
        }
        TaskFailure::Error { error, site } => {
            TaskFailure::Error { error: Box::new(RemoteError::capture(error.as_ref())), site: site.clone() }
        }
        TaskFailure::FetchFailed { shuffle, maps } => {
            TaskFailure::FetchFailed { shuffle: *shuffle, maps: maps.clone() }
        }
        TaskFailure::Cancelled => TaskFailure::Cancelled,
        TaskFailure::ExecutorLost { executor } => TaskFailure::ExecutorLost { executor: *executor },
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        let stage = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
            match (e.stage, &e.stage_name) {
                (Some(stage), Some(name)) => write!(f, "stage {stage} ({name})"),
                (Some(stage), None) => write!(f, "stage {stage}"),
                _ => write!(f, "a stage"),
            }
        };
        match e.kind {
            JobErrorKind::TaskFailed => {
                write!(f, "job {} aborted: task for partition ", e.job)?;
                match e.partition {
                    Some(p) => write!(f, "{p}")?,
                    None => write!(f, "?")?,
                }
                write!(f, " of ")?;
                stage(f)?;
                let tried = e.attempt.map_or(0, |a| a.0 + 1);
                write!(f, " failed on attempt {tried} of {}", e.max_attempts.unwrap_or(tried))?;
                match &e.failure {
                    // The stage's name already says which operation failed: only the element.
                    Some(failure) if failure.site().is_some_and(|s| Some(&s.operation) == e.stage_name.as_ref()) => {
                        if let Some(element) = failure.site().and_then(|s| s.element) {
                            write!(f, " on element {element}")?;
                        }
                        write!(f, ": ")?;
                        failure.fmt_without_site(f)
                    }
                    Some(failure) => write!(f, ": {failure}"),
                    None => Ok(()),
                }
            }
            JobErrorKind::FetchFailures => {
                write!(f, "job {} aborted: ", e.job)?;
                stage(f)?;
                write!(f, " hit {} fetch failures in a row", e.detail.as_deref().unwrap_or("too many"))
            }
            JobErrorKind::Cancelled => match &e.detail {
                Some(reason) if !reason.is_empty() => write!(f, "job {} cancelled {reason}", e.job),
                _ => write!(f, "job {} cancelled", e.job),
            },
            JobErrorKind::AccumulatorFailed => {
                write!(f, "job {} aborted: {}", e.job, e.detail.as_deref().unwrap_or("an accumulator failed"))
            }
            JobErrorKind::Stopped => write!(f, "job {} did not finish: the context stopped", e.job),
            JobErrorKind::Stalled => write!(
                f,
                "job {} stalled: no task running and none runnable (a scheduler bug; please report it)",
                e.job
            ),
            JobErrorKind::NoExecutors => {
                write!(f, "job {} failed: {}", e.job, e.detail.as_deref().unwrap_or("every executor was lost"))
            }
        }
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The readable message, as `anyhow` prints it, so `{:?}` of a failed job reads well.
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.0.failure.as_ref()? {
            TaskFailure::Error { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}
