//! [`JobProgress`]: how far a job is, stage by stage, as its handle reports it.

use serde::{Deserialize, Serialize};

use crate::ids::{JobId, StageId};

/// How far one stage of a job is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageProgress {
    /// The stage.
    pub stage: StageId,
    /// `op at file:line` of its last operation.
    pub name: String,
    /// Tasks the stage has for the job (its partitions; for a result stage, the partitions
    /// the action asked for).
    pub total: usize,
    /// Tasks whose output exists.
    pub done: usize,
    /// Attempts running now.
    pub running: usize,
    /// Attempts that failed so far.
    pub failed: u32,
    /// Whether its outputs existed before the job, so it runs nothing.
    pub skipped: bool,
}

/// How far one job is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// The job.
    pub job: JobId,
    /// Its stages, parents first.
    pub stages: Vec<StageProgress>,
    /// Whether it has ended.
    pub finished: bool,
}

impl JobProgress {
    /// Tasks of all stages.
    pub fn tasks_total(&self) -> usize {
        self.stages.iter().map(|s| s.total).sum()
    }

    /// Tasks done, over all stages.
    pub fn tasks_done(&self) -> usize {
        self.stages.iter().map(|s| s.done).sum()
    }

    /// Attempts running now, over all stages.
    pub fn tasks_running(&self) -> usize {
        self.stages.iter().map(|s| s.running).sum()
    }
}
