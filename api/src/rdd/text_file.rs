//! `text_file` and `text_lines`: the lines of files, one partition per byte-range split.

use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::{FileSplit, SplitLines, Storage};

use super::{Compute, PartitionIter};
use crate::text::Text;

/// Turns the next line of a split into an element: a `String` of its own, or a [`Text`]
/// slice of the split's buffer.
type NextLine<T> = fn(&mut SplitLines) -> Option<T>;

/// One partition per [`FileSplit`]; each yields the lines that start inside its range, as
/// `T` (`String` or `Text`).
pub(crate) struct LinesNode<T> {
    meta: NodeMeta,
    storage: Storage,
    splits: Vec<FileSplit>,
    next_line: NextLine<T>,
}

impl LinesNode<String> {
    /// `text_file`'s node: one `String` per line.
    pub(crate) fn strings(meta: NodeMeta, storage: Storage, splits: Vec<FileSplit>) -> Self {
        LinesNode { meta, storage, splits, next_line: Iterator::next }
    }
}

impl LinesNode<Text> {
    /// `text_lines`' node: each line a slice of its split's buffer, validated line by line (a
    /// pass at memory speed over ASCII), so invalid UTF-8 is replaced exactly where
    /// `text_file` replaces it.
    pub(crate) fn texts(meta: NodeMeta, storage: Storage, splits: Vec<FileSplit>) -> Self {
        let next_line: NextLine<Text> = |lines| lines.next_shared().map(Text::from_utf8_lossy);
        LinesNode { meta, storage, splits, next_line }
    }
}

impl<T: Send + Sync + 'static> LineageNode for LinesNode<T> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.splits.len()
    }

    fn dependencies(&self) -> &[Dependency] {
        &[]
    }
}

impl<T: Send + Sync + 'static> Compute<T> for LinesNode<T> {
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure> {
        let mut lines = self.storage.read_split(&self.splits[partition]).map_err(TaskFailure::error)?;
        let (ctx, next_line) = (ctx.clone(), self.next_line);
        Ok(Box::new(std::iter::from_fn(move || {
            let line = next_line(&mut lines)?;
            ctx.add_records_read(1);
            Some(line)
        })))
    }
}
