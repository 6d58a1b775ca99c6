//! `use ember::prelude::*;` brings in what a pipeline needs.

pub use crate::accumulator::{Accumulator, AccumulatorParam};
#[doc(no_inline)]
pub use crate::actions::SaveMode;
pub use crate::broadcast::Broadcast;
pub use crate::context::{Context, ContextBuilder};
pub use crate::data::Data;
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::job::JobHandle;
pub use crate::partitioner::{HashPartitioner, Partitioner, RangePartitioner};
pub use crate::rdd::{PartitionIter, Rdd};
pub use crate::text::Text;
pub use ember_engine::{JobMetrics, StorageLevel};
