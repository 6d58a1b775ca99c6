//! `text_lines`: the lines of files as zero-copy [`Text`], one partition per byte-range split.

use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::{FileSplit, Storage};

use super::{Compute, PartitionIter};
use crate::text::Text;

/// One partition per [`FileSplit`], with the same lines as `text_file`'s node; each line is a
/// slice of the split's buffer instead of a `String` of its own.
pub(crate) struct TextLinesNode {
    meta: NodeMeta,
    storage: Storage,
    splits: Vec<FileSplit>,
}

impl TextLinesNode {
    pub(crate) fn new(meta: NodeMeta, storage: Storage, splits: Vec<FileSplit>) -> Self {
        TextLinesNode { meta, storage, splits }
    }
}

impl LineageNode for TextLinesNode {
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

impl Compute<Text> for TextLinesNode {
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<Text>, TaskFailure> {
        let mut lines = self.storage.read_split(&self.splits[partition]).map_err(TaskFailure::error)?;
        let ctx = ctx.clone();
        // Validated line by line (a pass at memory speed over ASCII), so invalid UTF-8 is
        // replaced exactly where `text_file` replaces it.
        Ok(Box::new(std::iter::from_fn(move || {
            let line = lines.next_shared()?;
            ctx.add_records_read(1);
            Some(Text::from_utf8_lossy(line))
        })))
    }
}
