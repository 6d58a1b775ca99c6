//! [`Error`]: everything an Ember call can fail with, opaque, with a [`kind`](Error::kind).

use std::fmt;

use ember_engine::error::JobErrorKind;
use ember_engine::ids::{AttemptId, JobId, PartitionId, StageId};
pub use ember_engine::{JobError, TaskFailure};
pub use ember_storage::StorageError;

/// The result type of every fallible Ember call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is. New kinds may be added, so a `match` needs a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A task failed on every attempt it was allowed: user code panicked or returned an error,
    /// or reading its input failed. [`Error::panic_message`], [`Error::stage`],
    /// [`Error::partition`] and the [source](std::error::Error::source) say more.
    TaskFailed,
    /// The job was cancelled: through its handle, its job group, `cancel_all_jobs`, or an
    /// interrupt (Ctrl-C).
    Cancelled,
    /// A stage kept losing the map outputs it reads and was given up on.
    FetchFailed,
    /// Merging a task's accumulator update on the driver failed (its `merge` panicked).
    AccumulatorFailed,
    /// An action that needs an element ran on an empty RDD (Spark's "empty collection").
    EmptyRdd,
    /// A setting could not be understood (`EMBER_MASTER`, a builder option).
    Config,
    /// Nothing exists at a path or URL.
    NotFound,
    /// An output already exists and overwriting was not asked for.
    AlreadyExists,
    /// Another save is writing the same output, or an overwrite would replace the job's own
    /// input.
    Conflict,
    /// A directory is an output whose save did not finish (it was killed or failed while
    /// committing): reading it would give only some of its parts.
    IncompleteOutput,
    /// The store refused access (credentials, permissions).
    PermissionDenied,
    /// A URL or path is malformed, or names a scheme this build cannot reach.
    InvalidUrl,
    /// A file is not in the expected format (not written by this format or version,
    /// truncated, corrupt).
    Format,
    /// Any other failure reading or writing data at rest.
    Storage,
    /// A value could not be encoded or decoded.
    Codec,
    /// An I/O error from code that used `?` on a `std::io::Error`.
    Io,
    /// The context's threads could not be started.
    Startup,
    /// The context stopped before the job ended.
    Stopped,
    /// A job's lineage chains more narrow operations in one stage than a task can run
    /// without overflowing its thread's stack; refused before any task ran. The message
    /// names the depth and the limit ([`MAX_NARROW_DEPTH`](crate::MAX_NARROW_DEPTH)).
    LineageTooDeep,
    /// A [`Partitioner`](crate::Partitioner) reports 0 partitions; refused before any task
    /// ran. (One that returns a partition out of range fails its task, and the job, as
    /// [`ErrorKind::TaskFailed`], with a message naming it.)
    InvalidPartitioner,
    /// A bug in Ember (the message asks for a report).
    Internal,
}

/// Why an Ember call failed: a [kind](Error::kind), a message that says what happened and
/// where (the job, stage, partition and attempt; the URL; the setting), accessors for each of
/// those, and the cause as its [source](std::error::Error::source). `{:?}` prints the same
/// readable message as `{}`, so `fn main() -> ember::Result<()>` reports it well.
pub struct Error(Box<Repr>);

enum Repr {
    Job(JobError),
    Storage(StorageError),
    Io(std::io::Error),
    Plain { kind: ErrorKind, message: String },
}

impl Error {
    /// A setting `key` with `value` that could not be understood, and what was expected.
    pub(crate) fn config(key: &str, value: impl Into<String>, reason: impl fmt::Display) -> Self {
        let value = value.into();
        Error::plain(ErrorKind::Config, format!("invalid {key} {value:?}: {reason}"))
    }

    /// `action` ran on an empty RDD at `call_site`.
    pub(crate) fn empty_rdd(action: &str, call_site: &std::panic::Location<'_>) -> Self {
        Error::plain(
            ErrorKind::EmptyRdd,
            format!("{action} called on an empty RDD ({}:{})", call_site.file(), call_site.line()),
        )
    }

    /// The context's threads could not start.
    pub(crate) fn startup(err: std::io::Error) -> Self {
        Error::plain(ErrorKind::Startup, format!("could not start Ember's threads: {err}"))
    }

    /// A value that could not be encoded or decoded, with what and why.
    pub(crate) fn codec(message: impl Into<String>) -> Self {
        Error::plain(ErrorKind::Codec, message)
    }

    /// The job of `action` was refused: its lineage is `depth` narrow operations deep.
    pub(crate) fn lineage_too_deep(action: &str, depth: usize, limit: usize) -> Self {
        Error::plain(
            ErrorKind::LineageTooDeep,
            format!(
                "{action}: the lineage chains {depth} narrow operations in one stage, over the limit of {limit} \
                 a task can run without overflowing its stack; persist() and checkpoint() the RDD every few \
                 thousand operations (or shuffle between them) to cut the lineage"
            ),
        )
    }

    /// The job of `action` was refused: a shuffle in its lineage has `partitioner`, which
    /// reports 0 partitions.
    pub(crate) fn no_partitions(action: &str, partitioner: &ember_engine::PartitionerDesc) -> Self {
        Error::plain(
            ErrorKind::InvalidPartitioner,
            format!(
                "{action}: partitioner {} reports 0 partitions, so every record would be dropped; \
                 num_partitions() must be at least 1",
                crate::partitioner::name(partitioner)
            ),
        )
    }

    /// An Ember bug, with what went wrong.
    pub(crate) fn internal(message: impl fmt::Display) -> Self {
        Error::plain(ErrorKind::Internal, format!("{message} (a bug in Ember; please report it)"))
    }

    fn plain(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Repr::Plain { kind, message: message.into() }))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match &*self.0 {
            Repr::Job(err) => match err.kind() {
                JobErrorKind::TaskFailed => ErrorKind::TaskFailed,
                JobErrorKind::Cancelled => ErrorKind::Cancelled,
                JobErrorKind::FetchFailures => ErrorKind::FetchFailed,
                JobErrorKind::AccumulatorFailed => ErrorKind::AccumulatorFailed,
                JobErrorKind::Stopped => ErrorKind::Stopped,
                _ => ErrorKind::Internal,
            },
            Repr::Storage(err) => storage_kind(err),
            Repr::Io(_) => ErrorKind::Io,
            Repr::Plain { kind, .. } => *kind,
        }
    }

    /// Whether the job was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.kind() == ErrorKind::Cancelled
    }

    /// The job that failed, for errors of a job.
    pub fn job(&self) -> Option<JobId> {
        self.job_error().map(JobError::job)
    }

    /// The stage whose failure ended the job.
    pub fn stage(&self) -> Option<StageId> {
        self.job_error().and_then(JobError::stage)
    }

    /// The partition whose task failed.
    pub fn partition(&self) -> Option<PartitionId> {
        self.job_error().and_then(JobError::partition)
    }

    /// The failing task's last attempt (counting from 0).
    pub fn attempt(&self) -> Option<AttemptId> {
        self.job_error().and_then(JobError::attempt)
    }

    /// `op at file:line` of the operation that failed: in a fused chain of narrow
    /// operations, the one whose closure panicked or returned the error (not the stage's
    /// last); the stage's own name when the failure came from no user closure.
    pub fn call_site(&self) -> Option<&str> {
        let job = self.job_error()?;
        job.failure_site().map(|site| site.operation.as_str()).or_else(|| job.stage_name())
    }

    /// The index of the element the failing operation was working on, within that
    /// operation's input in the failing partition (counting from 0), when known.
    pub fn element(&self) -> Option<u64> {
        self.job_error()?.failure_site()?.element
    }

    /// The panic message of the failing task, when user code panicked.
    pub fn panic_message(&self) -> Option<&str> {
        self.job_error().and_then(JobError::panic_message)
    }

    /// Where the failing task's user code panicked (`file:line:col`), when it did.
    pub fn panic_location(&self) -> Option<&str> {
        self.job_error().and_then(JobError::panic_location)
    }

    /// The job error inside, for errors of a job.
    pub fn job_error(&self) -> Option<&JobError> {
        match &*self.0 {
            Repr::Job(err) => Some(err),
            _ => None,
        }
    }

    /// The storage error inside, for errors of data at rest.
    pub fn storage_error(&self) -> Option<&StorageError> {
        match &*self.0 {
            Repr::Storage(err) => Some(err),
            _ => None,
        }
    }
}

/// The kind of a storage error.
fn storage_kind(err: &StorageError) -> ErrorKind {
    match err {
        StorageError::NotFound { .. } => ErrorKind::NotFound,
        StorageError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
        StorageError::OutputBusy { .. } | StorageError::OverwritesInput { .. } => ErrorKind::Conflict,
        StorageError::IncompleteOutput { .. } => ErrorKind::IncompleteOutput,
        StorageError::PermissionDenied { .. } => ErrorKind::PermissionDenied,
        StorageError::InvalidUrl { .. } | StorageError::UnsupportedScheme { .. } => ErrorKind::InvalidUrl,
        StorageError::InvalidOption { .. }
        | StorageError::StoreConfig { .. }
        | StorageError::MissingCredentials { .. }
        | StorageError::FeatureDisabled { .. } => ErrorKind::Config,
        StorageError::Format { .. } => ErrorKind::Format,
        StorageError::Codec { .. } => ErrorKind::Codec,
        _ => ErrorKind::Storage,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Repr::Job(err) => fmt::Display::fmt(err, f),
            Repr::Storage(err) => fmt::Display::fmt(err, f),
            Repr::Io(err) => write!(f, "I/O error: {err}"),
            Repr::Plain { message, .. } => f.write_str(message),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The readable message, as `anyhow` prints it: what `fn main() -> ember::Result<()>`
        // shows when it returns an error.
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            Repr::Job(err) => err.source(),
            Repr::Storage(err) => err.source(),
            Repr::Io(err) => Some(err),
            Repr::Plain { .. } => None,
        }
    }
}

impl From<JobError> for Error {
    fn from(err: JobError) -> Self {
        Error(Box::new(Repr::Job(err)))
    }
}

impl From<StorageError> for Error {
    fn from(err: StorageError) -> Self {
        Error(Box::new(Repr::Storage(err)))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error(Box::new(Repr::Io(err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_reads_like_display_and_kinds_come_from_the_cause() {
        let err = Error::from(StorageError::AlreadyExists { url: "data/out".into() });
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(format!("{err:?}"), format!("{err}"));
        assert!(format!("{err:?}").contains("data/out already exists"));
        let io = Error::from(std::io::Error::other("disk on fire"));
        assert_eq!((io.kind(), io.to_string().as_str()), (ErrorKind::Io, "I/O error: disk on fire"));
        assert!(std::error::Error::source(&io).is_some());
        let cancelled = Error::from(JobError::cancelled(JobId(3), "by its handle"));
        assert!(cancelled.is_cancelled());
        assert_eq!((cancelled.job(), cancelled.stage()), (Some(JobId(3)), None));
        assert_eq!(format!("{cancelled:?}"), "job 3 cancelled by its handle");
    }
}
