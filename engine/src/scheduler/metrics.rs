//! Job and stage metrics, as the scheduler reports them when a job ends.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{JobId, ShuffleId, StageId};
use crate::task::TaskMetrics;

/// What one stage did in one job.
///
/// A map stage that two running jobs need runs once: each attempt is counted in the job it
/// ran for (the earliest of them still running), so summing a stage's attempts over the
/// jobs counts each attempt once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageMetrics {
    /// The stage (numbered within the context).
    pub stage: StageId,
    /// `op at file:line` of its last node.
    pub name: String,
    /// Whether it produces shuffle output (otherwise it is the result stage).
    pub is_shuffle_map: bool,
    /// The shuffle it writes, for a map stage.
    pub shuffle: Option<ShuffleId>,
    /// Its partition count.
    pub num_tasks: usize,
    /// True when the stage did not run while the job needed it: its outputs already existed
    /// (from an earlier job on the same shuffle).
    pub skipped: bool,
    /// Attempts launched (including retries and resubmissions).
    pub tasks_launched: u32,
    /// Attempts that failed.
    pub tasks_failed: u32,
    /// Sum of the successful attempts' metrics (duration is summed task time).
    pub totals: TaskMetrics,
}

/// What one job did, stage by stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMetrics {
    /// The job.
    pub job: JobId,
    /// `action at file:line` of the action that submitted it.
    pub action: String,
    /// Whether it returned a result.
    pub succeeded: bool,
    /// Wall time from submission to the end.
    pub duration: Duration,
    /// One entry per stage of the job's graph, parents first (the result stage last).
    pub stages: Vec<StageMetrics>,
}

impl JobMetrics {
    /// Stages that ran at least one task.
    pub fn stages_run(&self) -> usize {
        self.stages.iter().filter(|s| !s.skipped).count()
    }

    /// Stages skipped because their outputs existed.
    pub fn stages_skipped(&self) -> usize {
        self.stages.iter().filter(|s| s.skipped).count()
    }

    /// Attempts launched across all stages.
    pub fn tasks_launched(&self) -> u32 {
        self.stages.iter().map(|s| s.tasks_launched).sum()
    }

    /// Attempts that failed across all stages.
    pub fn tasks_failed(&self) -> u32 {
        self.stages.iter().map(|s| s.tasks_failed).sum()
    }

    /// Shuffle bytes written by the job's successful map attempts.
    pub fn shuffle_bytes_written(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.shuffle_bytes_written).sum()
    }

    /// Shuffle bytes read by the job's successful attempts.
    pub fn shuffle_bytes_read(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.shuffle_bytes_read).sum()
    }

    /// Records read from sources and shuffles by successful attempts.
    pub fn records_read(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.records_read).sum()
    }

    /// Cached partitions read instead of computed.
    pub fn cache_hits(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.cache_hits).sum()
    }

    /// Partitions of persisted nodes that were not cached when needed.
    pub fn cache_misses(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.cache_misses).sum()
    }

    /// Blocks evicted from memory during the job.
    pub fn cache_evictions(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.cache_evictions).sum()
    }

    /// Bytes written to local disk during the job: cached blocks, shuffle outputs and the
    /// sorted runs of aggregations and sorts that ran out of memory.
    pub fn bytes_spilled(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.bytes_spilled).sum()
    }

    /// Times a task ran out of its share of execution memory and spilled to local disk.
    pub fn spills(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.spills).sum()
    }

    /// The most execution memory any one attempt of the job held at once.
    pub fn peak_execution_memory(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.peak_execution_memory).max().unwrap_or(0)
    }

    /// Cached partitions that had been lost (evicted, dropped) and were recomputed.
    pub fn recomputed_partitions(&self) -> u64 {
        self.stages.iter().map(|s| s.totals.recomputed_partitions).sum()
    }
}
