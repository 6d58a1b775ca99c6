//! Fault injection for tests: a predicate that fails chosen task attempts before they run.
//! (Dropping cached blocks and deleting map outputs go through the block manager and the
//! shuffle registry directly.)

use std::sync::{Arc, RwLock};

use crate::ids::{AttemptId, JobId, PartitionId, StageId};

/// The attempt a fault predicate is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptInfo {
    /// The job.
    pub job: JobId,
    /// The stage within the job.
    pub stage: StageId,
    /// Whether the stage is the job's result stage (otherwise it writes shuffle output).
    pub result_stage: bool,
    /// The partition.
    pub partition: PartitionId,
    /// The attempt, counting from 0.
    pub attempt: AttemptId,
}

/// Decides whether an attempt fails.
pub type AttemptPredicate = dyn Fn(&AttemptInfo) -> bool + Send + Sync;

/// The faults a context injects. Empty unless a test sets one.
#[derive(Default)]
pub struct FaultPlan {
    fail: RwLock<Option<Arc<AttemptPredicate>>>,
}

impl FaultPlan {
    /// Fails every attempt for which `predicate` is true, before it computes anything.
    pub fn fail_attempts(&self, predicate: Arc<AttemptPredicate>) {
        *self.fail.write().unwrap_or_else(|e| e.into_inner()) = Some(predicate);
    }

    /// Stops failing attempts.
    pub fn clear(&self) {
        *self.fail.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether `info` should fail.
    pub fn should_fail(&self, info: &AttemptInfo) -> bool {
        self.fail.read().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|p| p(info))
    }
}
