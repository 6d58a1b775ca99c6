//! Micro benchmarks of Ember's hot paths, through the public API: a fused narrow chain, a
//! shuffle with map-side combine, key partitioning, and line splitting.
//!
//! ```text
//! cargo bench --bench micro
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn narrow_chain(c: &mut Criterion) {
    let ctx = Context::local(2).expect("context");
    let n = 4_000_000i64;
    let mut group = c.benchmark_group("narrow_chain");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("range.map.filter.count", |b| {
        b.iter(|| ctx.range(0, n, 1, 4).map(|x| x * 3).filter(|x| x % 2 == 0).count().expect("job"))
    });
    group.finish();
}

fn shuffle(c: &mut Criterion) {
    let ctx = Context::local(2).expect("context");
    let n = 2_000_000i64;
    let mut group = c.benchmark_group("shuffle");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("reduce_by_key 2M pairs 100K keys", |b| {
        b.iter(|| {
            ctx.range(0, n, 1, 4)
                .map(|x| ((x * 7919) % 100_000, 1u64))
                .reduce_by_key(|a, b| a + b)
                .count()
                .expect("job")
        })
    });
    group.bench_function("group_by_key 2M pairs 100K keys", |b| {
        b.iter(|| ctx.range(0, n, 1, 4).map(|x| ((x * 7919) % 100_000, x)).group_by_key().count().expect("job"))
    });
    group.finish();
}

fn partitioning(c: &mut Criterion) {
    let keys: Vec<String> = (0..100_000).map(|i| format!("word{i}")).collect();
    let partitioner = HashPartitioner::new(64);
    let mut group = c.benchmark_group("partitioner");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("hash 100K string keys", |b| {
        b.iter(|| keys.iter().map(|k| partitioner.partition(black_box(k))).sum::<usize>())
    });
    group.finish();
}

fn lines(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("corpus.txt");
    let bytes = ember_examples::corpus::generate(&path, 32 << 20, &ember_examples::corpus::CorpusSpec::default())
        .expect("corpus");
    let ctx = Context::local(2).expect("context");
    let path = path.to_string_lossy().into_owned();
    let mut group = c.benchmark_group("text_file");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("count lines of 32 MiB", |b| {
        b.iter(|| ctx.text_file(&path, 4).and_then(|rdd| rdd.count()).expect("job"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = narrow_chain, shuffle, partitioning, lines
}
criterion_main!(benches);
