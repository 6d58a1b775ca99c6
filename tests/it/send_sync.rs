//! Thread-safety of the public types, and contexts that share nothing within one process.

use std::collections::HashMap;

use ember::prelude::*;

use crate::TestResult;

/// Compiles only for types that can be shared and moved between threads, and cloned.
const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

const _: () = {
    assert_send_sync_clone::<Context>();
    assert_send_sync_clone::<Rdd<String>>();
    assert_send_sync_clone::<Rdd<(String, u64)>>();
    assert_send_sync_clone::<HashPartitioner>();
    assert_send_sync_clone::<Broadcast<HashMap<String, u64>>>();
    assert_send_sync_clone::<Accumulator<ember::accumulator::Sum<u64>>>();
    assert_send_sync_clone::<Accumulator<ember::accumulator::SetAcc<String>>>();
};

/// The word counts of `lines`, computed on `ctx`.
fn word_count(ctx: &Context, lines: Vec<String>) -> ember::Result<HashMap<String, u64>> {
    ctx.parallelize(lines, 3)
        .flat_map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1u64))
        .reduce_by_key(|a, b| a + b)
        .collect_as_map()
}

fn reference(lines: &[String]) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for word in lines.iter().flat_map(|l| l.split_whitespace()) {
        *counts.entry(word.to_owned()).or_default() += 1;
    }
    counts
}

#[test]
fn two_contexts_run_jobs_concurrently_and_share_nothing() -> TestResult {
    let (one, two) = (Context::local(2)?, Context::local(1)?);
    let texts: [Vec<String>; 2] = [
        (0..40).map(|i| format!("alpha beta w{}", i % 7)).collect(),
        (0..25).map(|i| format!("gamma w{} w{}", i % 3, i % 5)).collect(),
    ];
    let rounds = 5;
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = [&one, &two]
            .into_iter()
            .zip(&texts)
            .map(|(ctx, lines)| {
                let ctx = ctx.clone(); // a clone moved to another thread drives the same workers
                s.spawn(move || -> ember::Result<Vec<HashMap<String, u64>>> {
                    (0..rounds).map(|_| word_count(&ctx, lines.clone())).collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a driver thread does not panic")).collect::<Vec<_>>()
    });
    for (result, lines) in results.into_iter().zip(&texts) {
        let expected = reference(lines);
        for counts in result? {
            assert_eq!(counts, expected);
        }
    }
    // Each context numbered and recorded its own jobs only: no process-wide state.
    for ctx in [&one, &two] {
        let history = ctx.job_history();
        assert_eq!(history.len(), rounds);
        let ids: Vec<u64> = history.iter().map(|m| m.job.0).collect();
        assert_eq!(ids, (0..rounds as u64).collect::<Vec<_>>());
    }
    assert_eq!((one.parallelism(), two.parallelism()), (2, 1));
    Ok(())
}

#[test]
fn an_rdd_can_be_shared_by_threads_running_actions_at_once() -> TestResult {
    let ctx = Context::local(2)?;
    let lines: Vec<String> = (0..30).map(|i| format!("x{} y{}", i % 4, i % 6)).collect();
    let counts = ctx
        .parallelize(lines.clone(), 4)
        .flat_map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1u64))
        .reduce_by_key(|a, b| a + b);
    let expected = reference(&lines);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| counts.collect_as_map())).collect();
        for h in handles {
            assert_eq!(h.join().expect("a driver thread does not panic")?, expected);
        }
        Ok::<(), ember::Error>(())
    })?;
    assert_eq!(ctx.job_history().len(), 3);
    Ok(())
}
