//! [`Broadcast<T>`]: a read-only value shared with every task without being copied per task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use ember_engine::broadcast::BroadcastRegistration;
use ember_engine::ids::BroadcastId;
use ember_storage::codec;

use crate::context::Context;
use crate::data::Data;
use crate::error::Result;

/// A read-only value made available to every task: serialized once when created (what an
/// executor of the cluster mode, not built yet, would fetch once), and in local mode shared
/// by reference: tasks read the driver's own value, never a per-task copy. Cheap to clone and to capture in closures.
///
/// Freed when the last handle drops (clones captured by closures of RDDs count until those
/// RDDs and their jobs are gone): the value and its serialized bytes both, as Spark's context
/// cleaner frees an unreferenced broadcast. [`Broadcast::destroy`] frees the bytes earlier.
///
/// # Examples
/// ```
/// use ember::prelude::*;
/// use std::collections::HashMap;
/// let ctx = Context::local(2)?;
/// let names = ctx.broadcast(HashMap::from([(1, "one".to_string()), (2, "two".to_string())]))?;
/// let lookup = names.clone();
/// let named = ctx.parallelize(vec![1, 2, 1], 2).map(move |k| lookup.value()[&k].clone());
/// assert_eq!(named.collect()?, ["one", "two", "one"]);
/// names.destroy();
/// # Ok::<(), ember::Error>(())
/// ```
pub struct Broadcast<T> {
    id: BroadcastId,
    shared: Arc<Shared<T>>,
    ctx: Context,
}

/// What every handle of one broadcast shares. Dropping it (with the last handle, captured
/// copies in closures included) frees the value and its serialized bytes.
struct Shared<T> {
    value: T,
    /// On a cluster executor: the driver's value, fetched and decoded on first use (the
    /// executor's own `main` made `value` too, but only the driver's is the program's).
    drivers: std::sync::OnceLock<T>,
    destroyed: AtomicBool,
    _registration: BroadcastRegistration,
}

impl<T> Clone for Broadcast<T> {
    fn clone(&self) -> Self {
        Broadcast { id: self.id, shared: Arc::clone(&self.shared), ctx: self.ctx.clone() }
    }
}

impl<T: Data> Broadcast<T> {
    pub(crate) fn new(ctx: &Context, value: T) -> Result<Self> {
        let engine = ctx.engine();
        let id = engine.ids().broadcast();
        let bytes = codec::encode(&value)?;
        let _registration = engine.broadcasts().put(id, Bytes::from(bytes));
        let shared = Arc::new(Shared {
            value,
            drivers: std::sync::OnceLock::new(),
            destroyed: AtomicBool::new(false),
            _registration,
        });
        Ok(Broadcast { id, shared, ctx: ctx.clone() })
    }

    /// The value, by shared reference. On a cluster executor it is the driver's value,
    /// fetched from the driver on first use and kept (one fetch per executor process), so a
    /// value that differs between processes (a path, a seed, the clock) is the driver's
    /// everywhere: how a program hands the driver's data to every process.
    ///
    /// # Panics
    /// After [`Broadcast::destroy`]: using a destroyed broadcast is a bug in the program (in
    /// a task, the panic fails the task with this message).
    pub fn value(&self) -> &T {
        assert!(!self.shared.destroyed.load(Ordering::Acquire), "broadcast {} used after destroy()", self.id.0);
        if self.ctx.is_driver() {
            return &self.shared.value;
        }
        self.shared.drivers.get_or_init(|| {
            let bytes = self.ctx.engine().broadcast_bytes(self.id).unwrap_or_else(|why| panic!("{why}"));
            codec::decode(&bytes)
                .unwrap_or_else(|e| panic!("broadcast {} from the driver does not decode: {e}", self.id.0))
        })
    }

    /// The broadcast's id.
    pub fn id(&self) -> BroadcastId {
        self.id
    }

    /// Frees the serialized value; later [`Broadcast::value`] calls panic.
    pub fn destroy(&self) {
        self.shared.destroyed.store(true, Ordering::Release);
        self.ctx.engine().broadcasts().remove(self.id);
    }

    /// Whether [`Broadcast::destroy`] was called.
    pub fn is_destroyed(&self) -> bool {
        self.shared.destroyed.load(Ordering::Acquire)
    }
}

impl<T> std::fmt::Debug for Broadcast<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Broadcast({})", self.id.0)
    }
}
