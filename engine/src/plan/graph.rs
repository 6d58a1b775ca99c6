//! Stages and the stage DAG the planner produces.

use std::fmt;
use std::sync::Arc;

use crate::ids::StageId;
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
#[derive(Clone)]
pub struct Stage {
    /// The stage's id within the job.
    pub id: StageId,
    /// Shuffle-map or result.
    pub kind: StageKind,
    /// The last node of the stage's narrow chain.
    pub node: Arc<dyn LineageNode>,
    /// How many tasks the stage has (the node's partition count).
    pub num_tasks: usize,
    /// Stages whose shuffle outputs this stage reads.
    pub parents: Vec<StageId>,
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
            .field("id", &self.id)
            .field("kind", &kind)
            .field("node", &self.name())
            .field("num_tasks", &self.num_tasks)
            .field("parents", &self.parents)
            .finish()
    }
}

/// The stages of one job, indexed by id, parents before children.
#[derive(Debug)]
pub struct StageGraph {
    stages: Vec<Stage>,
    result: StageId,
}

impl StageGraph {
    pub(crate) fn new(stages: Vec<Stage>, result: StageId) -> Self {
        debug_assert!(stages.iter().enumerate().all(|(i, s)| s.id.0 as usize == i));
        StageGraph { stages, result }
    }

    /// Every stage, in id order (a topological order).
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// One stage.
    pub fn stage(&self, id: StageId) -> &Stage {
        &self.stages[id.0 as usize]
    }

    /// The result stage.
    pub fn result_stage(&self) -> &Stage {
        self.stage(self.result)
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
