//! The cache-aware read of a partition (Spark's `RDD.iterator`): a persisted node's partition
//! is served from the block manager when cached, else computed, stored and returned.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use ember_engine::block::{BlockData, BlockId, EncodeFn, StorageLevel};
use ember_engine::ids::PartitionId;
use ember_engine::{TaskContext, TaskFailure};
use ember_storage::codec;

use super::stream::{Interruptible, collect_records};
use super::{Compute, PartitionIter, compute_or_read_checkpoint};
use crate::data::Data;

/// How many elements are encoded to estimate the heap size of a `MemoryOnly` block.
const SIZE_SAMPLE: usize = 32;

/// A block ready to store, with the encoder that moves it to disk on eviction.
type Stored = (BlockData, Option<Arc<EncodeFn>>);

/// The typed half of a persisted node's blocks, registered with the block manager at
/// `persist` time (where `T: Data` is known) and found again by [`iterator`], which only
/// knows `T: 'static`.
pub(crate) struct BlockCodec<T> {
    to_block: fn(Vec<T>, StorageLevel) -> Result<Stored, String>,
    from_block: fn(BlockData) -> Result<Vec<T>, String>,
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

fn to_block<T: Data>(values: Vec<T>, level: StorageLevel) -> Result<Stored, String> {
    let encode: Arc<EncodeFn> = Arc::new(|any: &(dyn Any + Send + Sync)| {
        // An eviction that cannot encode writes nothing: the block is recomputed when needed.
        any.downcast_ref::<Vec<T>>().and_then(|v| codec::encode(v).ok()).unwrap_or_default()
    });
    if level.deserialized() {
        let size = estimate_size(&values);
        Ok((BlockData::Values { values: Arc::new(values), size }, Some(encode)))
    } else {
        let bytes = codec::encode(&values).map_err(|e| e.to_string())?;
        Ok((BlockData::Bytes(Bytes::from(bytes)), Some(encode)))
    }
}

fn from_block<T: Data>(data: BlockData) -> Result<Vec<T>, String> {
    match data {
        BlockData::Bytes(bytes) => codec::decode::<Vec<T>>(&bytes).map_err(|e| e.to_string()),
        BlockData::Values { values, .. } => {
            values.downcast_ref::<Vec<T>>().cloned().ok_or_else(|| "it holds values of another type".to_owned())
        }
    }
}

fn from_values<T: Data>(values: &Arc<dyn Any + Send + Sync>) -> Option<PartitionIter<T>> {
    let values: Arc<Vec<T>> = Arc::clone(values).downcast::<Vec<T>>().ok()?;
    Some(Box::new((0..values.len()).map(move |i| values[i].clone())))
}

/// Why a cached block of `T` cannot be used: the type and the likely cause.
fn codec_failure<T>(node: &dyn Compute<T>, partition: PartitionId, doing: &str, why: &str) -> TaskFailure {
    TaskFailure::error(format!(
        "cannot {doing} partition {partition} of {} as {}: {why}; a type whose serde form does not \
         round-trip in a binary format (#[serde(skip_serializing_if)], flatten, untagged) cannot be \
         persisted at a serialized level",
        node.meta().describe(),
        std::any::type_name::<T>()
    ))
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
            BlockData::Bytes(_) => {
                let values =
                    (codec.from_block)(data).map_err(|why| codec_failure(node, partition, "read the cached", &why))?;
                Some(Box::new(values.into_iter()) as PartitionIter<T>)
            }
        };
        if let Some(iter) = cached {
            return Ok(Box::new(Interruptible::new(iter, ctx)));
        }
    }
    let values = collect_records(compute_or_read_checkpoint(node, partition, ctx)?)?;
    let (data, encode) =
        (codec.to_block)(values, persisted.level).map_err(|why| codec_failure(node, partition, "cache", &why))?;
    ctx.put_block(id, persisted.level, data.clone(), encode);
    let iter = match &data {
        BlockData::Values { values, .. } => {
            (codec.from_values)(values).expect("a block built from Vec<T> holds Vec<T>")
        }
        BlockData::Bytes(_) => {
            let values =
                (codec.from_block)(data).map_err(|why| codec_failure(node, partition, "read back the cached", &why))?;
            Box::new(values.into_iter())
        }
    };
    Ok(Box::new(Interruptible::new(iter, ctx)))
}
