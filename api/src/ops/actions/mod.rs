//! Actions: the operations that run a job and bring a result to the driver (or write it out).

// This file: `collect`, `count`, `reduce`, `fold`, `aggregate`, `take`, `first`, `is_empty`,
// the `top` and `take_ordered` family, `foreach(_partition)` and `count_by_value`, each with
// its `_async` form (the blocking form is `x_async(..).wait()`). The save
// actions and `SaveMode` are in `save.rs`; an action that belongs to an operator family lives
// with it (`count_by_key` in `pair/aggregate.rs`, the numeric ones in `numeric.rs`,
// `take_sample` in `sampling.rs`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::Hash;
use std::panic::Location;
use std::sync::Arc;

use crate::context::Action;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::job::JobHandle;
use crate::rdd::Rdd;
use crate::rdd::stream::{collect_records, for_each_record};

pub use lines::{TextLine, TsvRecord};
pub use save::SaveMode;

/// Keeps the `n` smallest items by `compare` from a stream, in ascending order, using
/// `O(n)` memory: buffers up to `2n`, then sorts and truncates.
fn smallest_n<T>(items: impl Iterator<Item = T>, n: usize, compare: &impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    if n == 0 {
        return Vec::new();
    }
    let mut kept: Vec<T> = Vec::with_capacity(2 * n);
    for item in items {
        kept.push(item);
        if kept.len() == 2 * n {
            kept.sort_by(compare);
            kept.truncate(n);
        }
    }
    kept.sort_by(compare);
    kept.truncate(n);
    kept
}

impl<T: Data> Rdd<T> {
    /// Every element, brought to the driver in partition order. Runs a job; the whole result
    /// must fit in the driver's memory.
    ///
    /// # Errors
    /// An error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) when a task fails on
    /// every attempt; of kind [`Cancelled`](crate::ErrorKind::Cancelled) when the job is
    /// cancelled.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![3, 1, 2], 2).collect()?, vec![3, 1, 2]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn collect(&self) -> Result<Vec<T>> {
        self.collect_async().wait()
    }

    /// [`Rdd::collect`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn collect_async(&self) -> JobHandle<Vec<T>> {
        self.collect_for(Action::here("collect"))
    }

    /// Collects the elements for `action`.
    pub(crate) fn collect_for(&self, action: Action) -> JobHandle<Vec<T>> {
        self.context().submit_all(
            self,
            action,
            |_, iter, tc| {
                let part = collect_records(iter)?;
                tc.add_records_written(part.len() as u64);
                Ok(part)
            },
            |parts| Ok(parts?.into_iter().flatten().collect()),
        )
    }

    /// How many elements. Runs a job.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(0, 10, 1, 3).count()?, 10);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn count(&self) -> Result<u64> {
        self.count_async().wait()
    }

    /// [`Rdd::count`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn count_async(&self) -> JobHandle<u64> {
        self.count_for(Action::here("count"))
    }

    /// Counts the elements for `action`.
    pub(crate) fn count_for(&self, action: Action) -> JobHandle<u64> {
        self.context().submit_all(
            self,
            action,
            |_, iter, _| for_each_record(iter, |_| Ok(())),
            |counts| Ok(counts?.into_iter().sum()),
        )
    }

    /// Combines all elements with `f`: each partition left to right, then the partitions'
    /// results in partition order. `f` should be associative.
    ///
    /// # Errors
    /// An error of kind [`EmptyRdd`](crate::ErrorKind::EmptyRdd) when there are no elements
    /// (as Spark's "empty collection"); as [`Rdd::collect`] otherwise.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(1, 5, 1, 2).reduce(|a, b| a * b)?, 24);
    /// let empty = ctx.parallelize(Vec::<i32>::new(), 2).reduce(|a, b| a + b);
    /// assert_eq!(empty.unwrap_err().kind(), ErrorKind::EmptyRdd);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn reduce<F>(&self, f: F) -> Result<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.reduce_async(f).wait()
    }

    /// [`Rdd::reduce`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn reduce_async<F>(&self, f: F) -> JobHandle<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let action = Action::here("reduce");
        let f = Arc::new(f);
        let per_partition = Arc::clone(&f);
        self.context().submit_all(
            self,
            action,
            move |_, iter, _| Ok(iter.reduce(|a, b| per_partition(a, b))),
            move |partials: Result<Vec<Option<T>>>| {
                partials?
                    .into_iter()
                    .flatten()
                    .reduce(|a, b| f(a, b))
                    .ok_or_else(|| Error::empty_rdd("reduce", action.call_site()))
            },
        )
    }

    /// Folds every partition from `zero` with `f`, then folds the partitions' results from
    /// `zero` in partition order (so a non-neutral `zero` counts once per partition plus once,
    /// as in Spark).
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![1, 2, 3], 2).fold(0, |a, b| a + b)?, 6);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn fold<F>(&self, zero: T, f: F) -> Result<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.fold_async(zero, f).wait()
    }

    /// [`Rdd::fold`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn fold_async<F>(&self, zero: T, f: F) -> JobHandle<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.fold_for(zero, f, Action::here("fold"))
    }

    /// Folds the elements for `action`.
    pub(crate) fn fold_for<F>(&self, zero: T, f: F, action: Action) -> JobHandle<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let (per_partition, start) = (Arc::clone(&f), zero.clone());
        self.context().submit_all(
            self,
            action,
            move |_, iter, _| Ok(iter.fold(start.clone(), |a, b| per_partition(a, b))),
            move |partials| Ok(partials?.into_iter().fold(zero, |a, b| f(a, b))),
        )
    }

    /// Aggregates into a `U`: each partition folds its elements from `zero` with `seq`, then
    /// the partitions' results are merged from `zero` with `comb` in partition order.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let (sum, n) = ctx.parallelize(vec![2.0, 4.0, 9.0], 2).aggregate((0.0, 0), |(s, n), x| (s + x, n + 1), |(s1, n1), (s2, n2)| (s1 + s2, n1 + n2))?;
    /// assert_eq!(sum / n as f64, 5.0);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn aggregate<U, S, C>(&self, zero: U, seq: S, comb: C) -> Result<U>
    where
        U: Data,
        S: Fn(U, T) -> U + Send + Sync + 'static,
        C: Fn(U, U) -> U + Send + Sync + 'static,
    {
        self.aggregate_async(zero, seq, comb).wait()
    }

    /// [`Rdd::aggregate`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn aggregate_async<U, S, C>(&self, zero: U, seq: S, comb: C) -> JobHandle<U>
    where
        U: Data,
        S: Fn(U, T) -> U + Send + Sync + 'static,
        C: Fn(U, U) -> U + Send + Sync + 'static,
    {
        let start = zero.clone();
        self.context().submit_all(
            self,
            Action::here("aggregate"),
            move |_, iter, _| Ok(iter.fold(start.clone(), &seq)),
            move |partials| Ok(partials?.into_iter().fold(zero, comb)),
        )
    }

    /// The first `n` elements in partition order. Scans partitions incrementally as Spark
    /// does: one partition first, then more (up to 4× as many) until `n` are found, so a small
    /// `take` on a large RDD computes few partitions. Runs one job per round.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(0, 1_000_000, 1, 8).take(3)?, vec![0, 1, 2]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn take(&self, n: usize) -> Result<Vec<T>> {
        self.take_at(n, Action::here("take"))
    }

    /// [`Rdd::take`], submitted: its rounds run on a thread of their own; the handle cancels
    /// and reports on whichever round is running.
    #[track_caller]
    pub fn take_async(&self, n: usize) -> JobHandle<Vec<T>> {
        let (rdd, action) = (self.clone(), Action::here("take"));
        JobHandle::spawn(move || rdd.take_at(n, action))
    }

    fn take_at(&self, n: usize, action: Action) -> Result<Vec<T>> {
        let total = self.num_partitions();
        let mut taken: Vec<T> = Vec::new();
        let mut scanned = 0;
        while taken.len() < n && scanned < total {
            let try_parts = if scanned == 0 {
                1
            } else if taken.is_empty() {
                scanned * 4
            } else {
                // Estimate from the rows per partition so far, 50% extra, at most 4× more.
                let estimate = (1.5 * n as f64 * scanned as f64 / taken.len() as f64).ceil() as usize;
                estimate.saturating_sub(scanned).clamp(1, scanned * 4)
            };
            let partitions: Vec<usize> = (scanned..(scanned + try_parts).min(total)).collect();
            let left = n - taken.len();
            let parts: Vec<Vec<T>> =
                self.context().run_job(self, &partitions, action, move |_, iter, _| Ok(iter.take(left).collect()))?;
            for part in parts {
                let room = n - taken.len();
                taken.extend(part.into_iter().take(room));
            }
            scanned += partitions.len();
        }
        Ok(taken)
    }

    /// The first element.
    ///
    /// # Errors
    /// An error of kind [`EmptyRdd`](crate::ErrorKind::EmptyRdd) when there are no elements;
    /// as [`Rdd::collect`] otherwise.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec!['x', 'y'], 2).first()?, 'x');
    /// let none = ctx.parallelize(Vec::<char>::new(), 2).first();
    /// assert_eq!(none.unwrap_err().kind(), ErrorKind::EmptyRdd);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn first(&self) -> Result<T> {
        let action = Action::here("first");
        self.take_at(1, action)?.pop().ok_or_else(|| Error::empty_rdd("first", action.call_site()))
    }

    /// [`Rdd::first`], submitted (see [`Rdd::take_async`]).
    #[track_caller]
    pub fn first_async(&self) -> JobHandle<T> {
        let (rdd, action) = (self.clone(), Action::here("first"));
        JobHandle::spawn(move || {
            rdd.take_at(1, action)?.pop().ok_or_else(|| Error::empty_rdd("first", action.call_site()))
        })
    }

    /// True when the RDD has no elements (scans partitions until it finds one).
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert!(ctx.parallelize(Vec::<u8>::new(), 3).is_empty()?);
    /// assert!(!ctx.parallelize(vec![1u8], 3).is_empty()?);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.num_partitions() == 0 || self.take_at(1, Action::here("is_empty"))?.is_empty())
    }

    /// [`Rdd::is_empty`], submitted (see [`Rdd::take_async`]).
    #[track_caller]
    pub fn is_empty_async(&self) -> JobHandle<bool> {
        let (rdd, action) = (self.clone(), Action::here("is_empty"));
        JobHandle::spawn(move || Ok(rdd.num_partitions() == 0 || rdd.take_at(1, action)?.is_empty()))
    }

    /// The `n` elements with the largest `key`, largest first. Each partition keeps only its
    /// own top `n`, so memory is `O(n)` per task.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let words = ctx.parallelize(vec![('a', 5), ('b', 9), ('c', 1)], 2);
    /// assert_eq!(words.top_by(2, |(_, n)| *n)?, vec![('b', 9), ('a', 5)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn top_by<K, F>(&self, n: usize, key: F) -> Result<Vec<T>>
    where
        K: Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.top_by_async(n, key).wait()
    }

    /// [`Rdd::top_by`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn top_by_async<K, F>(&self, n: usize, key: F) -> JobHandle<Vec<T>>
    where
        K: Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.smallest_by(n, Action::here("top_by"), move |a, b| key(b).cmp(&key(a)))
    }

    /// The `n` largest elements, largest first.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![5, 1, 4, 2], 2).top(2)?, vec![5, 4]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn top(&self, n: usize) -> Result<Vec<T>>
    where
        T: Ord,
    {
        self.top_async(n).wait()
    }

    /// [`Rdd::top`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn top_async(&self, n: usize) -> JobHandle<Vec<T>>
    where
        T: Ord,
    {
        self.smallest_by(n, Action::here("top"), |a: &T, b: &T| b.cmp(a))
    }

    /// The `n` smallest elements, smallest first.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![5, 1, 4, 2], 2).take_ordered(2)?, vec![1, 2]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn take_ordered(&self, n: usize) -> Result<Vec<T>>
    where
        T: Ord,
    {
        self.take_ordered_async(n).wait()
    }

    /// [`Rdd::take_ordered`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn take_ordered_async(&self, n: usize) -> JobHandle<Vec<T>>
    where
        T: Ord,
    {
        self.smallest_by(n, Action::here("take_ordered"), |a: &T, b: &T| a.cmp(b))
    }

    /// The `n` elements with the smallest `key`, smallest first.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let words = ctx.parallelize(vec!["ccc".to_string(), "a".into(), "bb".into()], 2);
    /// assert_eq!(words.take_ordered_by(2, |w| w.len())?, vec!["a", "bb"]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn take_ordered_by<K, F>(&self, n: usize, key: F) -> Result<Vec<T>>
    where
        K: Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.take_ordered_by_async(n, key).wait()
    }

    /// [`Rdd::take_ordered_by`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn take_ordered_by_async<K, F>(&self, n: usize, key: F) -> JobHandle<Vec<T>>
    where
        K: Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.smallest_by(n, Action::here("take_ordered_by"), move |a, b| key(a).cmp(&key(b)))
    }

    /// The `n` smallest elements by `compare`: each partition's, then theirs.
    fn smallest_by<F>(&self, n: usize, action: Action, compare: F) -> JobHandle<Vec<T>>
    where
        F: Fn(&T, &T) -> Ordering + Send + Sync + 'static,
    {
        let compare = Arc::new(compare);
        let per_partition = Arc::clone(&compare);
        self.context().submit_all(
            self,
            action,
            move |_, iter, _| Ok(smallest_n(iter, n, &*per_partition)),
            move |parts: Result<Vec<Vec<T>>>| Ok(smallest_n(parts?.into_iter().flatten(), n, &*compare)),
        )
    }

    /// Runs `f` on every element, on the workers (for side effects such as writing to an
    /// external system). Runs a job.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let total = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    /// let sink = std::sync::Arc::clone(&total);
    /// ctx.range(1, 5, 1, 2).foreach(move |x| { sink.fetch_add(x, std::sync::atomic::Ordering::Relaxed); })?;
    /// assert_eq!(total.load(std::sync::atomic::Ordering::Relaxed), 10);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn foreach<F>(&self, f: F) -> Result<()>
    where
        F: Fn(T) + Send + Sync + 'static,
    {
        self.foreach_async(f).wait()
    }

    /// [`Rdd::foreach`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn foreach_async<F>(&self, f: F) -> JobHandle<()>
    where
        F: Fn(T) + Send + Sync + 'static,
    {
        self.context().submit_all(
            self,
            Action::here("foreach"),
            move |_, iter, _| {
                for_each_record(iter, |x| {
                    f(x);
                    Ok(())
                })?;
                Ok(())
            },
            |done: Result<Vec<()>>| done.map(drop),
        )
    }

    /// Runs `f` once per partition with the partition's iterator, on the workers. Runs a job.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let parts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    /// let seen = std::sync::Arc::clone(&parts);
    /// ctx.range(0, 9, 1, 3).foreach_partition(move |_| { seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed); })?;
    /// assert_eq!(parts.load(std::sync::atomic::Ordering::Relaxed), 3);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn foreach_partition<F>(&self, f: F) -> Result<()>
    where
        F: Fn(crate::rdd::PartitionIter<T>) + Send + Sync + 'static,
    {
        self.foreach_partition_async(f).wait()
    }

    /// [`Rdd::foreach_partition`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn foreach_partition_async<F>(&self, f: F) -> JobHandle<()>
    where
        F: Fn(crate::rdd::PartitionIter<T>) + Send + Sync + 'static,
    {
        self.context().submit_all(
            self,
            Action::here("foreach_partition"),
            move |_, iter, _| {
                f(iter);
                Ok(())
            },
            |done: Result<Vec<()>>| done.map(drop),
        )
    }

    /// How many times each distinct element occurs, returned to the driver. Runs a job with a
    /// shuffle (map-side combined).
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let counts = ctx.parallelize(vec!['a', 'b', 'a'], 2).count_by_value()?;
    /// assert_eq!((counts[&'a'], counts[&'b']), (2, 1));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn count_by_value(&self) -> Result<HashMap<T, u64>>
    where
        T: Hash + Eq,
    {
        self.count_by_value_async().wait()
    }

    /// [`Rdd::count_by_value`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn count_by_value_async(&self) -> JobHandle<HashMap<T, u64>>
    where
        T: Hash + Eq,
    {
        let action = Action::here("count_by_value");
        let call_site: &'static Location<'static> = action.call_site();
        let ones = self.narrow("count_by_value", call_site, false, |_, iter, _| Box::new(iter.map(|x| (x, 1u64))));
        ones.reduce_by_key(|a, b| a + b).collect_as_map_for(action)
    }
}

// Declared after the impl above: rustdoc lists `Rdd`'s methods in module order, so
// `collect` and `count` come before the saves.
mod lines;
mod save;

#[cfg(test)]
mod tests {
    use super::smallest_n;

    #[test]
    fn smallest_n_keeps_order() {
        let by = |a: &i32, b: &i32| a.cmp(b);
        assert_eq!(smallest_n([5, 3, 9, 1, 7, 1].into_iter(), 3, &by), vec![1, 1, 3]);
        assert_eq!(smallest_n([2, 1].into_iter(), 5, &by), vec![1, 2]);
        assert!(smallest_n([2, 1].into_iter(), 0, &by).is_empty());
    }
}
