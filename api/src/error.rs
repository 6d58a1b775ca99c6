//! [`Error`]: everything an Ember call can fail with.

pub use ember_engine::{JobError, TaskFailure};
pub use ember_storage::StorageError;

/// The result type of every fallible Ember call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an Ember call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A job failed: a task failed on every attempt. The message names the stage, the
    /// partition, the attempt and the cause (a panic message, an I/O error).
    #[error(transparent)]
    Job(#[from] JobError),
    /// Reading or writing data at rest failed (a missing path, an existing output, a bad URL).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A setting could not be understood.
    #[error("invalid {key} {value:?}: {reason}")]
    Config {
        /// The setting, e.g. `EMBER_MASTER`.
        key: &'static str,
        /// The value given.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// An action that needs at least one element ran on an empty RDD (Spark's
    /// "empty collection" error).
    #[error("{action} called on an empty RDD ({call_site})")]
    EmptyRdd {
        /// The action, e.g. `reduce`.
        action: &'static str,
        /// Where the action was called.
        call_site: String,
    },
    /// The context's worker threads could not be started.
    #[error("could not start Ember's worker threads: {0}")]
    Startup(#[source] std::io::Error),
}
