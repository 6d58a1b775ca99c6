//! Recycled read buffers for local files.
//!
//! A piece of a local file's split is read into memory an earlier read used, rather than
//! into fresh pages: fresh pages must be zeroed by the kernel on first touch, and on
//! word count that zeroing took a third of a core for the whole job (about 1 GB/s on these
//! machines, against a copy from the page cache at several GB/s). A buffer comes back when
//! the last `Bytes` sharing it is dropped, usually as soon as the lines cut from it are.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use bytes::Bytes;

/// Most bytes kept in spare buffers between reads: a whole 32 MiB split's pieces for each of
/// two tasks (long words kept in a task's table keep their pieces until its end), a bounded
/// amount of idle memory on any machine.
const MAX_SPARE_BYTES: usize = 64 << 20;

/// New buffers' capacities are multiples of this.
const GRAIN: usize = 64 << 10;

/// Spare read buffers, shared by every read of one [`crate::Storage`].
#[derive(Default)]
pub(crate) struct BufferPool {
    spare: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// `len` bytes written by `fill` into a recycled buffer (or a new one when no spare is
    /// large enough), as `Bytes` that give the buffer back when their last clone is dropped.
    ///
    /// # Errors
    /// What `fill` returns; the buffer goes back to the pool.
    pub(crate) fn filled<E>(
        self: &Arc<Self>,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Bytes, E> {
        let mut buf = self.take(len);
        // Recycled memory is zeroed at memory speed here: no page faults.
        buf.resize(len, 0);
        let mut recycled = Recycled { buf, pool: Arc::downgrade(self) };
        fill(&mut recycled.buf)?;
        Ok(Bytes::from_owner(recycled))
    }

    /// The smallest spare buffer of at least `len` bytes, emptied, or a new one.
    fn take(&self, len: usize) -> Vec<u8> {
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        let fitting = spare.iter().enumerate().filter(|(_, b)| b.capacity() >= len).min_by_key(|(_, b)| b.capacity());
        match fitting.map(|(i, _)| i) {
            Some(i) => {
                let mut buf = spare.swap_remove(i);
                buf.clear();
                buf
            }
            // Rounded up, so that a later read a little longer (a chunk plus a longer carried
            // line) still fits this buffer when it comes back.
            None => Vec::with_capacity(len.next_multiple_of(GRAIN)),
        }
    }

    /// Keeps `buf` for a later read, dropping the smallest spares when over the limit.
    fn give_back(&self, buf: Vec<u8>) {
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        spare.push(buf);
        spare.sort_unstable_by_key(|b| std::cmp::Reverse(b.capacity()));
        let mut kept = 0;
        spare.retain(|b| {
            kept += b.capacity();
            kept <= MAX_SPARE_BYTES
        });
    }

    #[cfg(test)]
    fn spare_count(&self) -> usize {
        self.spare.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A buffer on loan from a pool; `Bytes::from_owner` drops it with the last clone.
struct Recycled {
    buf: Vec<u8>,
    pool: Weak<BufferPool>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.give_back(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_reused_with_none_of_its_old_bytes() {
        let pool = Arc::new(BufferPool::default());
        let first = pool
            .filled::<()>(1000, |b| {
                b.fill(7);
                Ok(())
            })
            .unwrap();
        let address = first.as_ptr();
        let clone = first.clone();
        drop(first);
        assert_eq!(pool.spare_count(), 0, "a clone still shares it");
        drop(clone);
        assert_eq!(pool.spare_count(), 1);
        let second = pool
            .filled::<()>(600, |b| {
                b[..3].copy_from_slice(b"abc");
                Ok(())
            })
            .unwrap();
        assert_eq!(second.as_ptr(), address, "the same memory");
        assert_eq!(second.len(), 600);
        assert_eq!(&second[..4], b"abc\0", "what fill did not write is zero, not old bytes");
        assert!(second[3..].iter().all(|&b| b == 0));
    }

    #[test]
    fn failed_fills_give_the_buffer_back_and_spares_are_bounded() {
        let pool = Arc::new(BufferPool::default());
        assert_eq!(pool.filled(10, |_| Err("disk on fire")), Err("disk on fire"));
        assert_eq!(pool.spare_count(), 1);
        let big: Vec<Bytes> = (0..3).map(|_| pool.filled::<()>(MAX_SPARE_BYTES / 2, |_| Ok(())).unwrap()).collect();
        drop(big);
        let spare: usize = pool.spare.lock().unwrap().iter().map(Vec::capacity).sum();
        assert!(spare <= MAX_SPARE_BYTES, "{spare} bytes kept");
    }
}
