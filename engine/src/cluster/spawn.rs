//! `local-cluster[E,C]`: the driver starts E executor processes of its own binary on loopback,
//! keeps them alive (a lost one is replaced) and reaps them when the application ends.
//!
//! Spark's `local-cluster[N,cores,mem]` runs a standalone master and workers inside the
//! driver's JVM, which then start executor JVMs; Ember needs no master: the driver re-executes
//! `std::env::current_exe()` with the same arguments (or the ones the builder gives, such as a
//! test binary's `--exact <test>`) and tells the child who it is through the environment:
//! `EMBER_RANK`, `EMBER_WORLD_SIZE`, `EMBER_DRIVER`, `EMBER_SECRET`, `EMBER_SLOTS`. Each
//! child's stdout and stderr go to `<log dir>/executor-<rank>.log`, so a program's own prints
//! appear once, on the driver's terminal.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::auth::{SECRET_ENV, Secret};

/// The variable that names where executors' logs go.
pub const LOG_DIR_ENV: &str = "EMBER_LOG_DIR";
/// The variable that tells an executor its task slots.
pub const SLOTS_ENV: &str = "EMBER_SLOTS";
/// The variable that tells an executor where the driver listens.
pub const DRIVER_ENV: &str = "EMBER_DRIVER";
/// The variable that gives a process its rank.
pub const RANK_ENV: &str = "EMBER_RANK";
/// The variable that gives the number of processes.
pub const WORLD_SIZE_ENV: &str = "EMBER_WORLD_SIZE";

/// Replacements allowed per executor slot before the driver gives up (an executor that
/// dies at start would otherwise be restarted forever).
const MAX_REPLACEMENTS_PER_EXECUTOR: usize = 3;

/// What `local-cluster[E,C]` asks for.
#[derive(Clone, Debug)]
pub struct SpawnPlan {
    /// E: executor processes.
    pub executors: usize,
    /// C: task slots each.
    pub slots: usize,
    /// The program to run: this process's executable unless given.
    pub program: Option<PathBuf>,
    /// Its arguments: this process's own unless given.
    pub args: Option<Vec<String>>,
    /// Extra environment for the children (tests shorten the heartbeat deadline).
    pub env: Vec<(String, String)>,
}

/// The executor processes of one `local-cluster` application.
pub struct Spawner {
    plan: SpawnPlan,
    program: PathBuf,
    args: Vec<String>,
    driver: SocketAddr,
    secret: Secret,
    log_dir: PathBuf,
    /// Live children by rank.
    children: HashMap<u32, Child>,
    replacements: usize,
    next_rank: u32,
}

impl Spawner {
    /// A spawner for `plan`, whose children will reach the driver at `driver`. Creates the
    /// log directory (`EMBER_LOG_DIR`, else `<temp>/ember-logs/<app id>`).
    ///
    /// # Errors
    /// The OS error when the executable cannot be found or the log directory made.
    pub fn new(plan: SpawnPlan, driver: SocketAddr, secret: &Secret, app_id: &str) -> std::io::Result<Self> {
        let program = match &plan.program {
            Some(p) => p.clone(),
            None => std::env::current_exe()?,
        };
        let args = plan.args.clone().unwrap_or_else(|| std::env::args().skip(1).collect());
        let log_dir = match std::env::var_os(LOG_DIR_ENV) {
            Some(dir) => PathBuf::from(dir).join(app_id),
            None => std::env::temp_dir().join("ember-logs").join(app_id),
        };
        std::fs::create_dir_all(&log_dir)?;
        Ok(Spawner {
            plan,
            program,
            args,
            driver,
            secret: secret.clone(),
            log_dir,
            children: HashMap::new(),
            replacements: 0,
            next_rank: 1,
        })
    }

    /// Starts the E executors.
    ///
    /// # Errors
    /// The OS error of the first process that cannot be started.
    pub fn start_all(&mut self) -> std::io::Result<()> {
        for _ in 0..self.plan.executors {
            let rank = self.next_rank;
            self.next_rank += 1;
            self.spawn(rank)?;
        }
        Ok(())
    }

    fn spawn(&mut self, rank: u32) -> std::io::Result<()> {
        let log_path = self.log_dir.join(format!("executor-{rank}.log"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env(RANK_ENV, rank.to_string())
            .env(WORLD_SIZE_ENV, (self.plan.executors + 1).to_string())
            .env(DRIVER_ENV, self.driver.to_string())
            .env(SECRET_ENV, self.secret.expose())
            .env(SLOTS_ENV, self.plan.slots.to_string())
            .env("EMBER_EXECUTOR_LOG", &log_path)
            .env_remove(super::auth::SECRET_FILE_ENV)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (key, value) in &self.plan.env {
            command.env(key, value);
        }
        let child = command.spawn().map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot start executor {rank} ({}): {e}", self.program.display()))
        })?;
        tracing::debug!(target: "ember::cluster", rank, pid = child.id(), log = %log_path.display(), "executor spawned");
        self.children.insert(rank, child);
        Ok(())
    }

    /// Executor `rank` (process `pid`) is lost: makes sure its process is gone.
    pub fn forget(&mut self, rank: u32, pid: u32) {
        if let Some(mut child) = self.children.remove(&rank) {
            if child.id() == pid || pid == 0 {
                let _ = child.kill();
                let _ = child.wait();
            } else {
                self.children.insert(rank, child);
            }
        }
    }

    /// Starts a replacement for lost executor `rank` under a new rank; `false` once the
    /// replacements allowed are used up.
    ///
    /// # Errors
    /// The OS error when the process cannot be started.
    pub fn replace(&mut self, _lost_rank: u32) -> std::io::Result<bool> {
        if self.replacements >= MAX_REPLACEMENTS_PER_EXECUTOR * self.plan.executors.max(1) {
            return Ok(false);
        }
        self.replacements += 1;
        let rank = self.next_rank;
        self.next_rank += 1;
        self.spawn(rank)?;
        tracing::info!(target: "ember::cluster", rank, "started a replacement executor");
        Ok(true)
    }

    /// The children that exited since the last call, with how.
    pub fn reap(&mut self) -> Vec<(u32, ExitStatus)> {
        let mut exited = Vec::new();
        self.children.retain(|&rank, child| match child.try_wait() {
            Ok(Some(status)) => {
                exited.push((rank, status));
                false
            }
            _ => true,
        });
        exited
    }

    /// Where the executors' logs are.
    pub fn log_dir(&self) -> &std::path::Path {
        &self.log_dir
    }

    /// Waits up to `grace` for every child to exit (they were told to shut down), then kills
    /// the rest: no orphan outlives the driver's context.
    pub fn stop(&mut self, grace: Duration) {
        let until = Instant::now() + grace;
        while !self.children.is_empty() && Instant::now() < until {
            self.reap();
            std::thread::sleep(Duration::from_millis(10));
        }
        for (rank, mut child) in self.children.drain() {
            tracing::warn!(target: "ember::cluster", rank, pid = child.id(), "killing an executor that did not exit");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
