//! [`CancelToken`]: how a running attempt learns that it should stop.
//!
//! The scheduler kills an attempt by cancelling its token; the attempt sees it at its next
//! batch of records (sources and shuffle reads check [`CancelToken::is_cancelled`] once per
//! batch, as Spark's `InterruptibleIterator` does) and ends with `TaskFailure::Cancelled`.
//! Work that blocks outside the record stream (a `pipe` child process, a test double
//! waiting to be released) registers a callback that runs at cancellation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// A callback run once when the token is cancelled.
type OnCancel = Box<dyn FnOnce() + Send>;

/// A flag an attempt checks, plus callbacks that run when it is set. Shared by the backend
/// (which sets it) and the running attempt (which reads it).
#[derive(Default)]
pub struct CancelToken {
    cancelled: AtomicBool,
    callbacks: Mutex<Vec<OnCancel>>,
}

impl CancelToken {
    /// Whether the attempt has been asked to stop. Cost: one atomic load.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Asks the attempt to stop and runs the registered callbacks (once; later calls do
    /// nothing). Runs on the calling thread; callbacks must not block.
    pub fn cancel(&self) {
        if self.cancelled.swap(true, Ordering::AcqRel) {
            return;
        }
        let callbacks = std::mem::take(&mut *self.callbacks.lock().unwrap_or_else(PoisonError::into_inner));
        for callback in callbacks {
            callback();
        }
    }

    /// Runs `callback` when the token is cancelled (at once if it already is).
    pub fn on_cancel(&self, callback: impl FnOnce() + Send + 'static) {
        let mut callbacks = self.callbacks.lock().unwrap_or_else(PoisonError::into_inner);
        if self.cancelled.load(Ordering::Acquire) {
            drop(callbacks);
            callback();
        } else {
            callbacks.push(Box::new(callback));
        }
    }
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken").field("cancelled", &self.is_cancelled()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[test]
    fn callbacks_run_once_at_cancellation_or_at_once_after_it() {
        let token = CancelToken::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        token.on_cancel(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        assert!(!token.is_cancelled());
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        token.cancel();
        token.cancel();
        assert!(token.is_cancelled());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "once");
        let r = Arc::clone(&runs);
        token.on_cancel(move || {
            r.fetch_add(10, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 11, "a late callback runs at once");
    }
}
