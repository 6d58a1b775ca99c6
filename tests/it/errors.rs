//! What a failed job tells its user: the operation whose closure failed (its own call site,
//! wherever it sits in a fused chain), the panic's message and location once, the partition,
//! the attempt and the element; `try_` transformations' errors as the cause; local mode's one
//! attempt per task.

use std::error::Error as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ember::prelude::*;

use crate::TestResult;

fn failed<T: std::fmt::Debug>(result: ember::Result<T>) -> ember::Error {
    match result {
        Ok(v) => panic!("expected the job to fail, got {v:?}"),
        Err(err) => err,
    }
}

/// `op at file:line` of the operation that made `rdd`, read off its lineage's first line.
fn site_of<T: ember::Data>(rdd: &Rdd<T>) -> String {
    let lineage = rdd.lineage();
    let first = lineage.lines().next().expect("a lineage line");
    // `(2) map[1] at tests/it/errors.rs:37 [...]`: the operation, its node id, its call site.
    let site = first.split_once(") ").expect("(partitions) op[id] at file:line").1;
    let (op, rest) = site.split_once('[').expect("op[id]");
    let at = rest.split_once("] ").expect("[id] at").1;
    format!("{op} {}", at.split(" [").next().expect("a site").trim())
}

/// The chain `range → map → filter → flat_map → map_partitions → reduce_by_key → foreach`
/// with a panic in the one named `which`; returns the error and the expected call site.
fn chain_failing_in(ctx: &Context, which: &'static str) -> (ember::Error, String) {
    let boom = move |at: &str| {
        if which == at {
            panic!("{at} exploded");
        }
    };
    let mapped = ctx.range(0, 20, 1, 2).map(move |x| {
        boom("map");
        x
    });
    let kept = mapped.filter(move |_| {
        boom("filter");
        true
    });
    let flat = kept.flat_map(move |x| {
        boom("flat_map");
        vec![x]
    });
    let parts = flat.map_partitions(move |it| it.inspect(move |_| boom("map_partitions")));
    let summed = parts.map(|x| (x % 3, x)).reduce_by_key(move |a, b| {
        boom("reduce_by_key");
        a + b
    });
    let values = summed.values();
    let result = values.foreach(move |_| boom("foreach"));
    let foreach_line = line!() - 1;
    let expected = match which {
        "map" => site_of(&mapped),
        "filter" => site_of(&kept),
        "flat_map" => site_of(&flat),
        "map_partitions" => site_of(&parts),
        "reduce_by_key" => site_of(&summed),
        _ => format!("foreach at {}:{foreach_line}", file!()),
    };
    (failed(result), expected)
}

#[test]
fn each_position_of_a_failing_closure_is_named_by_its_own_call_site() -> TestResult {
    let ctx = Context::local(2)?;
    for which in ["map", "filter", "flat_map", "map_partitions", "reduce_by_key", "foreach"] {
        let (err, expected) = chain_failing_in(&ctx, which);
        assert!(expected.starts_with(&format!("{which} at {}:", file!())), "{expected}");
        assert_eq!(err.call_site(), Some(expected.as_str()), "{which}: {err}");
        assert_eq!(err.kind(), ErrorKind::TaskFailed);
        assert_eq!(err.panic_message(), Some(format!("{which} exploded").as_str()), "{err}");
        let location = err.panic_location().expect("the hook saw the panic");
        assert!(location.starts_with(file!()), "the panic's own file:line:col: {location}");
        let text = err.to_string();
        assert!(text.contains(&expected) && text.contains(location), "{text}");
        assert!(text.contains("attempt 1 of 1"), "local mode tries once: {text}");
    }
    Ok(())
}

#[test]
fn the_failing_element_is_counted_within_the_operation_s_input() -> TestResult {
    let ctx = Context::local(2)?;
    // Partition 1 of range(0, 20) in 2 holds 10..20: the panic is on its element 3.
    let err = failed(
        ctx.range(0, 20, 1, 2).filter(|x| x % 2 == 1).map(|x| if x == 17 { panic!("seventeen") } else { x }).count(),
    );
    assert_eq!(err.partition(), Some(ember::engine::PartitionId(1)));
    assert_eq!(err.element(), Some(3), "11, 13, 15, then 17: {err}");
    assert!(err.to_string().contains("on element 3"), "{err}");
    let err = failed(ctx.range(0, 20, 1, 2).filter(|&x| if x == 12 { panic!("twelve") } else { true }).count());
    assert_eq!(err.element(), Some(2), "{err}");
    Ok(())
}

#[test]
fn a_try_map_error_is_the_cause_named_with_its_call_site() -> TestResult {
    let ctx = Context::local(2)?;
    let rows = ctx.parallelize(vec!["1".to_owned(), "22".to_owned(), "x3".to_owned(), "4".to_owned()], 1);
    let parsed = rows.try_map(|s| s.parse::<u32>());
    let line = format!("{}:{}", file!(), line!() - 1);
    let err = failed(parsed.map(|n| n * 2).collect());
    assert_eq!(err.call_site(), Some(format!("try_map at {line}").as_str()), "{err}");
    assert_eq!(err.element(), Some(2));
    let cause = err.source().expect("the parse error is the source");
    assert_eq!(cause.to_string(), "x3".parse::<u32>().unwrap_err().to_string());
    assert_eq!(err.panic_message(), None, "an error, not a panic");

    // try_flat_map and try_filter, pulled in batches and record by record (map_partitions).
    let numbers = ctx.parallelize(vec!["1,2".to_owned(), "3,oops".to_owned()], 1);
    let flat = numbers.try_flat_map(|row| row.split(',').map(str::parse::<i32>).collect::<Result<Vec<_>, _>>());
    let err = failed(flat.collect());
    assert!(err.call_site().is_some_and(|at| at.starts_with("try_flat_map at ")), "{err}");
    assert_eq!(err.element(), Some(1));
    let one_by_one = flat.map_partitions(|it| it.collect::<Vec<_>>());
    let err = failed(one_by_one.collect());
    assert!(err.call_site().is_some_and(|at| at.starts_with("try_flat_map at ")), "record by record too: {err}");
    let kept = ctx.parallelize(vec!["5".to_owned(), "50".to_owned()], 1).try_filter(|s| s.parse::<u8>().map(|n| n > 9));
    assert_eq!(kept.collect()?, vec!["50".to_owned()]);
    let err = failed(
        ctx.parallelize(vec!["5".to_owned(), "500".to_owned()], 1)
            .try_filter(|s| s.parse::<u8>().map(|n| n > 9))
            .count(),
    );
    assert!(err.to_string().contains("too large"), "{err}");
    Ok(())
}

#[test]
fn debug_of_an_error_is_its_readable_message() -> TestResult {
    let ctx = Context::local(1)?;
    let err = failed(ctx.parallelize(vec![1], 1).map(|_| -> i32 { panic!("readable") }).collect());
    assert_eq!(format!("{err:?}"), err.to_string());
    let io: ember::Error = std::io::Error::new(std::io::ErrorKind::NotFound, "gone").into();
    assert_eq!(io.kind(), ErrorKind::Io);
    assert_eq!(format!("{io:?}"), io.to_string());
    Ok(())
}

#[test]
fn local_mode_tries_a_task_once_unless_told_otherwise() -> TestResult {
    let calls = Arc::new(AtomicUsize::new(0));
    let run = |ctx: &Context| {
        calls.store(0, Ordering::SeqCst);
        let seen = Arc::clone(&calls);
        failed(
            ctx.parallelize(vec![1], 1)
                .map(move |_| -> i32 {
                    seen.fetch_add(1, Ordering::SeqCst);
                    panic!("deterministic")
                })
                .count(),
        )
    };
    let err = run(&Context::local(2)?);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "{err}");
    assert!(err.to_string().contains("attempt 1 of 1"), "{err}");

    let ctx = Context::builder().master("local[2,3]").build()?;
    assert_eq!(ctx.master(), "local[2,3]");
    let err = run(&ctx);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "{err}");
    assert!(err.to_string().contains("attempt 3 of 3"), "{err}");

    let ctx = Context::builder().master("local[2,3]").max_task_attempts(2).build()?;
    run(&ctx);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the builder wins");
    Ok(())
}

/// A partitioner that reports `partitions` and places every key in `index`.
#[derive(Debug)]
struct Misplacing {
    partitions: usize,
    index: usize,
}

impl Partitioner<i64> for Misplacing {
    fn num_partitions(&self) -> usize {
        self.partitions
    }

    fn partition(&self, _key: &i64) -> usize {
        self.index
    }
}

#[test]
fn a_partitioner_with_no_partitions_is_refused_naming_it() -> TestResult {
    let ctx = Context::local(2)?;
    let pairs = ctx.range(0, 100, 1, 4).map(|x| (x, x));
    let err = failed(pairs.partition_by(Misplacing { partitions: 0, index: 0 }).count());
    assert_eq!(err.kind(), ErrorKind::InvalidPartitioner, "{err}");
    let message = err.to_string();
    assert!(message.contains("Misplacing") && message.contains("0 partitions"), "{message}");
    assert!(message.contains("count at tests/it/errors.rs"), "{message}");
    Ok(())
}

#[test]
fn a_partitioner_placing_a_key_out_of_range_fails_the_job_naming_it() -> TestResult {
    let ctx = Context::local(2)?;
    let pairs = ctx.range(0, 100, 1, 4).map(|x| (x, x));
    let err = failed(pairs.partition_by(Misplacing { partitions: 3, index: 7 }).collect());
    assert_eq!(err.kind(), ErrorKind::TaskFailed, "{err}");
    let message = err.to_string();
    for part in ["Misplacing", "in partition 7", "0..3", "map partition"] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    Ok(())
}
