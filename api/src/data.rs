//! [`Data`]: what an RDD element must be.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An RDD element: cloneable, shareable across threads, and serializable (it may cross a
/// shuffle, a cache or, once the cluster mode is built, a process boundary). Implemented for every type that
/// qualifies; there is nothing to implement by hand.
///
/// Keys of pair operations add `Hash + Eq`, and sorting adds `Ord`.
///
/// Elements are owned data: `&str` and other borrowed types are not `Data` (they cannot be
/// decoded on the far side of a shuffle), so use `String`, `Vec<u8>`, `Box<str>`, or
/// [`crate::Text`] for text read with [`crate::Context::text_lines`] (no allocation per line
/// or word).
pub trait Data: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}

impl<T> Data for T where T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}
