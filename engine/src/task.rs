//! Tasks: the descriptor the scheduler sends (ids only), the context a running attempt sees,
//! and the metrics it reports.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::error::TaskFailure;
use crate::ids::{JobId, ShuffleId, StageId};
use crate::shuffle::{ShuffleBlockId, ShuffleRegistry};

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
    metrics: MetricCells,
    failure: RefCell<Option<TaskFailure>>,
}

#[derive(Default)]
struct MetricCells {
    records_read: Cell<u64>,
    records_written: Cell<u64>,
    shuffle_bytes_written: Cell<u64>,
    shuffle_bytes_read: Cell<u64>,
}

impl TaskContext {
    /// A context for one attempt of `desc`.
    pub fn new(desc: TaskDescriptor, shuffles: Arc<ShuffleRegistry>) -> Self {
        TaskContext {
            inner: Rc::new(Inner { desc, shuffles, metrics: MetricCells::default(), failure: RefCell::new(None) }),
        }
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
    pub fn fetch_shuffle(&self, shuffle: ShuffleId, reduce: usize) -> Result<Vec<Bytes>, TaskFailure> {
        let registry = &self.inner.shuffles;
        let statuses = registry.tracker.statuses(shuffle).map_err(|map| TaskFailure::FetchFailed { shuffle, map })?;
        let mut buckets = Vec::with_capacity(statuses.len());
        for map in 0..statuses.len() {
            let block = ShuffleBlockId { shuffle, map, reduce };
            let bucket = registry.store.fetch(block).ok_or(TaskFailure::FetchFailed { shuffle, map })?;
            self.add_shuffle_bytes_read(bucket.len() as u64);
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
        }
    }

    pub(crate) fn shuffles(&self) -> &Arc<ShuffleRegistry> {
        &self.inner.shuffles
    }
}
