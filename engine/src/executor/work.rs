//! [`WorkRegistry`]: how an executor turns a task descriptor's [`WorkId`] into the code to run.
//!
//! Every process fills it in as it builds the lineage: a shuffle registers its map side when
//! the dependency is created, a job registers its result function when it is submitted. Ids
//! come from the same counters in the same order in every process, so the driver's ids name
//! the same work everywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;

use crate::error::TaskFailure;
use crate::ids::{JobId, PartitionId, ShuffleId, WorkId};
use crate::lineage::ShuffleDependency;
use crate::task::TaskContext;

/// The per-partition function of a result stage: computes partition `p` of the job's final
/// node and returns the encoded value the action needs from it (a `Vec`, a count, a partial
/// fold, an output-commit message). Runs on a worker thread, once per attempt.
pub type ResultFn = dyn Fn(PartitionId, &TaskContext) -> Result<Bytes, TaskFailure> + Send + Sync;

/// Work resolved from its id.
#[derive(Clone)]
pub enum Work {
    /// Write the buckets of a shuffle.
    ShuffleMap(Arc<ShuffleDependency>),
    /// Compute a value for the driver.
    Result(Arc<ResultFn>),
}

/// The work of one process, by id. Shuffles are held weakly: dropping the last RDD over a
/// shuffle frees it here too.
#[derive(Default)]
pub struct WorkRegistry {
    shuffles: Mutex<HashMap<ShuffleId, Weak<ShuffleDependency>>>,
    results: Mutex<HashMap<JobId, Arc<ResultFn>>>,
}

impl WorkRegistry {
    /// Registers the map side of `dep`.
    pub fn register_shuffle(&self, dep: &Arc<ShuffleDependency>) {
        lock(&self.shuffles).insert(dep.shuffle_id, Arc::downgrade(dep));
    }

    /// Forgets a dropped shuffle.
    pub fn forget_shuffle(&self, shuffle: ShuffleId) {
        lock(&self.shuffles).remove(&shuffle);
    }

    /// Registers the result function of `job`.
    pub fn register_result(&self, job: JobId, func: Arc<ResultFn>) {
        lock(&self.results).insert(job, func);
    }

    /// Forgets the result function of a finished job.
    pub fn forget_result(&self, job: JobId) {
        lock(&self.results).remove(&job);
    }

    /// The work `id` names.
    ///
    /// # Errors
    /// A [`TaskFailure`] when this process has no such work: its lineage differs from the
    /// driver's, or the shuffle or job is gone.
    pub fn resolve(&self, id: WorkId) -> Result<Work, TaskFailure> {
        let found = match id {
            WorkId::ShuffleMap(shuffle) => {
                lock(&self.shuffles).get(&shuffle).and_then(Weak::upgrade).map(Work::ShuffleMap)
            }
            WorkId::Result(job) => lock(&self.results).get(&job).cloned().map(Work::Result),
        };
        found.ok_or_else(|| {
            TaskFailure::error(format!(
                "this executor knows no {id}: it is gone, or this process built a different lineage than the driver"
            ))
        })
    }

    /// How many shuffles and jobs are registered (for leak checks).
    pub fn len(&self) -> (usize, usize) {
        let live = lock(&self.shuffles).values().filter(|w| w.strong_count() > 0).count();
        (live, lock(&self.results).len())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a panic between two map operations, which leave it consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
