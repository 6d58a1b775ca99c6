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

/// The pids of the processes that ran `tasks` one-element tasks, sorted and deduplicated.
fn task_pids(ctx: &Context, tasks: usize) -> ember::Result<Vec<u32>> {
    let mut pids = ctx.parallelize((0..tasks).collect::<Vec<_>>(), tasks).map(|_| std::process::id()).collect()?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// Kills process `pid` with SIGKILL (no handler, no clean-up runs).
fn kill(pid: u32) {
    let status = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill -KILL {pid}");
}

/// Waits until `done` says so about `job`'s progress, for at most 30 s.
fn wait_for<T: Send + 'static>(job: &ember::JobHandle<T>, what: &str, done: impl Fn(&ember::JobProgress) -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done(&job.progress()) {
        assert!(std::time::Instant::now() < until, "timed out waiting for {what}: {:?}", job.progress());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn tasks_run_in_the_executor_processes() -> TestResult {
    let ctx = cluster(2, 1)?;
    let pids = task_pids(&ctx, 8)?;
    if ctx.is_driver() {
        assert!(!pids.contains(&std::process::id()), "the driver runs no task: {pids:?}");
        assert_eq!(pids.len(), 2, "both executors ran tasks: {pids:?}");
    }
    Ok(())
}

/// Sums of `x` by `x % 10` over `0..n`, computed here.
fn expected_sums(n: u64) -> Vec<(u64, u64)> {
    let mut sums = vec![0u64; 10];
    for x in 0..n {
        sums[(x % 10) as usize] += x;
    }
    sums.into_iter().enumerate().map(|(k, s)| (k as u64, s)).collect()
}

#[test]
fn an_executor_killed_during_a_map_stage_costs_only_its_map_tasks() -> TestResult {
    let ctx = cluster(2, 1)?;
    let pids = task_pids(&ctx, 8)?;
    let slow = ctx.parallelize((0..6_000u64).collect::<Vec<_>>(), 6).map_partitions(|it| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        it.map(|x| (x % 10, x))
    });
    let job = slow.reduce_by_key(|a, b| a + b).collect_async();
    if ctx.is_driver() {
        wait_for(&job, "two map tasks", |p| p.stages.first().is_some_and(|s| s.done >= 2));
        kill(pids[0]);
    }
    let mut sums = job.wait()?;
    sums.sort_unstable();
    assert_eq!(sums, expected_sums(6_000));
    if ctx.is_driver() {
        let metrics = ctx.last_job().expect("the job's metrics");
        let map = metrics.stages.iter().find(|s| s.is_shuffle_map).expect("a map stage");
        // Six map tasks, plus the killed executor's finished ones and the one it was running:
        // never all six again.
        assert!(map.tasks_launched > 6 && map.tasks_launched <= 6 + 4, "map tasks launched: {}", map.tasks_launched);
    }
    Ok(())
}
