//! The cluster mode with real processes on loopback: `local-cluster[E,C]` re-executes this
//! test binary as E executors (each running only the calling test, through
//! `testing::executor_args`), which talk gRPC with the driver, serve each other's shuffle
//! buckets and are killed with real signals.

use std::collections::HashMap;

use ember::prelude::*;

use crate::TestResult;

/// A `local-cluster[executors,slots]` context for the calling test.
fn cluster(executors: usize, slots: usize) -> ember::Result<Context> {
    Context::builder()
        .master(format!("local-cluster[{executors},{slots}]"))
        .executor_args(ember::testing::executor_args())
        .build()
}

fn lines() -> Vec<String> {
    (0..2_000).map(|i| format!("w{} w{} common w{}", i % 97, i % 13, i % 5)).collect()
}

fn local_counts(lines: &[String]) -> Vec<(String, u64)> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in lines {
        for word in line.split_whitespace() {
            *counts.entry(word.to_owned()).or_default() += 1;
        }
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort();
    counts
}

#[test]
fn word_count_on_local_cluster_equals_local() -> TestResult {
    let ctx = cluster(2, 1)?;
    assert_eq!(ctx.master(), "local-cluster[2,1]");
    assert_eq!(ctx.parallelism(), 2);
    let data = lines();
    let words = ctx
        .parallelize(data.clone(), 4)
        .flat_map(|line: String| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1u64));
    let mut counts = words.reduce_by_key(|a, b| a + b).collect()?;
    counts.sort();
    assert_eq!(counts, local_counts(&data));
    // A second job over the same shuffle reuses its map outputs, held by the executors.
    let total: u64 = ctx.parallelize(data.clone(), 3).map(|l: String| l.len() as u64).sum()?;
    assert_eq!(total, data.iter().map(|l| l.len() as u64).sum::<u64>());
    Ok(())
}
