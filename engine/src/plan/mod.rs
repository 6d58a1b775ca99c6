//! The planner: a pure function from an action's final node to its stage DAG.
//!
//! A stage is a maximal chain of nodes linked by narrow dependencies; its tasks stream each
//! partition through the whole chain without materialising it. Every shuffle dependency cuts
//! the chain and becomes a parent *shuffle-map* stage, keyed by its [`ShuffleId`] so one
//! shuffle is one stage however many paths reach it. The action's own stage is the *result*
//! stage. The planner does no I/O and has no clock; which stages actually run is the
//! scheduler's decision (it skips map stages whose outputs already exist).

mod graph;

pub use graph::{Stage, StageGraph, StageKind};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use crate::ids::{NodeId, ShuffleId};
use crate::lineage::{Dependency, LineageNode, ShuffleDependency};

/// Builds the stage DAG for a job whose result stage computes `final_node`.
///
/// Stages come in a topological order, parents first, so the result stage is last. A node
/// for which `truncated` is true (its checkpoint is written) is read as it is: the walk does
/// not go below it. Walks with explicit stacks, so lineages thousands of nodes deep cannot
/// overflow the thread's stack.
pub fn plan_job(final_node: &Arc<dyn LineageNode>, truncated: &dyn Fn(NodeId) -> bool) -> StageGraph {
    #[derive(Clone, Copy, PartialEq, Eq, Hash)]
    enum Key {
        Result,
        Map(ShuffleId),
    }
    let mut dag: DiGraph<Key, ()> = DiGraph::new();
    let mut index: HashMap<Key, NodeIndex> = HashMap::new();
    let mut shuffles: HashMap<ShuffleId, Arc<ShuffleDependency>> = HashMap::new();

    let result_ix = dag.add_node(Key::Result);
    index.insert(Key::Result, result_ix);
    let mut work: Vec<(NodeIndex, Arc<dyn LineageNode>)> = vec![(result_ix, Arc::clone(final_node))];
    while let Some((child_ix, root)) = work.pop() {
        for dep in shuffle_parents(&root, truncated) {
            let key = Key::Map(dep.shuffle_id);
            let parent_ix = *index.entry(key).or_insert_with(|| {
                let ix = dag.add_node(key);
                work.push((ix, Arc::clone(&dep.parent)));
                ix
            });
            dag.update_edge(parent_ix, child_ix, ());
            shuffles.entry(dep.shuffle_id).or_insert(dep);
        }
    }

    let order = petgraph::algo::toposort(&dag, None)
        .expect("stage graphs are acyclic: every edge points from an older shuffle to a newer node");
    let stage_of: HashMap<NodeIndex, usize> = order.iter().enumerate().map(|(i, &ix)| (ix, i)).collect();
    let stages = order
        .iter()
        .map(|&ix| {
            let parents = dag
                .neighbors_directed(ix, petgraph::Direction::Incoming)
                .map(|p| stage_of[&p])
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let (kind, node) = match dag[ix] {
                Key::Result => (StageKind::Result, Arc::clone(final_node)),
                Key::Map(shuffle) => {
                    let dep = Arc::clone(&shuffles[&shuffle]);
                    let node = Arc::clone(&dep.parent);
                    (StageKind::ShuffleMap(dep), node)
                }
            };
            Stage { kind, num_tasks: node.num_partitions(), node, parents }
        })
        .collect();
    debug_assert_eq!(stage_of[&result_ix], order.len() - 1, "nothing depends on the result stage");
    StageGraph::new(stages)
}

/// The shuffle dependencies reachable from `root` through narrow dependencies only (and not
/// below a truncated node): the boundaries of `root`'s stage.
fn shuffle_parents(root: &Arc<dyn LineageNode>, truncated: &dyn Fn(NodeId) -> bool) -> Vec<Arc<ShuffleDependency>> {
    let mut found = Vec::new();
    let mut seen_nodes: HashSet<NodeId> = HashSet::new();
    let mut seen_shuffles: HashSet<ShuffleId> = HashSet::new();
    let mut stack = vec![Arc::clone(root)];
    while let Some(node) = stack.pop() {
        if !seen_nodes.insert(node.meta().id) || truncated(node.meta().id) {
            continue;
        }
        for dep in node.dependencies() {
            match dep {
                Dependency::Shuffle(shuffle) => {
                    if seen_shuffles.insert(shuffle.shuffle_id) {
                        found.push(Arc::clone(shuffle));
                    }
                }
                Dependency::OneToOne(parent) | Dependency::Range { parent, .. } | Dependency::Ranges { parent, .. } => {
                    stack.push(Arc::clone(parent))
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests;
