//! File sources: one partition per split or file, read by a reader function.

use std::sync::Arc;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::task::{Operation, site};
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::{FileSplit, Storage, StorageError};

use super::stream::{CancelCheck, fill};
use super::{Compute, PartitionIter, PartitionStream};

/// Opens one split as a stream of records; runs on a worker thread, once per task attempt. A
/// reader that reads as it is pulled records a later failure on the task (`TaskContext::fail`)
/// and ends its stream, so the task fails rather than losing records.
pub(crate) type ReadSplit<T> =
    Arc<dyn Fn(&Storage, &FileSplit, &TaskContext) -> Result<PartitionIter<T>, StorageError> + Send + Sync>;

/// `record`, or `None` once `record` is a read error, which is recorded on the task: for
/// readers that read as they are pulled (see [`ReadSplit`]).
pub(crate) fn fail_on_error<T>(ctx: &TaskContext, record: Result<T, StorageError>) -> Option<T> {
    match record {
        Ok(record) => Some(record),
        Err(err) => {
            ctx.fail(TaskFailure::error(err));
            None
        }
    }
}

/// A reader that decodes a whole split up front (`read` returns every record), so a corrupt
/// file fails the task before any record reaches the next operator. For formats that must be
/// checked whole: object files, Parquet, JSON lines, whole text files.
pub(crate) fn decoded<T: 'static>(
    read: impl Fn(&Storage, &FileSplit) -> Result<Vec<T>, StorageError> + Send + Sync + 'static,
) -> ReadSplit<T> {
    Arc::new(move |storage, split, _| Ok(Box::new(read(storage, split)?.into_iter())))
}

/// One partition per [`FileSplit`]; each is read with `read` when computed.
///
/// Used by `text_file` and `text_lines` (byte-range splits, streamed line by line),
/// `json_file` (byte-range splits, decoded up front), and `whole_text_files`, `object_file`
/// and `read_parquet` (one split per whole file, decoded up front).
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

    fn input_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self.splits.iter().map(|s| s.file.url.clone()).collect();
        files.dedup();
        files
    }
}

impl<T: Send + Sync + 'static> Compute<T> for FileSourceNode<T> {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<T>, TaskFailure> {
        let op = self.meta.operation();
        let records = (self.read)(&self.storage, &self.splits[partition.index()], ctx).map_err(|err| {
            site::failed_at(op, None);
            TaskFailure::error(err)
        })?;
        Ok(Box::new(Counted { records, check: CancelCheck::new(ctx), op }))
    }
}

/// A split's records, counted into the task's records-read metric as they are pulled, and
/// stopped once the task is cancelled (checked once per batch, or every 256 records).
struct Counted<T> {
    records: PartitionIter<T>,
    check: CancelCheck,
    /// The source's operation (`text_file at ...`), named by a read failure.
    op: Operation,
}

impl<T> PartitionStream<T> for Counted<T> {
    fn next_record(&mut self) -> Option<T> {
        if !self.check.record() {
            return None;
        }
        let record = self.records.as_mut().next_record()?;
        self.check.task().add_records_read(1);
        Some(record)
    }

    fn records_hint(&self) -> (usize, Option<usize>) {
        self.records.as_ref().records_hint()
    }

    fn next_batch(&mut self, out: &mut Vec<T>, max: usize) -> Result<(), TaskFailure> {
        self.check.batch()?;
        let before = out.len();
        let filled = fill(&mut self.records, out, max);
        self.check.task().add_records_read((out.len() - before) as u64);
        if filled.is_err() {
            site::failed_at(self.op, None);
        }
        filled
    }
}
