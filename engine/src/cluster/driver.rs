//! The driver's side of the cluster: the gRPC service executors register with, the table of
//! live executors, the heartbeat deadline, and [`ClusterBackend`], the scheduler's seam to it.
//!
//! ```text
//!  executor ── Control(Register) ─▶ service: check build → id → ExecutorAdded ─▶ scheduler
//!           ── Heartbeat ─────────▶ last_seen = now
//!           ── Report ────────────▶ report sink ─▶ scheduler (TaskEnded)
//!  stream broken / deadline missed ─▶ lose(id) ─▶ ExecutorLost ─▶ scheduler reruns its work;
//!                                       local-cluster spawns a replacement
//!  scheduler ─ launch/kill ─▶ ClusterBackend ─▶ that executor's outbound queue
//!  job finished ─▶ job_ended ─▶ JobEnded to every executor, kept for replacements' replay
//! ```

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::Sender;
use futures::Stream;
use tokio::sync::mpsc;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status, Streaming};

use super::auth::CheckSecret;
use super::rpc::driver::driver_server::{Driver, DriverServer};
use super::signature::signature;
use super::spawn::Spawner;
use super::wire::{DriverMsg, ExecutorMsg, JobOutcome, MapStatusesReply, MapStatusesRequest, Register};
use super::{DriverSetup, Liveness};
use crate::broadcast::{BroadcastRegistry, Missing};
use crate::error::{JobError, TaskFailure};
use crate::executor::{Backend, ReportSink, TaskReport, WorkRegistry};
use crate::ids::{ExecutorId, JobId, WorkId};
use crate::scheduler::SchedulerEvent;
use crate::scheduler::driver::Inbox;
use crate::shuffle::MapOutputTracker;
use crate::task::TaskDescriptor;

type Outbound = mpsc::UnboundedSender<Result<DriverMsg, Status>>;

/// How long a stopping driver waits for its executors to leave after telling them to.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(3);

/// How long the driver waits for a broadcast an executor asks for to be made.
const BROADCAST_PATIENCE: Duration = Duration::from_secs(120);

/// How long a `local-cluster` driver waits for its executors to start and register.
const EXECUTOR_START_PATIENCE: Duration = Duration::from_secs(60);

/// One registered executor, as the driver knows it.
struct Conn {
    info: Register,
    outbound: Outbound,
    last_seen: Instant,
    /// The works whose lineage this executor has been sent.
    lineage_sent: HashSet<WorkId>,
}

/// The state the service, the monitor and the backend share.
struct Shared {
    app_id: String,
    parallelism: usize,
    liveness: Liveness,
    build_id: u64,
    executors: Mutex<HashMap<ExecutorId, Conn>>,
    /// Which executor runs each launched attempt, until it reports.
    running: Mutex<HashMap<TaskDescriptor, ExecutorId>>,
    next_id: AtomicU32,
    /// Bumped whenever map outputs may have moved (an executor lost, a fetch failed).
    epoch: AtomicU64,
    /// Every job's outcome in order, for replacements to replay `main` against.
    outcomes: Mutex<Vec<JobOutcome>>,
    /// Lineage signatures of the works launched so far ([`Shared::signature`]).
    signatures: Mutex<HashMap<WorkId, Vec<super::signature::NodeSig>>>,
    /// Outcomes of writing jobs whose driver-side action has not finished yet.
    held: Mutex<HashMap<JobId, JobOutcome>>,
    scheduler: Sender<Inbox>,
    sink: ReportSink,
    tracker: Arc<MapOutputTracker>,
    works: Arc<WorkRegistry>,
    broadcasts: Arc<BroadcastRegistry>,
    spawner: Option<Mutex<Spawner>>,
    stopping: AtomicBool,
    /// Executors registered now, signalled on each change (the start waits for
    /// `local-cluster`'s to come, the end for every executor to go).
    joined: (Mutex<usize>, std::sync::Condvar),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Forgets executor `id` and tells the scheduler, once; `why` is logged. A clean leave
    /// (`lost == false`) is an executor whose `main` ended: no replacement is started.
    fn remove(&self, id: ExecutorId, why: &str, lost: bool) {
        let Some(conn) = lock(&self.executors).remove(&id) else { return };
        {
            let mut joined = lock(&self.joined.0);
            *joined = joined.saturating_sub(1);
        }
        self.joined.1.notify_all();
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let stopping = self.stopping.load(Ordering::SeqCst);
        if lost && !stopping {
            tracing::warn!(
                target: "ember::cluster",
                executor = id.0,
                host = %conn.info.host,
                pid = conn.info.pid,
                log = conn.info.log_path.as_deref().unwrap_or("-"),
                "executor lost: {why}"
            );
        } else {
            tracing::debug!(target: "ember::cluster", executor = id.0, "executor left: {why}");
        }
        let _ = self.scheduler.send(Inbox::Event(SchedulerEvent::ExecutorLost { executor: id }));
        if stopping {
            return;
        }
        let replaced = match (&self.spawner, lost) {
            (Some(spawner), true) => {
                let mut spawner = lock(spawner);
                spawner.forget(conn.info.rank, conn.info.pid);
                match spawner.replace(conn.info.rank) {
                    Ok(started) => started,
                    Err(e) => {
                        tracing::error!(target: "ember::cluster", error = %e, "cannot start a replacement executor");
                        false
                    }
                }
            }
            _ => false,
        };
        // An executor whose `main` ended while the driver's has not (it panicked, or took
        // another path) is as gone as a lost one.
        if !replaced && lock(&self.executors).is_empty() {
            let reason = format!(
                "every executor of the application is gone (the last, {} on {} pid {}: {why}; its log: {})",
                id.0,
                conn.info.host,
                conn.info.pid,
                conn.info.log_path.as_deref().unwrap_or("not redirected")
            );
            let _ = self.scheduler.send(Inbox::Event(SchedulerEvent::NoExecutors { reason }));
        }
    }

    /// The signature of work `id`'s lineage, walked once per work however many executors
    /// it is sent to. A job's entry goes when the job ends.
    fn signature(&self, id: WorkId) -> Option<Vec<super::signature::NodeSig>> {
        if let Some(known) = lock(&self.signatures).get(&id) {
            return Some(known.clone());
        }
        let walked = signature(&self.works.root(id)?);
        lock(&self.signatures).insert(id, walked.clone());
        Some(walked)
    }

    /// Sends `outcome` to every executor, and keeps it for replacements, which replay `main`
    /// against every outcome so far.
    fn publish(&self, outcome: JobOutcome) {
        lock(&self.outcomes).push(outcome.clone());
        for conn in lock(&self.executors).values() {
            let _ = conn.outbound.send(Ok(DriverMsg::JobEnded(outcome.clone())));
        }
    }

    /// A report from executor `from`: the driver's own id for it wins over what it claims.
    fn report(&self, from: ExecutorId, mut report: TaskReport) {
        lock(&self.running).remove(&report.task);
        report.executor = from;
        if let Ok(crate::executor::TaskSuccess::MapOutput(status)) = &mut report.result {
            status.location = from;
        }
        if let Err(failure) = &mut report.result {
            if matches!(failure, TaskFailure::FetchFailed { .. }) {
                self.epoch.fetch_add(1, Ordering::SeqCst);
            }
            tag_failure(failure, from, lock(&self.executors).get(&from).map(|c| &c.info));
        }
        (self.sink)(report);
    }
}

/// Adds to a task's error which executor it ran on and where that executor's log is.
fn tag_failure(failure: &mut TaskFailure, executor: ExecutorId, info: Option<&Register>) {
    let Some(info) = info else { return };
    let tag = format!(
        " [on executor {} ({} pid {}), log: {}]",
        executor.0,
        info.host,
        info.pid,
        info.log_path.as_deref().unwrap_or("not redirected")
    );
    match failure {
        TaskFailure::Panic { message, .. } => message.push_str(&tag),
        TaskFailure::Error { error, .. } => {
            *error = Box::new(crate::error::RemoteError::tagged(error.as_ref(), &tag));
        }
        _ => {}
    }
}

/// The gRPC service (one per driver).
struct Service {
    shared: Arc<Shared>,
}

type ControlStream = Pin<Box<dyn Stream<Item = Result<DriverMsg, Status>> + Send>>;

#[tonic::async_trait]
impl Driver for Service {
    type ControlStream = ControlStream;

    async fn control(&self, request: Request<Streaming<ExecutorMsg>>) -> Result<Response<ControlStream>, Status> {
        let peer = request.remote_addr();
        let mut inbound = request.into_inner();
        let first = match inbound.message().await {
            Ok(Some(ExecutorMsg::Register(register))) => register,
            Ok(_) => {
                tracing::warn!(target: "ember::cluster", ?peer, "refused a control stream that did not register first");
                return Err(Status::invalid_argument("the first message on a control stream must be Register"));
            }
            Err(status) => {
                tracing::warn!(target: "ember::cluster", ?peer, %status, "refused an unreadable control stream");
                return Err(status);
            }
        };
        let shared = &self.shared;
        if first.build_id != shared.build_id {
            tracing::warn!(target: "ember::cluster", ?peer, host = %first.host, "refused an executor of another build");
            return Err(Status::failed_precondition(format!(
                "refused: this executor ({} pid {}) runs a different build than the driver (build id {:016x}, the driver's {:016x}); \
                 every process of an application must run the same binary",
                first.host, first.pid, first.build_id, shared.build_id
            )));
        }
        let id = ExecutorId(shared.next_id.fetch_add(1, Ordering::SeqCst));
        let (outbound, queue) = mpsc::unbounded_channel();
        let replay = lock(&shared.outcomes).clone();
        let heartbeat_ms = shared.liveness.heartbeat.as_millis() as u64;
        let parallelism = shared.parallelism;
        let _ = outbound.send(Ok(DriverMsg::Registered {
            executor: id,
            app_id: shared.app_id.clone(),
            heartbeat_ms,
            parallelism,
            replay,
        }));
        let slots = first.slots.max(1) as usize;
        tracing::info!(
            target: "ember::cluster",
            executor = id.0, rank = first.rank, host = %first.host, pid = first.pid, slots,
            shuffle = %first.shuffle_addr, "executor registered"
        );
        lock(&shared.executors)
            .insert(id, Conn { info: first, outbound, last_seen: Instant::now(), lineage_sent: HashSet::new() });
        *lock(&shared.joined.0) += 1;
        shared.joined.1.notify_all();
        let _ = shared.scheduler.send(Inbox::Event(SchedulerEvent::ExecutorAdded { executor: id, slots }));
        let reader = Arc::clone(shared);
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(ExecutorMsg::Heartbeat)) => {
                        if let Some(conn) = lock(&reader.executors).get_mut(&id) {
                            conn.last_seen = Instant::now();
                        }
                    }
                    Ok(Some(ExecutorMsg::Report(report))) => {
                        if let Some(conn) = lock(&reader.executors).get_mut(&id) {
                            conn.last_seen = Instant::now();
                        }
                        reader.report(id, *report);
                    }
                    Ok(Some(ExecutorMsg::Leaving)) => {
                        reader.remove(id, "its main ended", false);
                        return;
                    }
                    Ok(Some(ExecutorMsg::Register(_))) => {
                        tracing::warn!(target: "ember::cluster", executor = id.0, "ignored a second Register");
                    }
                    Ok(None) => return reader.remove(id, "its control stream ended", true),
                    Err(status) => return reader.remove(id, &format!("its control stream broke: {status}"), true),
                }
            }
        });
        let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(queue);
        Ok(Response::new(Box::pin(stream)))
    }

    type FetchBroadcastStream = Pin<Box<dyn Stream<Item = Result<super::wire::BlockChunk, Status>> + Send>>;

    async fn fetch_broadcast(
        &self,
        request: Request<super::wire::BroadcastRequest>,
    ) -> Result<Response<Self::FetchBroadcastStream>, Status> {
        let id = request.into_inner().id;
        let broadcasts = Arc::clone(&self.shared.broadcasts);
        // The executor's `main` may be a little ahead of the driver's: wait for the value.
        let found = tokio::task::spawn_blocking(move || broadcasts.wait_bytes(id, BROADCAST_PATIENCE))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        match found {
            Ok(bytes) => Ok(Response::new(Box::pin(tokio_stream::iter(
                super::fetch::chunks(crate::ids::PartitionId(0), bytes).into_iter().map(Ok),
            )))),
            Err(Missing::Gone) => Err(Status::not_found(format!("broadcast {} was destroyed on the driver", id.0))),
            Err(Missing::NotYet) => Err(Status::deadline_exceeded(format!(
                "the driver made no broadcast {} within {} s: every process must make the same broadcasts in the same order",
                id.0,
                BROADCAST_PATIENCE.as_secs()
            ))),
        }
    }

    async fn map_statuses(&self, request: Request<MapStatusesRequest>) -> Result<Response<MapStatusesReply>, Status> {
        let shuffle = request.into_inner().shuffle;
        let shared = &self.shared;
        // The epoch is read before the statuses: a reply is never newer than it claims.
        let epoch = shared.epoch.load(Ordering::SeqCst);
        let statuses = shared.tracker.snapshot(shuffle);
        let peers = lock(&shared.executors).iter().map(|(&id, c)| (id, c.info.shuffle_addr.clone())).collect();
        Ok(Response::new(MapStatusesReply { epoch, statuses, peers }))
    }
}

/// The scheduler's backend in cluster mode: executors are the processes registered with this
/// driver's service; launching sends a descriptor on the executor's control stream.
///
/// Starts its own small I/O runtime (2 threads, `ember-cluster-io`) and serves until dropped;
/// dropping it tells every executor to shut down, stops the service and reaps the executors it
/// spawned (`local-cluster`), killing those that do not exit within 5 s.
pub struct ClusterBackend {
    shared: Arc<Shared>,
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ClusterBackend {
    /// Binds `setup.listen`, starts serving and, for `local-cluster`, spawns the executors.
    ///
    /// # Errors
    /// The OS error when the address cannot be bound or a process cannot be spawned; an
    /// `InvalidInput` error when the address is not loopback and no TLS is configured.
    pub(crate) fn start(
        setup: DriverSetup,
        app_id: String,
        scheduler: Sender<Inbox>,
        sink: ReportSink,
        tracker: Arc<MapOutputTracker>,
        works: Arc<WorkRegistry>,
        broadcasts: Arc<BroadcastRegistry>,
    ) -> std::io::Result<Self> {
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        if !super::tls::is_loopback(&setup.listen) && setup.tls.is_none() {
            return Err(invalid(format!(
                "the driver would listen on {} off loopback without TLS: set EMBER_TLS_CERT, EMBER_TLS_KEY and EMBER_TLS_CA",
                setup.listen
            )));
        }
        broadcasts.retain_freed();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ember-cluster-io")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(setup.listen))?;
        let addr = listener.local_addr()?;
        let spawner = match setup.spawn {
            Some(plan) => Some(Mutex::new(Spawner::new(plan, addr, &setup.secret, &app_id)?)),
            None => None,
        };
        let shared = Arc::new(Shared {
            app_id,
            parallelism: setup.parallelism,
            liveness: setup.liveness,
            build_id: super::build_id(),
            executors: Mutex::default(),
            running: Mutex::default(),
            next_id: AtomicU32::new(1),
            epoch: AtomicU64::new(0),
            outcomes: Mutex::default(),
            held: Mutex::default(),
            signatures: Mutex::default(),
            scheduler,
            sink,
            tracker,
            works,
            broadcasts,
            spawner,
            stopping: AtomicBool::new(false),
            joined: (Mutex::new(0), std::sync::Condvar::new()),
        });
        let service = DriverServer::new(Service { shared: Arc::clone(&shared) })
            .max_decoding_message_size(setup.message_limit)
            .max_encoding_message_size(super::rpc::control_limit());
        let service = InterceptedService::new(service, CheckSecret::new(setup.secret.clone(), "driver"));
        let mut server = super::rpc::server(setup.liveness.heartbeat.max(Duration::from_millis(500)));
        if let Some(tls) = &setup.tls {
            server = server.tls_config(tls.server()).map_err(|e| invalid(format!("the driver's TLS setup: {e}")))?;
        }
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let router = server.add_service(service);
        runtime.spawn(async move {
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stop.await;
                })
                .await
            {
                tracing::error!(target: "ember::cluster", error = %e, "the driver's service stopped");
            }
        });
        runtime.spawn(monitor(Arc::clone(&shared)));
        tracing::info!(target: "ember::cluster", %addr, "driver listening");
        let backend = ClusterBackend { shared, addr, runtime: Some(runtime), shutdown: Some(shutdown) };
        let started = Instant::now();
        if let Some(spawner) = &backend.shared.spawner {
            lock(spawner).start_all()?;
        }
        // The application starts with every executor it was promised: the first job would
        // otherwise run on whichever came first, and a late one find its driver gone.
        backend.wait_for_executors(setup.expected_executors, EXECUTOR_START_PATIENCE)?;
        tracing::info!(
            target: "ember::cluster",
            executors = setup.expected_executors,
            millis = started.elapsed().as_millis() as u64,
            "executors registered"
        );
        Ok(backend)
    }

    /// Where the driver's service listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Blocks until `count` executors have registered, so that a `local-cluster` context
    /// starts with the parallelism it promised (the first job would otherwise run on
    /// whichever executor came first).
    ///
    /// # Errors
    /// `TimedOut`, naming how many came and where their logs are, after `patience`.
    fn wait_for_executors(&self, count: usize, patience: Duration) -> std::io::Result<()> {
        let until = Instant::now() + patience;
        let (joined, signal) = &self.shared.joined;
        let mut n = lock(joined);
        while *n < count {
            let now = Instant::now();
            if now >= until {
                let logs = match &self.shared.spawner {
                    Some(spawner) => format!("their logs are in {}", lock(spawner).log_dir().display()),
                    None => {
                        "check that the launcher started every rank with the same EMBER_MASTER and secret".to_owned()
                    }
                };
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "only {} of {count} executors registered with the driver at {} within {} s; {logs}",
                        *n,
                        self.addr,
                        patience.as_secs()
                    ),
                ));
            }
            n = signal.wait_timeout(n, until - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        Ok(())
    }
}

/// Declares lost every executor silent for longer than the deadline.
async fn monitor(shared: Arc<Shared>) {
    let deadline = shared.liveness.deadline;
    let mut tick = tokio::time::interval((deadline / 4).max(Duration::from_millis(20)));
    loop {
        tick.tick().await;
        let silent: Vec<ExecutorId> = lock(&shared.executors)
            .iter()
            .filter(|(_, conn)| conn.last_seen.elapsed() > deadline)
            .map(|(&id, _)| id)
            .collect();
        for id in silent {
            shared.remove(id, &format!("no heartbeat for {} ms", deadline.as_millis()), true);
        }
        if let Some(spawner) = &shared.spawner {
            let exited = lock(spawner).reap();
            for (rank, status) in exited {
                tracing::debug!(target: "ember::cluster", rank, %status, "an executor process exited");
            }
        }
    }
}

impl Backend for ClusterBackend {
    fn executors(&self) -> Vec<(ExecutorId, usize)> {
        // Executors join later, each announced to the scheduler by the service.
        Vec::new()
    }

    fn launch(&self, task: TaskDescriptor, executor: ExecutorId) {
        let shared = &self.shared;
        let mut executors = lock(&shared.executors);
        let Some(conn) = executors.get_mut(&executor) else {
            drop(executors);
            // Lost between the scheduler's decision and now; its loss event is on the way.
            (shared.sink)(TaskReport {
                task,
                executor,
                result: Err(TaskFailure::ExecutorLost { executor }),
                metrics: Default::default(),
                accumulators: Vec::new(),
                blocks: Vec::new(),
            });
            return;
        };
        let lineage = if conn.lineage_sent.insert(task.work) { shared.signature(task.work) } else { None };
        let epoch = shared.epoch.load(Ordering::SeqCst);
        let _ = conn.outbound.send(Ok(DriverMsg::Launch { task, epoch, lineage }));
        drop(executors);
        lock(&shared.running).insert(task, executor);
    }

    fn kill(&self, task: TaskDescriptor) {
        let shared = &self.shared;
        let Some(executor) = lock(&shared.running).get(&task).copied() else { return };
        if let Some(conn) = lock(&shared.executors).get(&executor) {
            let _ = conn.outbound.send(Ok(DriverMsg::Kill(task)));
        }
    }

    fn job_ended(&self, job: JobId, result: &Result<Vec<Bytes>, JobError>, held: bool) {
        lock(&self.shared.signatures).remove(&WorkId::Result(job));
        let result = match result {
            Ok(values) => Ok(values.clone()),
            Err(error) => Err(error.for_job(job)),
        };
        let outcome = JobOutcome { job, result };
        if held {
            lock(&self.shared.held).insert(job, outcome);
        } else {
            self.shared.publish(outcome);
        }
    }

    fn release_outcome(&self, job: JobId) {
        if let Some(outcome) = lock(&self.shared.held).remove(&job) {
            self.shared.publish(outcome);
        }
    }
}

impl Drop for ClusterBackend {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for conn in lock(&self.shared.executors).values() {
            let _ = conn.outbound.send(Ok(DriverMsg::Shutdown));
        }
        // Executors exit on the message and their streams end; stopping the service before
        // that would cut the message off, and they would exit as if the driver had crashed.
        let until = Instant::now() + SHUTDOWN_PATIENCE;
        let (joined, signal) = &self.shared.joined;
        let mut live = lock(joined);
        while *live > 0 && Instant::now() < until {
            live = signal.wait_timeout(live, until - Instant::now()).unwrap_or_else(PoisonError::into_inner).0;
        }
        drop(live);
        if let Some(spawner) = &self.shared.spawner {
            lock(spawner).stop(Duration::from_secs(5));
        }
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        lock(&self.shared.executors).clear();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}
