//! Iterative PageRank on a generated graph, run with and without `persist`, printing both
//! times.
//!
//! ```text
//! cargo run --release --example page_rank -- [PAGES] [ITERATIONS]
//! ```
//!
//! Defaults: 50 000 pages with 10 links each, 10 iterations. The link lists are reused by
//! every iteration: persisted, they are computed once; otherwise every iteration recomputes
//! them from lineage (generation and grouping included).

use std::error::Error;
use std::time::Instant;

use ember::prelude::*;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let pages: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(50_000);
    let iterations: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let ctx = Context::from_env()?;

    let (cached, cached_secs) = timed(|| page_rank(&ctx, pages, iterations, true))?;
    let (recomputed, recomputed_secs) = timed(|| page_rank(&ctx, pages, iterations, false))?;
    assert!((cached - recomputed).abs() < 1e-6 * cached.abs().max(1.0), "both runs agree");
    println!("pages: {pages}, iterations: {iterations}, threads: {}", ctx.parallelism());
    println!("with persist:    {cached_secs:.2} s (rank sum {cached:.3})");
    println!("without persist: {recomputed_secs:.2} s (rank sum {recomputed:.3})");
    Ok(())
}

fn timed<T>(f: impl FnOnce() -> ember::Result<T>) -> ember::Result<(T, f64)> {
    let started = Instant::now();
    let value = f()?;
    Ok((value, started.elapsed().as_secs_f64()))
}

/// Runs PageRank and returns the sum of the ranks.
pub fn page_rank(ctx: &Context, pages: i64, iterations: usize, persist: bool) -> ember::Result<f64> {
    let partitions = ctx.parallelism() * 2;
    let links = ctx
        .range(0, pages, 1, partitions)
        .flat_map(move |p| (1..=10).map(move |k| (p, (p * 7 + k * k * 13 + k) % pages)).collect::<Vec<_>>())
        .group_by_key_with_partitions(partitions);
    if persist {
        links.persist(StorageLevel::MemoryOnly);
    }
    let mut ranks = links.map_values(|_| 1.0f64);
    for _ in 0..iterations {
        let contributions = links.join(&ranks).flat_map(|(_, (targets, rank))| {
            let share = rank / targets.len() as f64;
            targets.into_iter().map(move |t| (t, share)).collect::<Vec<_>>()
        });
        ranks = contributions.reduce_by_key_with_partitions(|a, b| a + b, partitions).map_values(|r| 0.15 + 0.85 * r);
    }
    let total = ranks.values().fold(0.0, |a, b| a + b)?;
    links.unpersist();
    Ok(total)
}
