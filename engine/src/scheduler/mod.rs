//! The DAG scheduler: turns an action into stages and tasks, runs them, retries what fails.
//!
//! # Jobs, stages, tasks, attempts
//!
//! An action submits a **job** for the partitions it needs of its final node. The planner
//! ([`crate::plan`]) cuts the lineage into **stages** at shuffle boundaries. A stage has one
//! **task** per partition of its last node; a task may run several **attempts**.
//!
//! The scheduler submits the result stage. A stage whose parent map stages have missing
//! outputs waits while those parents run; a map stage whose outputs all exist (from an
//! earlier job on the same shuffle) is skipped without running a task. When a stage's last
//! task succeeds, the stages waiting on it are submitted.
//!
//! # What is retried, what is resubmitted
//!
//! | failure | what happens |
//! | --- | --- |
//! | panic or error in a task | the same task runs again (attempt + 1), up to `max_task_attempts` in total; then the job fails naming stage, partition, attempt and cause |
//! | accumulator updates | kept per attempt; the driver applies those of the **first successful attempt** of each (stage, partition), once; a failed attempt's are dropped |
//! | `FetchFailed { shuffle, map }` | that map output is forgotten; the failing stage waits while the parent map stage reruns **only its missing map tasks**; then the failing stage reruns its unfinished tasks. Does not count toward the task's attempts; a stage that hits it more than `max_stage_attempts` times fails the job |
//!
//! Results of a task's first successful attempt are kept; a later duplicate is ignored.
//!
//! # Shape of the code
//!
//! [`JobRun`] is a pure state machine: [`JobRun::start`] and [`JobRun::on_outcome`] take
//! events and return [`Command`]s (launch this attempt, finish the job). It does no I/O and
//! never blocks, so tests drive it by hand. [`run_job`] is the thin loop that carries the
//! commands out on a [`Backend`] and feeds outcomes back.
//!
//! # Reviewer's checklist
//!
//! * Every launched attempt is in `in_flight` until its outcome arrives; no partition is ever
//!   running twice at once.
//! * A stage is in at most one of `waiting` and `running`.
//! * A failure that does not count toward retries can still not loop forever (stage attempts).
//! * After `Finish`, outcomes still arriving are ignored and nothing is launched.

mod job;
mod metrics;

pub use job::{Command, JobRun};
pub use metrics::{JobMetrics, StageMetrics};

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::accumulator::AccumulatorRegistry;
use crate::config::EngineConfig;
use crate::error::JobError;
use crate::executor::Backend;
use crate::executor::ResultFn;
use crate::ids::JobId;
use crate::lineage::LineageNode;
use crate::plan::plan_job;
use crate::shuffle::ShuffleRegistry;

/// Runs one job to completion on `backend`, blocking the calling (driver) thread.
///
/// Returns one value per entry of `partitions`, in that order, and the job's metrics (also on
/// failure).
#[allow(clippy::too_many_arguments, reason = "the job, its inputs, and the context parts it runs against")]
pub fn run_job(
    job: JobId,
    final_node: &Arc<dyn LineageNode>,
    partitions: &[usize],
    func: Arc<ResultFn>,
    config: &EngineConfig,
    shuffles: &Arc<ShuffleRegistry>,
    accumulators: &Arc<AccumulatorRegistry>,
    backend: &dyn Backend,
) -> (Result<Vec<Box<dyn Any + Send>>, JobError>, JobMetrics) {
    let started = Instant::now();
    let graph = plan_job(final_node);
    let span = tracing::info_span!("job", id = job.0, stages = graph.len(), partitions = partitions.len());
    let _entered = span.enter();
    tracing::info!(action = %final_node.meta().describe(), "job submitted");

    let (events, outcomes) = crossbeam_channel::unbounded();
    let cancelled = Arc::new(AtomicBool::new(false));
    let mut run = JobRun::new(
        job,
        graph,
        partitions.to_vec(),
        func,
        config.clone(),
        Arc::clone(shuffles),
        Arc::clone(accumulators),
    );
    let mut commands = run.start();
    loop {
        for command in commands.drain(..) {
            match command {
                Command::Launch(task, work) => {
                    let events = events.clone();
                    let cancelled = Arc::clone(&cancelled);
                    backend.launch(
                        task,
                        work,
                        Box::new(move |outcome| {
                            if !cancelled.load(Ordering::Relaxed) {
                                let _ = events.send(outcome);
                            }
                        }),
                    );
                }
                Command::Finish(result) => {
                    cancelled.store(true, Ordering::Relaxed);
                    let metrics = run.into_metrics(started.elapsed(), result.is_ok());
                    tracing::info!(
                        ok = metrics.succeeded,
                        stages_run = metrics.stages_run(),
                        stages_skipped = metrics.stages_skipped(),
                        tasks = metrics.tasks_launched(),
                        millis = metrics.duration.as_millis() as u64,
                        "job finished"
                    );
                    return (result, metrics);
                }
            }
        }
        if run.is_stalled() {
            commands = vec![Command::Finish(Err(JobError::Stalled { job }))];
            continue;
        }
        match outcomes.recv() {
            Ok(outcome) => commands = run.on_outcome(outcome),
            // Every sender is held by a queued or running attempt; none left means the
            // workers are gone.
            Err(_) => commands = vec![Command::Finish(Err(JobError::ExecutorGone))],
        }
    }
}

#[cfg(test)]
mod tests;
