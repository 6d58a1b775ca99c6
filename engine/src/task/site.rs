//! Which operation's user code a task is running: how a failure in a fused chain names the
//! operation whose closure failed (`map at src/main.rs:13`) rather than the stage's last one.
//!
//! A stage fuses its narrow operations into one chain of stream layers, so a stack of
//! operations is active at once in a running task. Each layer marks itself current while it
//! runs its own closure over a batch ([`Operation::enter`]) and puts back the one before it
//! when the batch is done: two thread-local writes per layer per batch, nothing per record.
//! What a layer counts per record is a position on its own stack frame.
//!
//! On a panic, the process-wide hook that [`install_panic_hook`] sets reads the current
//! operation and keeps the panic's message and location for the task, instead of printing
//! them on stderr once per attempt; the job's error prints them once. The layer's guard, as
//! the stack unwinds, adds the index of the element it was working on. On an `Err`, the layer
//! that saw it calls [`failed_at`] before returning it. The runner takes what was kept
//! (`take_failure_site`) when the attempt ends.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::Location;
use std::sync::Once;

use serde::{Deserialize, Serialize};

/// One operation of the lineage, as its user wrote it: `map` at a call site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    name: &'static str,
    location: &'static Location<'static>,
}

impl Operation {
    /// The operation `name` called at `location`.
    pub fn new(name: &'static str, location: &'static Location<'static>) -> Self {
        Operation { name, location }
    }

    /// The operation's name (`map`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where the user called it.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// Marks this operation as the one running user code on this thread until the guard
    /// drops. A layer that knows which element it is on catches a panic per batch and calls
    /// [`failed_at`] with it before resuming the unwinding; otherwise the guard, dropped by
    /// the unwinding, records the operation without an element.
    #[inline]
    pub fn enter(self) -> Entered {
        let previous = CURRENT.with(|c| c.replace(Some(self)));
        Entered { operation: self, previous }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}:{}", self.name, self.location.file(), self.location.line())
    }
}

/// While alive, its operation is the current one. Dropped by an unwinding panic that no
/// inner operation has claimed, it records its operation as the one that failed.
#[must_use = "the operation is current only while the guard lives"]
pub struct Entered {
    operation: Operation,
    previous: Option<Operation>,
}

impl Drop for Entered {
    #[inline]
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The innermost guard unwinds first: the first to record names the operation
            // whose closure panicked.
            failed_at(self.operation, None);
        }
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Where in the lineage a task failed: the operation whose code failed and, when known, the
/// element's index within that operation's input in the partition (counting from 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureSite {
    /// `op at file:line`.
    pub operation: String,
    /// The element's index within the operation's input in this partition.
    pub element: Option<u64>,
}

/// A panic caught while a task ran: its message and where it was raised (`file:line:col`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaughtPanic {
    /// The panic's message.
    pub message: String,
    /// Where the panic was raised, when the hook saw it.
    pub location: Option<String>,
}

thread_local! {
    static CURRENT: Cell<Option<Operation>> = const { Cell::new(None) };
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    static FAILED: RefCell<Option<FailureSite>> = const { RefCell::new(None) };
    static PANIC: RefCell<Option<CaughtPanic>> = const { RefCell::new(None) };
}

/// Records that `operation` failed with an `Err` on `element` (unless an inner operation
/// already recorded its own failure). Called by the layer whose closure returned the error.
pub fn failed_at(operation: Operation, element: Option<u64>) {
    FAILED.with(|f| {
        let mut f = f.borrow_mut();
        if f.is_none() {
            *f = Some(FailureSite { operation: operation.to_string(), element });
        }
    });
}

/// The operation running user code on this thread now, if any.
pub fn current() -> Option<Operation> {
    CURRENT.with(Cell::get)
}

/// Marks the thread as running a task attempt until the guard drops, starting with nothing
/// recorded: while it is set, the panic hook keeps a panic for the task instead of printing
/// it.
pub(crate) fn running_task() -> TaskScope {
    CURRENT.with(|c| c.set(None));
    FAILED.with(|f| f.borrow_mut().take());
    PANIC.with(|p| p.borrow_mut().take());
    let outer = IN_TASK.with(|t| t.replace(true));
    TaskScope { outer }
}

/// Clears the running-task mark when the attempt ends.
pub(crate) struct TaskScope {
    outer: bool,
}

impl Drop for TaskScope {
    fn drop(&mut self) {
        IN_TASK.with(|t| t.set(self.outer));
        CURRENT.with(|c| c.set(None));
    }
}

/// Where the attempt that just ended failed, if a layer or the panic hook recorded it.
pub(crate) fn take_failure_site() -> Option<FailureSite> {
    FAILED.with(|f| f.borrow_mut().take())
}

/// The panic the hook kept for the attempt that just ended.
pub(crate) fn take_panic() -> Option<CaughtPanic> {
    PANIC.with(|p| p.borrow_mut().take())
}

/// Installs, once per process, a panic hook that keeps a panic raised inside a task for the
/// job's error (message, location, the current operation) instead of printing it, and hands
/// every other panic to the hook that was there before. With `RUST_BACKTRACE` set, a task's
/// panic is printed by that hook too, so its backtrace is not lost.
pub fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        let backtrace = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        std::panic::set_hook(Box::new(move |info| {
            if !IN_TASK.with(Cell::get) {
                return previous(info);
            }
            let message = crate::error::panic_message(info.payload());
            let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            // `try_with`: a panic while the thread's locals are torn down must not panic again.
            // The operation and element are recorded by the operation's guard as the stack
            // unwinds.
            let _ = PANIC.try_with(|p| *p.borrow_mut() = Some(CaughtPanic { message, location }));
            if backtrace {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn op(name: &'static str) -> Operation {
        Operation::new(name, Location::caller())
    }

    #[test]
    fn entering_nests_and_restores() {
        let outer = op("foreach");
        let inner = op("map");
        let _task = running_task();
        let a = outer.enter();
        assert_eq!(current(), Some(outer));
        {
            let _b = inner.enter();
            assert_eq!(current(), Some(inner));
        }
        assert_eq!(current(), Some(outer));
        drop(a);
        assert_eq!(current(), None);
    }

    #[test]
    fn a_panic_names_the_innermost_operation_its_element_and_location() {
        install_panic_hook();
        let inner = op("map");
        let _task = running_task();
        let caught = std::panic::catch_unwind(|| {
            let _outer = op("foreach").enter();
            let _inner = inner.enter();
            panic!("boom");
        });
        assert!(caught.is_err());
        let site = take_failure_site().expect("recorded");
        assert_eq!(site.operation, inner.to_string());
        assert_eq!(site.element, None, "the guard knows no element");
        let panic = take_panic().expect("kept by the hook");
        assert_eq!(panic.message, "boom");
        assert!(panic.location.as_deref().is_some_and(|l| l.starts_with(file!())), "{panic:?}");
    }

    #[test]
    fn an_error_is_recorded_once_by_the_innermost() {
        let _task = running_task();
        failed_at(op("try_map"), Some(3));
        failed_at(op("text_file"), None);
        assert_eq!(take_failure_site().map(|s| s.element), Some(Some(3)));
        assert_eq!(take_failure_site(), None);
    }
}
