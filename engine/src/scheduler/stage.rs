//! One stage's scheduling state: which partitions it still owes, which are queued for a slot,
//! which attempts run, and the jobs that need it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::events::OperatorInfo;
use crate::ids::{JobId, NodeId, PartitionId, ShuffleId, StageId, WorkId};
use crate::lineage::{Dependency, LineageNode, ShuffleDependency};
use crate::task::TaskDescriptor;

/// At most this many operators of a stage are described in a job's start event.
const OPERATORS_SHOWN: usize = 1000;

/// What a stage produces.
pub(super) enum Role {
    /// The map side of a shuffle.
    Map(Arc<ShuffleDependency>),
    /// The result of one job.
    Result(JobId),
}

/// A stage while at least one active job needs it.
pub(super) struct Stage {
    pub(super) role: Role,
    pub(super) name: String,
    /// The partitions of its last node.
    pub(super) num_tasks: usize,
    pub(super) parents: Vec<StageId>,
    pub(super) operators: Vec<OperatorInfo>,
    /// The active jobs that need it; the first (earliest) is the one its tasks run for.
    pub(super) jobs: BTreeSet<JobId>,
    /// Partitions whose output the current run still needs.
    pub(super) pending: BTreeSet<PartitionId>,
    /// Pending partitions waiting for a free slot.
    pub(super) queued: BTreeSet<PartitionId>,
    /// The attempt in flight for each running partition.
    pub(super) running: BTreeMap<PartitionId, TaskDescriptor>,
    pub(super) next_attempt: HashMap<PartitionId, u32>,
    /// Failed attempts per partition that count toward its retries.
    pub(super) failures: HashMap<PartitionId, u32>,
    /// Times the stage was resubmitted after fetch failures.
    pub(super) fetch_failures: u32,
    /// The scheduler's logical clock when each partition's latest attempt was launched.
    pub(super) launched_at: HashMap<PartitionId, u64>,
    /// The nodes whose partition `p` task `p` computes (the last node and its one-to-one
    /// ancestors in the stage): where a cached block of one lives, the task prefers to run.
    pub(super) aligned: Vec<NodeId>,
}

impl Stage {
    pub(super) fn new(
        role: Role,
        node: &Arc<dyn LineageNode>,
        parents: Vec<StageId>,
        truncated: &HashSet<NodeId>,
    ) -> Self {
        Stage {
            role,
            name: node.meta().describe(),
            num_tasks: node.num_partitions(),
            parents,
            operators: operators(node, truncated),
            jobs: BTreeSet::new(),
            pending: BTreeSet::new(),
            queued: BTreeSet::new(),
            running: BTreeMap::new(),
            next_attempt: HashMap::new(),
            failures: HashMap::new(),
            fetch_failures: 0,
            launched_at: HashMap::new(),
            aligned: aligned(node, truncated),
        }
    }

    /// The shuffle it writes, if it is a map stage.
    pub(super) fn shuffle(&self) -> Option<ShuffleId> {
        match &self.role {
            Role::Map(dep) => Some(dep.shuffle_id),
            Role::Result(_) => None,
        }
    }

    /// The work its tasks do.
    pub(super) fn work(&self) -> WorkId {
        match &self.role {
            Role::Map(dep) => WorkId::ShuffleMap(dep.shuffle_id),
            Role::Result(job) => WorkId::Result(*job),
        }
    }

    /// The job its tasks run for: the earliest that needs it.
    pub(super) fn owner(&self) -> JobId {
        *self.jobs.first().expect("a stage exists only while a job needs it")
    }
}

/// `last` and the ancestors it reaches through one-to-one dependencies, stopping at truncated
/// nodes: partition `p` of each is computed by task `p`.
fn aligned(last: &Arc<dyn LineageNode>, truncated: &HashSet<NodeId>) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![Arc::clone(last)];
    while let Some(node) = stack.pop() {
        let id = node.meta().id;
        if !seen.insert(id) || out.len() == OPERATORS_SHOWN {
            continue;
        }
        out.push(id);
        if !truncated.contains(&id) {
            for dep in node.dependencies() {
                if let Dependency::OneToOne(parent) = dep {
                    stack.push(Arc::clone(parent));
                }
            }
        }
    }
    out
}

/// The operations of the stage whose last node is `last`: the nodes reachable through
/// narrow dependencies, last first, stopping at shuffles and truncated (checkpointed) nodes.
fn operators(last: &Arc<dyn LineageNode>, truncated: &HashSet<NodeId>) -> Vec<OperatorInfo> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![Arc::clone(last)];
    while let Some(node) = stack.pop() {
        let meta = node.meta();
        if !seen.insert(meta.id) || out.len() == OPERATORS_SHOWN {
            continue;
        }
        let mut info = OperatorInfo {
            node: meta.id,
            op: meta.op_name.to_owned(),
            call_site: format!("{}:{}", meta.call_site.file(), meta.call_site.line()),
            partitions: node.num_partitions(),
            parents: Vec::new(),
            shuffles: Vec::new(),
        };
        if !truncated.contains(&meta.id) {
            for dep in node.dependencies() {
                match dep {
                    Dependency::Shuffle(shuffle) => info.shuffles.push(shuffle.shuffle_id),
                    Dependency::OneToOne(parent)
                    | Dependency::Range { parent, .. }
                    | Dependency::Ranges { parent, .. } => {
                        info.parents.push(parent.meta().id);
                        stack.push(Arc::clone(parent));
                    }
                }
            }
        }
        out.push(info);
    }
    out
}
