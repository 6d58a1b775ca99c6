//! The engine side of a context: id generators, the scheduler's thread, the executor backend,
//! the shuffle, block, work, accumulator and broadcast registries, the listeners and the job
//! history. No process globals: two contexts in one process share nothing.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, ThreadId};

use crossbeam_channel::Sender;

use crate::accumulator::AccumulatorRegistry;
use crate::block::BlockManager;
use crate::broadcast::BroadcastRegistry;
use crate::config::EngineConfig;
use crate::events::{Event, Listener, ListenerBus, now_micros};
use crate::executor::{Backend, ExecutorEnv, LocalBackend, ResultFn, SerializingBackend, WorkRegistry};
use crate::fault::FaultPlan;
use crate::ids::{IdGen, NodeId, PartitionId};
use crate::lineage::{LineageNode, MapOutputWriter, PartitionerDesc, ShuffleCleanup, ShuffleDependency};
use crate::memory::MemoryManager;
use crate::scheduler::driver::{self, CleanupSender, Inbox, LoopParts};
use crate::scheduler::{CancelTarget, DagScheduler, JobHistory, JobMetrics, JobSubmission, RunningJob, SchedulerEvent};
use crate::shuffle::{LocalShuffleStore, ShuffleRegistry};

/// How long a cluster executor's slot waits for its own `main` to reach the action whose
/// task the driver launched (the driver's `main` may be ahead by the time one action takes).
const EXECUTOR_WORK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Which executor seam a local context runs its tasks through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendKind {
    /// Worker threads in this process (`local[N]`).
    #[default]
    Local,
    /// The same threads, with every descriptor and report encoded and decoded on the way, as
    /// a process boundary would (for tests of the seam).
    Serializing,
}

/// What a context starts with beyond its [`EngineConfig`].
#[derive(Clone, Default)]
pub struct EngineSetup {
    /// The application's name.
    pub app_name: String,
    /// Where it runs, as the user wrote it (`local[4]`).
    pub master: String,
    /// The executor seam.
    pub backend: BackendKind,
    /// Listeners that hear every event from the application's start.
    pub listeners: Vec<Arc<dyn Listener>>,
    /// The application's id, when the caller made it ([`new_app_id`]) to name something
    /// before the start (the event log); otherwise one is made. A cluster executor takes the
    /// driver's.
    pub app_id: Option<String>,
    /// The cluster role of this process; `None` for local mode.
    pub cluster: Option<ClusterRole>,
}

/// What part this process plays in a cluster application.
#[derive(Clone, Debug)]
pub enum ClusterRole {
    /// Rank 0: plans and schedules; executors register with it.
    Driver(crate::cluster::DriverSetup),
    /// Rank 1 and up: runs the driver's tasks on its slots.
    Executor(crate::cluster::ExecutorSetup),
}

thread_local! {
    /// Set on every thread the engine starts (scheduler, workers, listeners).
    static ENGINE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as one of the engine's: a context dropped there does not wait
/// for the engine's threads (which may be waiting for this one).
pub(crate) fn mark_engine_thread() {
    ENGINE_THREAD.with(|f| f.set(true));
}

fn on_engine_thread() -> bool {
    ENGINE_THREAD.with(std::cell::Cell::get)
}

/// The engine state of one context. Cheap to clone (an `Arc`); the scheduler and the worker
/// threads stop when the last clone is dropped, after failing the jobs still running.
#[derive(Clone)]
pub struct EngineContext {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    app_id: String,
    ids: IdGen,
    shuffles: Arc<ShuffleRegistry>,
    blocks: Arc<BlockManager>,
    works: Arc<WorkRegistry>,
    accumulators: Arc<AccumulatorRegistry>,
    broadcasts: Arc<BroadcastRegistry>,
    faults: Arc<FaultPlan>,
    bus: Arc<ListenerBus>,
    history: Arc<JobHistory>,
    inbox: Sender<Inbox>,
    cleanup: Arc<dyn ShuffleCleanup>,
    parallelism: usize,
    /// This process's executor id when it is a cluster executor.
    executor: Option<crate::ids::ExecutorId>,
    /// On a cluster executor: how it reads from the driver and the other executors.
    remote: Option<Arc<crate::cluster::RemoteReads>>,
    groups: Mutex<HashMap<ThreadId, String>>,
    scheduler: Mutex<Option<JoinHandle<()>>>,
}

impl EngineContext {
    /// A local-mode engine with `config.threads` worker threads and a local shuffle store.
    ///
    /// # Errors
    /// The OS error when threads cannot be spawned.
    pub fn local(config: EngineConfig) -> std::io::Result<Self> {
        EngineContext::start(config, EngineSetup::default())
    }

    /// Starts a context's engine: its listeners, worker threads and scheduler thread, and
    /// posts the application's start. Removes first the scratch directories that dead
    /// processes left ([`crate::scratch::remove_stale`]). Installs, once per process, the panic hook that keeps
    /// a task's panic for its job's error instead of printing it per attempt
    /// ([`crate::task::site::install_panic_hook`]).
    ///
    /// # Errors
    /// The OS error when threads cannot be spawned.
    pub fn start(config: EngineConfig, setup: EngineSetup) -> std::io::Result<Self> {
        crate::task::site::install_panic_hook();
        crate::scratch::remove_stale(&std::env::temp_dir());
        let store = Arc::new(LocalShuffleStore::default());
        let bus = Arc::new(ListenerBus::default());
        for listener in setup.listeners {
            bus.add(listener)?;
        }
        let memory = Arc::new(MemoryManager::new(config.memory_budget, config.threads));
        let events = Arc::clone(&bus);
        let blocks = Arc::new(BlockManager::new(memory).with_events(Arc::new(move |e| events.post(e))));
        let works = Arc::new(WorkRegistry::default());
        let faults = Arc::new(FaultPlan::default());
        let accumulators: Arc<AccumulatorRegistry> = Arc::default();
        let history: Arc<JobHistory> = Arc::default();
        let broadcasts: Arc<BroadcastRegistry> = Arc::default();
        let (inbox, messages) = crossbeam_channel::unbounded();
        let mut app_id = setup.app_id.unwrap_or_else(new_app_id);
        let env = |shuffles: &Arc<ShuffleRegistry>, work_wait| ExecutorEnv {
            shuffles: Arc::clone(shuffles),
            blocks: Arc::clone(&blocks),
            works: Arc::clone(&works),
            faults: Arc::clone(&faults),
            work_wait,
        };
        let mut remote = None;
        let (shuffles, scheduler, parallelism, executor) = match setup.cluster {
            Some(ClusterRole::Executor(cluster)) => {
                let joined = crate::cluster::join(&cluster, Arc::clone(&store) as _)?;
                let shuffles = Arc::new(ShuffleRegistry::with_remote(store, Arc::clone(&joined.remote) as _));
                app_id.clone_from(&joined.app_id);
                let (parallelism, executor) = (joined.parallelism, joined.executor);
                remote = Some(Arc::clone(&joined.remote));
                let slots = LocalBackend::new(cluster.slots, env(&shuffles, EXECUTOR_WORK_WAIT), joined.report_sink())?;
                let follower = crate::cluster::spawn_follower(
                    joined,
                    Arc::new(slots),
                    Arc::clone(&works),
                    inbox.clone(),
                    messages,
                )?;
                (shuffles, follower, parallelism, Some(executor))
            }
            role => {
                let shuffles = Arc::new(ShuffleRegistry::new(store));
                let sink = driver::report_sink(inbox.clone());
                let (backend, parallelism): (Box<dyn Backend>, usize) = match role {
                    Some(ClusterRole::Driver(cluster)) => {
                        let parallelism = cluster.parallelism;
                        let backend = crate::cluster::ClusterBackend::start(
                            cluster,
                            app_id.clone(),
                            inbox.clone(),
                            sink,
                            Arc::clone(&shuffles.tracker),
                            Arc::clone(&works),
                            Arc::clone(&broadcasts),
                        )?;
                        (Box::new(backend), parallelism)
                    }
                    _ => {
                        let env = env(&shuffles, std::time::Duration::ZERO);
                        let backend: Box<dyn Backend> = match setup.backend {
                            BackendKind::Local => Box::new(LocalBackend::new(config.threads, env, sink)?),
                            BackendKind::Serializing => Box::new(SerializingBackend::new(config.threads, env, sink)?),
                        };
                        let parallelism = backend.executors().iter().map(|(_, slots)| slots).sum();
                        (backend, parallelism)
                    }
                };
                let parts = LoopParts {
                    dag: DagScheduler::new(config.clone(), Arc::clone(&shuffles.tracker)),
                    backend,
                    shuffles: Arc::clone(&shuffles),
                    works: Arc::clone(&works),
                    accumulators: Arc::clone(&accumulators),
                    bus: Arc::clone(&bus),
                    history: Arc::clone(&history),
                };
                (shuffles, driver::spawn(parts, messages)?, parallelism, None)
            }
        };
        bus.post(Event::ApplicationStart {
            app_id: app_id.clone(),
            app_name: setup.app_name,
            master: if setup.master.is_empty() { format!("local[{}]", config.threads) } else { setup.master },
            parallelism,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            time: now_micros(),
        });
        let cleanup: Arc<dyn ShuffleCleanup> = Arc::new(CleanupSender(inbox.clone()));
        Ok(EngineContext {
            inner: Arc::new(Inner {
                config,
                app_id,
                ids: IdGen::default(),
                shuffles,
                blocks,
                works,
                accumulators,
                broadcasts,
                remote,
                faults,
                bus,
                history,
                inbox,
                cleanup,
                parallelism,
                executor,
                groups: Mutex::new(HashMap::new()),
                scheduler: Mutex::new(Some(scheduler)),
            }),
        })
    }

    /// The settings the engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The application's id, unique per context: `app-YYYYMMDDhhmmss-xxxxxxxx`.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The id generators (node ids are taken by the typed layer as it builds nodes).
    pub fn ids(&self) -> &IdGen {
        &self.inner.ids
    }

    /// Whether this process is the application's driver: always in local mode; in the
    /// cluster mode, rank 0 only. Side effects that belong to the driver alone (printing a
    /// result, writing a report) go under `if ctx.is_driver()`.
    pub fn is_driver(&self) -> bool {
        self.inner.executor.is_none()
    }

    /// This process's executor id when it is a cluster executor.
    pub fn executor_id(&self) -> Option<crate::ids::ExecutorId> {
        self.inner.executor
    }

    /// The serialized value of broadcast `id` as the driver made it: on the driver (and in
    /// local mode) from this context's registry; on a cluster executor fetched from the
    /// driver, waiting for the driver's `main` to make it if needed (the caller keeps what
    /// it gets: one fetch per executor).
    ///
    /// # Errors
    /// Why not: the broadcast was destroyed, or the fetch failed.
    pub fn broadcast_bytes(&self, id: crate::ids::BroadcastId) -> Result<bytes::Bytes, String> {
        match &self.inner.remote {
            Some(remote) => remote.fetch_broadcast(id),
            None => self.inner.broadcasts.bytes(id).ok_or_else(|| format!("broadcast {} was destroyed", id.0)),
        }
    }

    /// How many attempts run at once (task slots over all executors).
    pub fn parallelism(&self) -> usize {
        self.inner.parallelism
    }

    /// A new shuffle of `parent` into `partitioner.num_partitions` partitions, written by
    /// `writer`, registered as work under its id. Its outputs are freed when the returned
    /// dependency is dropped.
    pub fn new_shuffle(
        &self,
        parent: Arc<dyn LineageNode>,
        partitioner: PartitionerDesc,
        writer: Arc<dyn MapOutputWriter>,
    ) -> Arc<ShuffleDependency> {
        let dep = Arc::new(ShuffleDependency::new(
            self.inner.ids.shuffle(),
            parent,
            partitioner,
            writer,
            Some(Arc::downgrade(&self.inner.cleanup)),
        ));
        self.inner.works.register_shuffle(&dep);
        dep
    }

    /// Submits a job computing `partitions` of `final_node` with `func` and returns its
    /// handle at once. `action` (`count at src/main.rs:14`) names the job; `truncated` lists
    /// the nodes whose checkpoint is written, where the plan stops. The job belongs to the job
    /// group the calling thread set ([`EngineContext::set_job_group`]).
    ///
    /// # Panics
    /// If `partitions` names a partition twice or one the node does not have: callers (the
    /// typed layer's actions) pass distinct, valid indices.
    pub fn submit(
        &self,
        final_node: &Arc<dyn LineageNode>,
        partitions: Vec<PartitionId>,
        func: Arc<ResultFn>,
        action: String,
        truncated: Vec<NodeId>,
        held: bool,
    ) -> RunningJob {
        let mut seen = std::collections::HashSet::with_capacity(partitions.len());
        assert!(
            partitions.iter().all(|&p| p.index() < final_node.num_partitions() && seen.insert(p)),
            "a job needs distinct partitions of its node, got {partitions:?} of {}",
            final_node.num_partitions()
        );
        let submission = JobSubmission {
            job: self.inner.ids.job(),
            final_node: Arc::clone(final_node),
            partitions,
            action,
            group: self.job_group(),
            truncated,
            held,
        };
        RunningJob::submit(&self.inner.inbox, submission, func, &self.inner.works)
    }

    /// Releases the outcome of job `job`, submitted with `held`, to the cluster's executors
    /// (the driver's action has finished writing). Does nothing in local mode or on an
    /// executor.
    pub fn release_outcome(&self, job: crate::ids::JobId) {
        let _ = self.inner.inbox.send(Inbox::Release(job));
    }

    /// Puts the jobs this thread submits from now on in job group `group` (`None`: in
    /// none), so that [`EngineContext::cancel_job_group`] reaches them.
    pub fn set_job_group(&self, group: Option<String>) {
        let mut groups = self.inner.groups.lock().unwrap_or_else(PoisonError::into_inner);
        let me = std::thread::current().id();
        match group {
            Some(group) => groups.insert(me, group),
            None => groups.remove(&me),
        };
    }

    /// The job group of the calling thread.
    pub fn job_group(&self) -> Option<String> {
        let groups = self.inner.groups.lock().unwrap_or_else(PoisonError::into_inner);
        groups.get(&std::thread::current().id()).cloned()
    }

    /// Cancels every active job of job group `group`.
    pub fn cancel_job_group(&self, group: &str) {
        self.cancel(CancelTarget::Group(group.to_owned()), format!("with its job group {group:?}"));
    }

    /// Cancels every active job.
    pub fn cancel_all_jobs(&self, reason: &str) {
        self.cancel(CancelTarget::All, reason.to_owned());
    }

    fn cancel(&self, target: CancelTarget, reason: String) {
        let _ = self.inner.inbox.send(Inbox::Event(SchedulerEvent::Cancel { target, reason }));
    }

    /// Blocks until no job of the context is active (at once if none is).
    pub fn wait_idle(&self) {
        let (reply, idle) = crossbeam_channel::bounded(1);
        if self.inner.inbox.send(Inbox::WhenIdle(reply)).is_ok() {
            let _ = idle.recv();
        }
    }

    /// Adds a listener that hears every event from now on.
    ///
    /// # Errors
    /// The OS error when its thread cannot be spawned.
    pub fn add_listener(&self, listener: Arc<dyn Listener>) -> std::io::Result<()> {
        self.inner.bus.add(listener)
    }

    /// Metrics of the most recent jobs, in the order they finished (at most 256 are kept).
    pub fn job_history(&self) -> Vec<JobMetrics> {
        self.inner.history.all()
    }

    /// Metrics of the job that finished last, if any.
    pub fn last_job(&self) -> Option<JobMetrics> {
        self.inner.history.last()
    }

    /// The shuffle store and the map-output tracker.
    pub fn shuffles(&self) -> &Arc<ShuffleRegistry> {
        &self.inner.shuffles
    }

    /// The block manager: cached partitions and the persist registry.
    pub fn blocks(&self) -> &Arc<BlockManager> {
        &self.inner.blocks
    }

    /// The work every task descriptor names.
    pub fn works(&self) -> &Arc<WorkRegistry> {
        &self.inner.works
    }

    /// The accumulator registry (the driver side of every accumulator).
    pub fn accumulators(&self) -> &Arc<AccumulatorRegistry> {
        &self.inner.accumulators
    }

    /// The serialized broadcast values.
    pub fn broadcasts(&self) -> &Arc<BroadcastRegistry> {
        &self.inner.broadcasts
    }

    /// The fault plan (tests only): which attempts to fail.
    pub fn faults(&self) -> &FaultPlan {
        &self.inner.faults
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.inbox.send(Inbox::Shutdown);
        // The scheduler fails the jobs still running, waits for their attempts to stop, then
        // stops the workers and the listeners. On one of the engine's own threads (the last
        // handle dropped inside a task or a listener) that thread must not wait for itself.
        let scheduler = self.scheduler.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(thread) = scheduler
            && !on_engine_thread()
        {
            let _ = thread.join();
        }
    }
}

/// A new application id, `app-YYYYMMDDhhmmss-xxxxxxxx`: the UTC time and 32 random bits.
pub fn new_app_id() -> String {
    let secs = now_micros() / 1_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish() as u32;
    format!("app-{year:04}{month:02}{day:02}{:02}{:02}{:02}-{random:08x}", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_789), (2026, 12, 2));
        let id = new_app_id();
        assert!(id.starts_with("app-20") && id.len() == "app-20261202215853-3f9a1c2b".len(), "{id}");
    }
}
