//! Fault injection for tests (hidden from the docs): drop cached blocks, delete the shuffle
//! output of chosen map tasks, fail task attempts matching a predicate. Every injected fault
//! must end with the same answer as the fault-free run; the job metrics show what reran.

use std::sync::Arc;

use ember_engine::block::BlockId;
pub use ember_engine::fault::AttemptInfo;
use ember_engine::ids::ShuffleId;
use ember_engine::lineage::{Dependency, LineageNode};

use crate::context::Context;
use crate::data::Data;
use crate::rdd::Rdd;

/// A context's fault injector: `ctx.faults()`.
#[doc(hidden)]
pub struct Faults<'a> {
    ctx: &'a Context,
}

impl<'a> Faults<'a> {
    pub(crate) fn new(ctx: &'a Context) -> Self {
        Faults { ctx }
    }

    /// Drops the cached blocks of `rdd`'s `partitions` (memory and disk); returns how many
    /// were there. The next use recomputes them from lineage.
    pub fn drop_cached<T: Data>(&self, rdd: &Rdd<T>, partitions: &[usize]) -> usize {
        let node = rdd.lineage_node().meta().id;
        self.ctx.engine().blocks().drop_blocks(|id| match id {
            BlockId::Rdd { node: n, partition } => n == node && partitions.contains(&partition.index()),
        })
    }

    /// Drops every cached block of the context.
    pub fn drop_all_cached(&self) -> usize {
        self.ctx.engine().blocks().drop_blocks(|_| true)
    }

    /// Deletes the stored output of map tasks `maps` of the nearest shuffle below `rdd` (the
    /// driver still believes they exist, as when an executor is lost): the next reducer to
    /// fetch them fails, and the scheduler reruns just those map tasks. Returns the shuffle,
    /// or `None` when `rdd` has no shuffle in its lineage.
    pub fn delete_map_outputs<T: Data>(&self, rdd: &Rdd<T>, maps: &[usize]) -> Option<ShuffleId> {
        let shuffle = nearest_shuffle(rdd.lineage_node())?;
        let store = &self.ctx.engine().shuffles().store;
        for &m in maps {
            store.remove_map_output(shuffle, ember_engine::ids::PartitionId::new(m));
        }
        Some(shuffle)
    }

    /// Fails every task attempt for which `predicate` is true, before it computes anything,
    /// until [`Faults::clear`].
    pub fn fail_attempts(&self, predicate: impl Fn(&AttemptInfo) -> bool + Send + Sync + 'static) {
        self.ctx.engine().faults().fail_attempts(Arc::new(predicate));
    }

    /// Stops failing attempts.
    pub fn clear(&self) {
        self.ctx.engine().faults().clear();
    }
}

/// The first shuffle found walking narrow dependencies down from `root`.
fn nearest_shuffle(root: Arc<dyn LineageNode>) -> Option<ShuffleId> {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        for dep in node.dependencies() {
            match dep {
                Dependency::Shuffle(s) => return Some(s.shuffle_id),
                Dependency::OneToOne(parent) | Dependency::Range { parent, .. } | Dependency::Ranges { parent, .. } => {
                    stack.push(Arc::clone(parent))
                }
            }
        }
    }
    None
}
