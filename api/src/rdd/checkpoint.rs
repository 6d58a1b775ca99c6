//! `checkpoint()`: a node marked in the context's checkpoint registry is written, after the
//! next job over it succeeds, as object files under the checkpoint directory; from then on
//! its partitions are read from there, and the planner and `lineage()` stop at it.
//!
//! The write happens on the thread that finishes that job, after the action's own finishing
//! step (a save's commit), as Spark's `doCheckpoint` runs after the job, walking the job's own
//! lineage; by a job of its own; a failed write is
//! logged and recorded, never turned into the action's error, and is tried again after the
//! next job over the node.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;

use ember_engine::TaskContext;
use ember_engine::lineage::{Dependency, LineageNode};

use super::{Compute, Rdd};
use crate::context::Context;
use crate::data::Data;
use crate::error::Result;
use crate::ops::actions::SaveMode;

/// Writes one node's checkpoint and returns the typed node that reads it (as `Any`).
trait WriteCheckpoint: Send + Sync {
    fn write(&self, ctx: &Context, dir: &str) -> Result<Arc<dyn Any + Send + Sync>>;
}

/// The writer of a `Compute<T>` node: saves its partitions as object files, one per
/// partition, and reads them back with `object_file`, which gives one partition per file in
/// the same order.
struct ObjectFileCheckpoint<T> {
    node: Arc<dyn Compute<T>>,
}

impl<T: Data> WriteCheckpoint for ObjectFileCheckpoint<T> {
    fn write(&self, ctx: &Context, dir: &str) -> Result<Arc<dyn Any + Send + Sync>> {
        Rdd::from_node(Arc::clone(&self.node), ctx.clone()).save_as_object_file_with(dir, SaveMode::Overwrite)?;
        let reader: Arc<dyn Compute<T>> = Arc::clone(ctx.object_file::<T>(dir)?.node());
        Ok(Arc::new(reader))
    }
}

/// Marks `rdd` for checkpointing into `dir`.
pub(crate) fn mark<T: Data>(rdd: &Rdd<T>, dir: String) {
    let writer: Arc<dyn WriteCheckpoint> = Arc::new(ObjectFileCheckpoint { node: Arc::clone(rdd.node()) });
    rdd.context().engine().blocks().checkpoints().mark(rdd.node().meta().id, dir, Arc::new(writer));
}

/// The node that reads `node`'s written checkpoint, if there is one.
pub(crate) fn written<T: 'static>(node: &dyn Compute<T>, ctx: &TaskContext) -> Option<Arc<dyn Compute<T>>> {
    let reader = ctx.blocks().checkpoints().written(node.meta().id)?;
    reader.downcast_ref::<Arc<dyn Compute<T>>>().cloned()
}

thread_local! {
    /// Set while this thread writes checkpoints: the writing jobs must not write them again.
    static WRITING: Cell<bool> = const { Cell::new(false) };
}

/// After a job over `root` succeeded: writes the checkpoints marked in its lineage and not
/// written yet (the topmost on each path; one below a marked node is cut off by it anyway).
/// A failure is logged and recorded on the registry, not returned.
pub(crate) fn write_pending(ctx: &Context, root: &Arc<dyn LineageNode>) {
    let registry = ctx.engine().blocks().checkpoints();
    if WRITING.with(Cell::get) || !registry.any_pending() {
        return;
    }
    let mut pending = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![Arc::clone(root)];
    while let Some(node) = stack.pop() {
        let id = node.meta().id;
        if !seen.insert(id) {
            continue;
        }
        match registry.get(id) {
            Some(c) if c.written.is_some() => continue,
            Some(c) => {
                pending.push((id, c));
                continue;
            }
            None => {}
        }
        for dep in node.dependencies() {
            match dep {
                Dependency::Shuffle(shuffle) => stack.push(Arc::clone(&shuffle.parent)),
                Dependency::OneToOne(parent) | Dependency::Range { parent, .. } | Dependency::Ranges { parent, .. } => {
                    stack.push(Arc::clone(parent))
                }
            }
        }
    }
    WRITING.with(|w| w.set(true));
    for (id, checkpoint) in pending {
        let Some(writer) = checkpoint.writer.downcast_ref::<Arc<dyn WriteCheckpoint>>() else { continue };
        match writer.write(ctx, &checkpoint.dir) {
            Ok(reader) => registry.set_written(id, reader),
            Err(error) => {
                tracing::warn!(%error, dir = checkpoint.dir, "writing a checkpoint failed; it is tried again after the next job");
                registry.set_failed(id, error.to_string());
            }
        }
    }
    WRITING.with(|w| w.set(false));
}
