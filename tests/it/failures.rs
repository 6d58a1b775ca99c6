//! Failures: retried panics, jobs that fail with a useful error, outputs left clean, bad config.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ember::prelude::*;

use crate::{TestResult, numbers, slices};

/// The slice (partition) of `data` in `parts` partitions that holds `x` first.
fn partition_of(data: &[i64], parts: usize, x: i64) -> usize {
    slices(data, parts).iter().position(|s| s.contains(&x)).expect("x is in the data")
}

/// Every file name under `dir`, recursively; empty when `dir` does not exist.
fn files_under(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names
}

/// The error of `result`, which must be a job whose task failed.
fn job_error<T: std::fmt::Debug>(result: ember::Result<T>) -> ember::Error {
    match result {
        Err(err) if err.kind() == ErrorKind::TaskFailed => err,
        other => panic!("expected a failed job, got {other:?}"),
    }
}

#[test]
fn a_panic_on_the_first_attempt_only_is_retried() -> TestResult {
    let ctx = crate::retrying(2)?;
    let data = numbers(20);
    let target = data[13];
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let doubled = ctx.parallelize(data.clone(), 4).map(move |x| {
        if x == target && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("transient failure on {x}");
        }
        x * 2
    });
    assert_eq!(doubled.collect()?, data.iter().map(|x| x * 2).collect::<Vec<_>>());
    let m = ctx.last_job().expect("a job ran");
    assert!(m.succeeded);
    assert_eq!((m.tasks_failed(), m.tasks_launched()), (1, 5), "one retry of one task");
    assert!(calls.load(Ordering::SeqCst) >= 2, "the failing element was computed again");
    Ok(())
}

#[test]
fn a_transient_map_side_panic_is_retried_before_the_reduce() -> TestResult {
    let ctx = crate::retrying(3)?;
    let data: Vec<(i64, i64)> = numbers(40).into_iter().map(|x| (x.rem_euclid(5), x)).collect();
    let failures = Arc::new(AtomicUsize::new(0));
    let left = Arc::clone(&failures);
    let sums = ctx
        .parallelize(data.clone(), 4)
        .map(move |(k, v)| {
            if k == 3 && left.fetch_add(1, Ordering::SeqCst) < 2 {
                panic!("flaky source");
            }
            (k, v)
        })
        .reduce_by_key(|a, b| a + b)
        .collect()?;
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for (k, v) in &data {
        *expected.entry(*k).or_default() += v;
    }
    assert_eq!(sums.into_iter().collect::<BTreeMap<_, _>>(), expected);
    let m = ctx.last_job().expect("a job ran");
    assert_eq!(m.stages[0].tasks_failed, 2, "the map stage absorbed both failures");
    assert_eq!(m.stages[1].tasks_failed, 0);
    Ok(())
}

#[test]
fn a_task_that_always_panics_fails_the_job_with_where_and_why() -> TestResult {
    let ctx = crate::retrying(2)?;
    let data = numbers(20);
    let bad = data[17];
    let parts = 3;
    let result = ctx
        .parallelize(data.clone(), parts)
        .map(move |x| if x == bad { panic!("bad record {x}") } else { x })
        .collect();
    let err = job_error(result);
    let text = err.to_string();
    let partition = partition_of(&data, parts, bad);
    for needle in [
        format!("partition {partition} of stage 0"),
        "attempt 4".to_owned(),
        format!("bad record {bad}"),
        "map at ".to_owned(),
        "failures.rs".to_owned(),
    ] {
        assert!(text.contains(&needle), "{needle:?} not in {text:?}");
    }
    assert_eq!(err.partition(), Some(ember::engine::PartitionId::new(partition)));
    assert_eq!(err.attempt(), Some(ember::engine::AttemptId(3)), "the fourth attempt, counting from 0");
    assert_eq!(err.job_error().and_then(|e| e.max_attempts()), Some(4));
    assert_eq!(err.panic_message(), Some(format!("bad record {bad}").as_str()));
    assert!(err.call_site().is_some_and(|at| at.starts_with("map at ") && at.contains("failures.rs")), "{err}");
    assert_eq!(format!("{err:?}"), text, "Debug reads as Display");
    let m = ctx.last_job().expect("the failed job is recorded");
    assert!(!m.succeeded);
    assert_eq!(m.tasks_failed(), 4);

    // The context is still usable, shuffles included.
    let counts = ctx.parallelize(data.clone(), parts).map(|x| (x % 3, 1)).reduce_by_key(|a, b| a + b).collect()?;
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<i32>(), data.len() as i32);
    assert!(ctx.last_job().expect("a job ran").succeeded);
    Ok(())
}

#[test]
fn a_panic_in_reduce_by_key_fails_the_stage_that_ran_it() -> TestResult {
    let ctx = crate::retrying(2)?;
    // A duplicate key within partition 0 only: its map-side combine calls the function.
    let dups = ctx.parallelize(vec![(1, 1), (1, 2), (2, 3), (3, 4)], 2);
    let err = job_error(dups.reduce_by_key(|_, _| -> i32 { panic!("merge exploded") }).collect());
    let m = ctx.last_job().expect("a job ran");
    assert_eq!((err.stage(), err.partition()), (Some(m.stages[0].stage), Some(ember::engine::PartitionId(0))), "{err}");
    assert!(err.to_string().contains("merge exploded"), "{err}");
    assert_eq!((m.stages[0].tasks_failed, m.stages[1].tasks_launched), (4, 0), "no reducer ran");
    assert_eq!(m.stages[0].tasks_launched, 5, "map 1 once, map 0 four times");

    // One value per key and partition: only the reduce side merges.
    let spread = ctx.parallelize(vec![(1, 1), (2, 3), (1, 2), (2, 4)], 2);
    let err = job_error(spread.reduce_by_key(|_, _| -> i32 { panic!("merge exploded late") }).collect());
    let m = ctx.last_job().expect("a job ran");
    assert_eq!(err.stage(), Some(m.stages[1].stage), "the reduce stage: {err}");
    assert!(err.to_string().contains("merge exploded late"), "{err}");
    Ok(())
}

#[test]
fn a_non_string_panic_payload_still_fails_cleanly() -> TestResult {
    let ctx = Context::local(1)?;
    let err = job_error(ctx.parallelize(vec![1], 1).map(|_| -> i32 { std::panic::panic_any(42u8) }).count());
    assert!(err.to_string().contains("non-string payload"), "{err}");
    Ok(())
}

#[test]
fn one_allowed_attempt_fails_after_one_attempt() -> TestResult {
    let ctx = Context::builder().threads(2).max_task_attempts(1).build()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let result = ctx.parallelize(vec![1, 2, 3], 1).map(move |x| {
        seen.fetch_add(1, Ordering::SeqCst);
        if x == 2 {
            panic!("no second chance");
        }
        x
    });
    let err = job_error(result.collect());
    assert!(err.to_string().contains("attempt 1 of 1"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "elements 1 and 2, once");
    assert_eq!(ctx.last_job().expect("a job ran").tasks_launched(), 1);
    Ok(())
}

#[test]
fn a_failing_save_leaves_no_output_and_a_retried_one_no_duplicates() -> TestResult {
    let ctx = crate::retrying(2)?;
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out");
    let url = out.to_str().expect("a UTF-8 temp path");
    let data = numbers(12);
    let bad = data[8];

    let failing = ctx.parallelize(data.clone(), 3).map(move |x| if x == bad { panic!("cannot format {x}") } else { x });
    job_error(failing.save_as_text_file(url));
    let left = files_under(&out);
    assert!(
        !left.iter().any(|n| n.starts_with("part-") || n == "_SUCCESS"),
        "visible output after a failure: {left:?}"
    );

    // The failed attempt left nothing that blocks a new output at the same place; a task that
    // fails once is retried without writing its lines twice.
    let once = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&once);
    let flaky = ctx.parallelize(data.clone(), 3).map(move |x| {
        if x == bad && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("transient");
        }
        x
    });
    flaky.save_as_text_file(url)?;
    assert!(ctx.last_job().expect("a job ran").tasks_failed() >= 1);
    let mut names = files_under(&out);
    names.sort();
    assert_eq!(names, vec!["_SUCCESS", "part-00000", "part-00001", "part-00002"]);
    let mut written = Vec::new();
    for p in 0..3 {
        written.push(std::fs::read_to_string(out.join(format!("part-{p:05}")))?);
    }
    let expected: Vec<String> = slices(&data, 3).iter().map(|s| s.iter().map(|x| format!("{x}\n")).collect()).collect();
    assert_eq!(written, expected);
    Ok(())
}

#[test]
fn a_failed_sampling_job_fails_the_sorted_rdd_when_used() -> TestResult {
    let ctx = Context::local(2)?;
    let broken = ctx
        .parallelize(vec![(3, 'c'), (1, 'a'), (2, 'b')], 2)
        .map(|kv| if kv.0 == 2 { panic!("unsortable") } else { kv });
    let sorted = broken.sort_by_key(true); // the sampling job fails here, quietly
    let err = job_error(sorted.collect());
    let text = err.to_string();
    assert!(text.contains("sampling keys for sort_by_key failed") && text.contains("unsortable"), "{text}");
    Ok(())
}

#[test]
fn bad_master_strings_are_config_errors_naming_the_value() {
    for bad in ["bogus", "local[0]", "local[x]", "local[2", "spark://host:7077"] {
        match Context::builder().master(bad).build() {
            Err(err) if err.kind() == ErrorKind::Config => {
                let text = err.to_string();
                assert!(text.contains(&format!("EMBER_MASTER {bad:?}")), "{text}");
            }
            Err(other) => panic!("{bad}: expected a config error, got {other}"),
            Ok(ctx) => panic!("{bad} was accepted as {} threads", ctx.parallelism()),
        }
    }
}

#[test]
fn good_master_strings_set_the_thread_count() -> TestResult {
    assert_eq!(Context::builder().master("local").build()?.parallelism(), 1);
    assert_eq!(Context::builder().master("local[3]").build()?.parallelism(), 3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(Context::builder().master("local[*]").build()?.parallelism(), cores);
    Ok(())
}

/// A narrow chain thousands of operations long computes on the workers (each operation is one
/// nested iterator, so this needs the workers' large stacks). Built and dropped on a thread
/// with a large stack too: dropping the chain recurses through its nodes.
#[test]
fn a_deep_narrow_chain_computes() {
    let handle = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            let ctx = Context::local(2).unwrap();
            let mut rdd = ctx.parallelize((0..100i64).collect(), 2);
            for _ in 0..10_000 {
                rdd = rdd.map(|x| x + 1);
            }
            rdd.collect().unwrap()
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), (10_000..10_100i64).collect::<Vec<_>>());
}
