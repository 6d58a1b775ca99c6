//! [`WorkRegistry`]: how an executor turns a task descriptor's [`WorkId`] into the code to run.
//!
//! Every process fills it in as it builds the lineage: a shuffle registers its map side when
//! the dependency is created, a job registers its result function when it is submitted. Ids
//! come from the same counters in the same order in every process, so the driver's ids name
//! the same work everywhere.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::TaskFailure;
use crate::ids::{JobId, PartitionId, ShuffleId, WorkId};
use crate::lineage::{LineageNode, ShuffleDependency};
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

/// A job's result function and the node it computes partitions of.
type JobWork = (Arc<ResultFn>, Arc<dyn LineageNode>);

/// The work of one process, by id. Shuffles are held weakly: dropping the last RDD over a
/// shuffle frees it here too.
#[derive(Default)]
pub struct WorkRegistry {
    shuffles: Mutex<HashMap<ShuffleId, Weak<ShuffleDependency>>>,
    results: Mutex<HashMap<JobId, JobWork>>,
    /// The driver's lineage of each work launched here (cluster executors), until checked.
    expected: Mutex<HashMap<WorkId, Vec<crate::cluster::signature::NodeSig>>>,
    /// Works whose lineage was checked and agreed.
    verified: Mutex<std::collections::HashSet<WorkId>>,
    /// Signalled whenever work is registered (a cluster executor's slot may be waiting for
    /// its own `main` to reach the job the driver launched).
    registered: Condvar,
}

impl WorkRegistry {
    /// Registers the map side of `dep`.
    pub fn register_shuffle(&self, dep: &Arc<ShuffleDependency>) {
        lock(&self.shuffles).insert(dep.shuffle_id, Arc::downgrade(dep));
        // Taking the lock the waiters wait under orders this insert before their next check.
        drop(lock(&self.results));
        self.registered.notify_all();
    }

    /// Forgets a dropped shuffle.
    pub fn forget_shuffle(&self, shuffle: ShuffleId) {
        lock(&self.shuffles).remove(&shuffle);
    }

    /// Registers the result function of `job`, which computes partitions of `root`.
    pub fn register_result(&self, job: JobId, func: Arc<ResultFn>, root: Arc<dyn LineageNode>) {
        lock(&self.results).insert(job, (func, root));
        self.registered.notify_all();
    }

    /// The node whose lineage work `id` computes: a shuffle's parent, a job's final node.
    pub fn root(&self, id: WorkId) -> Option<Arc<dyn LineageNode>> {
        match id {
            WorkId::ShuffleMap(shuffle) => {
                lock(&self.shuffles).get(&shuffle).and_then(Weak::upgrade).map(|dep| Arc::clone(&dep.parent))
            }
            WorkId::Result(job) => lock(&self.results).get(&job).map(|(_, root)| Arc::clone(root)),
        }
    }

    /// [`WorkRegistry::resolve`], waiting up to `wait` for the work to be registered: on a
    /// cluster executor the driver may launch a job's task before this process's own `main`
    /// has reached the action that registers it.
    ///
    /// # Errors
    /// As [`WorkRegistry::resolve`], once `wait` has passed.
    pub fn resolve_within(&self, id: WorkId, wait: Duration) -> Result<Work, TaskFailure> {
        let until = Instant::now() + wait;
        let mut results = lock(&self.results);
        loop {
            let present = match id {
                WorkId::Result(job) => results.contains_key(&job),
                WorkId::ShuffleMap(_) => self.find_shuffle(id),
            };
            if present {
                drop(results);
                let work = self.resolve(id)?;
                self.check_lineage(id)?;
                return Ok(work);
            }
            let now = Instant::now();
            if now >= until {
                drop(results);
                return self.resolve(id).map_err(|_| {
                    TaskFailure::error(format!(
                        "this executor's main did not reach {id} within {} s: every process must run the same actions \
                         in the same order (an action inside `if ctx.is_driver()` would never run here)",
                        wait.as_secs()
                    ))
                });
            }
            results = self.registered.wait_timeout(results, until - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The driver's signature of work `id`'s lineage, to compare with this process's own
    /// before the work first runs here.
    pub fn expect_lineage(&self, id: WorkId, lineage: Vec<crate::cluster::signature::NodeSig>) {
        lock(&self.expected).insert(id, lineage);
    }

    /// Compares work `id`'s lineage here with the driver's, once per work.
    ///
    /// # Errors
    /// A failure naming the first node that differs.
    fn check_lineage(&self, id: WorkId) -> Result<(), TaskFailure> {
        if lock(&self.verified).contains(&id) {
            return Ok(());
        }
        let Some(expected) = lock(&self.expected).get(&id).cloned() else { return Ok(()) };
        let Some(root) = self.root(id) else { return Ok(()) };
        let mine = crate::cluster::signature::signature(&root);
        if let Some(why) = crate::cluster::signature::first_difference(&expected, &mine) {
            return Err(TaskFailure::error(format!("{id}: {why}")));
        }
        lock(&self.expected).remove(&id);
        lock(&self.verified).insert(id);
        Ok(())
    }

    fn find_shuffle(&self, id: WorkId) -> bool {
        match id {
            WorkId::ShuffleMap(shuffle) => lock(&self.shuffles).get(&shuffle).is_some_and(|w| w.strong_count() > 0),
            WorkId::Result(_) => false,
        }
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
            WorkId::Result(job) => lock(&self.results).get(&job).map(|(func, _)| Work::Result(Arc::clone(func))),
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
