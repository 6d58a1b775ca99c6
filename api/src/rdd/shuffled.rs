//! The two sides of a shuffle in typed form: the map-side writer and the reduce-side node.

use std::sync::Arc;

use bytes::Bytes;
use ember_engine::lineage::{Dependency, LineageNode, MapOutputWriter, NodeMeta, PartitionerDesc, ShuffleDependency};
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::codec::{self, Records};

use super::{Compute, PartitionIter};
use crate::data::Data;
use crate::partitioner::Partitioner;

/// Produces map partition `p` as `(key, value)` records, after any map-side combining.
pub(crate) type MapSource<K, W> =
    dyn Fn(usize, &TaskContext) -> Result<PartitionIter<(K, W)>, TaskFailure> + Send + Sync;

/// Map side: pulls a map partition from its source, places each record with the
/// partitioner and appends it, encoded, to that reduce partition's bucket.
pub(crate) struct ShuffleWriter<K, W> {
    source: Box<MapSource<K, W>>,
    partitioner: Arc<dyn Partitioner<K>>,
}

impl<K, W> ShuffleWriter<K, W> {
    pub(crate) fn new(source: Box<MapSource<K, W>>, partitioner: Arc<dyn Partitioner<K>>) -> Self {
        ShuffleWriter { source, partitioner }
    }
}

impl<K: Data, W: Data> MapOutputWriter for ShuffleWriter<K, W> {
    fn write(&self, map: usize, ctx: &TaskContext) -> Result<Vec<Bytes>, TaskFailure> {
        let mut buckets: Vec<Vec<u8>> = vec![Vec::new(); self.partitioner.num_partitions()];
        let mut records = 0u64;
        for record in (self.source)(map, ctx)? {
            let bucket = &mut buckets[self.partitioner.partition(&record.0)];
            codec::encode_into(&record, bucket).map_err(TaskFailure::error)?;
            records += 1;
        }
        ctx.add_records_written(records);
        Ok(buckets.into_iter().map(Bytes::from).collect())
    }
}

/// Decodes reduce partition `reduce` of a shuffle: every map task's bucket, in map order,
/// record by record. A decode failure is recorded on the task and ends the stream.
pub(crate) fn read_shuffle<R: Data>(
    shuffle: &ShuffleDependency,
    reduce: usize,
    ctx: &TaskContext,
) -> Result<PartitionIter<R>, TaskFailure> {
    let buckets = ctx.fetch_shuffle(shuffle.shuffle_id, reduce)?;
    let ctx = ctx.clone();
    Ok(Box::new(buckets.into_iter().flat_map(Records::<R>::new).map_while(move |record| match record {
        Ok(record) => {
            ctx.add_records_read(1);
            Some(record)
        }
        Err(err) => {
            ctx.fail(TaskFailure::error(err));
            None
        }
    })))
}

/// What the reduce side does with the decoded `(key, value)` stream of its partition.
pub(crate) type ReduceFn<K, W, O> = dyn Fn(PartitionIter<(K, W)>) -> PartitionIter<O> + Send + Sync;

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

impl<K: Data, W: Data, O> Compute<O> for ShuffledNode<K, W, O> {
    fn compute(&self, partition: usize, ctx: &TaskContext) -> Result<PartitionIter<O>, TaskFailure> {
        let records = read_shuffle::<(K, W)>(self.shuffle(), partition, ctx)?;
        Ok((self.reduce)(records))
    }
}
