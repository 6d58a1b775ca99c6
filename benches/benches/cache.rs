//! Persistence benchmarks: the cache hit path (reading a cached partition at MemoryOnly,
//! MemoryOnlySer and DiskOnly, against recomputing it) and PageRank, 10 iterations, with the
//! link lists persisted or recomputed.
//!
//! ```text
//! cargo bench --bench cache
//! ```

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ember::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn hit_path(c: &mut Criterion) {
    let n = 1_000_000i64;
    let mut group = c.benchmark_group("cache_hit");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    for level in [None, Some(StorageLevel::MemoryOnly), Some(StorageLevel::MemoryOnlySer), Some(StorageLevel::DiskOnly)]
    {
        let ctx = Context::local(2).expect("context");
        let rdd = ctx.range(0, n, 1, 4).map(|x| (x, format!("value {x}")));
        if let Some(level) = level {
            rdd.persist(level);
            rdd.count().expect("fills the cache");
        }
        let name = level.map_or_else(|| "recompute".to_owned(), |l| l.to_string());
        group.bench_function(format!("1M (i64, String) {name}"), |b| {
            b.iter(|| rdd.map(|(k, v)| k as usize + v.len()).count().expect("job"))
        });
    }
    group.finish();
}

fn page_rank_bench(c: &mut Criterion) {
    let ctx = Context::local(2).expect("context");
    let mut group = c.benchmark_group("page_rank");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for persist in [true, false] {
        let name = if persist { "50K pages 10 iterations, persisted" } else { "50K pages 10 iterations, recomputed" };
        group.bench_function(name, |b| b.iter(|| ember_examples::page_rank(&ctx, 50_000, 10, persist).expect("job")));
    }
    group.finish();
}

criterion_group!(benches, hit_path, page_rank_bench);
criterion_main!(benches);
