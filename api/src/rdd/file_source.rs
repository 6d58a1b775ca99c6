//! File sources other than `text_file`: one partition per split or file, decoded by a reader function.

use std::sync::Arc;

use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::{FileSplit, Storage, StorageError};

use super::{Compute, PartitionIter};

/// Reads one split into records; runs on a worker thread, once per task attempt.
pub(crate) type ReadSplit<T> = Arc<dyn Fn(&Storage, &FileSplit) -> Result<Vec<T>, StorageError> + Send + Sync>;

/// One partition per [`FileSplit`]; each decodes its split with `read` when computed.
///
/// Used by `whole_text_files` (one split per whole file), `object_file` (one per file) and
/// `json_file` (byte-range splits, line by line). Decoding happens up front, so a corrupt
/// file fails the task before any record reaches the next operator.
pub(crate) struct FileSourceNode<T> {
    meta: NodeMeta,
    storage: Storage,
    splits: Vec<FileSplit>,
    read: ReadSplit<T>,
}

impl<T> FileSourceNode<T> {
    pub(crate) fn new(meta: NodeMeta, storage: Storage, splits: Vec<FileSplit>, read: ReadSplit<T>) -> Self {
        FileSourceNode { meta, storage, splits, read }
    }
}

impl<T: Send + Sync + 'static> LineageNode for FileSourceNode<T> {
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

impl<T: Send + Sync + 'static> Compute<T> for FileSourceNode<T> {
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure> {
        let records = (self.read)(&self.storage, &self.splits[partition]).map_err(TaskFailure::error)?;
        ctx.add_records_read(records.len() as u64);
        Ok(Box::new(records.into_iter()))
    }
}
