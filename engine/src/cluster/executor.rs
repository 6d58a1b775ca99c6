//! An executor process joining its application: connect to the driver (retrying while it
//! starts), serve this process's shuffle buckets, register, then carry out the driver's
//! launches on the task slots until the driver says to shut down or goes away.
//!
//! The slots are the local backend's worker threads: a task runs here exactly as in local
//! mode, resolving its work from the lineage this process's own `main` built. What differs is
//! around it: a launch may arrive before `main` has reached its action (the slot waits for
//! the work to be registered), the lineage is compared with the driver's first, reports go
//! back on the control stream, and a reducer's buckets come from wherever they are
//! ([`super::fetch`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tonic::{Code, Request};

use super::auth::SendSecret;
use super::fetch::{RemoteReads, shuffle_server};
use super::rpc::DriverChannel;
use super::rpc::driver::driver_client::DriverClient;
use super::wire::{DriverMsg, ExecutorMsg, JobOutcome, Register};
use super::{ExecutorSetup, Liveness};
use crate::executor::{Backend, LocalBackend, TaskReport, TaskSuccess};
use crate::ids::ExecutorId;
use crate::scheduler::driver::Inbox;
use crate::shuffle::ShuffleStore;

/// How long an executor keeps trying to reach a driver that is not listening yet.
const CONNECT_PATIENCE: Duration = Duration::from_secs(15);

/// An executor that has registered: what the context is built from.
pub(crate) struct Joined {
    pub(crate) executor: ExecutorId,
    pub(crate) app_id: String,
    pub(crate) parallelism: usize,
    pub(crate) remote: Arc<RemoteReads>,
    link: Link,
}

/// The live connection, until the context starts the control loop on it.
struct Link {
    runtime: tokio::runtime::Runtime,
    outbound: mpsc::UnboundedSender<ExecutorMsg>,
    inbound: tonic::Streaming<DriverMsg>,
    replay: Vec<JobOutcome>,
    heartbeat: Duration,
    driver: String,
}

fn startup_error(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, why)
}

/// Connects to the driver, starts this executor's shuffle service over `store` and
/// registers.
///
/// # Errors
/// An error naming the driver's address when it cannot be reached within 15 s, refuses this
/// executor (another build, a wrong secret) or breaks the stream before accepting it; the OS
/// error when the shuffle service cannot bind.
pub(crate) fn join(setup: &ExecutorSetup, store: Arc<dyn ShuffleStore>) -> std::io::Result<Joined> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ember-cluster-io")
        .enable_all()
        .build()?;
    let driver_addr: SocketAddr = resolve(&setup.driver)?;
    let loopback = super::tls::is_loopback(&driver_addr);
    if !loopback && setup.tls.is_none() {
        return Err(startup_error(format!(
            "the driver at {} is not on loopback: refusing to send the secret without TLS (set EMBER_TLS_CERT, EMBER_TLS_KEY, EMBER_TLS_CA)",
            setup.driver
        )));
    }
    let liveness = Liveness::from_env().unwrap_or_default();
    let keepalive = liveness.heartbeat.max(Duration::from_millis(500));
    let host = setup.driver.rsplit_once(':').map_or(setup.driver.as_str(), |(h, _)| h);
    let scheme = if setup.tls.is_some() { "https" } else { "http" };
    let endpoint = super::rpc::endpoint(
        &format!("{scheme}://{}", setup.driver),
        keepalive,
        setup.tls.as_ref().map(|t| t.client(host)),
    )
    .map_err(|e| startup_error(format!("the driver's address {}: {e}", setup.driver)))?;
    // A fresh channel per attempt: one whose first connect failed keeps failing.
    let connect = || {
        let _guard = runtime.enter();
        DriverClient::with_interceptor(super::rpc::lazy(&endpoint), SendSecret::new(&setup.secret))
            .max_decoding_message_size(super::rpc::control_limit())
            .max_encoding_message_size(super::rpc::control_limit())
    };
    let mut driver: DriverChannel = connect();

    // The shuffle service: on loopback when the driver is, else on every interface.
    let bind: SocketAddr =
        if loopback { "127.0.0.1:0".parse().expect("an address") } else { "0.0.0.0:0".parse().expect("an address") };
    let listener = runtime.block_on(tokio::net::TcpListener::bind(bind))?;
    let port = listener.local_addr()?.port();
    let advertised = if loopback {
        format!("127.0.0.1:{port}")
    } else {
        format!("{}:{port}", std::env::var("EMBER_HOST").unwrap_or_else(|_| super::host_name()))
    };
    let mut server = super::rpc::server(keepalive);
    if let Some(tls) = &setup.tls {
        server =
            server.tls_config(tls.server()).map_err(|e| startup_error(format!("this executor's TLS setup: {e}")))?;
    }
    let router = server.add_service(shuffle_server(Arc::clone(&store), &setup.secret));
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    runtime.spawn(async move {
        if let Err(e) = router.serve_with_incoming(incoming).await {
            tracing::error!(target: "ember::cluster", error = %e, "the shuffle service stopped");
        }
    });

    let register = Register {
        rank: setup.rank,
        pid: std::process::id(),
        host: super::host_name(),
        shuffle_addr: advertised,
        slots: setup.slots as u32,
        build_id: super::build_id(),
        log_path: setup.log_path.clone(),
    };
    let started = Instant::now();
    let (outbound, inbound, registered) = loop {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(ExecutorMsg::Register(register.clone()));
        let mut client = driver.clone();
        let attempt = runtime.block_on(async move {
            let mut inbound = client
                .control(Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)))
                .await?
                .into_inner();
            let first = inbound.message().await?;
            Ok::<_, tonic::Status>((inbound, first))
        });
        match attempt {
            Ok((inbound, Some(first))) => break (tx, inbound, first),
            Ok((_, None)) => {
                return Err(startup_error(format!(
                    "the driver at {} closed the stream before accepting this executor",
                    setup.driver
                )));
            }
            // A refusal is final; anything else (no listener yet, a reset) is worth another try.
            Err(status) if !refusal(status.code()) && started.elapsed() < CONNECT_PATIENCE => {
                // The driver is not listening yet (its process is still starting): try again.
                std::thread::sleep(Duration::from_millis(100));
                driver = connect();
            }
            Err(status) => {
                return Err(startup_error(format!(
                    "the driver at {} refused this executor: {}",
                    setup.driver,
                    status.message()
                )));
            }
        }
    };
    let DriverMsg::Registered { executor, app_id, heartbeat_ms, replay, parallelism } = registered else {
        return Err(startup_error(format!(
            "the driver at {} answered the registration with something else",
            setup.driver
        )));
    };
    let remote = Arc::new(RemoteReads::new(
        store,
        driver,
        setup.secret.clone(),
        setup.tls.clone(),
        keepalive,
        runtime.handle().clone(),
    ));
    remote.set_me(executor);
    tracing::info!(target: "ember::cluster", executor = executor.0, %app_id, "registered with the driver");
    Ok(Joined {
        executor,
        app_id,
        parallelism,
        remote,
        link: Link {
            runtime,
            outbound,
            inbound,
            replay,
            heartbeat: Duration::from_millis(heartbeat_ms.max(10)),
            driver: setup.driver.clone(),
        },
    })
}

/// Whether the driver's answer refuses this executor for good (rather than not being there).
fn refusal(code: Code) -> bool {
    matches!(code, Code::Unauthenticated | Code::PermissionDenied | Code::FailedPrecondition | Code::InvalidArgument)
}

fn resolve(addr: &str) -> std::io::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .map_err(|e| startup_error(format!("the driver's address {addr} (EMBER_DRIVER) does not resolve: {e}")))?
        .next()
        .ok_or_else(|| startup_error(format!("the driver's address {addr} (EMBER_DRIVER) resolves to nothing")))
}

/// The executor side while the context lives: the I/O runtime, the slots, the stream.
pub(crate) struct Running {
    runtime: Option<tokio::runtime::Runtime>,
    outbound: mpsc::UnboundedSender<ExecutorMsg>,
    leaving: Arc<AtomicBool>,
    /// Signalled when the driver has closed the stream after this executor said it leaves.
    closed: std::sync::mpsc::Receiver<()>,
    _backend: Arc<LocalBackend>,
}

impl Joined {
    /// The sink the slots report through: on the control stream, as this executor.
    pub(crate) fn report_sink(&self) -> crate::executor::ReportSink {
        let outbound = self.link.outbound.clone();
        let me = self.executor;
        Arc::new(move |mut report: TaskReport| {
            report.executor = me;
            if let Ok(TaskSuccess::MapOutput(status)) = &mut report.result {
                status.location = me;
            }
            let _ = outbound.send(ExecutorMsg::Report(Box::new(report)));
        })
    }

    /// Starts the control loop (launches, kills, job outcomes to `follower`) and the
    /// heartbeat, after replaying the outcomes of the jobs that ended before this executor
    /// joined.
    pub(crate) fn run(
        self,
        backend: Arc<LocalBackend>,
        works: Arc<crate::executor::WorkRegistry>,
        follower: crossbeam_channel::Sender<Inbox>,
    ) -> Running {
        let Joined { executor, remote, link, .. } = self;
        let Link { runtime, outbound, mut inbound, replay, heartbeat, driver } = link;
        for outcome in replay {
            let _ = follower.send(Inbox::JobEnded(outcome));
        }
        let beat = outbound.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(heartbeat);
            loop {
                tick.tick().await;
                if beat.send(ExecutorMsg::Heartbeat).is_err() {
                    return;
                }
            }
        });
        let slots = Arc::clone(&backend);
        let leaving = Arc::new(AtomicBool::new(false));
        let (closed_tx, closed) = std::sync::mpsc::channel();
        let left = Arc::clone(&leaving);
        runtime.spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(DriverMsg::Launch { task, epoch, lineage })) => {
                        remote.observe_epoch(epoch);
                        if let Some(lineage) = lineage {
                            works.expect_lineage(task.work, lineage);
                        }
                        slots.launch(task, executor);
                    }
                    Ok(Some(DriverMsg::Kill(task))) => slots.kill(task),
                    Ok(Some(DriverMsg::JobEnded(outcome))) => {
                        let _ = follower.send(Inbox::JobEnded(outcome));
                    }
                    Ok(Some(DriverMsg::Shutdown)) => {
                        tracing::info!(target: "ember::cluster", "the driver ended the application");
                        exit_now(0);
                    }
                    Ok(Some(other)) => {
                        tracing::warn!(target: "ember::cluster", ?other, "unexpected message from the driver")
                    }
                    Ok(None) | Err(_) if left.load(Ordering::SeqCst) => {
                        let _ = closed_tx.send(());
                        return;
                    }
                    Ok(None) => {
                        eprintln!(
                            "ember executor {}: the driver at {driver} closed the connection; exiting",
                            executor.0
                        );
                        exit_now(1);
                    }
                    Err(status) => {
                        eprintln!(
                            "ember executor {}: lost the driver at {driver} ({}); exiting",
                            executor.0,
                            status.message()
                        );
                        exit_now(1);
                    }
                }
            }
        });
        Running { runtime: Some(runtime), outbound, leaving, closed, _backend: backend }
    }
}

/// Ends this executor process at once: its scratch directories are removed first (exit runs
/// no destructor), then the process exits with `code`.
fn exit_now(code: i32) -> ! {
    crate::scratch::remove_own(&std::env::temp_dir());
    std::process::exit(code)
}

impl Drop for Running {
    /// The executor's `main` ended: it says so, so the driver does not count it lost.
    fn drop(&mut self) {
        self.leaving.store(true, Ordering::SeqCst);
        if self.outbound.send(ExecutorMsg::Leaving).is_ok() {
            // The driver closes its side once it has read the message; only then may the
            // connection go, or the driver would see a broken stream and count a loss.
            let _ = self.closed.recv_timeout(Duration::from_secs(2));
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_millis(200));
        }
    }
}
