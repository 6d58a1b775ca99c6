//! `text_file`: the lines of files, one partition per byte-range split.

use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::{FileSplit, Storage};

use super::{Compute, PartitionIter};

/// One partition per [`FileSplit`]; each yields the lines that start inside its range.
pub(crate) struct TextFileNode {
    meta: NodeMeta,
    storage: Storage,
    splits: Vec<FileSplit>,
}

impl TextFileNode {
    pub(crate) fn new(meta: NodeMeta, storage: Storage, splits: Vec<FileSplit>) -> Self {
        TextFileNode { meta, storage, splits }
    }
}

impl LineageNode for TextFileNode {
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

impl Compute<String> for TextFileNode {
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<String>, TaskFailure> {
        let lines = self.storage.read_split(&self.splits[partition]).map_err(TaskFailure::error)?;
        let ctx = ctx.clone();
        Ok(Box::new(lines.inspect(move |_| ctx.add_records_read(1))))
    }
}
