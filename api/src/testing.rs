//! Test doubles for the job layer (hidden from the docs): a source whose tasks block until
//! released or cancelled (DataFusion's `BlockingExec`), and a probe of what the engine holds,
//! for teardown checks.

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use ember_engine::ids::PartitionId;
use ember_engine::lineage::{Dependency, LineageNode, NodeMeta};
use ember_engine::{TaskContext, TaskFailure};

use crate::context::Context;
use crate::rdd::{Compute, PartitionIter, Rdd};

/// The records partition `p` of a released blocking source yields: `p * 1000 + i` for `i`
/// in `0..RECORDS`.
pub const RECORDS: u64 = 10;

#[derive(Default)]
struct GateState {
    released: bool,
    entered: usize,
    cancelled: usize,
}

/// Controls the tasks of a [`blocking`] source and says what they did.
#[derive(Clone, Default)]
pub struct Gate {
    state: Arc<(Mutex<GateState>, Condvar)>,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets every blocked task (and every later one) go on.
    pub fn release(&self) {
        self.lock().released = true;
        self.state.1.notify_all();
    }

    /// Blocks until `n` tasks have started in total.
    pub fn wait_entered(&self, n: usize) {
        let mut state = self.lock();
        while state.entered < n {
            state = self.state.1.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Tasks that started.
    pub fn entered(&self) -> usize {
        self.lock().entered
    }

    /// Tasks that stopped because their job was cancelled.
    pub fn cancelled(&self) -> usize {
        self.lock().cancelled
    }
}

/// A source of `partitions` partitions whose tasks block when they start, until
/// [`Gate::release`] (then each yields [`RECORDS`] numbers) or until their task is cancelled
/// (then it fails as cancelled at once: a cancelled job's slots are free at once).
pub fn blocking(ctx: &Context, partitions: usize) -> (Rdd<u64>, Gate) {
    let gate = Gate::default();
    let meta = ctx.new_meta("blocking", std::panic::Location::caller());
    let node = BlockingNode { meta, partitions, gate: gate.clone() };
    (Rdd::from_node(Arc::new(node), ctx.clone()), gate)
}

struct BlockingNode {
    meta: NodeMeta,
    partitions: usize,
    gate: Gate,
}

impl LineageNode for BlockingNode {
    fn meta(&self) -> &NodeMeta {
        &self.meta
    }

    fn num_partitions(&self) -> usize {
        self.partitions
    }

    fn dependencies(&self) -> &[Dependency] {
        &[]
    }
}

impl Compute<u64> for BlockingNode {
    fn compute(&self, partition: PartitionId, ctx: &TaskContext) -> Result<PartitionIter<u64>, TaskFailure> {
        let gate = self.gate.clone();
        // The cancellation wakes this task's wait below (the flag is set before callbacks run,
        // and the callback takes the gate's lock, so no wake-up is lost).
        let waker = self.gate.clone();
        ctx.on_cancel(move || {
            let _state = waker.lock();
            waker.state.1.notify_all();
        });
        let mut state = gate.lock();
        state.entered += 1;
        gate.state.1.notify_all();
        while !state.released && !ctx.is_cancelled() {
            state = gate.state.1.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        if !state.released {
            state.cancelled += 1;
            return Err(TaskFailure::Cancelled);
        }
        let first = u64::from(partition.0) * 1000;
        Ok(Box::new(first..first + RECORDS))
    }
}

/// What a context's engine holds, for teardown checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineState {
    /// Shuffles the map-output tracker knows.
    pub tracked_shuffles: usize,
    /// Map outputs in the shuffle store.
    pub stored_map_outputs: usize,
    /// Shuffles still registered as work (alive).
    pub live_shuffles: usize,
    /// Result functions of jobs still registered.
    pub registered_jobs: usize,
    /// Accumulators registered (those with a live handle).
    pub accumulators: usize,
    /// Broadcast values kept (those neither destroyed nor dropped), and their bytes.
    pub broadcasts: (usize, u64),
    /// Bytes of cached blocks in memory.
    pub block_memory: u64,
    /// Bytes of the storage half of the budget in use (blocks and in-memory shuffle outputs).
    pub storage_memory: u64,
    /// Files in the context's scratch directory.
    pub scratch_files: usize,
}

/// What `ctx`'s engine holds now, once the scheduler has handled everything sent to it
/// before (dropped shuffles included).
pub fn engine_state(ctx: &Context) -> EngineState {
    let engine = ctx.engine();
    engine.wait_idle();
    let (live_shuffles, registered_jobs) = engine.works().len();
    EngineState {
        tracked_shuffles: engine.shuffles().tracker.len(),
        stored_map_outputs: engine.shuffles().store.len(),
        live_shuffles,
        registered_jobs,
        accumulators: engine.accumulators().len(),
        broadcasts: engine.broadcasts().held(),
        block_memory: engine.blocks().memory_used(),
        storage_memory: engine.blocks().memory_manager().storage_used(),
        scratch_files: engine.blocks().local_disk().file_count(),
    }
}

/// The command line that makes a copy of this test binary run only the calling test, for the
/// executors a `local-cluster[E,C]` test starts ([`crate::ContextBuilder::executor_args`]):
/// `<test name> --exact --include-ignored --test-threads=1 --nocapture`. Call it on the
/// test's own thread (the test harness names that thread after the test).
///
/// # Panics
/// On a thread without a name.
pub fn executor_args() -> Vec<String> {
    let name = std::thread::current().name().expect("called on a test's thread, which has the test's name").to_owned();
    ["--exact", "--include-ignored", "--test-threads=1", "--nocapture"].into_iter().map(str::to_owned).fold(
        vec![name],
        |mut v, a| {
            v.push(a);
            v
        },
    )
}
