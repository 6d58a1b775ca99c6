//! Planner unit tests: stage DAGs cut from fake lineage graphs whose nodes can never run.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{StageGraph, StageKind, plan_job};
use crate::ids::ShuffleId;
use crate::lineage::{Dependency, LineageNode};
use crate::test_support::Lineage;

/// The shuffle a map stage writes, or `None` for the result stage.
fn shuffle_of(graph: &StageGraph, stage: usize) -> Option<ShuffleId> {
    match &graph.stages()[stage].kind {
        StageKind::ShuffleMap(dep) => Some(dep.shuffle_id),
        StageKind::Result => None,
    }
}

/// The invariants every plan must hold: ids are indexes, parents come first, exactly one
/// result stage and it is last, every map stage is distinct and feeds some later stage.
fn assert_well_formed(graph: &StageGraph) {
    assert!(!graph.is_empty());
    assert_eq!(graph.len(), graph.stages().len());
    for (i, stage) in graph.stages().iter().enumerate() {
        assert!(stage.parents.iter().all(|p| *p < i), "stage {i} has a parent after it: {:?}", stage.parents);
        assert!(stage.parents.windows(2).all(|w| w[0] < w[1]), "parents of stage {i} are sorted and distinct");
        assert_eq!(stage.num_tasks, stage.node.num_partitions(), "one task per partition of stage {i}'s node");
        if let StageKind::ShuffleMap(dep) = &stage.kind {
            assert_eq!(stage.node.meta().id, dep.parent.meta().id, "a map stage computes its shuffle's parent");
            assert!(graph.stages().iter().any(|s| s.parents.contains(&i)), "map stage {i} feeds no stage");
        }
    }
    let results: Vec<usize> = (0..graph.len()).filter(|&i| shuffle_of(graph, i).is_none()).collect();
    assert_eq!(results, vec![graph.len() - 1], "exactly one result stage, the last one");
    let mut shuffles: Vec<ShuffleId> = (0..graph.len()).filter_map(|i| shuffle_of(graph, i)).collect();
    let count = shuffles.len();
    shuffles.sort();
    shuffles.dedup();
    assert_eq!(shuffles.len(), count, "one map stage per shuffle");
}

#[test]
fn narrow_only_lineage_is_one_result_stage() {
    let l = Lineage::default();
    let source = l.source(3);
    let last = l.narrow(&l.narrow(&source));
    let graph = plan(&last);
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 1);
    let result = graph.result_stage();
    assert!(matches!(result.kind, StageKind::Result));
    assert_eq!(result.node.meta().id, last.meta().id);
    assert_eq!(result.num_tasks, 3);
    assert!(result.parents.is_empty());
}

#[test]
fn one_shuffle_cuts_two_stages() {
    let l = Lineage::default();
    let mapped = l.narrow(&l.source(3));
    let (reduced, shuffle) = l.shuffle(&mapped, 5);
    let last = l.narrow(&reduced);
    let graph = plan(&last);
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 2);
    let map = &graph.stages()[0];
    assert_eq!(shuffle_of(&graph, 0), Some(shuffle));
    assert_eq!((map.node.meta().id, map.num_tasks), (mapped.meta().id, 3), "map side: the parent's partitions");
    assert!(map.parents.is_empty());
    let result = graph.result_stage();
    assert_eq!((result.num_tasks, result.parents.clone()), (5, vec![0]), "reduce side: the shuffle's");
    assert_eq!(result.node.meta().id, last.meta().id);
}

#[test]
fn chain_of_two_shuffles_is_three_stages_in_order() {
    let l = Lineage::default();
    let (first, s1) = l.shuffle(&l.source(2), 4);
    let (second, s2) = l.shuffle(&l.narrow(&first), 6);
    let graph = plan(&l.narrow(&second));
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 3);
    assert_eq!((shuffle_of(&graph, 0), shuffle_of(&graph, 1), shuffle_of(&graph, 2)), (Some(s1), Some(s2), None));
    let tasks: Vec<usize> = graph.stages().iter().map(|s| s.num_tasks).collect();
    assert_eq!(tasks, vec![2, 4, 6]);
    let parents: Vec<Vec<usize>> = graph.stages().iter().map(|s| s.parents.clone()).collect();
    assert_eq!(parents, vec![vec![], vec![0], vec![1]]);
}

#[test]
fn two_shuffles_joined_are_a_diamond_of_three_stages() {
    let l = Lineage::default();
    let left = l.shuffle_dep(&l.source(2), 4);
    let right = l.shuffle_dep(&l.narrow(&l.source(3)), 4);
    let joined =
        l.node("cogroup", 4, vec![Dependency::Shuffle(Arc::clone(&left)), Dependency::Shuffle(Arc::clone(&right))]);
    let graph = plan(&l.narrow(&joined));
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 3);
    let mut maps: Vec<(ShuffleId, usize)> = (0..2)
        .map(|i| (shuffle_of(&graph, i).expect("the first two stages are map stages"), graph.stages()[i].num_tasks))
        .collect();
    maps.sort();
    assert_eq!(maps, vec![(left.shuffle_id, 2), (right.shuffle_id, 3)]);
    assert!(graph.stages()[..2].iter().all(|s| s.parents.is_empty()), "the two map stages are independent");
    assert_eq!(graph.result_stage().parents, vec![0, 1]);
}

#[test]
fn a_shuffle_reached_by_two_narrow_paths_is_one_map_stage() {
    let l = Lineage::default();
    let dep = l.shuffle_dep(&l.source(3), 2);
    // Two reduce nodes over the same shuffle, unioned: the shuffle is reached twice.
    let (a, b) = (l.reduced(&dep), l.narrow(&l.reduced(&dep)));
    let last = l.union(&[&a, &b]);
    let graph = plan(&last);
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 2, "{graph:?}");
    assert_eq!(shuffle_of(&graph, 0), Some(dep.shuffle_id));
    assert_eq!(graph.result_stage().num_tasks, 4, "union: 2 + 2 partitions");
    assert_eq!(graph.result_stage().parents, vec![0]);
}

#[test]
fn a_shuffle_reached_from_two_stages_is_one_map_stage_parent_of_both() {
    let l = Lineage::default();
    let (shared, s0) = l.shuffle(&l.source(3), 2);
    let left = l.shuffle_dep(&shared, 4);
    let right = l.shuffle_dep(&l.narrow(&shared), 4);
    let joined =
        l.node("cogroup", 4, vec![Dependency::Shuffle(Arc::clone(&left)), Dependency::Shuffle(Arc::clone(&right))]);
    let graph = plan(&joined);
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 4, "{graph:?}");
    assert_eq!(shuffle_of(&graph, 0), Some(s0), "the shared shuffle comes first");
    let mut middle: Vec<ShuffleId> = (1..3).filter_map(|i| shuffle_of(&graph, i)).collect();
    middle.sort();
    assert_eq!(middle, vec![left.shuffle_id, right.shuffle_id]);
    for stage in &graph.stages()[1..3] {
        assert_eq!(stage.parents, vec![0]);
        assert_eq!(stage.num_tasks, 2);
    }
    assert_eq!(graph.result_stage().parents, vec![1, 2]);
}

#[test]
fn parents_precede_children_in_a_wide_dag() {
    // Five sources, each shuffled, combined pairwise through further shuffles into one node:
    // a tree of shuffles whose stage order must be topological.
    let l = Lineage::default();
    let mut level: Vec<Arc<dyn LineageNode>> = (1..=5).map(|p| l.shuffle(&l.source(p), p + 1).0).collect();
    let mut expected_shuffles = 5;
    while level.len() > 1 {
        let mut next = Vec::new();
        for pair in level.chunks(2) {
            let deps: Vec<Dependency> = pair.iter().map(|n| Dependency::Shuffle(l.shuffle_dep(n, 3))).collect();
            expected_shuffles += deps.len();
            next.push(l.node("cogroup", 3, deps));
        }
        level = next;
    }
    let graph = plan(&level[0]);
    assert_well_formed(&graph);
    assert_eq!(graph.len(), expected_shuffles + 1);
}

#[test]
fn a_ten_thousand_node_narrow_chain_plans_without_overflow() {
    let l = Lineage::default();
    let mut nodes = vec![l.source(2)];
    for _ in 0..10_000 {
        let next = l.narrow(nodes.last().expect("starts with the source"));
        nodes.push(next);
    }
    let (reduced, _) = l.shuffle(nodes.last().expect("non-empty"), 3);
    nodes.push(reduced);
    for _ in 0..10_000 {
        let next = l.narrow(nodes.last().expect("non-empty"));
        nodes.push(next);
    }
    let graph = plan(nodes.last().expect("non-empty"));
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 2);
    assert_eq!(graph.stages()[0].node.meta().id, nodes[10_000].meta().id);
    assert_eq!(graph.result_stage().num_tasks, 3);
    drop(graph);
    // Drop from the tail so no drop recurses through the chain (the fake nodes are not what
    // is under test here).
    while let Some(node) = nodes.pop() {
        drop(node);
    }
}

#[test]
fn narrow_diamonds_are_walked_once_per_node() {
    // Each level depends twice on the level below: 2^16 paths through 17 nodes. A walk
    // without a visited set would ask the bottom node for its dependencies 2^15 times.
    let l = Lineage::default();
    let mut nodes = vec![l.node_with("source", 2, Vec::new())];
    for _ in 0..16 {
        let below: Arc<dyn LineageNode> = nodes.last().expect("non-empty").clone();
        let deps = vec![Dependency::OneToOne(Arc::clone(&below)), Dependency::OneToOne(below)];
        nodes.push(l.node_with("zip", 2, deps));
    }
    let last: Arc<dyn LineageNode> = nodes.last().expect("non-empty").clone();
    let graph = plan(&last);
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 1);
    let calls: Vec<usize> = nodes.iter().map(|n| n.dep_calls.load(Ordering::Relaxed)).collect();
    assert!(calls.iter().all(|&c| c <= 2), "dependencies() calls per node: {calls:?}");
}

#[test]
fn planning_twice_gives_the_same_graph() {
    let l = Lineage::default();
    let (a, _) = l.shuffle(&l.source(2), 3);
    let (b, _) = l.shuffle(&l.source(4), 3);
    let joined = l.union(&[&a, &b]);
    let describe = |g: &StageGraph| -> Vec<(Option<ShuffleId>, usize, Vec<usize>)> {
        (0..g.len()).map(|i| (shuffle_of(g, i), g.stages()[i].num_tasks, g.stages()[i].parents.clone())).collect()
    };
    let first = plan(&joined);
    assert_well_formed(&first);
    assert_eq!(first.len(), 3);
    assert_eq!(first.result_stage().num_tasks, 6);
    assert_eq!(describe(&first), describe(&plan(&joined)), "planning is a pure function");
}

#[test]
fn a_ranges_dependency_is_narrow_and_reaches_the_shuffle_behind_it() {
    let l = Lineage::default();
    let (reduced, shuffle) = l.shuffle(&l.source(3), 5);
    // Coalesce 5 reduce partitions into 2: partitions 0..2 and 2..5.
    let inputs: Vec<std::ops::Range<usize>> = vec![0..2, 2..5];
    let coalesced = l.node("coalesce", 2, vec![Dependency::Ranges { parent: reduced, inputs: inputs.into() }]);
    let graph = plan(&l.narrow(&coalesced));
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 2, "the ranges dependency does not cut a stage");
    assert_eq!(shuffle_of(&graph, 0), Some(shuffle));
    assert_eq!(graph.result_stage().num_tasks, 2);
    let text = crate::lineage::render_lineage(&coalesced);
    assert!(text.starts_with("(2) coalesce"), "{text}");
    assert!(text.contains("\n |  (5) reduce"), "{text}");
}

/// Plans with no checkpointed node.
fn plan(final_node: &Arc<dyn LineageNode>) -> StageGraph {
    plan_job(final_node, &|_| false)
}

#[test]
fn a_truncated_node_hides_the_shuffles_below_it() {
    let l = Lineage::default();
    let (reduced, _) = l.shuffle(&l.source(2), 3);
    let checkpointed = l.narrow(&reduced);
    let last = l.narrow(&checkpointed);
    assert_eq!(plan(&last).len(), 2, "untruncated: the map stage and the result stage");
    let cut = checkpointed.meta().id;
    let graph = plan_job(&last, &|node| node == cut);
    assert_well_formed(&graph);
    assert_eq!(graph.len(), 1, "the checkpoint is read as it is: no map stage below it");
    assert_eq!(graph.result_stage().num_tasks, 3);
}
