//! How many bytes a growing table or buffer holds, cheaply enough to ask often.
//!
//! The fixed part is exact: slots × slot size. The heap each element owns (a `String`'s
//! bytes, a group's `Vec`) is estimated from the encoded size of a few elements, resampled as
//! the structure grows (every 1/16th more updates), since encoding every element would cost
//! as much as the work itself. The encoded size is close to the heap size for strings and
//! vectors and overcounts plain numbers a little, which errs on the safe side.

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
