//! Lineage signatures: how an executor proves it built the same graph as the driver before it
//! runs a closure the driver names by id.
//!
//! Every process builds its lineage by running the same `main`, so node ids agree only if the
//! program made the same RDDs in the same order everywhere. A program that drew a seed from the
//! clock, read a file only the driver has, or branched on [`crate::context`]'s rank would
//! build another graph, and the ids would name other closures: silently wrong answers. The
//! driver sends, once per executor and work, the signature of the work's lineage (every node
//! reachable from it: id, operation, call site, partition count, dependency kinds); the
//! executor compares it with its own and refuses the task, naming the first node that
//! differs, when they disagree.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::lineage::{Dependency, LineageNode};

/// One node as a signature records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSig {
    /// Its creation-order id.
    pub id: u64,
    /// `op at file:line`.
    pub describe: String,
    /// Its partition count.
    pub partitions: u64,
    /// Its parents' ids, with `s` before a shuffle parent.
    pub parents: String,
}

/// The signature of the lineage under `root`: every node reachable from it, by ascending id.
/// Cost: O(nodes + edges), iterative (a 10,000-deep chain is fine).
pub fn signature(root: &Arc<dyn LineageNode>) -> Vec<NodeSig> {
    let mut seen = HashSet::new();
    let mut stack = vec![Arc::clone(root)];
    let mut out = Vec::new();
    while let Some(node) = stack.pop() {
        let meta = node.meta();
        if !seen.insert(meta.id) {
            continue;
        }
        let mut parents = String::new();
        for dep in node.dependencies() {
            if !parents.is_empty() {
                parents.push(',');
            }
            if matches!(dep, Dependency::Shuffle(_)) {
                parents.push('s');
            }
            parents.push_str(&dep.parent().meta().id.0.to_string());
            stack.push(Arc::clone(dep.parent()));
        }
        out.push(NodeSig {
            id: meta.id.0,
            describe: meta.describe(),
            partitions: node.num_partitions() as u64,
            parents,
        });
    }
    out.sort_by_key(|n| n.id);
    out
}

/// `None` when `mine` equals `drivers`; otherwise the sentence that names the first node that
/// differs, for the task's error.
pub fn first_difference(drivers: &[NodeSig], mine: &[NodeSig]) -> Option<String> {
    let show =
        |n: &NodeSig| format!("node {} `{}` ({} partitions, parents [{}])", n.id, n.describe, n.partitions, n.parents);
    for i in 0..drivers.len().max(mine.len()) {
        match (drivers.get(i), mine.get(i)) {
            (Some(d), Some(m)) if d == m => {}
            (Some(d), Some(m)) => {
                return Some(format!(
                    "this executor built a different lineage than the driver: the driver has {}, this executor has {} \
                     (every process must build the same RDDs in the same order: no clock, random seed or rank in the graph)",
                    show(d),
                    show(m)
                ));
            }
            (Some(d), None) => {
                return Some(format!("this executor built a different lineage than the driver: it lacks {}", show(d)));
            }
            (None, Some(m)) => {
                return Some(format!(
                    "this executor built a different lineage than the driver: the driver lacks {}",
                    show(m)
                ));
            }
            (None, None) => unreachable!("the loop stops at the longer list"),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(id: u64, what: &str) -> NodeSig {
        NodeSig { id, describe: what.to_owned(), partitions: 2, parents: String::new() }
    }

    #[test]
    fn names_the_first_difference() {
        let a = vec![sig(0, "parallelize at a.rs:1"), sig(1, "map at a.rs:2")];
        assert_eq!(first_difference(&a, &a), None);
        let b = vec![sig(0, "parallelize at a.rs:1"), sig(1, "filter at a.rs:3")];
        let why = first_difference(&a, &b).unwrap();
        assert!(why.contains("the driver has node 1 `map at a.rs:2`") && why.contains("`filter at a.rs:3`"), "{why}");
        assert!(first_difference(&a, &a[..1]).unwrap().contains("it lacks node 1"));
    }
}
