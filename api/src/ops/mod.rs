//! The operators on [`Rdd`](crate::Rdd), one file per family: each file is an `impl` block
//! over the lineage nodes of `rdd/`, and a new operator goes in the file of its family.
//!
//! | file | operators |
//! |---|---|
//! | `narrow.rs` | `map`, `flat_map`, `filter`, `map_partitions(_with_index)`, `key_by`, `glom`, `zip_with_unique_id`, `union`, `coalesce`, `zip`, `zip_partitions`, `cartesian` |
//! | `shuffles.rs` | `distinct`, `repartition`, `group_by`, `sort_by` (shuffles on any `Rdd<T>`), `zip_with_index` (runs a job) |
//! | `pair/mod.rs` | on `Rdd<(K, V)>`: `map_values`, `flat_map_values`, `keys`, `values`, `partition_by` |
//! | `pair/aggregate.rs` | `combine_by_key`, `reduce_by_key`, `fold_by_key`, `aggregate_by_key`, `group_by_key`, `count_by_key`, `collect_as_map` |
//! | `pair/join.rs` | `cogroup`, `cogroup3`, `join`, `left_outer_join`, `right_outer_join`, `full_outer_join`, `subtract_by_key`, `lookup` |
//! | `pair/sort.rs` | `sort_by_key` |
//! | `sets.rs` | `subtract`, `intersection` |
//! | `sampling.rs` | `sample`, `random_split`, `take_sample` |
//! | `numeric.rs` | `sum`, `min`, `max`; on `Rdd<f64>`: `stats`, `mean`, `histogram(_with_bounds)` |
//! | `tree.rs` | `tree_aggregate`, `tree_reduce` |
//! | `approx.rs` | `count_approx_distinct` (HyperLogLog) |
//! | `pipe.rs` | `pipe` |
//! | `actions/mod.rs` | `collect`, `count`, `reduce`, `fold`, `aggregate`, `take`, `first`, `is_empty`, `top(_by)`, `take_ordered(_by)`, `foreach(_partition)`, `count_by_value` |
//! | `actions/save.rs` | `save_as_text_file`, `save_as_object_file`, `save_as_json_file`, `save_as_parquet` (each `_with` a `SaveMode`) |

// Declared in this order on purpose: rustdoc lists `Rdd`'s methods in module order, so its
// page leads with the operations people use first (`map`, `filter`, `flat_map`, then
// `reduce_by_key` and the pair operations, then `collect`, `count` and the other actions).
mod narrow;

pub mod pair;

pub mod actions;

mod approx;
mod numeric;
mod pipe;
mod sampling;
mod sets;
mod shuffles;
mod tree;
