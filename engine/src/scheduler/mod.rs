//! The DAG scheduler: one per context, for every job, stage and task attempt it runs.
//!
//! # Jobs, stages, tasks, attempts
//!
//! An action submits a **job** for the partitions it needs of its final node. The planner
//! ([`crate::plan`]) cuts the lineage into **stages** at shuffle boundaries. A stage has one
//! **task** per partition of its last node; a task may run several **attempts**.
//!
//! One [`DagScheduler`] owns every active job of the context, and the stages they need:
//! a map stage is keyed by its shuffle (Spark's `shuffleToMapStage`), so when two jobs
//! running at once need the same shuffle, its map stage runs once, for both. A stage lives
//! while some active job needs it; ids count up across the context. A map stage whose
//! outputs all exist (from an earlier job on the same shuffle) is **skipped**. A stage waits
//! while the map stages it reads run; when a map stage's last output is registered, the
//! stages waiting on it are submitted.
//!
//! Tasks of running stages queue for the executors' **slots**: the scheduler launches an
//! attempt only onto a free slot, the running stage of the earliest job first (FIFO, as
//! Spark's default pool), so a job submitted later waits behind the queued tasks of the
//! earlier ones, and the queue of a cancelled or failed job is simply dropped.
//!
//! # What is retried, what is resubmitted, what is stopped
//!
//! | event | what happens |
//! | --- | --- |
//! | panic or error in a task | the same task runs again (attempt + 1), up to `max_task_attempts` in total; then every job that needs the stage fails naming stage, partition, attempt and cause |
//! | `FetchFailed { shuffle, maps }` | those map outputs are forgotten (the report names every missing one); the failing stage waits while the map stage reruns **only the missing map tasks**, then reruns its unfinished tasks. Does not count toward the task's attempts; a stage resubmitted more than `max_stage_attempts` times fails its jobs |
//! | executor lost | its running attempts run again elsewhere (not counted), its map outputs are forgotten and rerun when needed |
//! | accumulator updates | the driver merges those of the attempt the scheduler **accepts** (the first success of each partition), once; a failed or duplicate attempt's are dropped; a merge that panics fails the job it counted for |
//! | job cancelled or failed | its stages that no other running job needs are dropped: their queued tasks leave the queue, their running attempts are killed (they stop at their next batch of records); the job finishes when those attempts have reported, so its slots are free when its handle resolves |
//!
//! Results of a task's first successful attempt are kept; a later duplicate is ignored.
//!
//! # Shape of the code
//!
//! [`DagScheduler`] is a pure state machine: [`DagScheduler::handle`] takes a
//! [`SchedulerEvent`] (`Submit`, `TaskEnded`, `Cancel`, `ExecutorLost`, ...) with the time,
//! and returns [`Command`]s (`Launch`, `Kill`, `Unregister`, `ApplyAccumulators`, `Emit`,
//! `Finish`). It does no I/O, never blocks and runs no user code, so tests drive it by hand.
//! The thin loop on the `ember-scheduler` thread (`driver.rs`) carries the commands out on the
//! backend, the shuffle store, the accumulator registry and the listeners, and feeds back
//! what they answer. [`RunningJob`] is the engine's handle on one submitted job.
//!
//! # Reviewer's checklist
//!
//! * Every launched attempt is in `in_flight` until its report arrives, and holds one slot
//!   of its executor until then; no partition of a stage has two attempts in flight.
//! * A stage is in at most one of `waiting` and `running`, and exists only while a job needs it.
//! * A failure that does not count toward retries can still not loop forever (stage attempts).
//! * A report for an attempt no longer current (its stage dropped, a newer attempt launched)
//!   frees its slot and changes nothing else.
//! * After a job's `Finish`, nothing is launched for it, and no state of it remains
//!   ([`DagScheduler::is_idle`] once every job has ended).
//! * User code (accumulator merges) runs only in the loop, under `catch_unwind`.

mod dag;
pub(crate) mod driver;
mod event;
mod job;
mod metrics;
mod progress;
mod stage;

pub use dag::DagScheduler;
pub use driver::RunningJob;
pub use event::{CancelTarget, Command, JobSubmission, SchedulerEvent};
pub use metrics::{JobMetrics, StageMetrics};
pub use progress::{JobProgress, StageProgress};

pub(crate) use driver::guarded;

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// How many finished jobs' metrics a context remembers.
const JOB_HISTORY: usize = 256;

/// The metrics of the most recent jobs of a context, in the order they finished.
#[derive(Default)]
pub struct JobHistory {
    jobs: Mutex<VecDeque<JobMetrics>>,
}

impl JobHistory {
    /// Records a finished job, forgetting the oldest beyond 256.
    pub fn push(&self, metrics: JobMetrics) {
        let mut jobs = self.lock();
        if jobs.len() == JOB_HISTORY {
            jobs.pop_front();
        }
        jobs.push_back(metrics);
    }

    /// Every remembered job, oldest first.
    pub fn all(&self) -> Vec<JobMetrics> {
        self.lock().iter().cloned().collect()
    }

    /// The job that finished last.
    pub fn last(&self) -> Option<JobMetrics> {
        self.lock().back().cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<JobMetrics>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
