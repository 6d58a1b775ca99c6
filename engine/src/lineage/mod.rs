//! The lineage node trait: the planner's whole, untyped view of an RDD.
//!
//! Spark describes an RDD by five properties. Ember splits them along the typed/untyped line:
//!
//! | property | where |
//! | --- | --- |
//! | 1. a list of partitions | [`LineageNode::num_partitions`] |
//! | 2. a function to compute each partition | the typed `Compute<T>` trait in the `ember` crate |
//! | 3. dependencies on parent RDDs | [`LineageNode::dependencies`] |
//! | 4. an optional partitioner for key-value RDDs | [`LineageNode::partitioner`] |
//! | 5. optional preferred locations per partition | [`LineageNode::preferred_locations`] |
//!
//! Nodes are immutable once built and are shared through `Arc`. Every method here is cheap
//! and may be called on any thread of any process of the application (the driver while
//! planning or rendering lineage, possibly many times per job; an executor resolving the work
//! of a task); none may block or do I/O.
//!
//! One exception to "fixed at construction" is not the node's own doing: a node whose
//! checkpoint has been written is read from the checkpoint, and the planner and the lineage
//! renderer stop their walk there (they ask the context's checkpoint registry, as Spark's
//! checkpoint-aware `dependencies` does). The node's `dependencies` never change.

mod dependency;
mod display;
mod partitioner;
mod survey;

pub use dependency::{Dependency, MapOutputWriter, ShuffleCleanup, ShuffleDependency};
pub use display::{render_lineage, render_lineage_marked};
pub use partitioner::{PartitionerDesc, PartitionerKind};
pub use survey::{LineageSurvey, MAX_NARROW_DEPTH, WORKER_STACK_BYTES, survey};

use std::panic::Location;

use crate::ids::{ExecutorId, NodeId, PartitionId};

/// What every node records about itself: its id, the operation that made it and where the
/// user called that operation.
#[derive(Clone, Copy, Debug)]
pub struct NodeMeta {
    /// Creation-order id, unique within the context.
    pub id: NodeId,
    /// The user-facing operation, e.g. `"map"` or `"reduce_by_key"`.
    pub op_name: &'static str,
    /// The user's call site, captured with `#[track_caller]`.
    pub call_site: &'static Location<'static>,
}

impl NodeMeta {
    /// `op at file:line`, the way errors, lineage and progress name a node.
    pub fn describe(&self) -> String {
        format!("{} at {}:{}", self.op_name, self.call_site.file(), self.call_site.line())
    }

    /// The node's operation, as a running task marks it current while its user code runs
    /// ([`crate::task::site`]).
    pub fn operation(&self) -> crate::task::Operation {
        crate::task::Operation::new(self.op_name, self.call_site)
    }
}

/// An RDD as the planner sees it. See the module docs for the five properties.
pub trait LineageNode: Send + Sync {
    /// The node's id, operation and call site.
    fn meta(&self) -> &NodeMeta;

    /// Property 1: how many partitions the node has. Fixed at construction.
    fn num_partitions(&self) -> usize;

    /// Property 3: the parents, each a narrow or a shuffle dependency. Fixed at construction.
    fn dependencies(&self) -> &[Dependency];

    /// Property 4: how the node's records are partitioned by key, when that is known. Two nodes
    /// with equal partitioners are co-partitioned, so a keyed operation between them needs no
    /// shuffle.
    fn partitioner(&self) -> Option<&PartitionerDesc> {
        None
    }

    /// Property 5: executors that hold partition `partition`'s input. Empty means anywhere.
    fn preferred_locations(&self, _partition: PartitionId) -> Vec<ExecutorId> {
        Vec::new()
    }

    /// The files this node reads from storage, as display URLs (`file:///…`, `s3://…`):
    /// those of a file source, none for any other node. A save with overwrite walks its
    /// lineage for these, to refuse replacing its own input. Cost: O(files).
    fn input_files(&self) -> Vec<String> {
        Vec::new()
    }
}
