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
use ember_examples::page_rank;

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
