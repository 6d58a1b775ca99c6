//! Ember's behaviour tests through the public `ember` API: one integration binary, one module
//! per concern, every result checked against a sequential computation on plain collections.

mod checkpoint;
mod cluster;
mod codec;
mod commit;
mod conformance;
mod errors;
mod failures;
mod jobs;
mod operators;
mod persist;
mod planner;
mod properties;
mod recovery;
mod scale;
mod scratch;
mod send_sync;
mod shared_vars;
mod spark_ops;
mod spill;
mod storage;
mod text;

/// What a test returns: any error fails it with its message.
type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A local context on `threads` threads whose tasks get 4 attempts (`local[N,4]`), for the
/// tests of retries: local mode's default is one attempt, as Spark's.
fn retrying(threads: usize) -> ember::Result<ember::prelude::Context> {
    ember::prelude::Context::builder().master(format!("local[{threads},4]")).build()
}

/// Partition counts the operators are checked at: a single partition, fewer partitions than
/// threads, and more partitions than some inputs have elements (so some are empty).
const PARTITIONS: [usize; 4] = [1, 2, 3, 7];

/// Spark's slicing of `data` into `slices` partitions, computed independently of Ember:
/// slice `i` is `data[i·len/slices .. (i+1)·len/slices]`.
fn slices<T: Clone>(data: &[T], slices: usize) -> Vec<Vec<T>> {
    let len = data.len();
    (0..slices).map(|i| data[i * len / slices..(i + 1) * len / slices].to_vec()).collect()
}

/// A fixed, unordered sample of integers with repeats and negatives.
fn numbers(len: i64) -> Vec<i64> {
    (0..len).map(|i| (i * 37 + 11) % 23 - 9).collect()
}

/// A fixed sample of `(key, value)` pairs: 9 keys of uneven frequency, values with repeats.
fn pairs(len: i64) -> Vec<(String, i64)> {
    (0..len).map(|i| (format!("k{}", (i * i + 3 * i) % 9), (i * 13) % 17 - 5)).collect()
}
