//! What a job's submission checks about its lineage, in one walk: how deep a task's call
//! chain gets (the longest run of narrow dependencies in one stage), and whether a shuffle
//! places its records into no partition at all.
//!
//! A task computes its partition by asking each narrow parent for its stream in turn, and
//! pulls every record through one layer per operation: both nest one call per narrow
//! operation, on the worker thread's stack ([`WORKER_STACK_BYTES`]). A lineage deeper than
//! [`MAX_NARROW_DEPTH`] is refused before any task runs rather than overflowing that stack,
//! which would abort the process.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Dependency, LineageNode, PartitionerDesc};
use crate::ids::NodeId;

/// The stack each worker thread gets: room for [`MAX_NARROW_DEPTH`] narrow operations with a
/// wide margin, measured in debug builds (about 5 KiB a layer) where frames are largest.
/// Reserved address space, not memory: only the pages a task touches are resident.
pub const WORKER_STACK_BYTES: usize = 256 << 20;

/// The most narrow operations one stage may chain (`map` after `map` after ...). A longer
/// chain is refused when its job is submitted; `checkpoint` (which cuts the lineage) or a
/// shuffle between the operations makes it run.
pub const MAX_NARROW_DEPTH: usize = 10_000;

/// What [`survey`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineageSurvey {
    /// The number of narrow dependencies on the longest chain of them (a source, a shuffle's
    /// reduce side or a checkpoint read is 0; `map` over it 1), over every stage the job
    /// would run.
    pub narrow_depth: usize,
    /// The partitioner of a shuffle that reports 0 partitions, if any: its records would go
    /// nowhere (a job refuses it rather than drop them all).
    pub empty_partitioner: Option<PartitionerDesc>,
}

/// Walks the lineage below `root` once: a shuffle starts a new narrow chain, and a node for
/// which `truncated` is true (a written checkpoint) ends one, its parents unvisited. Cost:
/// `O(nodes + edges)`, each shared node visited once, with an explicit stack (no recursion).
pub fn survey(root: &Arc<dyn LineageNode>, truncated: &dyn Fn(NodeId) -> bool) -> LineageSurvey {
    let mut depth: HashMap<NodeId, usize> = HashMap::new();
    let mut deepest = 0;
    let mut empty_partitioner = None;
    // (node, whether its parents are done)
    let mut stack: Vec<(Arc<dyn LineageNode>, bool)> = vec![(Arc::clone(root), false)];
    while let Some((node, parents_done)) = stack.pop() {
        let id = node.meta().id;
        if depth.contains_key(&id) {
            continue;
        }
        let deps: &[Dependency] = if truncated(id) { &[] } else { node.dependencies() };
        if parents_done {
            for dep in deps {
                if let Dependency::Shuffle(shuffle) = dep
                    && shuffle.partitioner.num_partitions == 0
                {
                    empty_partitioner.get_or_insert_with(|| shuffle.partitioner.clone());
                }
            }
            let here = deps
                .iter()
                .filter(|dep| !matches!(dep, Dependency::Shuffle(_)))
                .map(|dep| depth.get(&parent_of(dep).meta().id).copied().unwrap_or(0) + 1)
                .max()
                .unwrap_or(0);
            deepest = deepest.max(here);
            depth.insert(id, here);
            continue;
        }
        let parents: Vec<Arc<dyn LineageNode>> = deps
            .iter()
            .map(|dep| Arc::clone(parent_of(dep)))
            .filter(|parent| !depth.contains_key(&parent.meta().id))
            .collect();
        stack.push((node, true));
        stack.extend(parents.into_iter().map(|parent| (parent, false)));
    }
    LineageSurvey { narrow_depth: deepest, empty_partitioner }
}

fn parent_of(dep: &Dependency) -> &Arc<dyn LineageNode> {
    match dep {
        Dependency::Shuffle(shuffle) => &shuffle.parent,
        Dependency::OneToOne(parent) | Dependency::Range { parent, .. } | Dependency::Ranges { parent, .. } => parent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Lineage;

    fn depth(root: &Arc<dyn LineageNode>, truncated: &dyn Fn(NodeId) -> bool) -> usize {
        survey(root, truncated).narrow_depth
    }

    #[test]
    fn finds_a_shuffle_into_no_partitions() {
        let l = Lineage::default();
        let source = l.source(2);
        let (fine, _) = l.shuffle(&source, 2);
        assert_eq!(survey(&fine, &|_| false).empty_partitioner, None);
        let (empty, _) = l.shuffle(&l.narrow(&fine), 0);
        let found = survey(&l.narrow(&empty), &|_| false).empty_partitioner;
        assert_eq!(found.map(|p| p.to_string()), Some("hash(0)".to_owned()));
    }

    #[test]
    fn counts_the_longest_narrow_chain_of_any_stage() {
        let l = Lineage::default();
        let source = l.source(2);
        let mut deep = Arc::clone(&source);
        for _ in 0..5 {
            deep = l.narrow(&deep);
        }
        assert_eq!(depth(&deep, &|_| false), 5);
        // The 5 below the shuffle are the map stage's; the reduce stage chains 1.
        let (reduced, _) = l.shuffle(&deep, 3);
        assert_eq!(depth(&l.narrow(&reduced), &|_| false), 5);
        assert_eq!(depth(&l.narrow(&l.narrow(&reduced)), &|_| false), 5);
        // A union of the deep side and the source: the deeper branch counts, the shared source
        // once.
        let union = l.union(&[&deep, &source]);
        assert_eq!(depth(&union, &|_| false), 6);
        let cut = deep.meta().id;
        assert_eq!(depth(&union, &|id| id == cut), 1, "a written checkpoint ends the chain");
    }

    #[test]
    fn a_hundred_thousand_deep_lineage_is_measured_without_recursion() {
        let l = Lineage::default();
        let mut node = l.source(1);
        for _ in 0..100_000 {
            node = l.narrow(&node);
        }
        assert_eq!(depth(&node, &|_| false), 100_000);
        // The fake nodes drop recursively: let them go on a thread with room for it.
        std::thread::Builder::new()
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || drop(node))
            .expect("spawn")
            .join()
            .expect("drop");
    }
}
