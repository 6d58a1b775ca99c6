//! Identifier newtypes: every id the engine hands out, so no bare integer is mistaken for another.
//!
//! Ids are assigned from counters in creation order, never from addresses or clocks, so
//! every process that builds the same lineage graph gives its nodes and shuffles the same ids
//! (the cluster mode relies on this).

use std::fmt;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// A stage within one job, numbered so parents come before children.
    StageId(u32),
    ""
);
id_newtype!(
    /// A job: one action.
    JobId(u64),
    ""
);
id_newtype!(
    /// An executor. In local mode there is one, `ExecutorId(0)`.
    ExecutorId(u32),
    "executor "
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

/// Hands out ids in creation order. One per context; never shared between contexts.
#[derive(Debug, Default)]
pub struct IdGen {
    nodes: std::sync::atomic::AtomicU64,
    shuffles: std::sync::atomic::AtomicU64,
    jobs: std::sync::atomic::AtomicU64,
    broadcasts: std::sync::atomic::AtomicU64,
    accumulators: std::sync::atomic::AtomicU64,
}

impl IdGen {
    /// The next node id.
    pub fn node(&self) -> NodeId {
        NodeId(self.nodes.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// The next shuffle id.
    pub fn shuffle(&self) -> ShuffleId {
        ShuffleId(self.shuffles.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// The next job id.
    pub fn job(&self) -> JobId {
        JobId(self.jobs.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// The next broadcast id.
    pub fn broadcast(&self) -> BroadcastId {
        BroadcastId(self.broadcasts.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }

    /// The next accumulator id.
    pub fn accumulator(&self) -> AccumulatorId {
        AccumulatorId(self.accumulators.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}
