//! Shared pieces of the runnable Ember programs in this package's examples (listed in
//! `examples/README.md`), also used by the benchmarks so both measure the same pipeline:
//! PageRank, and the synthetic text corpus ([`corpus`]) the word count runs on.

pub mod corpus;

use ember::prelude::*;

/// Runs PageRank for `iterations` iterations on a generated graph of `pages` pages with 10
/// links each, the link lists persisted (`MemoryOnly`) or recomputed from lineage in every
/// iteration, and returns the sum of the ranks.
///
/// # Errors
/// Any job failure.
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
