//! The cache-aware read of a partition (Spark's `RDD.iterator`): a persisted node's partition
//! is served from the block manager when cached, else computed, stored and returned.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use ember_engine::block::{BlockData, BlockId, EncodeFn, StorageLevel};
use ember_engine::ids::PartitionId;
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::{StorageError, codec};

use super::stream::{Interruptible, collect_records};
use super::{Compute, PartitionIter, compute_or_read_checkpoint};
use crate::data::Data;

/// How many elements are encoded to estimate the heap size of a `MemoryOnly` block.
const SIZE_SAMPLE: usize = 32;

/// A block ready to store, with the encoder that moves it to disk on eviction.
type Stored = (BlockData, Option<Arc<EncodeFn>>);

/// A stored block and the partition's records to hand on.
type Cached<T> = (Stored, PartitionIter<T>);

/// The typed half of a persisted node's blocks, registered with the block manager at
/// `persist` time (where `T: Data` is known) and found again by [`iterator`], which only
/// knows `T: 'static`.
pub(crate) struct BlockCodec<T> {
    to_block: fn(Vec<T>, StorageLevel) -> Result<Cached<T>, StorageError>,
    from_block: fn(&Bytes) -> Result<Vec<T>, StorageError>,
    from_values: fn(&Arc<dyn Any + Send + Sync>) -> Option<PartitionIter<T>>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Data> BlockCodec<T> {
    pub(crate) fn new() -> Self {
        BlockCodec {
            to_block: to_block::<T>,
            from_block: from_block::<T>,
            from_values: from_values::<T>,
            _t: PhantomData,
        }
    }
}

/// Memory accounting of a deserialized block, a documented estimate: `len × size_of::<T>()`
/// for the values themselves plus `len ×` the mean bincode size of the first 32 elements as a
/// stand-in for what they own on the heap.
fn estimate_size<T: Data>(values: &[T]) -> u64 {
    let sample = &values[..values.len().min(SIZE_SAMPLE)];
    let sampled: usize = sample.iter().map(|v| codec::encode(v).map_or(0, |b| b.len())).sum();
    let heap = if sample.is_empty() { 0 } else { sampled * values.len() / sample.len() };
    (std::mem::size_of_val(values) + heap) as u64
}

/// The block of `values` at `level`, and the partition's records to hand on. A serialized
/// block is an [`codec::encode_batch`] batch, and the records handed on are decoded from it,
/// so a type that does not survive the codec fails here, on the first action, not on a
/// later read from the cache.
fn to_block<T: Data>(values: Vec<T>, level: StorageLevel) -> Result<Cached<T>, StorageError> {
    let encode: Arc<EncodeFn> = Arc::new(|any: &(dyn Any + Send + Sync)| {
        // An eviction that cannot encode writes nothing: the block is recomputed when needed.
        any.downcast_ref::<Vec<T>>().and_then(|v| codec::encode_batch(v).ok())
    });
    if level.deserialized() {
        let size = estimate_size(&values);
        let values = Arc::new(values);
        let iter = shared_values(Arc::clone(&values));
        Ok(((BlockData::Values { values, size }, Some(encode)), iter))
    } else {
        let bytes = Bytes::from(codec::encode_batch(&values)?);
        let decoded = codec::decode_batch::<T>(bytes.clone())?;
        Ok(((BlockData::Bytes(bytes), Some(encode)), Box::new(decoded.into_iter())))
    }
}

fn from_block<T: Data>(bytes: &Bytes) -> Result<Vec<T>, StorageError> {
    codec::decode_batch::<T>(bytes.clone())
}

fn from_values<T: Data>(values: &Arc<dyn Any + Send + Sync>) -> Option<PartitionIter<T>> {
    let values: Arc<Vec<T>> = Arc::clone(values).downcast::<Vec<T>>().ok()?;
    Some(shared_values(values))
}

/// Clones of the values of a block, one at a time.
fn shared_values<T: Data>(values: Arc<Vec<T>>) -> PartitionIter<T> {
    Box::new((0..values.len()).map(move |i| values[i].clone()))
}

/// Why a partition of a persisted node could not be stored in, or read from, its block.
#[derive(Debug, thiserror::Error)]
#[error("cannot {doing} partition {partition} of {node}: {source}")]
struct BlockCodecError {
    /// What was being done: "cache", "read the cached".
    doing: &'static str,
    partition: PartitionId,
    /// The node, as `lineage()` names it.
    node: String,
    /// The codec's error: it names the type and the likely cause.
    #[source]
    source: StorageError,
}

fn codec_failure<T>(
    node: &dyn Compute<T>,
    partition: PartitionId,
    doing: &'static str,
) -> impl FnOnce(StorageError) -> TaskFailure {
    let node = node.meta().describe();
    move |source| TaskFailure::error(BlockCodecError { doing, partition, node, source })
}

/// Reads partition `partition` of `node`: from the cache when the node is persisted and the
/// block is there, otherwise computed (and stored, when persisted).
///
/// # Errors
/// The computation's failure, or one naming the node and the type when a block cannot be
/// encoded or decoded.
pub(crate) fn iterator<T: 'static>(
    node: &dyn Compute<T>,
    partition: PartitionId,
    ctx: &TaskContext,
) -> Result<PartitionIter<T>, TaskFailure> {
    let Some(persisted) = ctx.blocks().persisted(node.meta().id) else {
        return compute_or_read_checkpoint(node, partition, ctx);
    };
    let Some(codec) = persisted.adapter.downcast_ref::<BlockCodec<T>>() else {
        return compute_or_read_checkpoint(node, partition, ctx);
    };
    let id = BlockId::rdd(node.meta().id, partition);
    if let Some((data, _)) = ctx.get_block(id) {
        let cached = match &data {
            BlockData::Values { values, .. } => (codec.from_values)(values),
            BlockData::Bytes(bytes) => {
                let values = (codec.from_block)(bytes).map_err(codec_failure(node, partition, "read the cached"))?;
                Some(Box::new(values.into_iter()) as PartitionIter<T>)
            }
        };
        if let Some(iter) = cached {
            return Ok(Box::new(Interruptible::new(iter, ctx)));
        }
    }
    let values = collect_records(compute_or_read_checkpoint(node, partition, ctx)?)?;
    let ((data, encode), iter) =
        (codec.to_block)(values, persisted.level).map_err(codec_failure(node, partition, "cache"))?;
    ctx.put_block(id, persisted.level, data, encode);
    Ok(Box::new(Interruptible::new(iter, ctx)))
}
