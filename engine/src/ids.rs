//! Identifier newtypes: every id the engine hands out, so no bare integer is mistaken for another.
//!
//! Ids are assigned from counters in creation order, never from addresses or clocks, so
//! every process that builds the same lineage graph gives its nodes and shuffles the same ids
//! (the cluster mode relies on this). Every id is serde data: ids cross the executor seam, the
//! event log and the web UI's JSON.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_newtype!(
    /// A lineage node (one RDD), numbered in creation order within a context.
    NodeId(u64),
    ""
);
id_newtype!(
    /// A shuffle: one shuffle dependency and the map outputs it produces.
    ShuffleId(u64),
    "shuffle "
);
id_newtype!(
    /// A stage, numbered in creation order within a context (as Spark numbers them): a map
    /// stage that several jobs need is one stage while they run; a job's result stage is its own.
    StageId(u32),
    ""
);
id_newtype!(
    /// A job: one action. Numbered from 0 within a context (an application).
    JobId(u64),
    ""
);
id_newtype!(
    /// An executor. In local mode there is one, `ExecutorId(0)`.
    ExecutorId(u32),
    "executor "
);
id_newtype!(
    /// A partition of a node, a stage's task, a map output or a reduce bucket: `0..n`.
    PartitionId(u32),
    ""
);
id_newtype!(
    /// One attempt of a task, counting from 0 within its stage.
    AttemptId(u32),
    ""
);
id_newtype!(
    /// A broadcast variable.
    BroadcastId(u64),
    "broadcast "
);
id_newtype!(
    /// An accumulator.
    AccumulatorId(u64),
    "accumulator "
);

impl PartitionId {
    /// Partition `index`.
    ///
    /// # Panics
    /// If `index` does not fit in 32 bits: no node has four billion partitions.
    pub fn new(index: usize) -> Self {
        PartitionId(u32::try_from(index).expect("a partition index fits in 32 bits"))
    }

    /// The partition's position, for indexing.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// Every partition of a node with `n` partitions, in order.
    pub fn all(n: usize) -> impl DoubleEndedIterator<Item = PartitionId> + ExactSizeIterator {
        (0..n).map(PartitionId::new)
    }
}

impl AttemptId {
    /// The attempt after this one.
    pub fn next(self) -> Self {
        AttemptId(self.0 + 1)
    }
}

/// The work a task does, named by ids so that every process resolves it from the lineage it
/// built itself ([`crate::executor::WorkRegistry`]): the map side of a shuffle, or the result
/// function of one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WorkId {
    /// Compute a map partition of the shuffle's parent and write its buckets.
    ShuffleMap(ShuffleId),
    /// Compute a partition of the job's final node and return its value to the driver.
    Result(JobId),
}

impl fmt::Display for WorkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkId::ShuffleMap(shuffle) => write!(f, "map side of {shuffle}"),
            WorkId::Result(job) => write!(f, "result of job {job}"),
        }
    }
}

/// Hands out ids in creation order. One per context; never shared between contexts.
#[derive(Debug, Default)]
pub struct IdGen {
    nodes: AtomicU64,
    shuffles: AtomicU64,
    jobs: AtomicU64,
    broadcasts: AtomicU64,
    accumulators: AtomicU64,
}

impl IdGen {
    /// The next node id.
    pub fn node(&self) -> NodeId {
        NodeId(self.nodes.fetch_add(1, Ordering::Relaxed))
    }

    /// The next shuffle id.
    pub fn shuffle(&self) -> ShuffleId {
        ShuffleId(self.shuffles.fetch_add(1, Ordering::Relaxed))
    }

    /// The next job id.
    pub fn job(&self) -> JobId {
        JobId(self.jobs.fetch_add(1, Ordering::Relaxed))
    }

    /// The next broadcast id.
    pub fn broadcast(&self) -> BroadcastId {
        BroadcastId(self.broadcasts.fetch_add(1, Ordering::Relaxed))
    }

    /// The next accumulator id.
    pub fn accumulator(&self) -> AccumulatorId {
        AccumulatorId(self.accumulators.fetch_add(1, Ordering::Relaxed))
    }
}
