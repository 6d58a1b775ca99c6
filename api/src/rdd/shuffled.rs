//! The two sides of a shuffle in typed form: the map-side writer and the reduce-side node.

use std::io::BufReader;
use std::sync::Arc;

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, MapOutputWriter, NodeMeta, PartitionerDesc, ShuffleDependency};
use ember_engine::shuffle::{Bucket, MapOutput, MapOutputBuffer, RangesReader};
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::codec::{RecordEncoder, Records, StreamRecords};
use ember_storage::{CodecError, StorageError};

use ember_engine::task::Operation;

use super::stream::{CancelCheck, Tracked, for_each_record};
use super::{Compute, PartitionIter, PartitionStream, Rdd, iterator};
use crate::data::Data;
use crate::partitioner::{PartitionOutOfRange, Partitioner};

/// Produces map partition `p` as `(key, value)` records, after any map-side combining.
pub(crate) type MapSource<K, W> =
    dyn Fn(PartitionId, &TaskContext) -> Result<PartitionIter<(K, W)>, TaskFailure> + Send + Sync;

/// Map side: pulls a map partition from its source, places each record with the
/// partitioner and appends it, encoded, to that reduce partition's bucket (buffered under the
/// task's memory share, spilled to a local file when denied more).
struct ShuffleWriter<K, W> {
    source: Box<MapSource<K, W>>,
    partitioner: Arc<dyn Partitioner<K>>,
    /// What the partitioner reported when the shuffle was built: the reduce side's count.
    desc: PartitionerDesc,
    /// The operation that shuffles (`reduce_by_key at ...`): current while the map-side
    /// combine and the partitioner run the user's code.
    op: Operation,
}

impl<K: Data, W: Data> MapOutputWriter for ShuffleWriter<K, W> {
    fn write(&self, map: PartitionId, ctx: &TaskContext) -> Result<MapOutput, TaskFailure> {
        let _op = self.op.enter();
        let partitions = self.desc.num_partitions;
        let mut output = MapOutputBuffer::new(ctx, partitions);
        // One encoder for the task's whole output: its round-trip check runs on the task's
        // first records, whatever bucket they go to.
        let mut encoder = RecordEncoder::<(K, W)>::new();
        let records = for_each_record((self.source)(map, ctx)?, |record| {
            let index = self.partitioner.partition(&record.0);
            if index >= partitions {
                let partitioner = crate::partitioner::name(&self.desc);
                return Err(TaskFailure::error(PartitionOutOfRange {
                    partitioner,
                    index,
                    partitions,
                    map: map.index(),
                }));
            }
            let bucket = output.bucket(index);
            let written = encoder.encode_into(&record, bucket).map_err(TaskFailure::error)?;
            output.appended(written).map_err(TaskFailure::error)
        })?;
        ctx.add_records_written(records);
        output.finish().map_err(TaskFailure::error)
    }
}

/// The one place a shuffle dependency is built: a shuffle of `parent` whose map task `p`
/// writes the records `source` produces for it, placed by `partitioner`, with `op` (the
/// shuffling operation) current while it runs. `source` is
/// [`records_of`]`(parent)` for a plain shuffle, or wraps it (a map-side combine).
pub(crate) fn shuffle_of<T: Data, K: Data, W: Data>(
    parent: &Rdd<T>,
    op: Operation,
    partitioner: Arc<dyn Partitioner<K>>,
    source: Box<MapSource<K, W>>,
) -> Arc<ShuffleDependency> {
    let desc = partitioner.describe();
    let writer = Arc::new(ShuffleWriter { source, partitioner, desc: desc.clone(), op });
    parent.context().engine().new_shuffle(parent.lineage_node(), desc, writer)
}

/// A map source that reads `parent`'s partitions as they are (cache-aware, see
/// [`iterator`]).
pub(crate) fn records_of<K: Data, V: Data>(parent: &Rdd<(K, V)>) -> Box<MapSource<K, V>> {
    let node = Arc::clone(parent.node());
    Box::new(move |p, tc| iterator(node.as_ref(), p, tc))
}

/// Decodes reduce partition `reduce` of a shuffle: every map task's bucket, in map order,
/// record by record (a bucket on local disk streams through a 64 KiB buffer, one file open at
/// a time). A read or decode failure ends the stream with that failure; so does the task's
/// cancellation, checked once per batch.
pub(crate) fn read_shuffle<R: Data>(
    shuffle: &ShuffleDependency,
    reduce: PartitionId,
    ctx: &TaskContext,
) -> Result<PartitionIter<R>, TaskFailure> {
    let buckets = ctx.fetch_shuffle(shuffle.shuffle_id, reduce)?;
    let records = Box::new(buckets.into_iter().flat_map(bucket_records::<R>));
    Ok(Box::new(ShuffleRecords { records, check: CancelCheck::new(ctx) }))
}

/// The decoded records of a reduce partition's buckets.
struct ShuffleRecords<R> {
    records: Box<dyn Iterator<Item = Result<R, StorageError>>>,
    check: CancelCheck,
}

impl<R> PartitionStream<R> for ShuffleRecords<R> {
    fn next_record(&mut self) -> Option<R> {
        if !self.check.record() {
            return None;
        }
        match self.records.next()? {
            Ok(record) => {
                self.check.task().add_records_read(1);
                Some(record)
            }
            Err(err) => {
                self.check.task().fail(TaskFailure::error(err));
                None
            }
        }
    }

    fn next_batch(&mut self, out: &mut Vec<R>, max: usize) -> Result<(), TaskFailure> {
        self.check.batch()?;
        let before = out.len();
        let mut result = Ok(());
        for record in self.records.by_ref().take(max) {
            match record {
                Ok(record) => out.push(record),
                Err(err) => {
                    result = Err(TaskFailure::error(err));
                    break;
                }
            }
        }
        self.check.task().add_records_read((out.len() - before) as u64);
        result
    }
}

/// The records of one bucket, wherever it lives.
fn bucket_records<R: Data>(bucket: Bucket) -> Box<dyn Iterator<Item = Result<R, StorageError>>> {
    match bucket {
        Bucket::Memory(bytes) => Box::new(Records::new(bytes)),
        Bucket::File { file, ranges } => match file.open() {
            Ok(handle) => {
                let reader = BufReader::with_capacity(64 << 10, RangesReader::new(handle, ranges));
                Box::new(StreamRecords::new(reader))
            }
            Err(err) => Box::new(std::iter::once(Err(CodecError::Read(err).into()))),
        },
    }
}

/// What the reduce side does with the decoded `(key, value)` stream of its partition.
pub(crate) type ReduceFn<K, W, O> =
    dyn Fn(PartitionIter<(K, W)>, &TaskContext) -> Result<PartitionIter<O>, TaskFailure> + Send + Sync;

/// Reduce side of a single-parent shuffle (`reduce_by_key`, `group_by_key`, `partition_by`,
/// `sort_by_key`): fetches its partition's buckets and applies the reduce function.
pub(crate) struct ShuffledNode<K, W, O> {
    meta: NodeMeta,
    deps: [Dependency; 1],
    partitioner: PartitionerDesc,
    reduce: Box<ReduceFn<K, W, O>>,
}

impl<K: Data, W: Data, O> ShuffledNode<K, W, O> {
    pub(crate) fn new(meta: NodeMeta, shuffle: Arc<ShuffleDependency>, reduce: Box<ReduceFn<K, W, O>>) -> Self {
        let partitioner = shuffle.partitioner.clone();
        ShuffledNode { meta, deps: [Dependency::Shuffle(shuffle)], partitioner, reduce }
    }

    fn shuffle(&self) -> &ShuffleDependency {
        match &self.deps[0] {
            Dependency::Shuffle(dep) => dep,
            _ => unreachable!("a shuffled node's only dependency is its shuffle"),
        }
    }
}

impl<K: Data, W: Data, O> LineageNode for ShuffledNode<K, W, O> {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.partitioner.num_partitions
    }

    fn dependencies(&self) -> &[Dependency] {
        &self.deps
    }

    fn partitioner(&self) -> Option<&PartitionerDesc> {
        Some(&self.partitioner)
    }
}

impl<K: Data, W: Data, O: 'static> Compute<O> for ShuffledNode<K, W, O> {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<O>, TaskFailure> {
        let records = read_shuffle::<(K, W)>(self.shuffle(), partition, ctx)?;
        let op = self.meta.operation();
        let _op = op.enter();
        // The reduce function may run the user's code now (an aggregation) or as its output
        // is pulled (a group's values): the operation is current in both.
        Ok(Box::new(Tracked::new((self.reduce)(records, ctx)?, op)))
    }
}
