//! [`ContextBuilder`]: every setting of a [`Context`], what `Context::from_env` reads, and
//! the parsing of master strings (`local`, `local[N]`, `local[*]`).

use std::sync::Arc;

use ember_engine::events::log::EventLog;
use ember_engine::events::progress::ConsoleProgress;
use ember_engine::{BackendKind, EngineConfig, EngineContext, EngineSetup, Listener};
use ember_storage::{Storage, StorageOptions};

use super::{Context, Inner, MASTER_ENV};
use crate::error::{Error, Result};

/// Attempts per task in local mode unless `local[N,F]` or the builder says otherwise.
const LOCAL_ATTEMPTS: u32 = 1;

/// The environment variable naming the event log's directory for [`Context::from_env`].
pub const EVENT_LOG_ENV: &str = "EMBER_EVENT_LOG";

/// The environment variable that, set to `serializing`, runs every context's tasks behind the
/// serializing backend (every task descriptor and report crosses as bytes): how the test suite
/// proves that only ids and bytes cross the executor seam. Not for production use.
pub const BACKEND_ENV: &str = "EMBER_BACKEND";

/// The environment variable that switches the console progress bar for
/// [`Context::from_env`]: `0`, `off`, `false` or `no` hide it; `1`, `on`, `true` or `yes`
/// show it (on a terminal).
pub const PROGRESS_ENV: &str = "EMBER_PROGRESS";

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
#[derive(Clone, Default)]
pub struct ContextBuilder {
    master: Option<String>,
    threads: Option<usize>,
    app_name: Option<String>,
    max_task_attempts: Option<u32>,
    memory_budget: Option<u64>,
    default_parallelism: Option<usize>,
    storage: StorageOptions,
    event_log: Option<String>,
    progress_bar: Option<bool>,
    cancel_on_interrupt: bool,
    backend: BackendKind,
    listeners: Vec<Arc<dyn Listener>>,
    executor_args: Option<Vec<String>>,
    heartbeat_timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for ContextBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextBuilder")
            .field("master", &self.master)
            .field("threads", &self.threads)
            .field("app_name", &self.app_name)
            .field("max_task_attempts", &self.max_task_attempts)
            .field("memory_budget", &self.memory_budget)
            .field("default_parallelism", &self.default_parallelism)
            .field("event_log", &self.event_log)
            .field("progress_bar", &self.progress_bar)
            .field("cancel_on_interrupt", &self.cancel_on_interrupt)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl ContextBuilder {
    /// Where to run: `local` (one thread), `local[N]`, or `local[*]` (all cores), with an
    /// optional number of attempts per task after a comma (`local[4,3]`, as Spark's).
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

    /// How many attempts a task gets before its job fails (at least 1). Local mode's default
    /// is 1, as Spark's `local[N]`: a task that fails, fails its job at once; `local[N,F]`
    /// sets F, and this setting wins over both. (The cluster mode will default to 4.)
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

    /// In the cluster mode, how long the driver waits for an executor's heartbeat before it
    /// counts the executor lost (its tasks run elsewhere, its map outputs are recomputed);
    /// executors heartbeat at a tenth of it from a thread of their own, however busy their
    /// task slots. Default 5 s, or `EMBER_HEARTBEAT_TIMEOUT_MS`; at least 200 ms. A broken
    /// connection (a killed process) is noticed at once whatever this is.
    pub fn heartbeat_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.heartbeat_timeout = Some(timeout.max(std::time::Duration::from_millis(200)));
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
    /// (`object_store`'s retry policy; the default is 10 retries within 10 s, see
    /// [`ember_storage::options`] for the timeouts of each try). Task retries
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

    /// Writes the application's event log (every job, stage and task event, as JSON lines;
    /// see [`ember_engine::events::log`] for the format) to one file under the directory `dir`,
    /// a path or any storage URL. `Context::from_env` takes it from `EMBER_EVENT_LOG`.
    pub fn event_log(mut self, dir: impl Into<String>) -> Self {
        self.event_log = Some(dir.into());
        self
    }

    /// Shows (`true`) or hides (`false`) the console progress bar, Spark's
    /// `[Stage 2:=====>      (7 + 2) / 16]` on stderr for stages running longer than half a
    /// second. Default: shown when stderr is a terminal, which it never is under a test runner
    /// or a pipe. `Context::from_env` takes it from `EMBER_PROGRESS`.
    pub fn progress_bar(mut self, show: bool) -> Self {
        self.progress_bar = Some(show);
        self
    }

    /// On Ctrl-C (SIGINT), cancels the context's running jobs, removes the temporary output of
    /// the saves they were writing, and exits the process with status 130. On for
    /// `Context::from_env`; off otherwise, so a library never takes a signal its program owns.
    pub fn cancel_on_interrupt(mut self) -> Self {
        self.cancel_on_interrupt = true;
        self
    }

    /// Adds a listener that hears every event from the application's start on.
    pub fn listener(mut self, listener: Arc<dyn Listener>) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Runs tasks behind a seam that only bytes cross, as a process boundary would: every task
    /// descriptor and report is encoded and decoded (the test suite's `serializing` mode).
    #[doc(hidden)]
    pub fn serializing_backend(mut self) -> Self {
        self.backend = BackendKind::Serializing;
        self
    }

    /// The command-line arguments of the executor processes `local-cluster[E,C]` starts
    /// (they run this same program): by default this process's own. A test binary passes
    /// the arguments that run only the calling test ([`crate::testing::executor_args`]).
    pub fn executor_args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.executor_args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Takes the settings the environment gives: `EMBER_MASTER`, `EMBER_EVENT_LOG` and
    /// `EMBER_PROGRESS` (see [`Context::from_env`]); settings made on the builder after this
    /// win.
    ///
    /// # Errors
    /// An error of kind [`Config`](crate::ErrorKind::Config) naming the variable and its value
    /// when it cannot be parsed.
    pub fn from_env(mut self) -> Result<Self> {
        if let Ok(master) = std::env::var(MASTER_ENV) {
            if super::cluster::parse(&master)?.is_none() {
                parse_master(&master)?;
            }
            self.master = Some(master);
        }
        if let Ok(dir) = std::env::var(EVENT_LOG_ENV)
            && !dir.trim().is_empty()
        {
            self.event_log = Some(dir);
        }
        if let Ok(value) = std::env::var(PROGRESS_ENV) {
            self.progress_bar = Some(match value.trim().to_ascii_lowercase().as_str() {
                "1" | "on" | "true" | "yes" => true,
                "0" | "off" | "false" | "no" => false,
                _ => return Err(Error::config(PROGRESS_ENV, value, "expected on or off (1 or 0)")),
            });
        }
        Ok(self)
    }

    /// Starts the context.
    ///
    /// # Errors
    /// An error of kind [`Config`](crate::ErrorKind::Config) for a master string that is not
    /// `local`, `local[N]` or `local[*]`, or an unknown storage option key; of kind
    /// [`Startup`](crate::ErrorKind::Startup) when threads cannot be spawned; a storage error
    /// when the I/O runtime cannot start or the event log cannot be created.
    pub fn build(self) -> Result<Context> {
        let cluster_master = match &self.master {
            Some(master) => super::cluster::parse(master)?,
            None => None,
        };
        let cluster = match &cluster_master {
            Some(master) => Some(super::cluster::plan(master, self.executor_args.clone(), self.heartbeat_timeout)?),
            None => None,
        };
        let parsed = match (&self.master, &cluster) {
            (_, Some(plan)) => Master { threads: plan.slots, attempts: Some(super::cluster::CLUSTER_ATTEMPTS) },
            (Some(master), None) => parse_master(master)?,
            (None, None) => Master { threads: available_cores(), attempts: None },
        };
        let threads = match &cluster {
            Some(_) => parsed.threads,
            None => self.threads.map_or(parsed.threads, |n| n.max(1)),
        };
        // Local mode tries a task once, as Spark's `local[N]`: a deterministic bug fails at
        // once instead of four times. `local[N,F]` and the builder ask for more.
        let attempts = self.max_task_attempts.or(parsed.attempts).unwrap_or(LOCAL_ATTEMPTS).max(1);
        let master = match (&cluster_master, parsed.attempts) {
            (Some(cluster), _) => cluster.to_string(),
            (None, Some(f)) => format!("local[{threads},{f}]"),
            (None, None) => format!("local[{threads}]"),
        };
        let is_executor = cluster.as_ref().is_some_and(|plan| !plan.is_driver());
        let mut config = EngineConfig::new(threads).with_max_task_attempts(attempts);
        if let Some(bytes) = self.memory_budget {
            config = config.with_memory_budget(bytes);
        }
        let storage = Storage::with_options(self.storage)?;
        let app_name = self.app_name.unwrap_or_else(|| "ember".to_owned());
        let mut listeners = self.listeners;
        // An executor runs no scheduler: it has no progress to draw and no jobs to log.
        if self.progress_bar != Some(false) && !is_executor {
            // `stderr()` is `None` off a terminal: asked for or not, nothing is drawn there.
            if let Some(progress) = ConsoleProgress::stderr() {
                listeners.push(Arc::new(progress));
            }
        }
        let app_id = ember_engine::context::new_app_id();
        if let Some(dir) = self.event_log.as_ref().filter(|_| !is_executor) {
            listeners.push(Arc::new(EventLog::create(&storage, dir, &app_id)?));
        }
        let backend = match std::env::var(BACKEND_ENV).as_deref() {
            Ok("serializing") => BackendKind::Serializing,
            Ok("local") | Err(_) => self.backend,
            Ok(other) => return Err(Error::config(BACKEND_ENV, other, "expected local or serializing")),
        };
        let setup = EngineSetup {
            app_name: app_name.clone(),
            master: master.clone(),
            backend,
            listeners,
            app_id: Some(app_id),
            cluster: cluster.map(|plan| plan.role),
        };
        let engine = EngineContext::start(config, setup).map_err(Error::startup)?;
        let ctx = Context {
            inner: Arc::new(Inner {
                checkpoint_dir: std::sync::Mutex::new(None),
                engine,
                storage,
                default_parallelism: self.default_parallelism,
                app_name,
                master,
                interrupted: Default::default(),
                outputs: Default::default(),
                next_output: Default::default(),
                cluster: cluster_master.is_some(),
                saves: Default::default(),
            }),
        };
        if self.cancel_on_interrupt {
            crate::interrupt::register(&ctx)?;
        }
        Ok(ctx)
    }
}

/// A parsed master string: `local` (one thread), `local[N]`, `local[*]` (all cores), each
/// with an optional `,F` (`local[4,3]`): how many attempts a task gets, as Spark's
/// `spark.task.maxFailures` in local mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Master {
    threads: usize,
    attempts: Option<u32>,
}

/// Parses `local`, `local[N]`, `local[*]` and `local[N,F]`.
fn parse_master(master: &str) -> Result<Master> {
    let bad = |reason: &str| Error::config(MASTER_ENV, master, reason);
    let master = master.trim();
    if master == "local" {
        return Ok(Master { threads: 1, attempts: None });
    }
    let inner = master.strip_prefix("local[").and_then(|rest| rest.strip_suffix(']')).ok_or_else(|| {
        bad("expected local, local[N], local[*], local[N,F], local-cluster[E,C] or ember://HOST:PORT")
    })?;
    let (threads, attempts) = match inner.split_once(',') {
        Some((threads, attempts)) => (threads.trim(), Some(attempts.trim())),
        None => (inner.trim(), None),
    };
    let threads = match threads {
        "*" => available_cores(),
        n => match n.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(bad("the thread count in local[N] must be a whole number of at least 1")),
        },
    };
    let attempts = match attempts {
        None => None,
        Some(f) => match f.parse::<u32>() {
            Ok(f) if f >= 1 => Some(f),
            _ => return Err(bad("the attempts per task in local[N,F] must be a whole number of at least 1")),
        },
    };
    Ok(Master { threads, attempts })
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_masters() {
        let m = |threads, attempts| Master { threads, attempts };
        assert_eq!(parse_master("local").unwrap(), m(1, None));
        assert_eq!(parse_master("local[3]").unwrap(), m(3, None));
        assert_eq!(parse_master("local[*]").unwrap(), m(available_cores(), None));
        assert_eq!(parse_master("local[2,4]").unwrap(), m(2, Some(4)));
        assert_eq!(parse_master("local[*, 3]").unwrap(), m(available_cores(), Some(3)));
        for bad in ["local[0]", "local[x]", "yarn", "local[2", "spark://h:7077", "local[2,0]", "local[2,x]"] {
            let err = parse_master(bad).unwrap_err().to_string();
            assert!(err.contains("EMBER_MASTER") && err.contains(bad), "{err}");
        }
    }
}
