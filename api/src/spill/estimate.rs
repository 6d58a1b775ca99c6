//! How many bytes a growing table or buffer holds, cheaply enough to ask often, and whether
//! the task's memory share lets it grow ([`GrowthBudget`]).
//!
//! The fixed part is exact: slots × slot size. The heap each element owns (a `String`'s
//! bytes, a group's `Vec`) is estimated from the encoded size of a few elements, resampled as
//! the structure grows (every 1/16th more updates), since encoding every element would cost
//! as much as the work itself. The encoded size is close to the heap size for strings and
//! vectors and overcounts plain numbers a little, which errs on the safe side.

use ember_engine::TaskContext;
use ember_engine::memory::MemoryReservation;
use ember_storage::codec;
use serde::Serialize;

/// Elements encoded per sample.
const SAMPLE: usize = 16;

/// A structure smaller than this is not spilled even when denied memory: the overshoot is
/// bounded, and tiny runs would cost more in open files than they save.
pub(crate) const MIN_SPILL: u64 = 256 << 10;

/// Remembers the sampled heap bytes per element and when to sample next.
pub(crate) struct SizeEstimate {
    heap_per_element: f64,
    next_sample: u64,
    scratch: Vec<u8>,
}

impl SizeEstimate {
    pub(crate) fn new() -> Self {
        SizeEstimate { heap_per_element: 0.0, next_sample: 0, scratch: Vec::new() }
    }

    /// Whether `updates` (inserts and merges so far) calls for a new sample.
    pub(crate) fn due(&self, updates: u64) -> bool {
        updates >= self.next_sample
    }

    /// Samples the encoded size of up to 16 `elements`.
    pub(crate) fn sample<T: Serialize>(&mut self, elements: impl Iterator<Item = T>, updates: u64) {
        let (mut bytes, mut n) = (0usize, 0usize);
        for element in elements.take(SAMPLE) {
            self.scratch.clear();
            if codec::encode_into(&element, &mut self.scratch).is_ok() {
                bytes += self.scratch.len();
                n += 1;
            }
        }
        if n > 0 {
            self.heap_per_element = bytes as f64 / n as f64;
        }
        self.next_sample = updates + (updates / 16).max(64);
    }

    /// Bytes for `slots` slots of `slot_size` bytes holding `len` elements.
    pub(crate) fn bytes(&self, slots: usize, slot_size: usize, len: usize) -> u64 {
        (slots * slot_size) as u64 + (len as f64 * self.heap_per_element) as u64
    }
}

/// The shape of a growing structure when it asks [`GrowthBudget::must_spill`].
pub(crate) struct Shape {
    /// Elements held.
    pub(crate) len: usize,
    /// Elements it can hold before it reallocates (doubling).
    pub(crate) capacity: usize,
    /// Elements about to go in.
    pub(crate) incoming: usize,
    /// Bytes per slot.
    pub(crate) slot_size: usize,
    /// Bytes per element a spill needs beside the structure (a sorted copy of a table).
    pub(crate) spill_extra: usize,
}

/// The execution memory of one growing table or buffer: its reservation on the task's share
/// and the estimate that sizes it. One policy for every spilling structure: check before a
/// doubling and at each sample point, spill when denied and worth it.
pub(crate) struct GrowthBudget {
    reservation: MemoryReservation,
    estimate: SizeEstimate,
    updates: u64,
}

impl GrowthBudget {
    pub(crate) fn new(ctx: &TaskContext) -> Self {
        GrowthBudget { reservation: ctx.memory_reservation(), estimate: SizeEstimate::new(), updates: 0 }
    }

    /// Counts `n` inserts or merges into the structure.
    pub(crate) fn updated(&mut self, n: u64) {
        self.updates += n;
    }

    /// Whether the structure should be emptied before more elements go in: it was denied the
    /// memory it is about to need (it would grow, or its elements grew since the last sample),
    /// and it is big enough ([`MIN_SPILL`]) to be worth a spill. `elements` are sampled for
    /// their heap size when a sample is due.
    pub(crate) fn must_spill<T: Serialize>(&mut self, elements: impl Iterator<Item = T>, shape: Shape) -> bool {
        let full = shape.len + shape.incoming > shape.capacity;
        let due = self.estimate.due(self.updates);
        if !full && !due {
            return false;
        }
        if due {
            self.estimate.sample(elements, self.updates);
        }
        let slots = if full { (shape.capacity * 2).max(4) } else { shape.capacity };
        let bytes = self.estimate.bytes(slots, shape.slot_size, shape.len) + (shape.len * shape.spill_extra) as u64;
        !self.reservation.try_resize(bytes) && bytes >= MIN_SPILL
    }

    /// Gives the memory back (the structure was emptied).
    pub(crate) fn free(&mut self) {
        self.reservation.free();
    }

    /// The reservation, for whoever keeps the structure's memory after it stops growing.
    pub(crate) fn into_reservation(self) -> MemoryReservation {
        self.reservation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_slots_exactly_and_heap_by_sample() {
        let mut e = SizeEstimate::new();
        assert_eq!(e.bytes(10, 8, 5), 80);
        let words: Vec<String> = (0..100).map(|_| "x".repeat(99)).collect();
        assert!(e.due(0));
        e.sample(words.iter(), 0);
        assert!(!e.due(63) && e.due(64), "samples again after 64 updates at first");
        // 99 bytes plus a one-byte length prefix each.
        assert_eq!(e.bytes(100, 24, 100), 2_400 + 10_000);
        e.sample(words.iter(), 16_000);
        assert!(!e.due(16_999) && e.due(17_000), "then after a sixteenth more");
    }
}
