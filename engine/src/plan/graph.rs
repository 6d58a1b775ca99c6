//! Stages and the stage DAG the planner produces.

use std::fmt;
use std::sync::Arc;

use crate::lineage::{LineageNode, ShuffleDependency};

/// What a stage's tasks produce.
#[derive(Clone)]
pub enum StageKind {
    /// Map outputs for a shuffle: one set of buckets per task.
    ShuffleMap(Arc<ShuffleDependency>),
    /// The action's results: one value per task, returned to the driver.
    Result,
}

/// A set of tasks, one per partition of `node`, that run the same chain of narrow operations.
///
/// A planned stage is known by its position in its [`StageGraph`]; the scheduler gives it a
/// context-wide [`crate::ids::StageId`] (or finds the stage another job already runs for the
/// same shuffle) when it submits the job.
#[derive(Clone)]
pub struct Stage {
    /// Shuffle-map or result.
    pub kind: StageKind,
    /// The last node of the stage's narrow chain.
    pub node: Arc<dyn LineageNode>,
    /// How many tasks the stage has (the node's partition count).
    pub num_tasks: usize,
    /// Positions (in the graph) of the stages whose shuffle outputs this stage reads, sorted.
    pub parents: Vec<usize>,
}

impl Stage {
    /// `op at file:line` of the stage's last node.
    pub fn name(&self) -> String {
        self.node.meta().describe()
    }
}

impl fmt::Debug for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            StageKind::ShuffleMap(dep) => format!("ShuffleMap({})", dep.shuffle_id),
            StageKind::Result => "Result".to_owned(),
        };
        f.debug_struct("Stage")
            .field("kind", &kind)
            .field("node", &self.name())
            .field("num_tasks", &self.num_tasks)
            .field("parents", &self.parents)
            .finish()
    }
}

/// The stages of one job, parents before children; the result stage is the last.
#[derive(Debug)]
pub struct StageGraph {
    stages: Vec<Stage>,
}

impl StageGraph {
    pub(crate) fn new(stages: Vec<Stage>) -> Self {
        debug_assert!(stages.iter().enumerate().all(|(i, s)| s.parents.iter().all(|&p| p < i)));
        debug_assert!(matches!(stages.last().map(|s| &s.kind), Some(StageKind::Result)));
        StageGraph { stages }
    }

    /// Every stage, parents first (a topological order).
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The stage at position `index`.
    pub fn stage(&self, index: usize) -> &Stage {
        &self.stages[index]
    }

    /// The result stage (the last).
    pub fn result_stage(&self) -> &Stage {
        &self.stages[self.stages.len() - 1]
    }

    /// How many stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Always false: a job has at least its result stage.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }
}
