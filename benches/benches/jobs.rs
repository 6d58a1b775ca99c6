//! The job layer's own cost: how long a trivial job takes end to end (submit, plan, launch two
//! tasks, gather, decode), and how many such jobs one context runs per second when 8 threads
//! submit them at once.
//!
//! ```text
//! cargo bench --bench jobs
//! ```

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ember::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A job with almost no work: 1,000 numbers in 2 partitions, counted.
fn trivial_job(c: &mut Criterion) {
    let ctx = Context::local(2).expect("context");
    let rdd = ctx.parallelize((0..1_000).collect::<Vec<i64>>(), 2);
    c.bench_function("trivial job: parallelize 1,000 in 2 -> count", |b| {
        b.iter(|| assert_eq!(rdd.count().expect("job"), 1_000))
    });
    c.bench_function("trivial job, async: count_async + wait", |b| {
        b.iter(|| assert_eq!(rdd.count_async().wait().expect("job"), 1_000))
    });
}

/// 10,000 trivial jobs submitted from 8 threads at once (1,250 each) to one context.
fn many_threads(c: &mut Criterion) {
    let ctx = Context::local(2).expect("context");
    let rdd = ctx.parallelize((0..1_000).collect::<Vec<i64>>(), 2);
    let mut group = c.benchmark_group("10,000 trivial jobs from 8 threads");
    group.sample_size(10);
    group.bench_function("wall time", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..8 {
                        let rdd = rdd.clone();
                        s.spawn(move || {
                            for _ in 0..1_250 {
                                assert_eq!(rdd.count().expect("job"), 1_000);
                            }
                        });
                    }
                });
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = trivial_job, many_threads
}
criterion_main!(benches);
