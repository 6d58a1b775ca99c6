//! The cluster mode: one binary on every process, task descriptors and bytes over gRPC.
//!
//! ```text
//!   rank 0: the driver                                   rank k: an executor
//!   main() builds the lineage, runs actions              main() builds the same lineage
//!   scheduler ─ Backend = ClusterBackend ─ Control ────▶ control loop ─▶ task slots (threads)
//!       ▲          (driver.rs)             stream         (executor.rs)     │ resolve work by id
//!       └── TaskReport ◀──────────────────────────────────── reports ◀──────┘ from its own lineage
//!   JobEnded(values) ──────────────────────────────────▶ the executor's main gets its action's
//!                                                          values (follower.rs) and goes on
//!   reducer ── MapStatuses ──▶ driver;  reducer ── Fetch ──▶ the executor holding the buckets
//!                                                              (fetch.rs)
//! ```
//!
//! Rust cannot ship a closure, so nothing here tries: every process runs `main`, and the
//! driver names work by id (`crate::ids::WorkId`); an executor proves it built the same graph
//! by comparing lineage signatures ([`signature`]). `local-cluster[E,C]` spawns E executors of
//! the driver's own binary on loopback ([`spawn`]); `ember://HOST:PORT` leaves the launch to a
//! launcher that gives each process a rank ([`launcher`]).
//!
//! Every call carries the application's secret ([`auth`]), checked before a message is read;
//! TLS whenever a peer is off loopback ([`tls`]); every message has a size limit ([`rpc`]). An
//! executor whose control stream breaks, or that misses its heartbeat deadline, is lost: the
//! scheduler reruns its running tasks elsewhere and only the map tasks whose outputs it held.

pub mod auth;
pub mod codec;
mod driver;
mod executor;
mod fetch;
mod follower;
pub mod launcher;
pub mod rpc;
pub mod signature;
pub mod spawn;
#[cfg(test)]
mod tests;
pub mod tls;
pub mod wire;

pub use auth::Secret;
pub use driver::ClusterBackend;
pub(crate) use executor::join;
pub use fetch::RemoteReads;
pub(crate) use follower::spawn_follower;
pub use tls::TlsFiles;

use std::time::Duration;

/// The largest control message (a registration, a launch, a task's report, a job's
/// outcome): 256 MiB, so a `collect` of that much travels in one report. Larger results
/// fail the task with the transport's size error, naming the limit.
pub const CONTROL_MESSAGE_LIMIT: usize = 256 << 20;

/// The largest piece of a shuffle bucket in one fetch message: 1 MiB.
pub const CHUNK_BYTES: usize = 1 << 20;

/// The largest request a shuffle service reads (a reducer's list of map partitions): 4 MiB.
pub const SHUFFLE_REQUEST_LIMIT: usize = 4 << 20;

/// The largest shuffle-fetch message: a chunk and its header.
pub const CHUNK_MESSAGE_LIMIT: usize = 2 << 20;

/// How the driver side of a cluster application is set up.
#[derive(Clone, Debug)]
pub struct DriverSetup {
    /// Where to listen (`127.0.0.1:0` for `local-cluster`).
    pub listen: std::net::SocketAddr,
    /// The application's secret.
    pub secret: Secret,
    /// TLS material; required when `listen` is not loopback.
    pub tls: Option<TlsFiles>,
    /// Heartbeat settings.
    pub liveness: Liveness,
    /// For `local-cluster[E,C]`: the executors to spawn and keep alive.
    pub spawn: Option<spawn::SpawnPlan>,
    /// How many executors the driver waits for before its first job: E for
    /// `local-cluster[E,C]`, world size − 1 for `ember://`.
    pub expected_executors: usize,
    /// The application's default parallelism, the same on every process: E × C for
    /// `local-cluster`, (world size − 1) × slots for `ember://`.
    pub parallelism: usize,
    /// The largest message the driver's service reads ([`CONTROL_MESSAGE_LIMIT`] unless a
    /// test makes it small).
    pub message_limit: usize,
}

/// How an executor process joins its application.
#[derive(Clone, Debug)]
pub struct ExecutorSetup {
    /// The driver's `HOST:PORT`.
    pub driver: String,
    /// This process's rank (1 and up).
    pub rank: u32,
    /// The application's secret.
    pub secret: Secret,
    /// TLS material; required when the driver is not on loopback.
    pub tls: Option<TlsFiles>,
    /// Task slots.
    pub slots: usize,
    /// Where this process's stdout and stderr go, when redirected (for the driver's errors).
    pub log_path: Option<String>,
}

/// When a silent executor counts as lost.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    /// How often executors heartbeat.
    pub heartbeat: Duration,
    /// How long the driver waits for a heartbeat before declaring the executor lost (and how
    /// long an executor waits for a driver that went silent before it exits).
    pub deadline: Duration,
}

impl Default for Liveness {
    /// Heartbeats every 500 ms, lost after 5 s without one: a few seconds, as the issue asks
    /// (Spark's 10 s / 120 s are for clusters with GC pauses).
    fn default() -> Self {
        Liveness { heartbeat: Duration::from_millis(500), deadline: Duration::from_secs(5) }
    }
}

/// The variable that sets the heartbeat deadline in milliseconds (tests make it short).
pub const DEADLINE_ENV: &str = "EMBER_HEARTBEAT_TIMEOUT_MS";

impl Liveness {
    /// The default, or the deadline `EMBER_HEARTBEAT_TIMEOUT_MS` gives (heartbeats at a tenth of
    /// it, at least every 50 ms).
    ///
    /// # Errors
    /// The variable and why its value is refused.
    pub fn from_env() -> Result<Self, (String, String)> {
        match std::env::var(DEADLINE_ENV) {
            Err(_) => Ok(Liveness::default()),
            Ok(value) => match value.trim().parse::<u64>() {
                Ok(ms) if ms >= 200 => Ok(Liveness::with_deadline(Duration::from_millis(ms))),
                _ => Err((DEADLINE_ENV.to_owned(), format!("{value:?}: expected milliseconds, at least 200"))),
            },
        }
    }

    /// Heartbeats at a tenth of `deadline` (at least every 50 ms, at most every 2 s).
    pub fn with_deadline(deadline: Duration) -> Self {
        let heartbeat = (deadline / 10).clamp(Duration::from_millis(50), Duration::from_secs(2));
        Liveness { heartbeat, deadline }
    }
}

/// A hash of this process's executable, the same for every process of one build: the driver
/// refuses an executor whose build differs (its closures would not be the driver's). Read once
/// per process (xxh3 over the file, a few ms per 100 MB).
pub fn build_id() -> u64 {
    static ID: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
        let read = std::env::current_exe().and_then(|exe| {
            let mut file = std::fs::File::open(exe)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = std::io::Read::read(&mut file, &mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                hasher.update(&buf[..n]);
            }
        });
        if let Err(e) = read {
            tracing::warn!(target: "ember::cluster", error = %e, "cannot read this executable; its build id is its version only");
        }
        hasher.digest()
    })
}

/// This machine's host name, as executors report it.
pub fn host_name() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".to_owned())
}
