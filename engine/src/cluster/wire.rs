//! The messages of the cluster protocol: plain serde data, carried in bincode by
//! [`super::codec::WireCodec`] inside gRPC frames.
//!
//! ```text
//!  executor                                 driver (rank 0)
//!     │ Control stream ─ Register ─────────────▶ │ refuses a different build or secret
//!     │ ◀──────────────── Registered / Refused ── │ (Registered carries the logged outcomes
//!     │ ─ Heartbeat (every deadline / 4) ───────▶ │  of every job so far, for a replay)
//!     │ ◀── Launch { task, epoch, lineage? } ──── │
//!     │ ─ Report(TaskReport) ───────────────────▶ │ scheduler accepts or not
//!     │ ◀── JobEnded(outcome) ─────────────────── │ every action's values, to every process
//!     │ ◀── Shutdown ──────────────────────────── │
//!  reducer ── MapStatuses(shuffle) ───────────────▶ driver: where each map output lives
//!  reducer ── Fetch { shuffle, reduce, maps } ────▶ the executor holding them: BlockChunks
//! ```
//!
//! Every process runs the same binary, so the messages need no cross-version evolution: a
//! different build is refused at registration ([`Register::build_id`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::signature::NodeSig;
use crate::error::JobError;
use crate::executor::TaskReport;
use crate::ids::{ExecutorId, JobId, PartitionId, ShuffleId};
use crate::shuffle::MapStatus;
use crate::task::TaskDescriptor;

/// What an executor sends on its control stream.
#[derive(Debug, Serialize, Deserialize)]
pub enum ExecutorMsg {
    /// The first message: who the executor is.
    Register(Register),
    /// "Still here": sent on a timer of its own, however busy the task slots are.
    Heartbeat,
    /// How one attempt ended.
    Report(Box<TaskReport>),
    /// The executor's `main` ended: it leaves on purpose (not a loss, nothing to replace).
    Leaving,
}

/// An executor's introduction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Register {
    /// The process's rank (`EMBER_RANK`), 1 and up.
    pub rank: u32,
    /// Its process id on its host.
    pub pid: u32,
    /// Its host name.
    pub host: String,
    /// `HOST:PORT` of its shuffle service.
    pub shuffle_addr: String,
    /// How many attempts it runs at once.
    pub slots: u32,
    /// A hash of its executable: the driver refuses any other build.
    pub build_id: u64,
    /// The file its stdout and stderr go to, when the launcher redirected them.
    pub log_path: Option<String>,
}

/// What the driver sends on an executor's control stream.
#[derive(Debug, Serialize, Deserialize)]
pub enum DriverMsg {
    /// Accepted: the executor's id, the application's id, the heartbeat period and the
    /// outcome of every job that ended before it joined, in order (a replacement replays
    /// `main` against them).
    Registered {
        /// The id the driver gave it.
        executor: ExecutorId,
        /// The application's id (executors name their logs and checkpoints after it).
        app_id: String,
        /// How often to heartbeat, in milliseconds.
        heartbeat_ms: u64,
        /// The application's default parallelism (every process must split data alike).
        parallelism: usize,
        /// Every job's outcome so far.
        replay: Vec<JobOutcome>,
    },
    /// Refused, and why (a different build). The stream ends after it.
    Refused {
        /// The reason, for the executor's error.
        reason: String,
    },
    /// Run this attempt.
    Launch {
        /// The attempt.
        task: TaskDescriptor,
        /// The driver's map-output epoch: an executor whose cached map statuses are older
        /// forgets them before the attempt reads a shuffle.
        epoch: u64,
        /// The driver's lineage of the attempt's work, the first time this executor is sent
        /// that work; the executor compares it with its own before running anything.
        lineage: Option<Vec<NodeSig>>,
    },
    /// Stop this attempt (it still reports, as cancelled).
    Kill(TaskDescriptor),
    /// A job ended: its values or error, for the executor's own `main` waiting on the action.
    JobEnded(JobOutcome),
    /// The application is over: exit.
    Shutdown,
}

/// How one job ended, as every process of the application learns it.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobOutcome {
    /// The job.
    pub job: JobId,
    /// The encoded values in the order of the requested partitions, or the job's error.
    pub result: Result<Vec<Bytes>, JobError>,
}

/// "Where is every map output of this shuffle?"
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct MapStatusesRequest {
    /// The shuffle.
    pub shuffle: ShuffleId,
}

/// The driver's map statuses of one shuffle, by map partition (`None`: no output now), and
/// the epoch they are from. `statuses` is empty for a shuffle the driver does not know.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapStatusesReply {
    /// The driver's epoch when it answered.
    pub epoch: u64,
    /// One entry per map task.
    pub statuses: Vec<Option<MapStatus>>,
    /// Where the shuffle service of every live executor listens.
    pub peers: Peers,
}

/// An executor's request for the driver's bytes of one broadcast value.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct BroadcastRequest {
    /// The broadcast.
    pub id: crate::ids::BroadcastId,
}

/// A reducer's request for its buckets from the map outputs one executor holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FetchRequest {
    /// The shuffle.
    pub shuffle: ShuffleId,
    /// The reduce partition.
    pub reduce: PartitionId,
    /// The map partitions whose buckets it wants, in the order it wants them.
    pub maps: Vec<PartitionId>,
}

/// One piece of one bucket: at most [`super::CHUNK_BYTES`] of it. A bucket's chunks come in
/// order, its last one with `last` set; buckets come in the order requested.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockChunk {
    /// The map partition whose bucket this is.
    pub map: PartitionId,
    /// The bytes.
    pub bytes: Bytes,
    /// Whether this is the bucket's last chunk.
    pub last: bool,
}

/// Executor ids of the application, with where their shuffle services listen.
pub type Peers = Vec<(ExecutorId, String)>;

impl Clone for JobOutcome {
    fn clone(&self) -> Self {
        let result = match &self.result {
            Ok(values) => Ok(values.clone()),
            Err(error) => Err(error.for_job(self.job)),
        };
        JobOutcome { job: self.job, result }
    }
}
