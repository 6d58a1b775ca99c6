//! One active job's state: the values it has, what its stages did for it, and how it ends.

use std::collections::HashMap;

use bytes::Bytes;

use super::{JobProgress, StageMetrics};
use crate::error::JobError;
use crate::events::Micros;
use crate::ids::{JobId, PartitionId, StageId};

/// A job from its submission until its `Finish`.
pub(super) struct ActiveJob {
    pub(super) id: JobId,
    pub(super) action: String,
    pub(super) group: Option<String>,
    pub(super) submitted: Micros,
    /// Its stages, parents first; the result stage last.
    pub(super) stages: Vec<StageId>,
    /// The partitions asked for, in the order the values are returned.
    pub(super) partitions: Vec<PartitionId>,
    pub(super) slot: HashMap<PartitionId, usize>,
    pub(super) results: Vec<Option<Bytes>>,
    pub(super) missing: usize,
    pub(super) metrics: HashMap<StageId, StageMetrics>,
    /// Accumulator merges asked of the loop and not yet reported back.
    pub(super) unacked: u32,
    /// Killed attempts of its stages that have not reported yet.
    pub(super) draining: u32,
    /// How it ends, once decided; it finishes when nothing above is outstanding.
    pub(super) ending: Option<Result<(), JobError>>,
    /// Its progress when its end was decided.
    pub(super) final_progress: Option<JobProgress>,
}

impl ActiveJob {
    /// The result stage.
    pub(super) fn result_stage(&self) -> StageId {
        *self.stages.last().expect("a job has its result stage")
    }

    /// Whether its end is decided.
    pub(super) fn is_ending(&self) -> bool {
        self.ending.is_some()
    }
}
