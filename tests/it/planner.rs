//! Stage structure through the public API: what each job ran and skipped, read from its metrics.

use std::collections::BTreeMap;

use ember::prelude::*;

use crate::{TestResult, pairs};

/// The metrics of the job the last action ran.
fn last(ctx: &Context) -> JobMetrics {
    ctx.last_job().expect("an action ran a job")
}

/// Sums per key, the expected result of the reductions below.
fn sums(data: &[(String, i64)]) -> BTreeMap<String, i64> {
    let mut sums = BTreeMap::new();
    for (k, v) in data {
        *sums.entry(k.clone()).or_default() += v;
    }
    sums
}

fn as_map(v: Vec<(String, i64)>) -> BTreeMap<String, i64> {
    v.into_iter().collect()
}

#[test]
fn stage_counts_follow_shuffle_counts() -> TestResult {
    let ctx = Context::local(2)?;
    let data = pairs(30);
    let rdd = ctx.parallelize(data.clone(), 3);

    let narrow = rdd.map_values(|v| v + 1).filter(|(_, v)| *v > 0);
    narrow.count()?;
    let m = last(&ctx);
    assert_eq!((m.stages.len(), m.stages_run(), m.stages_skipped()), (1, 1, 0));
    assert!(!m.stages[0].is_shuffle_map);
    assert_eq!(m.stages[0].num_tasks, 3);
    assert!(m.succeeded);

    let reduced = rdd.reduce_by_key(|a, b| a + b);
    assert_eq!(as_map(reduced.collect()?), sums(&data));
    let m = last(&ctx);
    assert_eq!((m.stages.len(), m.stages_run()), (2, 2));
    assert!(m.stages[0].is_shuffle_map && !m.stages[1].is_shuffle_map);
    assert!(m.shuffle_bytes_written() > 0 && m.shuffle_bytes_read() == m.shuffle_bytes_written());

    // The map loses the partitioner, so the second aggregation shuffles again.
    let fresh = rdd.reduce_by_key(|a, b| a + b);
    let regrouped = fresh.map(|(k, v)| (v, k)).group_by_key_with_partitions(2);
    let groups = regrouped.count()?;
    let m = last(&ctx);
    assert_eq!((m.stages.len(), m.stages_run()), (3, 3));
    assert_eq!(m.stages.iter().map(|s| s.num_tasks).collect::<Vec<_>>(), vec![3, 3, 2]);
    let distinct_sums: std::collections::BTreeSet<i64> = sums(&data).into_values().collect();
    assert_eq!(groups, distinct_sums.len() as u64);
    Ok(())
}

#[test]
fn a_second_action_on_a_reduced_rdd_skips_the_map_stage() -> TestResult {
    let ctx = Context::local(2)?;
    let data = pairs(40);
    let reduced = ctx.parallelize(data.clone(), 4).reduce_by_key(|a, b| a + b);

    let first = as_map(reduced.collect()?);
    let m = last(&ctx);
    assert_eq!((m.stages_run(), m.stages_skipped()), (2, 0));
    let map_tasks_first = m.stages[0].tasks_launched;
    assert_eq!(map_tasks_first, 4);

    let count = reduced.count()?;
    let m = last(&ctx);
    assert_eq!((m.stages.len(), m.stages_run(), m.stages_skipped()), (2, 1, 1));
    assert!(m.stages[0].is_shuffle_map && m.stages[0].skipped && m.stages[0].tasks_launched == 0);
    assert_eq!(m.shuffle_bytes_written(), 0, "nothing was shuffled again");
    assert_eq!(count, first.len() as u64);

    // A further narrow transformation of the reduced RDD reuses the shuffle too.
    let again = as_map(reduced.map_values(|v| v * 2).collect()?);
    assert_eq!(last(&ctx).stages_skipped(), 1);
    assert_eq!(again, first.iter().map(|(k, v)| (k.clone(), v * 2)).collect());
    assert_eq!(first, sums(&data));
    Ok(())
}

#[test]
fn sort_by_key_reuses_the_shuffle_its_sampling_job_ran() -> TestResult {
    let ctx = Context::local(2)?;
    let data = pairs(30);
    let reduced = ctx.parallelize(data.clone(), 3).reduce_by_key(|a, b| a + b);
    let sorted = reduced.sort_by_key(true); // runs the sampling job, which runs the first shuffle
    let sampling = last(&ctx);
    assert_eq!((sampling.stages.len(), sampling.stages_run()), (2, 2));
    let out = sorted.collect()?;
    let m = last(&ctx);
    assert_eq!((m.stages.len(), m.stages_run(), m.stages_skipped()), (3, 2, 1));
    assert!(m.stages[0].skipped, "the reduce_by_key map stage ran in the sampling job");
    assert_eq!(out, sums(&data).into_iter().collect::<Vec<_>>());
    Ok(())
}

#[test]
fn an_aggregation_on_a_hash_partitioned_rdd_does_not_shuffle_again() -> TestResult {
    let ctx = Context::local(2)?;
    let data = pairs(50);
    let plain = ctx.parallelize(data.clone(), 3);

    plain.reduce_by_key(|a, b| a + b).count()?;
    let without = last(&ctx).stages.len();
    assert_eq!(without, 2);

    let partitioned = plain.partition_by(HashPartitioner::new(4));
    let reduced = partitioned.reduce_by_key(|a, b| a + b);
    assert_eq!(reduced.num_partitions(), 4, "the default partitioner is the input's hash(4)");
    assert_eq!(as_map(reduced.collect()?), sums(&data));
    let m = last(&ctx);
    assert_eq!(m.stages.len(), without, "partition_by's shuffle is the only one");
    assert_eq!(m.stages[0].num_tasks, 3);

    // The same for every aggregation that can keep the partitioning, and for an explicit
    // count equal to the input's.
    partitioned.group_by_key().count()?;
    assert_eq!(last(&ctx).stages.len(), 2);
    partitioned.reduce_by_key_with_partitions(|a, b| a + b, 4).count()?;
    assert_eq!(last(&ctx).stages.len(), 2);
    partitioned.map_values(|v| v * 2).filter(|(_, v)| *v != 0).fold_by_key(0, |a, b| a + b).count()?;
    assert_eq!(last(&ctx).stages.len(), 2, "map_values and filter keep the partitioner");
    // ...but a different count, or a map that may change keys, shuffles.
    partitioned.reduce_by_key_with_partitions(|a, b| a + b, 5).count()?;
    assert_eq!(last(&ctx).stages.len(), 3);
    partitioned.map(|kv| kv).reduce_by_key(|a, b| a + b).count()?;
    assert_eq!(last(&ctx).stages.len(), 3);
    // Partitioning again the same way returns the same RDD: no new shuffle.
    partitioned.partition_by(HashPartitioner::new(4)).count()?;
    assert_eq!(last(&ctx).stages.len(), 2);
    Ok(())
}

#[test]
fn a_join_of_co_partitioned_rdds_adds_no_map_stage() -> TestResult {
    let ctx = Context::local(2)?;
    let (left, right) = (pairs(30), pairs(17));
    let mut expected = Vec::new();
    for (k, v) in sums(&left) {
        if let Some(w) = sums(&right).get(&k) {
            expected.push((k, (v, *w)));
        }
    }

    let a = ctx.parallelize(left.clone(), 3).reduce_by_key_with_partitions(|x, y| x + y, 4);
    let b = ctx.parallelize(right.clone(), 2).reduce_by_key_with_partitions(|x, y| x + y, 4);
    let joined = a.join(&b);
    assert_eq!(joined.num_partitions(), 4);
    let mut out = joined.collect()?;
    out.sort();
    assert_eq!(out, expected);
    let m = last(&ctx);
    assert_eq!(m.stages.len(), 3, "the two reductions' map stages and the result stage");
    assert_eq!(m.stages.iter().filter(|s| s.is_shuffle_map).count(), 2);

    // With both sides' shuffles already run, the join runs one stage.
    joined.count()?;
    let m = last(&ctx);
    assert_eq!((m.stages_run(), m.stages_skipped()), (1, 2));

    // Not co-partitioned (3 vs 4): the smaller side is shuffled again to match.
    let c = ctx.parallelize(right, 2).reduce_by_key_with_partitions(|x, y| x + y, 3);
    let mut out = a.join(&c).collect()?;
    out.sort();
    assert_eq!(out, expected);
    assert_eq!(last(&ctx).stages.len(), 4);
    Ok(())
}
