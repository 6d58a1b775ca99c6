//! Job submission: the one gateway from an action to the engine. An action hands over the
//! per-partition function and how to finish the job's values; it gets a [`JobHandle`].
//!
//! ```text
//!  action ──submit(rdd, partitions, func, finish)──▶ engine scheduler ──▶ tasks run func, encode R
//!    ▲                                                                      │
//!    └── JobHandle::wait / .await: decode Vec<R>, write checkpoints, finish ◀┘ bytes
//! ```

use std::panic::Location;
use std::sync::Arc;

use bytes::Bytes;
use ember_engine::ids::PartitionId;
use ember_engine::lineage::{MAX_NARROW_DEPTH, survey};
use ember_engine::task::Operation;
use ember_engine::{ResultFn, TaskContext, TaskFailure};
use ember_storage::codec;

use super::Context;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::job::{Finisher, JobHandle};
use crate::rdd::{PartitionIter, Rdd, checkpoint};

/// The action a job runs for: its name and the user's call site (`count at src/main.rs:14`),
/// and whether finishing it writes (a save's commit), so a future must not finish it inside
/// `poll`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Action {
    name: &'static str,
    at: &'static Location<'static>,
    writes: bool,
}

impl Action {
    /// The action `name`, called where the calling `#[track_caller]` action was called.
    #[track_caller]
    pub(crate) fn here(name: &'static str) -> Self {
        Action { name, at: Location::caller(), writes: false }
    }

    /// The action `name` called at `at`.
    pub(crate) fn at(name: &'static str, at: &'static Location<'static>) -> Self {
        Action { name, at, writes: false }
    }

    /// The same action, whose finishing step writes to storage.
    pub(crate) fn writing(mut self) -> Self {
        self.writes = true;
        self
    }

    /// Where the user called it.
    pub(crate) fn call_site(&self) -> &'static Location<'static> {
        self.at
    }

    /// `name at file:line`.
    pub(crate) fn describe(&self) -> String {
        format!("{} at {}:{}", self.name, self.at.file(), self.at.line())
    }
}

impl Context {
    /// Submits a job computing `func` over `partitions` of `rdd` and returns its handle at
    /// once. Each task encodes its `R`; when the job ends, the handle decodes them (in the
    /// order of `partitions`), writes the checkpoints marked in `rdd`'s lineage (after a
    /// success), and hands the values, or the job's error, to `finish`.
    pub(crate) fn submit<T, R, O, F, G>(
        &self,
        rdd: &Rdd<T>,
        partitions: Vec<usize>,
        action: Action,
        func: F,
        finish: G,
    ) -> JobHandle<O>
    where
        T: Data,
        R: Data,
        O: Send + 'static,
        F: Fn(usize, PartitionIter<T>, &TaskContext) -> Result<R, TaskFailure> + Send + Sync + 'static,
        G: FnOnce(Result<Vec<R>>) -> Result<O> + Send + 'static,
    {
        let node = Arc::clone(rdd.node());
        let op = Operation::new(action.name, action.at);
        let result_fn: Arc<ResultFn> = Arc::new(move |p: PartitionId, tc: &TaskContext| {
            // The action's own closure (`foreach`'s, `fold`'s) runs under the action's name;
            // the operations below it mark themselves as their layers run.
            let _op = op.enter();
            let iter = crate::rdd::iterator(node.as_ref(), p, tc)?;
            let value = func(p.index(), iter, tc)?;
            // The codec's error names the type and the likely cause.
            let bytes = codec::encode(&value)
                .map_err(|e| TaskFailure::error(format!("the result of partition {p} does not encode: {e}")))?;
            Ok(Bytes::from(bytes))
        });
        let lineage = rdd.lineage_node();
        let blocks = self.engine().blocks();
        let truncated = blocks.checkpoints().written_nodes();
        let survey = survey(&lineage, &|node| truncated.contains(&node));
        if survey.narrow_depth > MAX_NARROW_DEPTH {
            let err = Error::lineage_too_deep(&action.describe(), survey.narrow_depth, MAX_NARROW_DEPTH);
            return JobHandle::ready(Err(err));
        }
        if let Some(partitioner) = survey.empty_partitioner {
            return JobHandle::ready(Err(Error::no_partitions(&action.describe(), &partitioner)));
        }
        let writes = action.writes || blocks.checkpoints().any_pending();
        let partitions = partitions.into_iter().map(PartitionId::new).collect();
        let job = self.engine().submit(&lineage, partitions, result_fn, action.describe(), truncated, writes);
        let job_id = job.id();
        // Weak: a handle must not keep its context alive (dropping the context fails the job).
        let ctx = self.downgrade();
        let run = move |raw: std::result::Result<Vec<Bytes>, ember_engine::JobError>| {
            let values = raw.map_err(Error::from).and_then(|values| values.iter().map(|v| decode::<R>(v)).collect());
            let ctx = ctx.upgrade();
            let succeeded = values.is_ok();
            let result = finish(values);
            if writes && let Some(ctx) = &ctx {
                // Committed: the cluster's executors may now read what the action wrote. Before
                // the checkpoints: an executor writes them in the same order, after this outcome,
                // so the jobs that write them must come after it too.
                ctx.engine().release_outcome(job_id);
            }
            if let (true, Some(ctx)) = (succeeded, &ctx) {
                checkpoint::write_pending(ctx, &lineage);
            }
            if ctx.is_some_and(|ctx| ctx.is_interrupted()) {
                // Ctrl-C: the handler is cleaning up and exits with status 130 next.
                crate::interrupt::wait_for_exit();
            }
            result
        };
        let finisher = if writes { Finisher::blocking(run) } else { Finisher::quick(run) };
        JobHandle::of_job(job, finisher)
    }

    /// [`Context::submit`] over every partition of `rdd`.
    pub(crate) fn submit_all<T, R, O, F, G>(&self, rdd: &Rdd<T>, action: Action, func: F, finish: G) -> JobHandle<O>
    where
        T: Data,
        R: Data,
        O: Send + 'static,
        F: Fn(usize, PartitionIter<T>, &TaskContext) -> Result<R, TaskFailure> + Send + Sync + 'static,
        G: FnOnce(Result<Vec<R>>) -> Result<O> + Send + 'static,
    {
        self.submit(rdd, (0..rdd.num_partitions()).collect(), action, func, finish)
    }

    /// Runs `func` over `partitions` of `rdd`, blocking, and returns its values in the same
    /// order: for operations that run a job while they are built (`sort_by_key`'s sampling).
    pub(crate) fn run_job<T, R, F>(&self, rdd: &Rdd<T>, partitions: &[usize], action: Action, func: F) -> Result<Vec<R>>
    where
        T: Data,
        R: Data,
        F: Fn(usize, PartitionIter<T>, &TaskContext) -> Result<R, TaskFailure> + Send + Sync + 'static,
    {
        self.submit(rdd, partitions.to_vec(), action, func, |values| values).wait()
    }
}

/// A task's value as the driver decodes it.
fn decode<R: Data>(bytes: &[u8]) -> Result<R> {
    // The codec's error names the type and the likely cause.
    codec::decode::<R>(bytes).map_err(|e| Error::codec(format!("a task's result does not decode: {e}")))
}
