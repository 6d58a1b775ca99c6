//! Dropping a lineage without recursion, so that a chain a million nodes long cannot overflow
//! the stack of the thread that lets go of it.
//!
//! A node's parents are dropped by the node's own drop; left alone, a chain of `n` nodes
//! drops `n` deep. A node instead hands its parents to [`drop_later`]: the outermost call on
//! the thread drops them, and every drop they cause queues its own parents on the same
//! thread-local list instead of nesting, which the outermost call drains in a loop.

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    /// `Some` while a drain runs on this thread: the parents queued to drop after it.
    static DEFERRED: RefCell<Option<Vec<Box<dyn Any>>>> = const { RefCell::new(None) };
}

/// Drops `parents` without nesting inside another lineage drop on this thread: at once (and
/// then everything that drop queues) when no drain runs, queued otherwise. Cost: one
/// allocation per node dropped; the queue is as long as the widest lineage level.
pub(crate) fn drop_later(parents: Box<dyn Any>) {
    let first = DEFERRED.try_with(|deferred| {
        let mut deferred = deferred.borrow_mut();
        match deferred.as_mut() {
            Some(queue) => {
                queue.push(parents);
                None
            }
            None => {
                *deferred = Some(Vec::new());
                Some(parents)
            }
        }
    });
    let first = match first {
        Ok(Some(first)) => first,
        Ok(None) => return,
        // The thread's locals are being torn down: drop in place (a thread that exits while
        // holding the only handle on a very deep lineage is the one case left recursive).
        Err(_) => return,
    };
    let _drain = Drain;
    drop(first);
    while let Some(next) = DEFERRED.with(|d| d.borrow_mut().as_mut().and_then(Vec::pop)) {
        drop(next);
    }
}

/// Ends the drain, also when a drop panics: what is still queued is dropped by a new drain.
struct Drain;

impl Drop for Drain {
    fn drop(&mut self) {
        let rest = DEFERRED.try_with(|d| d.borrow_mut().take()).ok().flatten();
        drop(rest);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A linked list whose drop defers its tail, as a lineage node does.
    struct Link(Option<Arc<Link>>);

    impl Drop for Link {
        fn drop(&mut self) {
            if let Some(next) = self.0.take() {
                drop_later(Box::new(next));
            }
        }
    }

    #[test]
    fn a_million_deep_chain_drops_on_a_small_stack() {
        let dropped = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(|| {
                let mut head = Link(None);
                for _ in 0..1_000_000 {
                    head = Link(Some(Arc::new(head)));
                }
                drop(head);
                DEFERRED.with(|d| d.borrow().is_none())
            })
            .expect("spawn")
            .join()
            .expect("no overflow");
        assert!(dropped, "the drain ended");
    }
}
