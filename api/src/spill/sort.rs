//! Sorting a partition by key under the task's memory share (`sort_by_key`'s reduce side).

use std::mem::size_of;

use ember_engine::{TaskContext, TaskFailure};

use super::estimate::{GrowthBudget, Shape};
use super::merge::{Merge, narrow_runs};
use super::run::Run;
use crate::data::Data;
use crate::rdd::PartitionIter;

/// `records` sorted by key, ascending or descending; the order of equal keys is not
/// specified. Buffers records under the task's memory share; when denied more, sorts the
/// buffer and writes it as a run; at the end merges the runs and the last buffer. Memory: the
/// buffer, or during the final merge one read buffer and one record per run.
///
/// # Errors
/// A spill that cannot be written fails the task; a run that cannot be read back is recorded
/// on the task and ends the stream.
pub(crate) fn sort_external<K: Data + Ord, V: Data>(
    records: impl Iterator<Item = (K, V)>,
    ascending: bool,
    ctx: &TaskContext,
) -> Result<PartitionIter<(K, V)>, TaskFailure> {
    let cmp = move |a: &(K, V), b: &(K, V)| if ascending { a.0.cmp(&b.0) } else { b.0.cmp(&a.0) };
    let mut budget = GrowthBudget::new(ctx);
    let mut buffer: Vec<(K, V)> = Vec::new();
    let mut runs = Vec::new();
    for record in records {
        let shape = Shape {
            len: buffer.len(),
            capacity: buffer.capacity(),
            incoming: 1,
            slot_size: size_of::<(K, V)>(),
            spill_extra: 0,
        };
        if budget.must_spill(buffer.iter(), shape) {
            let mut full_buffer = std::mem::take(&mut buffer);
            full_buffer.sort_unstable_by(cmp);
            runs.push(Run::write(ctx, full_buffer)?);
            budget.free();
        }
        buffer.push(record);
        budget.updated(1);
    }
    buffer.sort_unstable_by(cmp);
    if runs.is_empty() {
        return Ok(Box::new(buffer.into_iter()));
    }
    let runs = narrow_runs(ctx, runs, |r: (K, V)| r, |r| r, cmp)?;
    let mut streams: Vec<PartitionIter<(K, V)>> = Vec::with_capacity(runs.len() + 1);
    for run in runs {
        streams.push(Box::new(run.read::<(K, V)>(ctx)?));
    }
    streams.push(Box::new(buffer.into_iter()));
    Ok(Box::new(Merge::new(streams, cmp)))
}

/// Whether `records` are in the order `sort_external` produces, for tests.
#[cfg(test)]
pub(crate) fn is_sorted<K: Ord, V>(records: &[(K, V)], ascending: bool) -> bool {
    use std::cmp::Ordering;
    records.windows(2).all(|w| {
        let order = w[0].0.cmp(&w[1].0);
        order == Ordering::Equal || (order == Ordering::Less) == ascending
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::{RngExt, SeedableRng};

    use super::*;
    use crate::spill::merge::MAX_WIDTH;
    use crate::spill::test_context;

    fn random_pairs(n: usize) -> Vec<(u64, u32)> {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        (0..n).map(|i| (rng.random_range(0..1_000_000u64), i as u32)).collect()
    }

    #[test]
    fn sorts_in_memory_without_spilling() {
        let records = random_pairs(10_000);
        let ctx = test_context(1 << 30);
        let got: Vec<_> = sort_external(records.iter().copied(), true, &ctx).expect("sort").collect();
        let mut expected = records;
        expected.sort();
        let mut sorted_got = got.clone();
        sorted_got.sort();
        assert!(is_sorted(&got, true));
        assert_eq!(sorted_got, expected);
        assert_eq!(ctx.metrics(Duration::ZERO).spills, 0);
    }

    #[test]
    fn sorts_through_more_runs_than_one_merge_takes() {
        let records = random_pairs(500_000);
        for ascending in [true, false] {
            let ctx = test_context(256 << 10);
            let got: Vec<_> = sort_external(records.iter().copied(), ascending, &ctx).expect("sort").collect();
            assert!(ctx.take_failure().is_none());
            assert!(is_sorted(&got, ascending), "ascending: {ascending}");
            let mut multiset = got;
            multiset.sort();
            let mut expected = records.clone();
            expected.sort();
            assert_eq!(multiset, expected);
            let spills = ctx.metrics(Duration::ZERO).spills;
            assert!(spills > MAX_WIDTH as u64, "{spills} runs, so runs were merged in passes");
        }
    }
}
