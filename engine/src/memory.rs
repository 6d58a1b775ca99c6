//! [`MemoryManager`]: how one context's memory budget is shared between what is kept
//! (cached blocks, in-memory shuffle outputs) and what tasks build while they run
//! (aggregation tables, sort buffers, shuffle write buffers).
//!
//! ```text
//!  memory_budget
//!  ├─ storage: budget / 2 ── cached blocks (LRU, evictable) + in-memory map outputs
//!  └─ execution: budget / 2 ── each running task at most budget / (2 × threads);
//!                              a structure denied memory spills to local disk
//! ```
//!
//! The split is fixed (Spark's unified manager lets each side borrow the other's free part;
//! Ember does not yet). Because a task never holds more than its share, execution memory
//! never exceeds its half however tasks interleave, and no task waits for another: a denied
//! reservation is answered by spilling, never by blocking.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The memory budget of one context, split between storage and execution. Shared by all
/// worker threads.
#[derive(Debug)]
pub struct MemoryManager {
    storage_limit: u64,
    storage_used: AtomicU64,
    task_limit: u64,
}

impl MemoryManager {
    /// A manager for `budget` bytes with `threads` task slots: half the budget for storage,
    /// the other half shared equally by the slots.
    pub fn new(budget: u64, threads: usize) -> Self {
        let execution = budget - budget / 2;
        MemoryManager {
            storage_limit: budget / 2,
            storage_used: AtomicU64::new(0),
            task_limit: execution / threads.max(1) as u64,
        }
    }

    /// Bytes available to cached blocks and in-memory shuffle outputs together.
    pub fn storage_limit(&self) -> u64 {
        self.storage_limit
    }

    /// Storage bytes in use.
    pub fn storage_used(&self) -> u64 {
        self.storage_used.load(Ordering::Relaxed)
    }

    /// The most execution memory one running task may hold.
    pub fn task_limit(&self) -> u64 {
        self.task_limit
    }

    /// Takes `bytes` of storage memory if that many are free. Cost: one atomic update.
    pub fn try_acquire_storage(&self, bytes: u64) -> bool {
        self.storage_used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.storage_limit)
            })
            .is_ok()
    }

    /// Gives back `bytes` of storage memory taken with [`MemoryManager::try_acquire_storage`].
    pub fn release_storage(&self, bytes: u64) {
        let _ = self
            .storage_used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| Some(used.saturating_sub(bytes)));
    }
}

/// One task attempt's execution memory: a counter against the manager's per-task limit.
/// Not shared between threads (a task runs on one worker thread).
#[derive(Debug)]
pub(crate) struct TaskMemory {
    limit: u64,
    used: Cell<u64>,
    peak: Cell<u64>,
}

impl TaskMemory {
    pub(crate) fn new(limit: u64) -> Rc<Self> {
        Rc::new(TaskMemory { limit, used: Cell::new(0), peak: Cell::new(0) })
    }

    fn try_acquire(&self, bytes: u64) -> bool {
        let total = self.used.get().saturating_add(bytes);
        if total > self.limit {
            return false;
        }
        self.used.set(total);
        self.peak.set(self.peak.get().max(total));
        true
    }

    fn release(&self, bytes: u64) {
        self.used.set(self.used.get().saturating_sub(bytes));
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak.get()
    }
}

/// Execution memory held by one structure of a running task (a hash table, a sort buffer,
/// write buffers). Grows and shrinks with the structure; everything it holds is given back
/// when it drops. Obtain one with [`crate::TaskContext::memory_reservation`].
#[derive(Debug)]
pub struct MemoryReservation {
    task: Rc<TaskMemory>,
    size: u64,
}

impl MemoryReservation {
    pub(crate) fn new(task: Rc<TaskMemory>) -> Self {
        MemoryReservation { task, size: 0 }
    }

    /// Bytes held.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Grows or shrinks the reservation to `bytes`. Growing fails (changing nothing) when the
    /// task would exceed its share of execution memory: the caller should spill, then
    /// [`MemoryReservation::free`] what it no longer holds.
    pub fn try_resize(&mut self, bytes: u64) -> bool {
        if bytes <= self.size {
            self.task.release(self.size - bytes);
        } else if !self.task.try_acquire(bytes - self.size) {
            return false;
        }
        self.size = bytes;
        true
    }

    /// Gives everything back.
    pub fn free(&mut self) {
        self.task.release(self.size);
        self.size = 0;
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        self.free();
    }
}

/// Storage memory held by an in-memory shuffle output, given back when the output is
/// dropped (its shuffle is removed or its map task rerun).
#[derive(Debug)]
pub struct StorageReservation {
    manager: std::sync::Arc<MemoryManager>,
    size: u64,
}

impl StorageReservation {
    /// Takes `bytes` of storage memory, or `None` when that many are not free.
    pub fn try_new(manager: &std::sync::Arc<MemoryManager>, bytes: u64) -> Option<Self> {
        manager
            .try_acquire_storage(bytes)
            .then(|| StorageReservation { manager: std::sync::Arc::clone(manager), size: bytes })
    }
}

impl Drop for StorageReservation {
    fn drop(&mut self) {
        self.manager.release_storage(self.size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_the_budget_and_shares_execution_between_slots() {
        let m = MemoryManager::new(100, 2);
        assert_eq!((m.storage_limit(), m.task_limit()), (50, 25));
        assert!(m.try_acquire_storage(30));
        assert!(!m.try_acquire_storage(21), "over the storage half");
        m.release_storage(30);
        assert_eq!(m.storage_used(), 0);
    }

    #[test]
    fn a_reservation_stays_under_the_task_limit_and_frees_on_drop() {
        let task = TaskMemory::new(100);
        let mut a = MemoryReservation::new(Rc::clone(&task));
        let mut b = MemoryReservation::new(Rc::clone(&task));
        assert!(a.try_resize(60));
        assert!(!b.try_resize(41), "the two together would exceed the task's share");
        assert_eq!(b.size(), 0);
        assert!(b.try_resize(40));
        assert!(a.try_resize(10), "shrinking always succeeds");
        drop(b);
        assert!(a.try_resize(100));
        assert_eq!(task.peak(), 100);
        drop(a);
        assert_eq!(task.used.get(), 0);
    }

    #[test]
    fn storage_reservations_give_back_on_drop() {
        let m = std::sync::Arc::new(MemoryManager::new(100, 1));
        let r = StorageReservation::try_new(&m, 50).expect("fits");
        assert!(StorageReservation::try_new(&m, 1).is_none());
        drop(r);
        assert_eq!(m.storage_used(), 0);
    }
}
