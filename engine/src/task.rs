//! Tasks: the descriptor the scheduler sends (ids only), the context a running attempt sees,
//! and the metrics it reports.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::accumulator::AccumulatorUpdates;
use crate::block::{BlockData, BlockId, BlockManager, BlockSource, EncodeFn, StorageLevel};
use crate::error::TaskFailure;
use crate::ids::{AccumulatorId, JobId, ShuffleId, StageId};
use crate::memory::{MemoryReservation, TaskMemory};
use crate::shuffle::{Bucket, ShuffleBlockId, ShuffleRegistry};

/// Which attempt of which task to run. Holds ids only, never code: the executor already holds
/// the lineage graph (in cluster mode every process builds it by running the same `main`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskDescriptor {
    /// The job.
    pub job: JobId,
    /// The stage within the job.
    pub stage: StageId,
    /// The partition the task computes.
    pub partition: usize,
    /// The attempt, counting from 0.
    pub attempt: u32,
}

/// What one task attempt measured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskMetrics {
    /// Records read from sources (files, collections) and from shuffles.
    pub records_read: u64,
    /// Records written: to shuffle buckets, to output files, or returned as results.
    pub records_written: u64,
    /// Encoded bytes written to shuffle buckets.
    pub shuffle_bytes_written: u64,
    /// Encoded bytes fetched from shuffle buckets.
    pub shuffle_bytes_read: u64,
    /// Wall time of the attempt.
    pub duration: Duration,
    /// Cached partitions found (in memory or on disk) instead of being computed.
    pub cache_hits: u64,
    /// Partitions of persisted nodes that were not cached and had to be computed.
    pub cache_misses: u64,
    /// Blocks pushed out of memory while this attempt stored its own.
    pub cache_evictions: u64,
    /// Bytes written to local disk because memory ran out or the level said so: evicted or
    /// disk-level cached blocks, shuffle outputs, sorted runs of aggregations and sorts.
    pub bytes_spilled: u64,
    /// Times a task structure (shuffle write buffers, an aggregation table, a sort buffer)
    /// was denied memory and spilled to local disk.
    pub spills: u64,
    /// The most execution memory the attempt held at once (aggregated as a maximum).
    pub peak_execution_memory: u64,
    /// Cache misses on blocks that had been stored before (evicted or lost): recomputed
    /// from lineage.
    pub recomputed_partitions: u64,
}

impl TaskMetrics {
    /// Adds `other`'s counters (and duration) to these.
    pub fn add(&mut self, other: &TaskMetrics) {
        self.records_read += other.records_read;
        self.records_written += other.records_written;
        self.shuffle_bytes_written += other.shuffle_bytes_written;
        self.shuffle_bytes_read += other.shuffle_bytes_read;
        self.duration += other.duration;
        self.cache_hits += other.cache_hits;
        self.cache_misses += other.cache_misses;
        self.cache_evictions += other.cache_evictions;
        self.bytes_spilled += other.bytes_spilled;
        self.spills += other.spills;
        self.peak_execution_memory = self.peak_execution_memory.max(other.peak_execution_memory);
        self.recomputed_partitions += other.recomputed_partitions;
    }
}

/// The running attempt's view of the engine: its ids, shuffle access, metrics, and a slot for
/// a failure found while streaming. Cheap to clone; lives on the worker thread that runs the
/// attempt (it is deliberately not `Send`).
#[derive(Clone)]
pub struct TaskContext {
    inner: Rc<Inner>,
}

struct Inner {
    desc: TaskDescriptor,
    shuffles: Arc<ShuffleRegistry>,
    blocks: Arc<BlockManager>,
    memory: Rc<TaskMemory>,
    metrics: MetricCells,
    failure: RefCell<Option<TaskFailure>>,
    accumulators: RefCell<AccumulatorUpdates>,
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
    /// A context for one attempt of `desc`.
    pub fn new(desc: TaskDescriptor, shuffles: Arc<ShuffleRegistry>, blocks: Arc<BlockManager>) -> Self {
        TaskContext {
            inner: Rc::new(Inner {
                desc,
                shuffles,
                memory: TaskMemory::new(blocks.memory_manager().task_limit()),
                blocks,
                metrics: MetricCells::default(),
                failure: RefCell::new(None),
                accumulators: RefCell::new(Vec::new()),
            }),
        }
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

    /// Updates this attempt's partial value of accumulator `id` with `f`, starting it with
    /// `zero()` on first use.
    pub fn accumulate(
        &self,
        id: AccumulatorId,
        zero: impl FnOnce() -> Box<dyn std::any::Any + Send>,
        f: impl FnOnce(&mut (dyn std::any::Any + Send)),
    ) {
        let mut updates = self.inner.accumulators.borrow_mut();
        let k = match updates.iter().position(|(a, _)| *a == id) {
            Some(k) => k,
            None => {
                updates.push((id, zero()));
                updates.len() - 1
            }
        };
        f(updates[k].1.as_mut());
    }

    /// Takes the attempt's accumulator updates.
    pub fn take_accumulator_updates(&self) -> AccumulatorUpdates {
        std::mem::take(&mut *self.inner.accumulators.borrow_mut())
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

    /// The attempt's ids.
    pub fn descriptor(&self) -> TaskDescriptor {
        self.inner.desc
    }

    /// The partition this attempt computes.
    pub fn partition(&self) -> usize {
        self.inner.desc.partition
    }

    /// The attempt number, counting from 0.
    pub fn attempt(&self) -> u32 {
        self.inner.desc.attempt
    }

    /// The buckets for reduce partition `reduce` from every map task of `shuffle`, in map order.
    ///
    /// # Errors
    /// [`TaskFailure::FetchFailed`] naming the first map task whose output is missing, so the
    /// scheduler can rerun it.
    pub fn fetch_shuffle(&self, shuffle: ShuffleId, reduce: usize) -> Result<Vec<Bucket>, TaskFailure> {
        let registry = &self.inner.shuffles;
        let statuses = registry.tracker.statuses(shuffle).map_err(|map| TaskFailure::FetchFailed { shuffle, map })?;
        let mut buckets = Vec::with_capacity(statuses.len());
        for map in 0..statuses.len() {
            let block = ShuffleBlockId { shuffle, map, reduce };
            let bucket = registry.store.fetch(block).ok_or(TaskFailure::FetchFailed { shuffle, map })?;
            self.add_shuffle_bytes_read(bucket.len());
            buckets.push(bucket);
        }
        Ok(buckets)
    }

    /// Records a failure discovered while a partition's iterator was being pulled (iterators
    /// cannot return errors). The runner fails the attempt with it once the iterator stops; the
    /// iterator should end right after calling this. The first failure recorded wins.
    pub fn fail(&self, failure: TaskFailure) {
        let mut slot = self.inner.failure.borrow_mut();
        if slot.is_none() {
            *slot = Some(failure);
        }
    }

    /// Whether a failure has been recorded; producers may check it to stop early.
    pub fn has_failed(&self) -> bool {
        self.inner.failure.borrow().is_some()
    }

    /// Takes the recorded failure, if any.
    pub fn take_failure(&self) -> Option<TaskFailure> {
        self.inner.failure.borrow_mut().take()
    }

    /// Adds to the records-read metric.
    pub fn add_records_read(&self, n: u64) {
        let cell = &self.inner.metrics.records_read;
        cell.set(cell.get() + n);
    }

    /// Adds to the records-written metric.
    pub fn add_records_written(&self, n: u64) {
        let cell = &self.inner.metrics.records_written;
        cell.set(cell.get() + n);
    }

    /// Adds to the shuffle-bytes-written metric.
    pub fn add_shuffle_bytes_written(&self, n: u64) {
        let cell = &self.inner.metrics.shuffle_bytes_written;
        cell.set(cell.get() + n);
    }

    /// Adds to the shuffle-bytes-read metric.
    pub fn add_shuffle_bytes_read(&self, n: u64) {
        let cell = &self.inner.metrics.shuffle_bytes_read;
        cell.set(cell.get() + n);
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
