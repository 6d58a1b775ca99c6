//! [`TaskContext`]: the running attempt's view of the engine.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{CancelToken, TaskDescriptor, TaskMetrics};
use crate::block::{BlockData, BlockId, BlockManager, BlockSource, EncodeFn, StorageLevel};
use crate::error::TaskFailure;
use crate::ids::{AccumulatorId, AttemptId, ExecutorId, PartitionId, ShuffleId};
use crate::memory::{MemoryReservation, TaskMemory};
use crate::shuffle::{Bucket, ShuffleRegistry};

/// Encodes one accumulator's partial value (of the type its typed handle put in the slot)
/// into the bytes the driver merges. Supplied by the typed layer, which knows the type.
pub type AccumulatorEncoder = fn(&(dyn Any + Send)) -> Result<Vec<u8>, String>;

/// The running attempt's view of the engine: its ids, shuffle and block access, its
/// cancellation token, metrics, accumulator updates, and the slot where a failure met while
/// records were pulled one at a time waits for the end of the stream. Cheap to clone; lives
/// on the worker thread that runs the attempt (it is deliberately not `Send`).
#[derive(Clone)]
pub struct TaskContext {
    inner: Rc<Inner>,
}

struct Inner {
    desc: TaskDescriptor,
    shuffles: Arc<ShuffleRegistry>,
    blocks: Arc<BlockManager>,
    cancel: Arc<CancelToken>,
    memory: Rc<TaskMemory>,
    metrics: MetricCells,
    failure: RefCell<Option<TaskFailure>>,
    accumulators: RefCell<Vec<AccumulatorSlot>>,
    /// Blocks this attempt stored, for the scheduler's record of where cached partitions live.
    stored: RefCell<Vec<BlockId>>,
}

struct AccumulatorSlot {
    id: AccumulatorId,
    value: Box<dyn Any + Send>,
    encode: AccumulatorEncoder,
}

thread_local! {
    /// The attempt running on this worker thread, set by the runner for the attempt's
    /// duration (Spark's `TaskContext.get()`): how an accumulator's `add` finds its attempt.
    static CURRENT: RefCell<Option<TaskContext>> = const { RefCell::new(None) };
}

/// Clears the current-attempt slot when the attempt ends, even by panic.
pub(crate) struct CurrentGuard(());

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

#[derive(Default)]
struct MetricCells {
    records_read: Cell<u64>,
    records_written: Cell<u64>,
    shuffle_bytes_written: Cell<u64>,
    shuffle_bytes_read: Cell<u64>,
    result_bytes: Cell<u64>,
    cache_hits: Cell<u64>,
    cache_misses: Cell<u64>,
    cache_evictions: Cell<u64>,
    bytes_spilled: Cell<u64>,
    spills: Cell<u64>,
    recomputed_partitions: Cell<u64>,
}

fn bump(cell: &Cell<u64>, n: u64) {
    cell.set(cell.get() + n);
}

impl TaskContext {
    /// A context for one attempt of `desc`, stopped early when `cancel` is cancelled.
    pub fn new(
        desc: TaskDescriptor,
        shuffles: Arc<ShuffleRegistry>,
        blocks: Arc<BlockManager>,
        cancel: Arc<CancelToken>,
    ) -> Self {
        TaskContext {
            inner: Rc::new(Inner {
                desc,
                shuffles,
                memory: TaskMemory::new(blocks.memory_manager().task_limit()),
                blocks,
                cancel,
                metrics: MetricCells::default(),
                failure: RefCell::new(None),
                accumulators: RefCell::new(Vec::new()),
                stored: RefCell::new(Vec::new()),
            }),
        }
    }

    /// A context for code that runs as a task outside any job (unit tests of operators,
    /// tools): attempt 0 of partition `partition` with its own shuffle registry and a block
    /// manager under `memory_budget` bytes (one task slot), never cancelled.
    pub fn standalone(partition: PartitionId, memory_budget: u64) -> Self {
        let desc = TaskDescriptor {
            job: crate::ids::JobId(0),
            stage: crate::ids::StageId(0),
            work: crate::ids::WorkId::Result(crate::ids::JobId(0)),
            partition,
            attempt: AttemptId(0),
        };
        let shuffles = Arc::new(ShuffleRegistry::new(Arc::new(crate::shuffle::LocalShuffleStore::default())));
        let memory = Arc::new(crate::memory::MemoryManager::new(memory_budget, 1));
        TaskContext::new(desc, shuffles, Arc::new(BlockManager::new(memory)), Arc::default())
    }

    /// The attempt running on the current thread, if the thread is running one.
    pub fn current() -> Option<TaskContext> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// Makes this the current thread's attempt until the guard drops.
    pub(crate) fn enter(&self) -> CurrentGuard {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        CurrentGuard(())
    }

    /// The attempt's ids.
    pub fn descriptor(&self) -> TaskDescriptor {
        self.inner.desc
    }

    /// The partition this attempt computes.
    pub fn partition(&self) -> PartitionId {
        self.inner.desc.partition
    }

    /// The attempt number, counting from 0.
    pub fn attempt(&self) -> AttemptId {
        self.inner.desc.attempt
    }

    /// Whether the attempt has been asked to stop (its job was cancelled or failed). Cost: an
    /// atomic load; sources and shuffle reads check it once per batch.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// `Err(TaskFailure::Cancelled)` once the attempt has been asked to stop.
    ///
    /// # Errors
    /// [`TaskFailure::Cancelled`] after cancellation.
    #[inline]
    pub fn check_cancelled(&self) -> Result<(), TaskFailure> {
        if self.is_cancelled() { Err(TaskFailure::Cancelled) } else { Ok(()) }
    }

    /// Runs `callback` when the attempt is cancelled (at once if it already is), on the
    /// cancelling thread: for work that blocks outside the record stream, such as a child
    /// process to kill. Must not block.
    pub fn on_cancel(&self, callback: impl FnOnce() + Send + 'static) {
        self.inner.cancel.on_cancel(callback);
    }

    /// Updates this attempt's partial value of accumulator `id` with `f`, starting it with
    /// `zero()` on first use; `encode` turns the final partial value into the bytes the
    /// driver merges.
    pub fn accumulate(
        &self,
        id: AccumulatorId,
        zero: impl FnOnce() -> Box<dyn Any + Send>,
        encode: AccumulatorEncoder,
        f: impl FnOnce(&mut (dyn Any + Send)),
    ) {
        let mut slots = self.inner.accumulators.borrow_mut();
        let k = match slots.iter().position(|slot| slot.id == id) {
            Some(k) => k,
            None => {
                slots.push(AccumulatorSlot { id, value: zero(), encode });
                slots.len() - 1
            }
        };
        f(slots[k].value.as_mut());
    }

    /// Takes the attempt's accumulator updates, encoded for the driver.
    ///
    /// # Errors
    /// A [`TaskFailure`] naming the accumulator whose partial value could not be encoded.
    pub fn take_accumulator_updates(&self) -> Result<Vec<(AccumulatorId, Bytes)>, TaskFailure> {
        let slots = std::mem::take(&mut *self.inner.accumulators.borrow_mut());
        slots
            .into_iter()
            .map(|slot| match (slot.encode)(slot.value.as_ref()) {
                Ok(bytes) => Ok((slot.id, Bytes::from(bytes))),
                Err(why) => Err(TaskFailure::error(format!("cannot encode the update of {}: {why}", slot.id))),
            })
            .collect()
    }

    /// The context's block manager (cached partitions, persist registry).
    pub fn blocks(&self) -> &Arc<BlockManager> {
        &self.inner.blocks
    }

    /// Looks up a cached block, counting a hit or a miss (and a recomputation when the block
    /// had been stored before).
    pub fn get_block(&self, id: BlockId) -> Option<(BlockData, BlockSource)> {
        let m = &self.inner.metrics;
        match self.inner.blocks.get(id) {
            Some(found) => {
                bump(&m.cache_hits, 1);
                Some(found)
            }
            None => {
                bump(&m.cache_misses, 1);
                if self.inner.blocks.was_stored(id) {
                    bump(&m.recomputed_partitions, 1);
                }
                None
            }
        }
    }

    /// Stores a computed block at `level`, counting evictions and bytes spilled.
    pub fn put_block(&self, id: BlockId, level: StorageLevel, data: BlockData, encode: Option<Arc<EncodeFn>>) {
        self.inner.stored.borrow_mut().push(id);
        let report = self.inner.blocks.put(id, level, data, encode);
        bump(&self.inner.metrics.cache_evictions, report.evictions);
        bump(&self.inner.metrics.bytes_spilled, report.bytes_spilled);
    }

    /// A new, empty hold on this attempt's share of execution memory, for one structure
    /// that grows while the task runs. See [`crate::memory`].
    pub fn memory_reservation(&self) -> MemoryReservation {
        MemoryReservation::new(Rc::clone(&self.inner.memory))
    }

    /// Counts one spill of `bytes` to local disk.
    pub fn add_spill(&self, bytes: u64) {
        bump(&self.inner.metrics.spills, 1);
        bump(&self.inner.metrics.bytes_spilled, bytes);
    }

    /// The non-empty buckets for reduce partition `reduce` from the map tasks of `shuffle`,
    /// in map order. Reads only this partition's column of the map statuses, and skips the
    /// buckets they say are empty without asking the store.
    ///
    /// # Errors
    /// [`TaskFailure::FetchFailed`] naming every map task whose output is missing (so the
    /// scheduler reruns them all at once).
    pub fn fetch_shuffle(&self, shuffle: ShuffleId, reduce: PartitionId) -> Result<Vec<Bucket>, TaskFailure> {
        let registry = &self.inner.shuffles;
        let (maps, found) = match &registry.remote {
            None => {
                let column = registry
                    .tracker
                    .column(shuffle, reduce)
                    .map_err(|maps| TaskFailure::FetchFailed { shuffle, maps })?;
                let maps: Vec<PartitionId> = column.iter().map(|&(map, _)| map).collect();
                let found = registry.store.fetch_column(shuffle, reduce, &maps);
                (maps, found)
            }
            Some(remote) => {
                let column =
                    remote.column(shuffle, reduce).map_err(|maps| TaskFailure::FetchFailed { shuffle, maps })?;
                let located: Vec<(PartitionId, ExecutorId)> = column.iter().map(|&(map, _, at)| (map, at)).collect();
                let found = remote.fetch(shuffle, reduce, &located);
                (located.into_iter().map(|(map, _)| map).collect(), found)
            }
        };
        let mut buckets = Vec::with_capacity(maps.len());
        let mut missing = Vec::new();
        for (map, bucket) in maps.into_iter().zip(found) {
            match bucket {
                Some(bucket) => {
                    self.add_shuffle_bytes_read(bucket.len());
                    buckets.push(bucket);
                }
                None => missing.push(map),
            }
        }
        if missing.is_empty() { Ok(buckets) } else { Err(TaskFailure::FetchFailed { shuffle, maps: missing }) }
    }

    /// Keeps a failure met while records were pulled one at a time, through an [`Iterator`]
    /// (which cannot return errors): the stream ends right after, and whoever reads it in
    /// batches, or the runner at the end of the attempt, reports the failure
    /// ([`TaskContext::take_failure`]). The first failure kept wins.
    pub fn fail(&self, failure: TaskFailure) {
        let mut slot = self.inner.failure.borrow_mut();
        if slot.is_none() {
            *slot = Some(failure);
        }
    }

    /// Takes the ids of the blocks this attempt stored so far.
    pub(crate) fn take_stored_blocks(&self) -> Vec<BlockId> {
        std::mem::take(&mut *self.inner.stored.borrow_mut())
    }

    /// Takes the failure kept by [`TaskContext::fail`], if any.
    pub fn take_failure(&self) -> Option<TaskFailure> {
        self.inner.failure.borrow_mut().take()
    }

    /// Adds to the records-read metric.
    pub fn add_records_read(&self, n: u64) {
        bump(&self.inner.metrics.records_read, n);
    }

    /// Adds to the records-written metric.
    pub fn add_records_written(&self, n: u64) {
        bump(&self.inner.metrics.records_written, n);
    }

    /// Adds to the shuffle-bytes-written metric.
    pub fn add_shuffle_bytes_written(&self, n: u64) {
        bump(&self.inner.metrics.shuffle_bytes_written, n);
    }

    /// Adds to the shuffle-bytes-read metric.
    pub fn add_shuffle_bytes_read(&self, n: u64) {
        bump(&self.inner.metrics.shuffle_bytes_read, n);
    }

    /// Adds to the result-bytes metric (a result task's encoded value).
    pub fn add_result_bytes(&self, n: u64) {
        bump(&self.inner.metrics.result_bytes, n);
    }

    /// The metrics so far, with `duration` as given.
    pub fn metrics(&self, duration: Duration) -> TaskMetrics {
        let m = &self.inner.metrics;
        TaskMetrics {
            records_read: m.records_read.get(),
            records_written: m.records_written.get(),
            shuffle_bytes_written: m.shuffle_bytes_written.get(),
            shuffle_bytes_read: m.shuffle_bytes_read.get(),
            duration,
            result_bytes: m.result_bytes.get(),
            cache_hits: m.cache_hits.get(),
            cache_misses: m.cache_misses.get(),
            cache_evictions: m.cache_evictions.get(),
            bytes_spilled: m.bytes_spilled.get(),
            spills: m.spills.get(),
            peak_execution_memory: self.inner.memory.peak(),
            recomputed_partitions: m.recomputed_partitions.get(),
        }
    }

    pub(crate) fn shuffles(&self) -> &Arc<ShuffleRegistry> {
        &self.inner.shuffles
    }
}
