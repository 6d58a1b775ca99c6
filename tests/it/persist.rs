//! Persistence: cached partitions are read instead of recomputed, at every storage level;
//! eviction under a tiny budget recomputes (or reads back from disk) with the same answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ember::prelude::*;

use crate::TestResult;

const LEVELS: [StorageLevel; 5] = [
    StorageLevel::MemoryOnly,
    StorageLevel::MemoryOnlySer,
    StorageLevel::MemoryAndDisk,
    StorageLevel::MemoryAndDiskSer,
    StorageLevel::DiskOnly,
];

/// `0..n` over `parts` partitions, mapped through a closure that counts its calls.
fn counted(ctx: &Context, n: i64, parts: usize) -> (Rdd<(i64, String)>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let rdd = ctx.range(0, n, 1, parts).map(move |x| {
        seen.fetch_add(1, Ordering::Relaxed);
        (x, format!("v{x}"))
    });
    (rdd, calls)
}

#[test]
fn second_action_on_a_persisted_rdd_computes_nothing_upstream() -> TestResult {
    for level in LEVELS {
        let ctx = Context::local(2)?;
        let (rdd, calls) = counted(&ctx, 1000, 4);
        rdd.persist(level);
        let first = rdd.collect()?;
        assert_eq!(calls.load(Ordering::Relaxed), 1000, "{level}");
        assert_eq!(ctx.last_job().map(|j| j.cache_misses()), Some(4), "{level}");
        let second = rdd.collect()?;
        assert_eq!(first, second, "{level}");
        assert_eq!(calls.load(Ordering::Relaxed), 1000, "{level}: nothing recomputed");
        let job = ctx.last_job().expect("a job ran");
        assert_eq!((job.cache_hits(), job.cache_misses()), (4, 0), "{level}");
        // A downstream pipeline also reads the cache.
        assert_eq!(rdd.map(|(x, _)| x).reduce(|a, b| a + b)?, 499_500);
        assert_eq!(calls.load(Ordering::Relaxed), 1000, "{level}");
        if level == StorageLevel::DiskOnly {
            assert!(job.bytes_spilled() == 0 && ctx.job_history().iter().any(|j| j.bytes_spilled() > 0));
        }
        assert!(rdd.lineage().contains(&format!("[{level}]")), "{}", rdd.lineage());
    }
    Ok(())
}

#[test]
fn cached_rdd_feeds_a_shuffle_without_recomputing() -> TestResult {
    let ctx = Context::local(2)?;
    let (rdd, calls) = counted(&ctx, 300, 3);
    rdd.cache();
    let sums = |r: &Rdd<(i64, String)>| -> ember::Result<Vec<(i64, i64)>> {
        let mut v = r.map(|(x, _)| (x % 3, x)).reduce_by_key(|a, b| a + b).collect()?;
        v.sort();
        Ok(v)
    };
    let a = sums(&rdd)?;
    let b = sums(&rdd)?;
    assert_eq!(a, b);
    assert_eq!(calls.load(Ordering::Relaxed), 300);
    Ok(())
}

#[test]
fn unpersist_recomputes() -> TestResult {
    let ctx = Context::local(2)?;
    let (rdd, calls) = counted(&ctx, 100, 2);
    rdd.cache();
    rdd.count()?;
    rdd.unpersist();
    assert_eq!(rdd.storage_level(), None);
    rdd.count()?;
    assert_eq!(calls.load(Ordering::Relaxed), 200);
    assert!(!rdd.lineage().contains("[MemoryOnly]"));
    Ok(())
}

#[test]
fn eviction_under_a_tiny_budget_recomputes_memory_only_and_reads_disk_for_memory_and_disk() -> TestResult {
    for level in [StorageLevel::MemoryOnly, StorageLevel::MemoryOnlySer, StorageLevel::MemoryAndDisk] {
        // A partition is ~38 KB as values (estimate) and ~8 KB as bytes: the budget holds
        // two or three of the eight.
        let budget = if level == StorageLevel::MemoryOnlySer { 20 << 10 } else { 100 << 10 };
        let ctx = Context::builder().threads(2).memory_budget(budget).build()?;
        let (rdd, calls) = counted(&ctx, 8_000, 8);
        rdd.persist(level);
        let expected: Vec<(i64, String)> = (0..8_000).map(|x| (x, format!("v{x}"))).collect();
        assert_eq!(rdd.collect()?, expected, "{level}");
        let first = ctx.last_job().expect("a job ran");
        assert!(first.cache_evictions() > 0, "{level}: {first:?}");
        assert_eq!(rdd.collect()?, expected, "{level}");
        let second = ctx.last_job().expect("a job ran");
        let recomputed = calls.load(Ordering::Relaxed) - 8_000;
        if level == StorageLevel::MemoryAndDisk {
            assert_eq!(recomputed, 0, "{level}: evicted blocks moved to disk");
            assert!(first.bytes_spilled() > 0);
            assert_eq!(second.cache_hits(), 8);
        } else {
            assert!(recomputed > 0, "{level}");
            assert!(second.recomputed_partitions() > 0, "{level}: {second:?}");
            assert_eq!(recomputed as u64, second.recomputed_partitions() * 1_000, "{level}");
        }
    }
    Ok(())
}
