//! Scale without cliffs: wide shuffles in memory linear in their map statuses, lineage walks
//! linear in their length, chains too deep to run refused instead of overflowing a stack.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use ember::prelude::*;
use ember::testing;

use crate::TestResult;

/// Set in the child process a test runs itself in, to measure it alone.
const ALONE: &str = "EMBER_SCALE_ALONE";

/// Runs test `name` of this binary alone in a child process (the resident set is the whole
/// process's, and a stack overflow aborts it) and asserts that it passed: it did not die from a
/// signal, and its assertions held.
fn in_child(name: &str) -> TestResult {
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env(ALONE, "1")
        .status()?;
    assert_eq!(status.signal(), None, "{name} died from a signal (a stack overflow aborts with SIGABRT)");
    assert!(status.success(), "{name} failed in the child process (its output is above)");
    Ok(())
}

/// The peak resident set of this process, from `/proc/self/status` (0 where unknown).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kib.unwrap_or(0) * 1024
}

/// `rdd` with `n` more `map`s on top.
fn chain(rdd: Rdd<i64>, n: usize) -> Rdd<i64> {
    (0..n).fold(rdd, |rdd, _| rdd.map(|x| x + 1))
}

#[test]
fn a_ten_thousand_by_ten_thousand_shuffle_runs_in_bounded_time_and_memory() -> TestResult {
    if std::env::var_os(ALONE).is_none() {
        return in_child("scale::a_ten_thousand_by_ten_thousand_shuffle_runs_in_bounded_time_and_memory");
    }
    const PARTITIONS: usize = 10_000;
    let ctx = Context::local(2)?;
    let start = Instant::now();
    let sums = ctx
        .range(0, 20_000, 1, PARTITIONS)
        .map(|x| (x % 100, x))
        .reduce_by_key_with_partitions(|a, b| a + b, PARTITIONS)
        .collect()?;
    let took = start.elapsed();
    let peak = peak_rss_bytes();
    eprintln!("10,000 x 10,000 partitions: {took:?}, peak RSS {} MiB", peak >> 20);
    let mut expected = BTreeMap::new();
    for x in 0..20_000_i64 {
        *expected.entry(x % 100).or_insert(0) += x;
    }
    assert_eq!(sums.into_iter().collect::<BTreeMap<_, _>>(), expected);
    // Before each reducer read only its column, this took over ten minutes and 5.8 GB (the
    // 10^8 buckets' sizes and handles); now it is linear in the non-empty buckets. 12 s and
    // 30 MiB in a debug build on 2 cores.
    assert!(took < Duration::from_secs(90), "took {took:?}");
    assert!(peak < 512 << 20, "peak RSS {} MiB", peak >> 20);
    Ok(())
}

#[test]
fn lineage_of_a_hundred_thousand_maps_renders_in_under_a_second() -> TestResult {
    let ctx = Context::local(2)?;
    let rdd = chain(ctx.range(0, 10, 1, 2), 100_000);
    let start = Instant::now();
    let text = rdd.lineage();
    let took = start.elapsed();
    assert_eq!(text.lines().count(), 100_001);
    assert!(text.lines().last().is_some_and(|l| l.contains("range")), "{:?}", text.lines().last());
    assert!(took < Duration::from_secs(1), "lineage() of 100,000 maps took {took:?}");
    Ok(())
}

#[test]
fn a_million_chained_maps_are_refused_with_the_depth_and_the_limit() -> TestResult {
    if std::env::var_os(ALONE).is_none() {
        return in_child("scale::a_million_chained_maps_are_refused_with_the_depth_and_the_limit");
    }
    let ctx = Context::local(2)?;
    let rdd = chain(ctx.range(0, 10, 1, 2), 1_000_000);
    let err = rdd.count().expect_err("a million narrow operations cannot run in one task");
    assert_eq!(err.kind(), ErrorKind::LineageTooDeep, "{err}");
    let message = err.to_string();
    for part in [
        "1000000 narrow operations",
        &ember::MAX_NARROW_DEPTH.to_string(),
        "checkpoint()",
        "count at tests/it/scale.rs",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    // Rendering and dropping it walk the chain without recursion.
    assert_eq!(rdd.lineage().lines().count(), 1_000_001);
    drop(rdd);
    assert_eq!(ctx.range(0, 10, 1, 2).count()?, 10, "the context still runs jobs");
    Ok(())
}

#[test]
fn a_chain_under_the_limit_runs_and_a_checkpoint_cuts_a_longer_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ctx = Context::local(2)?;
    ctx.set_checkpoint_dir(dir.path().to_str().ok_or("utf-8 temp path")?);
    let half = ember::MAX_NARROW_DEPTH * 2 / 3;
    let first = chain(ctx.range(0, 10, 1, 2), half);
    first.persist(StorageLevel::MemoryOnly);
    first.checkpoint()?;
    assert_eq!(first.count()?, 10, "under the limit: runs, and writes the checkpoint");
    assert!(first.is_checkpointed());
    let longer = chain(first, half);
    let expected: i64 = (0..10).map(|x| x + 2 * half as i64).sum();
    assert_eq!(longer.sum()?, expected, "over the limit in all, but the checkpoint cuts it");
    Ok(())
}

#[test]
fn a_hundred_dropped_ten_mib_broadcasts_are_freed() -> TestResult {
    if std::env::var_os(ALONE).is_none() {
        return in_child("scale::a_hundred_dropped_ten_mib_broadcasts_are_freed");
    }
    const SIZE: usize = 10 << 20;
    let ctx = Context::local(2)?;
    let before = peak_rss_bytes();
    for i in 0..100_u8 {
        // A string encodes in one copy (a `Vec<u8>` element by element, slow in debug builds).
        let letter = char::from(b'a' + i % 26);
        let value = ctx.broadcast(letter.to_string().repeat(SIZE))?;
        let captured = value.clone();
        let used = ctx.range(0, 4, 1, 2).map(move |x| i64::from(captured.value().as_bytes()[x as usize])).sum()?;
        assert_eq!(used, 4 * i64::from(b'a' + i % 26));
        let (kept, bytes) = testing::engine_state(&ctx).broadcasts;
        assert!(kept == 1 && bytes >= SIZE as u64, "the bytes are kept while a handle lives: {kept}, {bytes}");
        drop(value);
        // The map's closure held the last clone; its RDD is gone with the job.
        assert_eq!(testing::engine_state(&ctx).broadcasts, (0, 0), "broadcast {i} freed when dropped");
    }
    let grown = peak_rss_bytes().saturating_sub(before);
    // Kept, the values and their encodings would be 2 GB; freed, a few of them at a time.
    assert!(grown < 256 << 20, "100 dropped broadcasts of 10 MiB raised the peak by {} MiB", grown >> 20);
    Ok(())
}

#[test]
fn accumulators_are_unregistered_when_their_last_handle_drops() -> TestResult {
    let ctx = Context::local(2)?;
    let kept = ctx.accumulator(ember::accumulator::Sum::<u64>::new());
    for _ in 0..1_000 {
        let acc = ctx.accumulator(ember::accumulator::Sum::<u64>::new());
        let adder = acc.clone();
        ctx.range(0, 10, 1, 2).foreach(move |_| adder.add(1))?;
        assert_eq!(acc.value(), 10);
    }
    assert_eq!(testing::engine_state(&ctx).accumulators, 1, "only the one still referenced");
    drop(kept);
    assert_eq!(testing::engine_state(&ctx).accumulators, 0);
    Ok(())
}
