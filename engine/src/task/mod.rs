//! Tasks: the descriptor the scheduler sends (ids only), the context a running attempt sees,
//! the cancellation token it checks, and the metrics it reports.

mod cancel;
mod context;
mod metrics;
pub mod site;

pub use cancel::CancelToken;
pub use context::{AccumulatorEncoder, TaskContext};
pub use metrics::TaskMetrics;
pub use site::{FailureSite, Operation};

use serde::{Deserialize, Serialize};

use crate::ids::{AttemptId, JobId, PartitionId, StageId, WorkId};

/// Which attempt of which task to run. Ids only, never code: the executor resolves `work`
/// from the lineage it built itself (in the cluster mode every process builds it by running
/// the same `main`), so a descriptor crosses a process boundary as a few bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskDescriptor {
    /// The job the attempt was launched for (a map stage that several jobs share runs its
    /// tasks for the earliest of them).
    pub job: JobId,
    /// The stage.
    pub stage: StageId,
    /// What the task computes: a shuffle's map side or a job's result.
    pub work: WorkId,
    /// The partition the task computes.
    pub partition: PartitionId,
    /// The attempt, counting from 0 within the stage.
    pub attempt: AttemptId,
}
