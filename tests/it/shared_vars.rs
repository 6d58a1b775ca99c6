//! Broadcast variables (shared, never copied per task) and accumulators (applied exactly once
//! per partition of an action, even when attempts fail after adding).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ember::accumulator::{ListAcc, Max, Min, SetAcc, Sum};
use ember::prelude::*;

use crate::TestResult;

#[test]
fn broadcast_value_is_shared_by_every_task_not_copied() -> TestResult {
    let ctx = Context::local(3)?;
    let table: HashMap<i64, String> = (0..100).map(|k| (k, format!("name{k}"))).collect();
    let b = ctx.broadcast(table)?;
    let driver_addr = b.value() as *const HashMap<i64, String> as usize;
    let inner = b.clone();
    let addrs = ctx
        .range(0, 100, 1, 8)
        .map_partitions(move |it| {
            let addr = inner.value() as *const HashMap<i64, String> as usize;
            let names: Vec<String> = it.map(|k| inner.value()[&k].clone()).collect();
            std::iter::once((addr, names.len()))
        })
        .collect()?;
    assert!(addrs.iter().all(|&(a, _)| a == driver_addr));
    assert_eq!(addrs.iter().map(|&(_, n)| n).sum::<usize>(), 100);
    b.destroy();
    assert!(b.is_destroyed());
    let after = b.clone();
    let err = ctx.range(0, 2, 1, 1).map(move |k| after.value().len() as i64 + k).collect();
    assert!(err.is_err_and(|e| e.to_string().contains("used after destroy")));
    Ok(())
}

#[test]
fn accumulator_updates_apply_once_when_the_first_attempt_fails_after_adding() -> TestResult {
    let ctx = crate::retrying(2)?;
    let acc = ctx.accumulator(Sum::<u64>::new());
    let failed_once = Arc::new(Mutex::new(HashSet::new()));
    let (a, failed) = (acc.clone(), Arc::clone(&failed_once));
    let rdd = ctx.range(0, 100, 1, 4).map_partitions_with_index(move |p, it| {
        let values: Vec<i64> = it.collect();
        for _ in &values {
            a.add(1);
        }
        if failed.lock().unwrap_or_else(|e| e.into_inner()).insert(p) {
            panic!("injected failure after adding, partition {p}");
        }
        values
    });
    assert_eq!(rdd.count()?, 100);
    assert_eq!(acc.value(), 100, "each partition's updates applied exactly once");
    let job = ctx.last_job().expect("a job ran");
    assert_eq!((job.tasks_failed(), job.tasks_launched()), (4, 8));
    Ok(())
}

#[test]
fn accumulators_in_a_failing_shuffle_map_stage_apply_once() -> TestResult {
    let ctx = crate::retrying(2)?;
    let acc = ctx.accumulator(Sum::<i64>::new());
    let failed = Arc::new(Mutex::new(HashSet::new()));
    let (a, f) = (acc.clone(), Arc::clone(&failed));
    let sums = ctx
        .range(0, 60, 1, 3)
        .map_partitions_with_index(move |p, it| {
            let v: Vec<(i64, i64)> = it.map(|x| (x % 5, x)).collect();
            v.iter().for_each(|&(_, x)| a.add(x));
            if f.lock().unwrap_or_else(|e| e.into_inner()).insert(p) {
                panic!("injected");
            }
            v
        })
        .reduce_by_key(|a, b| a + b)
        .collect()?;
    assert_eq!(sums.iter().map(|&(_, s)| s).sum::<i64>(), (0..60).sum::<i64>());
    assert_eq!(acc.value(), (0..60).sum::<i64>());
    Ok(())
}

#[test]
fn built_in_accumulators() -> TestResult {
    let ctx = Context::local(2)?;
    let fsum = ctx.accumulator(Sum::<f64>::new());
    let max = ctx.accumulator(Max::<i64>::new());
    let min = ctx.accumulator(Min::<i64>::new());
    let list = ctx.accumulator(ListAcc::<i64>::new());
    let set = ctx.accumulator(SetAcc::<i64>::new());
    let (f, mx, mn, l, s) = (fsum.clone(), max.clone(), min.clone(), list.clone(), set.clone());
    ctx.parallelize(vec![3, -7, 12, 3, 0], 3).foreach(move |x| {
        f.add(x as f64 * 0.5);
        mx.add(x);
        mn.add(x);
        l.add(x);
        s.add(x % 2);
    })?;
    assert_eq!(fsum.value(), 5.5);
    assert_eq!((max.value(), min.value()), (Some(12), Some(-7)));
    let mut all = list.value();
    all.sort();
    assert_eq!(all, vec![-7, 0, 3, 3, 12]);
    assert_eq!(set.value(), HashSet::from([1, -1, 0]));
    // The driver may add directly; reset returns to zero.
    max.add(100);
    assert_eq!(max.value(), Some(100));
    max.reset();
    assert_eq!(max.value(), None);
    Ok(())
}

#[test]
fn reading_an_accumulator_inside_a_task_fails_the_task() -> TestResult {
    let ctx = Context::builder().threads(1).max_task_attempts(1).build()?;
    let acc = ctx.accumulator(Sum::<u64>::new());
    let a = acc.clone();
    let err = ctx.range(0, 1, 1, 1).map(move |x| x + a.value() as i64).collect();
    assert!(err.is_err_and(|e| e.to_string().contains("only the driver")));
    Ok(())
}
