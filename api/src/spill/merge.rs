//! The k-way merge of sorted streams.

use std::cmp::Ordering;

use ember_engine::{TaskContext, TaskFailure};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::run::Run;
use crate::rdd::PartitionIter;

/// The most runs merged at once. More runs are first merged, this many at a time, into longer
/// runs on disk, so open files and read buffers stay bounded.
pub(crate) const MAX_WIDTH: usize = 32;

/// Merges streams each sorted by `cmp` into one sorted stream. Picks the smallest head by a
/// linear scan: with at most [`MAX_WIDTH`] streams this costs less than a heap's bookkeeping.
/// Equal elements come out in stream order.
pub(crate) struct Merge<T, F> {
    streams: Vec<PartitionIter<T>>,
    heads: Vec<Option<T>>,
    cmp: F,
}

impl<T, F: Fn(&T, &T) -> Ordering> Merge<T, F> {
    pub(crate) fn new(mut streams: Vec<PartitionIter<T>>, cmp: F) -> Self {
        let heads = streams.iter_mut().map(Iterator::next).collect();
        Merge { streams, heads, cmp }
    }
}

impl<T, F: Fn(&T, &T) -> Ordering> Iterator for Merge<T, F> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let mut best: Option<usize> = None;
        for (i, head) in self.heads.iter().enumerate() {
            let Some(head) = head else { continue };
            let better = match best.and_then(|b| self.heads[b].as_ref()) {
                None => true,
                Some(current) => (self.cmp)(head, current) == Ordering::Less,
            };
            if better {
                best = Some(i);
            }
        }
        let i = best?;
        let next = self.streams[i].next();
        std::mem::replace(&mut self.heads[i], next)
    }
}

/// Reduces `runs` to at most [`MAX_WIDTH`] by merging the oldest runs, [`MAX_WIDTH`] at a
/// time, into a new run that takes their place at the front (so runs stay in the order their
/// records arrived, which the merge keeps for equal elements). `project` turns a stored record into the form `cmp` orders (and back
/// with `store`), e.g. attaching a key's hash.
pub(crate) fn narrow_runs<R, T, P, S, F>(
    ctx: &TaskContext,
    mut runs: Vec<Run>,
    project: P,
    store: S,
    cmp: F,
) -> Result<Vec<Run>, TaskFailure>
where
    R: Serialize + DeserializeOwned + 'static,
    T: 'static,
    P: Fn(R) -> T + Clone + 'static,
    S: Fn(T) -> R + Copy,
    F: Fn(&T, &T) -> Ordering + Copy,
{
    while runs.len() > MAX_WIDTH {
        let rest = runs.split_off(MAX_WIDTH);
        let streams = runs
            .into_iter()
            .map(|run| Ok(Box::new(run.read::<R>(ctx)?.map(project.clone())) as PartitionIter<T>))
            .collect::<Result<Vec<_>, TaskFailure>>()?;
        let merged = Run::write(ctx, Merge::new(streams, cmp).map(store))?;
        runs = rest;
        runs.insert(0, merged);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_sorted_streams_keeping_stream_order_for_ties() {
        let streams: Vec<PartitionIter<(u32, char)>> = vec![
            Box::new(vec![(1, 'a'), (4, 'a'), (4, 'b')].into_iter()),
            Box::new(std::iter::empty()),
            Box::new(vec![(0, 'c'), (4, 'c'), (9, 'c')].into_iter()),
        ];
        let merged: Vec<_> = Merge::new(streams, |a: &(u32, char), b: &(u32, char)| a.0.cmp(&b.0)).collect();
        assert_eq!(merged, vec![(0, 'c'), (1, 'a'), (4, 'a'), (4, 'b'), (4, 'c'), (9, 'c')]);
    }
}
