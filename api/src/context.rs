//! [`Context`]: the entry point. It owns the worker threads, the storage clients and the job
//! history, and creates the source RDDs.

use std::panic::Location;
use std::sync::Arc;

use ember_engine::lineage::NodeMeta;
use ember_engine::{EngineConfig, EngineContext, JobMetrics, TaskContext, TaskFailure};
use ember_storage::object_file::read_object_file;
use ember_storage::{FileSplit, Storage, StorageError, StorageOptions, plan_splits};
use serde::de::DeserializeOwned;

use crate::data::Data;
use crate::error::{Error, Result};
use crate::rdd::file_source::{FileSourceNode, ReadSplit, decoded, fail_on_error};
use crate::rdd::parallelize::{ParallelCollectionNode, RangeNode};
use crate::rdd::{PartitionIter, Rdd};
use crate::text::{SharedPiece, Text};

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

/// A checkpoint waiting for the end of the next job to be written.
type PendingCheckpoint = Box<dyn FnOnce(&Context) -> Result<()> + Send>;

struct Inner {
    checkpoint_dir: std::sync::Mutex<Option<String>>,
    pending_checkpoints: std::sync::Mutex<Vec<PendingCheckpoint>>,
    engine: EngineContext,
    storage: Storage,
    default_parallelism: Option<usize>,
    app_name: String,
}

/// Builds a [`Context`] with settings beyond the thread count.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ember::prelude::*;
///
/// let ctx = Context::builder()
///     .threads(2)
///     .storage_option("aws_region", "eu-west-1") // on top of the AWS_* environment
///     .storage_retry(5, Duration::from_secs(60))
///     .build()?;
/// assert_eq!(ctx.parallelism(), 2);
/// # Ok::<(), ember::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ContextBuilder {
    master: Option<String>,
    threads: Option<usize>,
    app_name: Option<String>,
    max_task_attempts: Option<u32>,
    memory_budget: Option<u64>,
    default_parallelism: Option<usize>,
    storage: StorageOptions,
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

    /// The context's memory budget in bytes (default: a quarter of the machine's RAM). Half is
    /// for what is kept (persisted partitions, evicted least recently used first, and
    /// in-memory shuffle outputs); the other half is shared equally by the running tasks for
    /// what they build (aggregation tables, sort buffers, shuffle write buffers), which spill
    /// to local disk when a task's share runs out.
    pub fn memory_budget(mut self, bytes: u64) -> Self {
        self.memory_budget = Some(bytes);
        self
    }

    /// The partition count of shuffles that are given none and whose parent has no
    /// partitioner (Spark's `spark.default.parallelism`). Unset, such a shuffle keeps the
    /// largest partition count among its parents, as in Spark.
    pub fn default_parallelism(mut self, partitions: usize) -> Self {
        self.default_parallelism = Some(partitions.max(1));
        self
    }

    /// Sets the object-store option `key` (an `object_store` configuration key such as
    /// `aws_endpoint`, `aws_region`, `aws_allow_http`, `google_service_account`,
    /// `azure_storage_account_name`, or a client key such as `timeout`) for every remote store
    /// this context opens. Options win over the environment (`AWS_ENDPOINT`, ...), which is
    /// read too. An unknown key makes [`ContextBuilder::build`] fail.
    pub fn storage_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.storage = self.storage.option(key, value);
        self
    }

    /// Retries a remote request failing with a transient error (5xx, throttling, a dropped
    /// connection) up to `max_retries` times within `timeout`, with exponential backoff
    /// (`object_store`'s retry policy; the default is 10 retries within 180 s). Task retries
    /// ([`ContextBuilder::max_task_attempts`]) come on top.
    pub fn storage_retry(mut self, max_retries: usize, timeout: std::time::Duration) -> Self {
        self.storage = self.storage.retry(max_retries, timeout);
        self
    }

    /// Replaces all storage settings at once (options, retry policy and backoff), for the
    /// settings [`ContextBuilder::storage_option`] and [`ContextBuilder::storage_retry`] do
    /// not cover.
    pub fn storage_options(mut self, options: StorageOptions) -> Self {
        self.storage = options;
        self
    }

    /// Starts the context.
    ///
    /// # Errors
    /// [`Error::Config`] for a master string that is not `local`, `local[N]` or `local[*]`;
    /// [`Error::Startup`] when threads cannot be spawned; [`Error::Storage`] when the I/O
    /// runtime cannot start or a storage option key is unknown.
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
        if let Some(bytes) = self.memory_budget {
            config = config.with_memory_budget(bytes);
        }
        let engine = EngineContext::local(config).map_err(Error::Startup)?;
        let storage = Storage::with_options(self.storage)?;
        Ok(Context {
            inner: Arc::new(Inner {
                checkpoint_dir: std::sync::Mutex::new(None),
                pending_checkpoints: std::sync::Mutex::new(Vec::new()),
                engine,
                storage,
                default_parallelism: self.default_parallelism,
                app_name: self.app_name.unwrap_or_else(|| "ember".to_owned()),
            }),
        })
    }
}

/// Parses one JSON value.
fn parse_json<T: DeserializeOwned>(line: &str) -> serde_json::Result<T> {
    serde_json::from_str(line)
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

    /// The lines of a text file, of every visible file of a directory (names starting with
    /// `_` or `.` are skipped, as Hadoop does), or of every file matching a glob
    /// (`s3://bucket/logs/2026-*/*.txt`), as an `Rdd<String>`. `path` is a bare path or a
    /// URL: `file://`, `memory://`, `s3://`, `gs://`, `az://`, `http(s)://`.
    ///
    /// Files are split into byte ranges as Hadoop's `FileInputFormat` does: at least
    /// `min_partitions` splits overall, at most 32 MiB each. A local file's split is read 64 KiB
    /// at a time as its lines are pulled; an object store's with one ranged read.
    /// A split yields every line that *starts* inside it, reading past its end to finish its
    /// last line, so no line is lost or read twice. `.gz` and `.zst` files are decompressed
    /// and are one split each. Lines end at `\n`; a trailing `\r` is removed; invalid UTF-8 is
    /// replaced with U+FFFD. The file list is read now; the contents when a job runs.
    ///
    /// # Errors
    /// [`Error::Storage`] naming the path when it does not exist or cannot be listed. When a
    /// job runs, a read that fails partway through a split (the file cut short since it was
    /// listed, a disk error) fails the task with an error naming the file: no line is dropped.
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
        let read: ReadSplit<String> = Arc::new(|storage, split, ctx| {
            let ctx = ctx.clone();
            Ok(Box::new(storage.read_split(split)?.map_while(move |line| fail_on_error(&ctx, line))))
        });
        let node = FileSourceNode::new(meta, self.inner.storage.clone(), splits, read);
        Ok(Rdd::from_node(Arc::new(node), self.clone()))
    }

    /// The lines of the files at `path`, exactly as [`Context::text_file`] reads them (same
    /// splits, same line rules, invalid UTF-8 replaced the same way), as zero-copy [`Text`]
    /// instead of `String`: each line shares the buffer its piece of the split was read into
    /// (64 KiB of a local file, the whole split from an object store), and
    /// [`Text::words`] splits it into words that are inline or shared too. A pipeline over
    /// it, such as a word count, allocates nothing per line or per word.
    ///
    /// `Text` dereferences to `str`, so a closure written for `text_file`'s lines usually
    /// works unchanged. A long line or word kept after the job (collected, cached) keeps its
    /// buffer alive; [`Text::compact`] copies it out.
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
    /// let mut counts = ctx
    ///     .text_lines(path.to_str().unwrap(), 2)?
    ///     .flat_map(Text::into_words)
    ///     .map(|word| (word, 1u64))
    ///     .reduce_by_key(|a, b| a + b)
    ///     .collect()?;
    /// counts.sort();
    /// assert_eq!(counts, [(Text::from("cat"), 1), (Text::from("hat"), 1), (Text::from("the"), 2)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn text_lines(&self, path: &str, min_partitions: usize) -> Result<Rdd<Text>> {
        let meta = self.new_meta("text_lines", Location::caller());
        let files = self.inner.storage.list_inputs(path)?;
        let splits = plan_splits(&files, min_partitions);
        // Each piece's UTF-8 is checked once (`SharedPiece`); a line holding invalid UTF-8 is
        // repaired alone, exactly as `text_file` repairs it. Every long line shares its piece's
        // buffer through the piece's one `Arc`: no allocation per line.
        let read: ReadSplit<Text> = Arc::new(|storage, split, ctx| {
            let mut lines = storage.read_split(split)?;
            let ctx = ctx.clone();
            let mut piece = SharedPiece::of(&lines);
            Ok(Box::new(std::iter::from_fn(move || {
                let range = fail_on_error(&ctx, lines.next_line()?)?;
                if piece.generation != lines.buffer_generation() {
                    piece = SharedPiece::of(&lines);
                }
                Some(piece.text(range))
            })))
        });
        let node = FileSourceNode::new(meta, self.inner.storage.clone(), splits, read);
        Ok(Rdd::from_node(Arc::new(node), self.clone()))
    }

    /// `(url, content)` for each file at `path` (a file, a directory's visible files, or a
    /// glob), one partition per file, as Spark's `wholeTextFiles`. `.gz` and `.zst` files are
    /// decompressed; invalid UTF-8 is replaced with U+FFFD. Each file is read whole.
    ///
    /// # Errors
    /// [`Error::Storage`] naming the path when nothing is there or it cannot be listed.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec!["a".to_owned(), "b".to_owned()], 2).save_as_text_file("memory://wt/in")?;
    /// let files = ctx.whole_text_files("memory://wt/in")?.collect()?;
    /// assert_eq!(files, [("memory://wt/in/part-00000".to_owned(), "a\n".to_owned()),
    ///                    ("memory://wt/in/part-00001".to_owned(), "b\n".to_owned())]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn whole_text_files(&self, path: &str) -> Result<Rdd<(String, String)>> {
        let meta = self.new_meta("whole_text_files", Location::caller());
        let read: ReadSplit<(String, String)> = decoded(|storage: &Storage, split: &FileSplit| {
            let bytes = storage.read_file(&split.file)?;
            Ok(vec![(split.file.url.clone(), String::from_utf8_lossy(&bytes).into_owned())])
        });
        self.file_source(meta, path, read)
    }

    /// Reads the records that [`Rdd::save_as_object_file`] wrote under `path` (or at a file
    /// or glob): one partition per file. The files carry a format header and an end marker,
    /// so a file of another format or version, or a truncated one, is an error naming it.
    ///
    /// # Errors
    /// [`Error::Storage`] naming the path when nothing is there; when a job runs,
    /// [`Error::Job`] whose cause names a file that is not a valid object file of `T`.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec![("a".to_owned(), 1u32), ("b".to_owned(), 2)], 2).save_as_object_file("memory://o/pairs")?;
    /// let back = ctx.object_file::<(String, u32)>("memory://o/pairs")?.collect()?;
    /// assert_eq!(back, [("a".to_owned(), 1), ("b".to_owned(), 2)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn object_file<T: Data>(&self, path: &str) -> Result<Rdd<T>> {
        let meta = self.new_meta("object_file", Location::caller());
        let read: ReadSplit<T> = decoded(|storage: &Storage, split: &FileSplit| {
            let bytes = storage.read_file(&split.file)?;
            read_object_file(&bytes, &split.file.url)
        });
        self.file_source(meta, path, read)
    }

    /// Reads JSON lines (one JSON value per line, as [`Rdd::save_as_json_file`] writes) from
    /// a file, directory or glob into `T`, split into byte ranges like
    /// [`Context::text_file`]. Blank lines are skipped.
    ///
    /// # Errors
    /// [`Error::Storage`] naming the path when nothing is there; when a job runs,
    /// [`Error::Job`] whose cause names the file and the line that is not a valid `T`.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct Hit { page: String, n: u32 }
    ///
    /// let ctx = Context::local(2)?;
    /// let hits = vec![Hit { page: "/".into(), n: 3 }, Hit { page: "/a".into(), n: 1 }];
    /// ctx.parallelize(hits.clone(), 2).save_as_json_file("memory://j/hits")?;
    /// assert_eq!(ctx.json_file::<Hit>("memory://j/hits", 2)?.collect()?, hits);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn json_file<T: Data>(&self, path: &str, min_partitions: usize) -> Result<Rdd<T>> {
        let meta = self.new_meta("json_file", Location::caller());
        let files = self.inner.storage.list_inputs(path)?;
        let splits = plan_splits(&files, min_partitions);
        let read: ReadSplit<T> = decoded(|storage: &Storage, split: &FileSplit| {
            let mut out = Vec::new();
            for (i, line) in storage.read_split(split)?.enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let value = parse_json(&line).map_err(|e| {
                    StorageError::format(
                        &split.file.url,
                        "JSON lines",
                        format!("line {} of the split starting at byte {}: {e}", i + 1, split.start),
                    )
                })?;
                out.push(value);
            }
            Ok(out)
        });
        let node = FileSourceNode::new(meta, self.inner.storage.clone(), splits, read);
        Ok(Rdd::from_node(Arc::new(node), self.clone()))
    }

    /// Reads Parquet files (a file, a directory's visible files, or a glob) into `T`, one
    /// partition per file: the files [`Rdd::save_as_parquet`] writes, or any Parquet file
    /// whose columns match `T`'s fields (serde_arrow). Each file is read whole.
    ///
    /// # Errors
    /// [`Error::Storage`] naming the path when nothing is there; when a job runs,
    /// [`Error::Job`] whose cause names a file that is not Parquet or does not match `T`.
    ///
    /// # Examples
    /// See [`Rdd::save_as_parquet`].
    #[track_caller]
    pub fn read_parquet<T: Data>(&self, path: &str) -> Result<Rdd<T>> {
        let meta = self.new_meta("read_parquet", Location::caller());
        let read: ReadSplit<T> = decoded(|storage: &Storage, split: &FileSplit| {
            let bytes = storage.get(&split.file.url)?;
            crate::parquet_io::read_rows(bytes, &split.file.url)
        });
        self.file_source(meta, path, read)
    }

    /// One partition per input file at `path`, each decoded by `read`.
    fn file_source<T: Data>(&self, meta: NodeMeta, path: &str, read: ReadSplit<T>) -> Result<Rdd<T>> {
        let files = self.inner.storage.list_inputs(path)?;
        let splits = files.into_iter().map(|f| {
            let size = f.size;
            FileSplit::new(f, 0, size)
        });
        let node = FileSourceNode::new(meta, self.inner.storage.clone(), splits.collect(), read);
        Ok(Rdd::from_node(Arc::new(node), self.clone()))
    }

    /// The storage layer this context reads and writes through: one client per store,
    /// shared by every task. Use it for object sizes, listings and small reads and writes.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(1)?;
    /// ctx.storage().put("memory://s/x.txt", "hi\n".into())?;
    /// assert_eq!(ctx.storage().list_inputs("memory://s")?[0].size, 3);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
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

    pub(crate) fn default_parallelism(&self) -> Option<usize> {
        self.inner.default_parallelism
    }

    pub(crate) fn new_meta(&self, op_name: &'static str, call_site: &'static Location<'static>) -> NodeMeta {
        NodeMeta { id: self.inner.engine.ids().node(), op_name, call_site }
    }

    /// Sets the directory (any storage URL: a path, `file://`, `memory://`, `s3://`, ...)
    /// under which [`Rdd::checkpoint`] writes.
    pub fn set_checkpoint_dir(&self, url: impl Into<String>) {
        *self.inner.checkpoint_dir.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.into());
    }

    /// The checkpoint directory, if set.
    pub fn checkpoint_dir(&self) -> Option<String> {
        self.inner.checkpoint_dir.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn add_pending_checkpoint(&self, write: PendingCheckpoint) {
        self.inner.pending_checkpoints.lock().unwrap_or_else(|e| e.into_inner()).push(write);
    }

    /// Writes the checkpoints marked before the job that just succeeded.
    fn write_pending_checkpoints(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.inner.pending_checkpoints.lock().unwrap_or_else(|e| e.into_inner()));
        for write in pending {
            write(self)?;
        }
        Ok(())
    }

    /// Fault injection for tests: drop cached blocks, delete map outputs, fail attempts.
    #[doc(hidden)]
    pub fn faults(&self) -> crate::fault::Faults<'_> {
        crate::fault::Faults::new(self)
    }

    /// Shares `value` with every task, read-only (see [`Broadcast`](crate::Broadcast)).
    ///
    /// # Errors
    /// [`Error::Storage`] when the value cannot be serialized.
    pub fn broadcast<T: Data>(&self, value: T) -> Result<crate::Broadcast<T>> {
        crate::Broadcast::new(self, value)
    }

    /// A new accumulator combining values as `param` says (see [`crate::Accumulator`]).
    pub fn accumulator<P: crate::AccumulatorParam>(&self, param: P) -> crate::Accumulator<P> {
        crate::Accumulator::new(self, param)
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
        self.write_pending_checkpoints()?;
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
