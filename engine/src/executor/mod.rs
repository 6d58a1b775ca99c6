//! Executors: where task attempts run. Local mode is a pool of worker threads; the cluster
//! mode (later) runs the same [`run_attempt`] in executor processes.

mod local;
mod runner;

pub use local::LocalBackend;
pub use runner::{ResultFn, StageWork, TaskOutcome, TaskSuccess, run_attempt};

use std::sync::Arc;

use crate::task::TaskDescriptor;

/// Something that can run task attempts and report each outcome exactly once.
pub trait Backend: Send + Sync {
    /// Starts `task` (whose work is `work`) and, when it ends, sends its outcome with `report`.
    /// Must not block on the task.
    fn launch(&self, task: TaskDescriptor, work: Arc<StageWork>, report: Box<dyn FnOnce(TaskOutcome) + Send>);

    /// How many attempts can run at once.
    fn parallelism(&self) -> usize;
}
