//! Fake lineage graphs for the planner and scheduler unit tests: nodes that can never be
//! computed, writers that fail the test if run, and a builder with its own id generator.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::TaskFailure;
use crate::ids::{IdGen, PartitionId, ShuffleId};
use crate::lineage::{
    Dependency, LineageNode, MapOutputWriter, NodeMeta, PartitionerDesc, PartitionerKind, ShuffleDependency,
};
use crate::shuffle::MapOutput;
use crate::task::TaskContext;

/// A lineage node with given dependencies and partition count. It has no compute function:
/// the planner must never need one. Counts how often its dependencies are asked for.
pub(crate) struct FakeNode {
    meta: NodeMeta,
    partitions: usize,
    deps: Vec<Dependency>,
    pub(crate) dep_calls: AtomicUsize,
}

impl LineageNode for FakeNode {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.partitions
    }

    fn dependencies(&self) -> &[Dependency] {
        self.dep_calls.fetch_add(1, Ordering::Relaxed);
        &self.deps
    }
}

/// A map-output writer that fails the test if the planner ever runs it.
pub(crate) struct NeverWriter;

impl MapOutputWriter for NeverWriter {
    fn write(&self, map: PartitionId, _ctx: &TaskContext) -> Result<MapOutput, TaskFailure> {
        panic!("map task {map} ran: planning and scheduling must never compute anything")
    }
}

/// Builds fake lineage graphs with ids from its own generator (no process globals).
#[derive(Default)]
pub(crate) struct Lineage {
    ids: IdGen,
}

impl Lineage {
    #[track_caller]
    pub(crate) fn node_with(&self, op_name: &'static str, partitions: usize, deps: Vec<Dependency>) -> Arc<FakeNode> {
        let meta = NodeMeta { id: self.ids.node(), op_name, call_site: Location::caller() };
        Arc::new(FakeNode { meta, partitions, deps, dep_calls: AtomicUsize::new(0) })
    }

    #[track_caller]
    pub(crate) fn node(&self, op_name: &'static str, partitions: usize, deps: Vec<Dependency>) -> Arc<dyn LineageNode> {
        self.node_with(op_name, partitions, deps)
    }

    #[track_caller]
    pub(crate) fn source(&self, partitions: usize) -> Arc<dyn LineageNode> {
        self.node("source", partitions, Vec::new())
    }

    /// A one-to-one child of `parent` (map, filter, ...).
    #[track_caller]
    pub(crate) fn narrow(&self, parent: &Arc<dyn LineageNode>) -> Arc<dyn LineageNode> {
        self.node("map", parent.num_partitions(), vec![Dependency::OneToOne(Arc::clone(parent))])
    }

    /// A shuffle of `parent` into `partitions` reduce partitions (not yet attached to a node).
    pub(crate) fn shuffle_dep(&self, parent: &Arc<dyn LineageNode>, partitions: usize) -> Arc<ShuffleDependency> {
        let desc = PartitionerDesc { kind: PartitionerKind::Hash, num_partitions: partitions };
        Arc::new(ShuffleDependency::new(self.ids.shuffle(), Arc::clone(parent), desc, Arc::new(NeverWriter), None))
    }

    /// The reduce side of `dep`.
    #[track_caller]
    pub(crate) fn reduced(&self, dep: &Arc<ShuffleDependency>) -> Arc<dyn LineageNode> {
        self.node("reduce", dep.partitioner.num_partitions, vec![Dependency::Shuffle(Arc::clone(dep))])
    }

    /// A shuffle of `parent` into `partitions` partitions and its reduce side.
    #[track_caller]
    pub(crate) fn shuffle(
        &self,
        parent: &Arc<dyn LineageNode>,
        partitions: usize,
    ) -> (Arc<dyn LineageNode>, ShuffleId) {
        let dep = self.shuffle_dep(parent, partitions);
        (self.reduced(&dep), dep.shuffle_id)
    }

    /// The partitions of `parents` one after another (union), as `Range` dependencies.
    #[track_caller]
    pub(crate) fn union(&self, parents: &[&Arc<dyn LineageNode>]) -> Arc<dyn LineageNode> {
        let mut deps = Vec::new();
        let mut next = 0;
        for parent in parents {
            let len = parent.num_partitions();
            deps.push(Dependency::Range { parent: Arc::clone(parent), in_start: 0, out_start: next, len });
            next += len;
        }
        self.node("union", next, deps)
    }
}
