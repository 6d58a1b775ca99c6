//! [`Context`]: the entry point. It owns the worker threads, the storage clients and the job
//! history, and creates the source RDDs.

use std::panic::Location;
use std::sync::Arc;

use ember_engine::lineage::NodeMeta;
use ember_engine::{EngineConfig, EngineContext, JobMetrics, TaskContext, TaskFailure};
use ember_storage::{Storage, plan_splits};

use crate::data::Data;
use crate::error::{Error, Result};
use crate::rdd::parallelize::{ParallelCollectionNode, RangeNode};
use crate::rdd::text_file::TextFileNode;
use crate::rdd::{PartitionIter, Rdd};

/// The environment variable [`Context::from_env`] reads: `local`, `local[N]` or `local[*]`.
pub const MASTER_ENV: &str = "EMBER_MASTER";

/// A connection to an Ember engine: where jobs run. Cheap to clone; every clone and every RDD
/// made from it share the same workers. The workers stop when the last clone and the last RDD
/// are dropped. Two contexts in one process share nothing.
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
    engine: EngineContext,
    storage: Storage,
    default_parallelism: Option<usize>,
    app_name: String,
}

/// Builds a [`Context`] with settings beyond the thread count.
#[derive(Clone, Debug, Default)]
pub struct ContextBuilder {
    master: Option<String>,
    threads: Option<usize>,
    app_name: Option<String>,
    max_task_attempts: Option<u32>,
    default_parallelism: Option<usize>,
}

impl ContextBuilder {
    /// Where to run: `local` (one thread), `local[N]`, or `local[*]` (all cores).
    pub fn master(mut self, master: impl Into<String>) -> Self {
        self.master = Some(master.into());
        self
    }

    /// Runs on `threads` local worker threads (same as `master("local[threads]")`).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// A name for logs and the job history.
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = Some(name.into());
        self
    }

    /// How many attempts a task gets before its job fails (default 4, at least 1).
    pub fn max_task_attempts(mut self, attempts: u32) -> Self {
        self.max_task_attempts = Some(attempts);
        self
    }

    /// The partition count of shuffles that are given none and whose parent has no
    /// partitioner (Spark's `spark.default.parallelism`). Unset, such a shuffle keeps the
    /// largest partition count among its parents, as in Spark.
    pub fn default_parallelism(mut self, partitions: usize) -> Self {
        self.default_parallelism = Some(partitions.max(1));
        self
    }

    /// Starts the context.
    ///
    /// # Errors
    /// [`Error::Config`] for a master string that is not `local`, `local[N]` or `local[*]`;
    /// [`Error::Startup`] when threads cannot be spawned; [`Error::Storage`] when the I/O
    /// runtime cannot start.
    pub fn build(self) -> Result<Context> {
        let threads = match (self.threads, &self.master) {
            (Some(n), _) => n.max(1),
            (None, Some(master)) => parse_master(master)?,
            (None, None) => available_cores(),
        };
        let mut config = EngineConfig::new(threads);
        if let Some(attempts) = self.max_task_attempts {
            config = config.with_max_task_attempts(attempts);
        }
        let engine = EngineContext::local(config).map_err(Error::Startup)?;
        let storage = Storage::new()?;
        Ok(Context {
            inner: Arc::new(Inner {
                engine,
                storage,
                default_parallelism: self.default_parallelism,
                app_name: self.app_name.unwrap_or_else(|| "ember".to_owned()),
            }),
        })
    }
}

/// Parses `local`, `local[N]` and `local[*]` into a thread count.
fn parse_master(master: &str) -> Result<usize> {
    let bad = |reason: &str| Error::Config { key: MASTER_ENV, value: master.to_owned(), reason: reason.to_owned() };
    let master = master.trim();
    if master == "local" {
        return Ok(1);
    }
    let inner = master
        .strip_prefix("local[")
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(|| bad("expected local, local[N] or local[*] (the cluster mode is not built yet)"))?;
    if inner == "*" {
        return Ok(available_cores());
    }
    match inner.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(bad("the thread count in local[N] must be a whole number of at least 1")),
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Context {
    /// A context running jobs on `threads` local worker threads (`local[threads]`).
    ///
    /// # Errors
    /// As [`ContextBuilder::build`].
    pub fn local(threads: usize) -> Result<Context> {
        Context::builder().threads(threads).build()
    }

    /// A context configured from the environment: `EMBER_MASTER` (`local`, `local[N]`,
    /// `local[*]`); unset, all cores.
    ///
    /// # Errors
    /// [`Error::Config`] naming `EMBER_MASTER` and its value when it cannot be parsed.
    pub fn from_env() -> Result<Context> {
        let mut builder = Context::builder();
        if let Ok(master) = std::env::var(MASTER_ENV) {
            builder = builder.master(master);
        }
        builder.build()
    }

    /// A builder for the remaining settings.
    pub fn builder() -> ContextBuilder {
        ContextBuilder::default()
    }

    /// The application name.
    pub fn app_name(&self) -> &str {
        &self.inner.app_name
    }

    /// How many tasks run at once (the worker thread count).
    pub fn parallelism(&self) -> usize {
        self.inner.engine.parallelism()
    }

    /// Distributes a local collection over `slices` partitions: partition `i` holds
    /// `data[i·len/slices .. (i+1)·len/slices]`, as Spark slices it. Lazy, like every source.
    ///
    /// # Panics
    /// If `slices` is 0.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.parallelize(vec!['a', 'b', 'c'], 2);
    /// assert_eq!(rdd.glom().collect()?, vec![vec!['a'], vec!['b', 'c']]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn parallelize<T: Data>(&self, data: Vec<T>, slices: usize) -> Rdd<T> {
        assert!(slices >= 1, "parallelize needs at least one slice");
        let meta = self.new_meta("parallelize", Location::caller());
        Rdd::from_node(Arc::new(ParallelCollectionNode::new(meta, data, slices)), self.clone())
    }

    /// The integers `start, start + step, ...` up to but excluding `end` (Spark's
    /// `sc.range`), in `slices` partitions sliced like [`Context::parallelize`]. Nothing is
    /// materialised: each partition generates its numbers.
    ///
    /// # Panics
    /// If `step` or `slices` is 0.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(0, 10, 3, 2).collect()?, vec![0, 3, 6, 9]);
    /// assert_eq!(ctx.range(5, 0, -2, 1).collect()?, vec![5, 3, 1]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn range(&self, start: i64, end: i64, step: i64, slices: usize) -> Rdd<i64> {
        assert!(step != 0, "range needs a non-zero step");
        assert!(slices >= 1, "range needs at least one slice");
        let meta = self.new_meta("range", Location::caller());
        Rdd::from_node(Arc::new(RangeNode::new(meta, start, end, step, slices)), self.clone())
    }

    /// The lines of a text file or of every visible file of a directory (names starting with
    /// `_` or `.` are skipped, as Hadoop does), as an `Rdd<String>`.
    ///
    /// Files are split into byte ranges as Hadoop's `FileInputFormat` does: at least
    /// `min_partitions` splits overall, at most 32 MiB each. A split yields every line that
    /// *starts* inside it, reading past its end to finish its last line, so no line is lost or
    /// read twice. Lines end at `\n`; a trailing `\r` is removed; invalid UTF-8 is replaced
    /// with U+FFFD. The file list is read now; the contents when a job runs.
    ///
    /// # Errors
    /// [`Error::Storage`] naming the path when it does not exist or cannot be listed.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("poem.txt");
    /// std::fs::write(&path, "the cat\r\nthe hat\n")?;
    /// let ctx = Context::local(2)?;
    /// let lines = ctx.text_file(path.to_str().unwrap(), 2)?;
    /// assert_eq!(lines.collect()?, vec!["the cat", "the hat"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn text_file(&self, path: &str, min_partitions: usize) -> Result<Rdd<String>> {
        let meta = self.new_meta("text_file", Location::caller());
        let files = self.inner.storage.list_inputs(path)?;
        let splits = plan_splits(&files, min_partitions);
        let node = TextFileNode::new(meta, self.inner.storage.clone(), splits);
        Ok(Rdd::from_node(Arc::new(node), self.clone()))
    }

    /// Metrics of the most recent job (stages run and skipped, tasks, shuffle bytes).
    pub fn last_job(&self) -> Option<JobMetrics> {
        self.inner.engine.last_job()
    }

    /// Metrics of the recent jobs, oldest first (the last 256 are kept).
    pub fn job_history(&self) -> Vec<JobMetrics> {
        self.inner.engine.job_history()
    }

    pub(crate) fn engine(&self) -> &EngineContext {
        &self.inner.engine
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub(crate) fn default_parallelism(&self) -> Option<usize> {
        self.inner.default_parallelism
    }

    pub(crate) fn new_meta(&self, op_name: &'static str, call_site: &'static Location<'static>) -> NodeMeta {
        NodeMeta { id: self.inner.engine.ids().node(), op_name, call_site }
    }

    /// Runs `func` over `partitions` of `rdd` and returns its results in the same order.
    pub(crate) fn run_job<T, R, F>(&self, rdd: &Rdd<T>, partitions: &[usize], func: F) -> Result<Vec<R>>
    where
        T: Data,
        R: Send + 'static,
        F: Fn(usize, PartitionIter<T>, &TaskContext) -> Result<R, TaskFailure> + Send + Sync + 'static,
    {
        let node = Arc::clone(rdd.node());
        let result_fn = Arc::new(move |p: usize, tc: &TaskContext| {
            let iter = crate::rdd::iterator(node.as_ref(), p, tc)?;
            let value = func(p, iter, tc)?;
            Ok(Box::new(value) as Box<dyn std::any::Any + Send>)
        });
        let lineage = rdd.lineage_node();
        let values = self.inner.engine.run_job(&lineage, partitions, result_fn)?;
        Ok(values
            .into_iter()
            .map(|v| *v.downcast::<R>().expect("a result task returns the type its job asked for"))
            .collect())
    }

    /// Runs `func` over every partition of `rdd`.
    pub(crate) fn run_all<T, R, F>(&self, rdd: &Rdd<T>, func: F) -> Result<Vec<R>>
    where
        T: Data,
        R: Send + 'static,
        F: Fn(usize, PartitionIter<T>, &TaskContext) -> Result<R, TaskFailure> + Send + Sync + 'static,
    {
        let partitions: Vec<usize> = (0..rdd.num_partitions()).collect();
        self.run_job(rdd, &partitions, func)
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("app_name", &self.inner.app_name).field("threads", &self.parallelism()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_masters() {
        assert_eq!(parse_master("local").unwrap(), 1);
        assert_eq!(parse_master("local[3]").unwrap(), 3);
        assert_eq!(parse_master("local[*]").unwrap(), available_cores());
        for bad in ["local[0]", "local[x]", "yarn", "local[2", "spark://h:7077"] {
            let err = parse_master(bad).unwrap_err().to_string();
            assert!(err.contains("EMBER_MASTER") && err.contains(bad), "{err}");
        }
    }
}
