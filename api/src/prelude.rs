//! `use ember::prelude::*;` brings in what a pipeline needs.

pub use crate::accumulator::{Accumulator, AccumulatorParam};
pub use crate::actions::SaveMode;
pub use crate::broadcast::Broadcast;
pub use crate::context::{Context, ContextBuilder};
pub use crate::data::Data;
pub use crate::error::{Error, Result};
pub use crate::partitioner::{HashPartitioner, Partitioner, RangePartitioner};
pub use crate::rdd::{PartitionIter, Rdd};
pub use crate::text::Text;
pub use ember_engine::{JobMetrics, StorageLevel};
