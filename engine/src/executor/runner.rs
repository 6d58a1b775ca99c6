//! Runs one task attempt: computes, catches panics, measures, encodes accumulator updates and
//! stores map outputs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::{ExecutorEnv, Work};
use crate::error::TaskFailure;
use crate::fault::AttemptInfo;
use crate::ids::{AccumulatorId, WorkId};
use crate::shuffle::BucketSizes;
use crate::task::{CancelToken, TaskContext, TaskDescriptor, TaskMetrics, site};

/// What a successful attempt produced, before the backend adds where it ran.
#[derive(Debug)]
pub enum TaskOutput {
    /// A map task's buckets are in this executor's shuffle store; their sizes.
    MapOutput {
        /// Encoded size of each bucket, indexed by reduce partition.
        bucket_sizes: BucketSizes,
    },
    /// A result task's encoded value.
    Value(Bytes),
}

/// How an attempt ended, with its metrics and encoded accumulator updates.
#[derive(Debug)]
pub struct TaskOutcome {
    /// Success or failure.
    pub result: Result<TaskOutput, TaskFailure>,
    /// What it measured.
    pub metrics: TaskMetrics,
    /// Its accumulator updates (empty unless it succeeded).
    pub accumulators: Vec<(AccumulatorId, Bytes)>,
    /// The blocks it stored in this executor's block manager.
    pub blocks: Vec<crate::block::BlockId>,
}

/// Runs one attempt of `task` (whose work is `work`) on the current thread.
///
/// A panic in user code is caught and becomes [`TaskFailure::Panic`], with its location and
/// the operation whose code raised it ([`site`]); a failure kept on the
/// task context while records were pulled one at a time ([`TaskContext::fail`]) fails the
/// attempt even when the computation returned a value from the cut-short stream; an attempt
/// whose token was cancelled ends as [`TaskFailure::Cancelled`] whatever else went wrong.
pub fn run_attempt(task: TaskDescriptor, work: &Work, env: &ExecutorEnv, cancel: Arc<CancelToken>) -> TaskOutcome {
    let started = Instant::now();
    let ctx = TaskContext::new(task, Arc::clone(&env.shuffles), Arc::clone(&env.blocks), Arc::clone(&cancel));
    let current = ctx.enter();
    let info = AttemptInfo {
        job: task.job,
        stage: task.stage,
        result_stage: matches!(task.work, WorkId::Result(_)),
        partition: task.partition,
        attempt: task.attempt,
    };
    let injected = env.faults.should_fail(&info);
    let scope = site::running_task();
    let run = catch_unwind(AssertUnwindSafe(|| -> Result<(TaskOutput, Vec<(AccumulatorId, Bytes)>), TaskFailure> {
        if injected {
            return Err(TaskFailure::error(format!(
                "injected fault: attempt {} of partition {} of stage {}",
                task.attempt, task.partition, task.stage
            )));
        }
        ctx.check_cancelled()?;
        match work {
            Work::ShuffleMap(dep) => {
                let output = dep.writer.write(task.partition, &ctx)?;
                if let Some(failure) = ctx.take_failure() {
                    return Err(failure);
                }
                ctx.check_cancelled()?;
                let updates = ctx.take_accumulator_updates()?;
                let bucket_sizes = output.bucket_sizes();
                ctx.add_shuffle_bytes_written(bucket_sizes.total());
                ctx.shuffles().store.put_map_output(dep.shuffle_id, task.partition, output);
                Ok((TaskOutput::MapOutput { bucket_sizes }, updates))
            }
            Work::Result(func) => {
                let value = func(task.partition, &ctx)?;
                if let Some(failure) = ctx.take_failure() {
                    return Err(failure);
                }
                ctx.add_result_bytes(value.len() as u64);
                Ok((TaskOutput::Value(value), ctx.take_accumulator_updates()?))
            }
        }
    }));
    let result = match run {
        Ok(Ok(done)) => Ok(done),
        // A failure kept while records were pulled is the root cause of whatever error the
        // cut-short computation then ran into.
        Ok(Err(failure)) => Err(ctx.take_failure().unwrap_or(failure).at(site::take_failure_site())),
        Err(payload) => {
            let failure = match site::take_panic() {
                Some(caught) => TaskFailure::panic(caught.message, caught.location),
                None => TaskFailure::from_panic(payload),
            };
            Err(failure.at(site::take_failure_site()))
        }
    };
    drop(scope);
    drop(current);
    let result = match result {
        Err(_) if cancel.is_cancelled() => Err(TaskFailure::Cancelled),
        other => other,
    };
    let metrics = ctx.metrics(started.elapsed());
    let blocks = ctx.take_stored_blocks();
    tracing::debug!(
        job = task.job.0,
        stage = task.stage.0,
        partition = task.partition.0,
        attempt = task.attempt.0,
        ok = result.is_ok(),
        millis = metrics.duration.as_millis() as u64,
        "task finished"
    );
    match result {
        Ok((output, accumulators)) => TaskOutcome { result: Ok(output), metrics, accumulators, blocks },
        Err(failure) => TaskOutcome { result: Err(failure), metrics, accumulators: Vec::new(), blocks },
    }
}
