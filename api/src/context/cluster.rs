//! The cluster masters, `local-cluster[E,C]` and `ember://HOST:PORT`, and what part this
//! process plays in one: the driver (rank 0) or an executor, from the environment its
//! launcher gave it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use ember_engine::ClusterRole;
use ember_engine::cluster::launcher::{self, Placement};
use ember_engine::cluster::spawn::{DRIVER_ENV, RANK_ENV, SLOTS_ENV, SpawnPlan};
use ember_engine::cluster::{DEADLINE_ENV, DriverSetup, ExecutorSetup, Liveness, Secret, TlsFiles};

use super::MASTER_ENV;
use crate::error::{Error, Result};

/// Attempts per task in the cluster mode, as Spark's `spark.task.maxFailures`.
pub(super) const CLUSTER_ATTEMPTS: u32 = 4;

/// A cluster master as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ClusterMaster {
    /// `local-cluster[E,C]`: E executor processes of C slots on loopback.
    LocalCluster { executors: usize, slots: usize },
    /// `ember://HOST:PORT`: the driver listens there; a launcher starts every process.
    Ember { host: String, port: u16 },
}

impl std::fmt::Display for ClusterMaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterMaster::LocalCluster { executors, slots } => write!(f, "local-cluster[{executors},{slots}]"),
            ClusterMaster::Ember { host, port } => write!(f, "ember://{host}:{port}"),
        }
    }
}

/// `Some` for a cluster master, `None` for anything else (left to the local parser).
///
/// # Errors
/// An error of kind [`Config`](crate::ErrorKind::Config) for a malformed cluster master.
pub(super) fn parse(master: &str) -> Result<Option<ClusterMaster>> {
    let bad = |reason: &str| Error::config(MASTER_ENV, master, reason);
    let master = master.trim();
    if let Some(rest) = master.strip_prefix("local-cluster[") {
        let inner = rest.strip_suffix(']').ok_or_else(|| bad("expected local-cluster[E,C]"))?;
        let (e, c) =
            inner.split_once(',').ok_or_else(|| bad("expected local-cluster[E,C]: executors and slots each"))?;
        let number = |s: &str, what: &str| match s.trim().parse::<usize>() {
            Ok(n) if (1..=256).contains(&n) => Ok(n),
            _ => Err(bad(&format!("the {what} in local-cluster[E,C] must be a whole number from 1 to 256"))),
        };
        return Ok(Some(ClusterMaster::LocalCluster {
            executors: number(e, "executors")?,
            slots: number(c, "slots")?,
        }));
    }
    if let Some(rest) = master.strip_prefix("ember://") {
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("expected ember://HOST:PORT"))?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| bad("the port of ember://HOST:PORT must be 1 to 65535"))?;
        if host.is_empty() || host.contains('/') {
            return Err(bad("expected ember://HOST:PORT"));
        }
        return Ok(Some(ClusterMaster::Ember { host: host.to_owned(), port }));
    }
    Ok(None)
}

/// What a cluster context starts with.
pub(super) struct Plan {
    pub(super) role: ClusterRole,
    /// Task slots of this process (executors) or of each executor (driver).
    pub(super) slots: usize,
}

impl Plan {
    pub(super) fn is_driver(&self) -> bool {
        matches!(self.role, ClusterRole::Driver(_))
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

fn config_error((key, reason): (String, String)) -> Error {
    let value = std::env::var(&key).unwrap_or_default();
    Error::config(&key, value, reason)
}

/// This process's part in the application `master` names, from the environment.
///
/// # Errors
/// An error of kind [`Config`](crate::ErrorKind::Config) naming the variable that is missing
/// or malformed (a rank without a driver address, no secret for `ember://`, a bad TLS file).
pub(super) fn plan(
    master: &ClusterMaster,
    executor_args: Option<Vec<String>>,
    timeout: Option<Duration>,
) -> Result<Plan> {
    let liveness = match timeout {
        Some(deadline) => Liveness::with_deadline(deadline),
        None => Liveness::from_env().map_err(config_error)?,
    };
    let tls = TlsFiles::from_env().map_err(config_error)?;
    let slots_env = match env(SLOTS_ENV) {
        Some(v) => Some(
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| Error::config(SLOTS_ENV, &v, "expected a whole number of at least 1"))?,
        ),
        None => None,
    };
    match master {
        ClusterMaster::LocalCluster { executors, slots } => {
            // Only Ember's own spawner makes a local-cluster executor: a Slurm or MPI rank in
            // the surroundings must not turn the driver into one.
            if let Some(rank) = env(RANK_ENV).filter(|r| r.trim() != "0") {
                let rank = rank
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| Error::config(RANK_ENV, &rank, "expected a whole number"))?;
                return executor(rank, env(DRIVER_ENV), tls, slots_env.unwrap_or(*slots));
            }
            // The executors heartbeat at the pace the driver's deadline asks for.
            let env_for_children = vec![(DEADLINE_ENV.to_owned(), liveness.deadline.as_millis().to_string())];
            let spawn = SpawnPlan {
                executors: *executors,
                slots: *slots,
                program: None,
                args: executor_args,
                env: env_for_children,
            };
            let setup = DriverSetup {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                secret: Secret::generate(),
                tls,
                liveness,
                spawn: Some(spawn),
                expected_executors: *executors,
                parallelism: executors * slots,
                message_limit: ember_engine::cluster::CONTROL_MESSAGE_LIMIT,
            };
            Ok(Plan { role: ClusterRole::Driver(setup), slots: *slots })
        }
        ClusterMaster::Ember { host, port } => {
            let placement = launcher::placement(&|k| std::env::var(k).ok())
                .map_err(|e| Error::config(e.variable(), e.value(), e.reason()))?;
            let Some(Placement { rank, world_size, driver, .. }) = placement else {
                return Err(Error::config(
                    RANK_ENV,
                    "",
                    "ember:// needs each process's rank: set EMBER_RANK and EMBER_WORLD_SIZE, or start the program with srun, mpirun or a Kubernetes Indexed Job",
                ));
            };
            let slots = slots_env.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if rank > 0 {
                let driver = env(DRIVER_ENV).or(driver).unwrap_or_else(|| format!("{host}:{port}"));
                return executor(rank as u32, Some(driver), tls, slots);
            }
            let secret = secret_from_env()?.ok_or_else(|| {
                Error::config("EMBER_SECRET", "", "ember:// needs the application's secret in EMBER_SECRET or EMBER_SECRET_FILE, the same on every process")
            })?;
            let resolved = (host.as_str(), *port).to_socket_addrs().ok().and_then(|mut a| a.next());
            let listen = match resolved {
                Some(addr) if ember_engine::cluster::tls::is_loopback(&addr) => addr,
                // Off loopback the driver listens on every interface: HOST may name a
                // Service address that is not this pod's own.
                _ => SocketAddr::from(([0, 0, 0, 0], *port)),
            };
            let setup = DriverSetup {
                listen,
                secret,
                tls,
                liveness,
                spawn: None,
                expected_executors: world_size.saturating_sub(1),
                parallelism: world_size.saturating_sub(1).max(1) * slots,
                message_limit: ember_engine::cluster::CONTROL_MESSAGE_LIMIT,
            };
            Ok(Plan { role: ClusterRole::Driver(setup), slots })
        }
    }
}

/// Sends this executor's stdout and stderr to `<EMBER_LOG_DIR>/executor-<rank>-<host>.log`
/// (default `<temp>/ember-logs/`), appending, so that under a launcher that gathers every
/// rank's output (mpirun, srun) the program's own prints appear once: the driver's. Returns
/// the file's path, which the driver's errors name.
///
/// # Errors
/// An error of kind [`Config`](crate::ErrorKind::Config) naming `EMBER_LOG_DIR` when the file
/// cannot be created.
fn redirect_output(rank: u32) -> Result<String> {
    let dir = std::env::var_os(ember_engine::cluster::spawn::LOG_DIR_ENV)
        .map_or_else(|| std::env::temp_dir().join("ember-logs"), std::path::PathBuf::from);
    let path = dir.join(format!("executor-{rank}-{}.log", ember_engine::cluster::host_name()));
    let shown = path.display().to_string();
    let fail = |e: std::io::Error| {
        Error::config(
            ember_engine::cluster::spawn::LOG_DIR_ENV,
            dir.display().to_string(),
            format!("cannot write {shown}: {e}"),
        )
    };
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(fail)?;
    let io = |e: nix::Error| fail(std::io::Error::from(e));
    nix::unistd::dup2_stdout(&file).map_err(io)?;
    nix::unistd::dup2_stderr(&file).map_err(io)?;
    Ok(shown)
}

fn secret_from_env() -> Result<Option<Secret>> {
    Secret::from_env().map_err(config_error)
}

fn executor(rank: u32, driver: Option<String>, tls: Option<TlsFiles>, slots: usize) -> Result<Plan> {
    let driver = driver.ok_or_else(|| Error::config(DRIVER_ENV, "", "an executor needs the driver's HOST:PORT"))?;
    let secret = secret_from_env()?.ok_or_else(|| {
        Error::config(
            "EMBER_SECRET",
            "",
            "an executor needs the application's secret in EMBER_SECRET or EMBER_SECRET_FILE",
        )
    })?;
    let log_path = match env("EMBER_EXECUTOR_LOG") {
        // Spawned by local-cluster, which redirected this process's output already.
        Some(path) => Some(path),
        None => Some(redirect_output(rank)?),
    };
    let setup = ExecutorSetup { driver, rank, secret, tls, slots, log_path };
    Ok(Plan { role: ClusterRole::Executor(setup), slots })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_masters() {
        assert_eq!(parse("local[2]").unwrap(), None);
        assert_eq!(parse("local-cluster[2,1]").unwrap(), Some(ClusterMaster::LocalCluster { executors: 2, slots: 1 }));
        assert_eq!(
            parse(" local-cluster[3, 4] ").unwrap(),
            Some(ClusterMaster::LocalCluster { executors: 3, slots: 4 })
        );
        assert_eq!(
            parse("ember://node01:7078").unwrap(),
            Some(ClusterMaster::Ember { host: "node01".into(), port: 7078 })
        );
        assert_eq!(parse("local-cluster[2,1]").unwrap().unwrap().to_string(), "local-cluster[2,1]");
        for bad in [
            "local-cluster[2]",
            "local-cluster[0,1]",
            "local-cluster[2,x]",
            "local-cluster[2,1",
            "ember://host",
            "ember://:7078",
            "ember://h:0",
            "ember://h:99999",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("EMBER_MASTER"), "{bad}: {err}");
        }
    }
}
