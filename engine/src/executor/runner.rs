//! Runs one task attempt: computes, catches panics, measures, and stores map outputs.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use crate::accumulator::AccumulatorUpdates;
use crate::block::BlockManager;
use crate::error::TaskFailure;
use crate::fault::{AttemptInfo, FaultPlan};
use crate::ids::ExecutorId;
use crate::lineage::ShuffleDependency;
use crate::shuffle::{MapStatus, ShuffleRegistry};
use crate::task::{TaskContext, TaskDescriptor, TaskMetrics};

/// The per-partition function of a result stage: computes partition `p` and returns the value
/// the action needs from it (a `Vec`, a count, a partial fold).
pub type ResultFn = dyn Fn(usize, &TaskContext) -> Result<Box<dyn Any + Send>, TaskFailure> + Send + Sync;

/// What a stage's tasks do.
pub enum StageWork {
    /// Write the buckets of a shuffle.
    ShuffleMap(Arc<ShuffleDependency>),
    /// Compute a value for the driver.
    Result(Arc<ResultFn>),
}

/// What a successful attempt produced.
pub enum TaskSuccess {
    /// A map task's output is stored; here is where and how big.
    MapOutput(MapStatus),
    /// A result task's value.
    Value(Box<dyn Any + Send>),
}

/// How an attempt ended, with its metrics.
pub struct TaskOutcome {
    /// The attempt.
    pub task: TaskDescriptor,
    /// Success or failure.
    pub result: Result<TaskSuccess, TaskFailure>,
    /// What it measured.
    pub metrics: TaskMetrics,
    /// Its accumulator updates (applied by the driver only for a first success).
    pub accumulators: AccumulatorUpdates,
}

/// Runs one attempt on the current thread. A panic in user code is caught and becomes
/// [`TaskFailure::Panic`]; a failure recorded through [`TaskContext::fail`] wins over a
/// result computed from a stream that was cut short.
pub fn run_attempt(
    task: TaskDescriptor,
    work: &StageWork,
    shuffles: Arc<ShuffleRegistry>,
    blocks: Arc<BlockManager>,
    faults: &FaultPlan,
) -> TaskOutcome {
    let span = tracing::debug_span!(
        "task",
        job = task.job.0,
        stage = task.stage.0,
        partition = task.partition,
        attempt = task.attempt
    );
    let _entered = span.enter();
    let started = Instant::now();
    let ctx = TaskContext::new(task, shuffles, blocks);
    let current = ctx.enter();
    let info = AttemptInfo {
        job: task.job,
        stage: task.stage,
        result_stage: matches!(work, StageWork::Result(_)),
        partition: task.partition,
        attempt: task.attempt,
    };
    let injected = faults.should_fail(&info);
    let run = catch_unwind(AssertUnwindSafe(|| match work {
        _ if injected => Err(TaskFailure::error(format!(
            "injected fault: attempt {} of partition {} of stage {}",
            task.attempt, task.partition, task.stage
        ))),
        StageWork::ShuffleMap(dep) => {
            let output = dep.writer.write(task.partition, &ctx)?;
            let bucket_sizes = output.bucket_sizes();
            ctx.add_shuffle_bytes_written(bucket_sizes.iter().sum());
            if let Some(failure) = ctx.take_failure() {
                return Err(failure);
            }
            ctx.shuffles().store.put_map_output(dep.shuffle_id, task.partition, output);
            Ok(TaskSuccess::MapOutput(MapStatus { location: ExecutorId(0), bucket_sizes }))
        }
        StageWork::Result(func) => func(task.partition, &ctx).map(TaskSuccess::Value),
    }));
    let result = match run {
        Ok(Ok(success)) => match ctx.take_failure() {
            Some(failure) => Err(failure),
            None => Ok(success),
        },
        Ok(Err(failure)) => Err(ctx.take_failure().unwrap_or(failure)),
        Err(payload) => Err(TaskFailure::from_panic(payload)),
    };
    drop(current);
    let metrics = ctx.metrics(started.elapsed());
    let accumulators = if result.is_ok() { ctx.take_accumulator_updates() } else { Vec::new() };
    tracing::debug!(
        ok = result.is_ok(),
        records_read = metrics.records_read,
        records_written = metrics.records_written,
        shuffle_bytes_written = metrics.shuffle_bytes_written,
        shuffle_bytes_read = metrics.shuffle_bytes_read,
        millis = metrics.duration.as_millis() as u64,
        "task finished"
    );
    TaskOutcome { task, result, metrics, accumulators }
}
