//! `lineage()`: renders a node's lineage the way Spark's `toDebugString` does.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Dependency, LineageNode};
use crate::block::StorageLevel;
use crate::ids::NodeId;

/// Renders the lineage of `root`, one line per node, indented at every shuffle boundary:
///
/// ```text
/// (4) reduce_by_key[3] at src/main.rs:9 [hash(4)]
///  +-(4) map[2] at src/main.rs:8
///     |  (4) flat_map[1] at src/main.rs:7
///     |  (4) text_file[0] at src/main.rs:6
/// ```
///
/// `(n)` is the partition count. A node reached along two paths is printed twice, as in
/// Spark. Walks with an explicit stack, so deep lineages cannot overflow the thread's stack.
pub fn render_lineage(root: &Arc<dyn LineageNode>) -> String {
    render_lineage_marked(root, &HashMap::new(), &|_| false)
}

/// [`render_lineage`], with each persisted node's line ending in its level, e.g.
/// `(4) map[2] at src/main.rs:8 [MemoryOnly]`, and each node for which `checkpointed` is true
/// ending in `[checkpointed]` with nothing printed below it (its data is read from the
/// checkpoint).
pub fn render_lineage_marked(
    root: &Arc<dyn LineageNode>,
    persisted: &HashMap<NodeId, StorageLevel>,
    checkpointed: &dyn Fn(NodeId) -> bool,
) -> String {
    enum Line {
        Head,
        Narrow,
    }
    let mut out = String::new();
    let mut stack: Vec<(Arc<dyn LineageNode>, String, Line)> = vec![(Arc::clone(root), String::new(), Line::Head)];
    while let Some((node, prefix, line)) = stack.pop() {
        let meta = node.meta();
        let desc = format!(
            "({}) {}[{}] at {}:{}",
            node.num_partitions(),
            meta.op_name,
            meta.id,
            meta.call_site.file(),
            meta.call_site.line()
        );
        let mut partitioner = node.partitioner().map(|p| format!(" [{p}]")).unwrap_or_default();
        if let Some(level) = persisted.get(&meta.id) {
            partitioner.push_str(&format!(" [{level}]"));
        }
        let truncated = checkpointed(meta.id);
        if truncated {
            partitioner.push_str(" [checkpointed]");
        }
        match line {
            Line::Head if prefix.is_empty() => out.push_str(&format!("{desc}{partitioner}\n")),
            Line::Head => {
                let outer = &prefix[..prefix.len() - 3];
                out.push_str(&format!("{outer} +-{desc}{partitioner}\n"));
            }
            Line::Narrow => out.push_str(&format!("{prefix} |  {desc}{partitioner}\n")),
        }
        let dependencies: &[Dependency] = if truncated { &[] } else { node.dependencies() };
        // Pushed in reverse so the first dependency prints first.
        for dep in dependencies.iter().rev() {
            match dep {
                Dependency::Shuffle(shuffle) => {
                    stack.push((Arc::clone(&shuffle.parent), format!("{prefix}   "), Line::Head))
                }
                Dependency::OneToOne(parent) | Dependency::Range { parent, .. } | Dependency::Ranges { parent, .. } => {
                    stack.push((Arc::clone(parent), prefix.clone(), Line::Narrow))
                }
            }
        }
    }
    out.pop();
    out
}
