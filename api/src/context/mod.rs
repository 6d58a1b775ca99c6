//! [`Context`]: the entry point. It owns the worker threads, the storage clients and the job
//! history, and creates the source RDDs.

// This file: the context itself, its settings read back, storage, job history, job groups
// and listeners, the checkpoint directory, broadcast and accumulator constructors. The builder
// and master parsing are in `builder.rs`; the source RDDs in `sources.rs`; job submission,
// the one gateway from actions to the engine, in `submit.rs`.

mod builder;
mod cluster;
mod sources;
mod submit;

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use ember_engine::lineage::NodeMeta;
use ember_engine::{EngineContext, JobMetrics, Listener};
use ember_storage::{OutputJob, Storage};

use crate::data::Data;
use crate::error::Result;

pub use builder::{ContextBuilder, EVENT_LOG_ENV, PROGRESS_ENV};
pub(crate) use submit::Action;

/// The environment variable [`Context::from_env`] reads: `local`, `local[N]` or `local[*]`.
pub const MASTER_ENV: &str = "EMBER_MASTER";

/// A connection to an Ember engine: where jobs run. Cheap to clone; every clone and every RDD
/// made from it share the same workers. The workers stop when the last clone and the last RDD
/// are dropped (jobs still running then fail). Two contexts in one process share nothing.
///
/// Jobs from many threads run on one context at once: each action submits its job to the
/// context's scheduler, which shares the map stages two running jobs both need and hands the
/// task slots to the earliest job first.
///
/// # Examples
///
/// ```
/// use ember::prelude::*;
///
/// let ctx = Context::local(2)?;
/// let squares = ctx.parallelize((1..=4).collect::<Vec<i64>>(), 2).map(|x| x * x);
/// assert_eq!(squares.collect()?, vec![1, 4, 9, 16]);
/// # Ok::<(), ember::Error>(())
/// ```
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    checkpoint_dir: std::sync::Mutex<Option<String>>,
    engine: EngineContext,
    storage: Storage,
    default_parallelism: Option<usize>,
    app_name: String,
    master: String,
    /// Set by the Ctrl-C handler: actions finishing now wait for the process to exit.
    interrupted: AtomicBool,
    /// The outputs saves are writing, for the Ctrl-C handler to clean.
    outputs: Mutex<HashMap<u64, Arc<OutputJob>>>,
    next_output: AtomicU64,
    /// Whether this is a cluster application (saves then take ids every process agrees on).
    cluster: bool,
    /// Saves started so far, for their ids.
    saves: AtomicU64,
}

/// A context that does not keep it alive (for the Ctrl-C handler's list).
#[derive(Clone)]
pub(crate) struct WeakContext(Weak<Inner>);

impl WeakContext {
    pub(crate) fn upgrade(&self) -> Option<Context> {
        self.0.upgrade().map(|inner| Context { inner })
    }
}

/// An output a save is writing, known to the context until the save ends.
pub(crate) struct OutputInProgress {
    ctx: Weak<Inner>,
    id: u64,
}

impl Drop for OutputInProgress {
    fn drop(&mut self) {
        if let Some(inner) = self.ctx.upgrade() {
            inner.outputs.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
        }
    }
}

impl Context {
    /// A context running jobs on `threads` local worker threads (`local[threads]`).
    ///
    /// # Errors
    /// As [`ContextBuilder::build`].
    pub fn local(threads: usize) -> Result<Context> {
        Context::builder().threads(threads).build()
    }

    /// A context configured from the environment, as a program's `main` wants it:
    ///
    /// * `EMBER_MASTER`: `local`, `local[N]`, `local[*]`, `local[N,F]` (F attempts per task;
    ///   local mode's default is 1); unset, all cores;
    /// * `EMBER_EVENT_LOG`: a directory (path or storage URL) to write the event log under;
    /// * `EMBER_PROGRESS`: `0`/`off` hides the console progress bar, `1`/`on` shows it (it is
    ///   drawn only when stderr is a terminal);
    /// * Ctrl-C cancels the running jobs, removes their unfinished output and exits with
    ///   status 130 ([`ContextBuilder::cancel_on_interrupt`]);
    /// * `RUST_LOG` (`info`, `ember_engine=debug`): logs to stderr through a `tracing`
    ///   subscriber installed here, unless the program installed one of its own first.
    ///
    /// # Errors
    /// An error of kind [`Config`](crate::ErrorKind::Config) naming the variable and its value
    /// when it cannot be parsed; as [`ContextBuilder::build`] otherwise.
    pub fn from_env() -> Result<Context> {
        crate::logging::install_from_env();
        Context::builder().from_env()?.cancel_on_interrupt().build()
    }

    /// A builder for the remaining settings.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// The application name.
    pub fn app_name(&self) -> &str {
        &self.inner.app_name
    }

    /// Whether this process is the application's driver: always in local mode; in the
    /// cluster mode (`local-cluster[E,C]`, `ember://HOST:PORT`) rank 0 only. Every process of
    /// a cluster application runs the same `main` and gets every action's result; side
    /// effects that belong to the driver alone (printing, writing a report) go under
    /// `if ctx.is_driver()`. Actions never do: every process must run the same actions.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(1)?;
    /// let n = ctx.parallelize(vec![1, 2, 3], 1).count()?;
    /// if ctx.is_driver() {
    ///     println!("{n} elements");
    /// }
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn is_driver(&self) -> bool {
        self.inner.engine.is_driver()
    }

    /// The id of the next save's output job: random in local mode (`None`); in the cluster
    /// mode derived from the application's id and the save's number, so that every process
    /// names the same staging location.
    pub(crate) fn next_save_id(&self) -> Option<String> {
        let n = self.inner.saves.fetch_add(1, Ordering::Relaxed);
        self.inner.cluster.then(|| format!("{}-s{n}", self.app_id()))
    }

    /// The application's id, unique per context (`app-YYYYMMDDhhmmss-xxxxxxxx`): the name of
    /// its event log file. Every process of a cluster application has the driver's.
    pub fn app_id(&self) -> &str {
        self.inner.engine.app_id()
    }

    /// Where it runs, e.g. `local[4]`.
    pub fn master(&self) -> &str {
        &self.inner.master
    }

    /// How many tasks run at once (the worker thread count).
    pub fn parallelism(&self) -> usize {
        self.inner.engine.parallelism()
    }

    /// The storage layer this context reads and writes through: one client per store,
    /// shared by every task. Use it for object sizes, listings and small reads and writes.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(1)?;
    /// ctx.storage().put("memory://s/x.txt", "hi\n".into())?;
    /// assert_eq!(ctx.storage().list_inputs("memory://s")?[0].size, 3);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// Removes what saves to the output `path` that did not finish (their process was
    /// killed) left behind: their claim on it, staging directories, temporary files and
    /// (on object stores) files no committed manifest names. Committed data is never touched.
    /// The next save to `path` does this by itself when the dead save ran on this host; call
    /// it for one that ran on another host, or to tidy up without saving.
    ///
    /// # Errors
    /// An error of kind [`Conflict`](crate::ErrorKind::Conflict) when a live process of this
    /// host is writing `path`; a storage error when the store fails.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(1)?;
    /// ctx.clean_output("memory://c/never-written")?;
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn clean_output(&self, path: &str) -> crate::Result<()> {
        Ok(self.inner.storage.clean_output(path)?)
    }

    /// Metrics of the job that finished last (stages run and skipped, tasks, shuffle bytes).
    /// With jobs running on several threads, "last" is whichever finished last: prefer
    /// [`JobHandle::metrics`](crate::JobHandle::metrics) for one job's.
    pub fn last_job(&self) -> Option<JobMetrics> {
        self.inner.engine.last_job()
    }

    /// Metrics of the recent jobs, in the order they finished (the last 256 are kept).
    pub fn job_history(&self) -> Vec<JobMetrics> {
        self.inner.engine.job_history()
    }

    /// Puts the jobs this thread submits from now on in the job group `group` (Spark's
    /// `setJobGroup`), so that [`Context::cancel_job_group`] can cancel them together.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    ///
    /// let ctx = Context::local(2)?;
    /// ctx.set_job_group("nightly");
    /// let job = ctx.range(0, 10, 1, 2).count_async();
    /// ctx.clear_job_group();
    /// ctx.cancel_job_group("nightly"); // cancels `job` unless it has finished
    /// match job.wait() {
    ///     Ok(n) => assert_eq!(n, 10),
    ///     Err(e) => assert_eq!(e.kind(), ErrorKind::Cancelled),
    /// }
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn set_job_group(&self, group: impl Into<String>) {
        self.inner.engine.set_job_group(Some(group.into()));
    }

    /// Takes this thread's next jobs out of any job group.
    pub fn clear_job_group(&self) {
        self.inner.engine.set_job_group(None);
    }

    /// The job group this thread's jobs go in, if one is set.
    pub fn job_group(&self) -> Option<String> {
        self.inner.engine.job_group()
    }

    /// Cancels every running job of job group `group`; returns at once. Each one's handle
    /// resolves to an error of kind [`Cancelled`](crate::ErrorKind::Cancelled) once its tasks
    /// have stopped.
    pub fn cancel_job_group(&self, group: &str) {
        self.inner.engine.cancel_job_group(group);
    }

    /// Cancels every running job of the context; returns at once.
    pub fn cancel_all_jobs(&self) {
        self.inner.engine.cancel_all_jobs("with every job of the context");
    }

    /// Adds `listener`, which hears every [`Event`](crate::Event) from now on on a thread of
    /// its own (see [`Listener`]).
    ///
    /// # Errors
    /// An error of kind [`Startup`](crate::ErrorKind::Startup) when its thread cannot start.
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use ember::prelude::*;
    ///
    /// struct Jobs(Mutex<Vec<String>>);
    /// impl ember::Listener for Jobs {
    ///     fn on_event(&self, event: &ember::Event) {
    ///         if let ember::Event::JobStart { action, .. } = event {
    ///             self.0.lock().unwrap().push(action.clone());
    ///         }
    ///     }
    /// }
    /// let jobs = Arc::new(Jobs(Mutex::new(Vec::new())));
    /// let ctx = Context::local(2)?;
    /// ctx.add_listener(jobs.clone())?;
    /// ctx.range(0, 10, 1, 2).count()?;
    /// drop(ctx); // waits for the listeners to hear everything
    /// assert!(jobs.0.lock().unwrap()[0].starts_with("count at "));
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn add_listener(&self, listener: Arc<dyn Listener>) -> Result<()> {
        self.inner.engine.add_listener(listener).map_err(crate::Error::startup)
    }

    pub(crate) fn engine(&self) -> &EngineContext {
        &self.inner.engine
    }

    pub(crate) fn downgrade(&self) -> WeakContext {
        WeakContext(Arc::downgrade(&self.inner))
    }

    pub(crate) fn mark_interrupted(&self) {
        self.inner.interrupted.store(true, Ordering::Release);
    }

    /// Whether Ctrl-C stopped the context's jobs (the process is about to exit).
    pub(crate) fn is_interrupted(&self) -> bool {
        self.inner.interrupted.load(Ordering::Acquire)
    }

    /// Keeps `output` known to the context while the returned guard lives.
    pub(crate) fn track_output(&self, output: &Arc<OutputJob>) -> OutputInProgress {
        let id = self.inner.next_output.fetch_add(1, Ordering::Relaxed);
        self.inner.outputs.lock().unwrap_or_else(PoisonError::into_inner).insert(id, Arc::clone(output));
        OutputInProgress { ctx: Arc::downgrade(&self.inner), id }
    }

    /// Removes the temporary files of every output being written (after an interrupt).
    pub(crate) fn abort_outputs_in_progress(&self) {
        let outputs: Vec<Arc<OutputJob>> =
            self.inner.outputs.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
        for output in outputs {
            output.abort();
        }
    }

    pub(crate) fn default_parallelism(&self) -> Option<usize> {
        self.inner.default_parallelism
    }

    pub(crate) fn new_meta(&self, op_name: &'static str, call_site: &'static Location<'static>) -> NodeMeta {
        NodeMeta { id: self.inner.engine.ids().node(), op_name, call_site }
    }

    /// Sets the directory (any storage URL: a path, `file://`, `memory://`, `s3://`, ...)
    /// under which [`Rdd::checkpoint`](crate::Rdd::checkpoint) writes.
    pub fn set_checkpoint_dir(&self, url: impl Into<String>) {
        *self.inner.checkpoint_dir.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.into());
    }

    /// The checkpoint directory, if set.
    pub fn checkpoint_dir(&self) -> Option<String> {
        self.inner.checkpoint_dir.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fault injection for tests: drop cached blocks, delete map outputs, fail attempts.
    #[doc(hidden)]
    pub fn faults(&self) -> crate::fault::Faults<'_> {
        crate::fault::Faults::new(self)
    }

    /// Shares `value` with every task, read-only (see [`Broadcast`](crate::Broadcast)).
    ///
    /// # Errors
    /// An error of kind [`Codec`](crate::ErrorKind::Codec) when the value cannot be serialized.
    pub fn broadcast<T: Data>(&self, value: T) -> Result<crate::Broadcast<T>> {
        crate::Broadcast::new(self, value)
    }

    /// A new accumulator combining values as `param` says (see [`crate::Accumulator`]).
    pub fn accumulator<P: crate::AccumulatorParam>(&self, param: P) -> crate::Accumulator<P> {
        crate::Accumulator::new(self, param)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("app_name", &self.inner.app_name)
            .field("app_id", &self.app_id())
            .field("master", &self.inner.master)
            .finish()
    }
}
