//! Recomputation on loss, through the fault-injection API: lost cached blocks are recomputed
//! transparently, lost map outputs rerun only their map tasks, failed attempts are retried;
//! every faulty run gives the fault-free answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ember::prelude::*;

use crate::TestResult;

fn sums(ctx: &Context) -> Rdd<(i64, i64)> {
    ctx.range(0, 6_000, 1, 6).map(|x| (x % 10, x)).reduce_by_key_with_partitions(|a, b| a + b, 4)
}

fn sorted(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.sort();
    v
}

#[test]
fn deleted_map_outputs_rerun_only_those_map_tasks() -> TestResult {
    let ctx = Context::local(2)?;
    let rdd = sums(&ctx);
    let expected = sorted(rdd.collect()?);
    assert!(ctx.faults().delete_map_outputs(&rdd, &[1, 4]).is_some());
    assert_eq!(sorted(rdd.collect()?), expected);
    let job = ctx.last_job().expect("a job ran");
    let map_stage = job.stages.iter().find(|s| s.is_shuffle_map).expect("a map stage");
    assert!(!map_stage.skipped);
    assert_eq!(map_stage.tasks_launched, 2, "only map tasks 1 and 4 reran: {job:?}");
    // Nothing lost: the next job skips the map stage entirely.
    assert_eq!(sorted(rdd.collect()?), expected);
    assert_eq!(ctx.last_job().map(|j| j.stages_skipped()), Some(1));
    Ok(())
}

#[test]
fn dropped_cached_blocks_are_recomputed_transparently() -> TestResult {
    for level in [StorageLevel::MemoryOnly, StorageLevel::MemoryAndDiskSer, StorageLevel::DiskOnly] {
        let ctx = Context::local(2)?;
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let rdd = ctx.range(0, 400, 1, 4).map(move |x| {
            seen.fetch_add(1, Ordering::Relaxed);
            x * 3
        });
        rdd.persist(level);
        let expected = rdd.collect()?;
        assert_eq!(ctx.faults().drop_cached(&rdd, &[2]), 1, "{level}");
        assert_eq!(rdd.collect()?, expected, "{level}");
        let job = ctx.last_job().expect("a job ran");
        assert_eq!((job.cache_hits(), job.recomputed_partitions()), (3, 1), "{level}");
        assert_eq!(calls.load(Ordering::Relaxed), 500, "{level}: one partition of 100 recomputed");
    }
    Ok(())
}

#[test]
fn failed_attempts_matching_a_predicate_are_retried_with_the_same_answer() -> TestResult {
    let ctx = crate::retrying(2)?;
    let rdd = sums(&ctx);
    let expected = sorted(rdd.collect()?);
    let again = sums(&ctx); // a fresh shuffle, so the map stage runs again
    ctx.faults().fail_attempts(|t| t.attempt.0 == 0 && (t.partition.0 == 0 || (t.result_stage && t.partition.0 == 3)));
    assert_eq!(sorted(again.collect()?), expected);
    ctx.faults().clear();
    let job = ctx.last_job().expect("a job ran");
    let (map, result) = (&job.stages[0], &job.stages[1]);
    assert_eq!((map.tasks_launched, map.tasks_failed), (7, 1));
    assert_eq!((result.tasks_launched, result.tasks_failed), (6, 2));
    Ok(())
}

#[test]
fn an_attempt_failing_every_time_fails_the_job_with_the_injected_cause() -> TestResult {
    let ctx = Context::builder().threads(2).max_task_attempts(2).build()?;
    ctx.faults().fail_attempts(|t| t.partition.0 == 1);
    let err = ctx.range(0, 10, 1, 2).collect().expect_err("partition 1 always fails");
    assert!(err.to_string().contains("injected fault"), "{err}");
    Ok(())
}
