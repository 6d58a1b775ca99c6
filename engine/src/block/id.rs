//! [`BlockId`]: the name of every block the block manager keeps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, PartitionId};

/// A block: a unit of data the block manager stores, evicts and looks up. A closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BlockId {
    /// One cached partition of a persisted RDD.
    Rdd {
        /// The persisted node.
        node: NodeId,
        /// Its partition.
        partition: PartitionId,
    },
}

impl BlockId {
    /// The block of partition `partition` of node `node`.
    pub fn rdd(node: NodeId, partition: PartitionId) -> Self {
        BlockId::Rdd { node, partition }
    }

    /// A file name for the block on local disk.
    pub(crate) fn file_name(&self) -> String {
        match self {
            BlockId::Rdd { node, partition } => format!("rdd_{}_{partition}", node.0),
        }
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockId::Rdd { node, partition } => write!(f, "rdd_{}_{partition}", node.0),
        }
    }
}
