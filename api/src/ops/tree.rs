//! `tree_aggregate` and `tree_reduce`: aggregation whose partial results are merged in
//! rounds on the workers (through small shuffles) rather than all on the driver.

use std::sync::Arc;

use crate::context::Action;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::job::JobHandle;
use crate::rdd::Rdd;

impl<T: Data> Rdd<T> {
    /// Like [`Rdd::aggregate`], but with many partitions the partial results are combined in
    /// a tree of `depth` levels: each round shuffles the partials into fewer partitions
    /// (about `P^(1/depth)` times fewer) and merges them there, so the driver receives only
    /// a few. `comb` must be associative and commutative (partials are merged in no fixed
    /// order). Shuffles when the tree has more than one level.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.range(1, 1001, 1, 64);
    /// assert_eq!(rdd.tree_aggregate(0i64, |acc, x| acc + x, |a, b| a + b, 2)?, 500_500);
    /// assert!(ctx.last_job().unwrap().stages_run() > 1); // the partials were merged in a shuffle
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn tree_aggregate<U, S, C>(&self, zero: U, seq: S, comb: C, depth: usize) -> Result<U>
    where
        U: Data,
        S: Fn(U, T) -> U + Send + Sync + 'static,
        C: Fn(U, U) -> U + Send + Sync + 'static,
    {
        self.tree_aggregate_async(zero, seq, comb, depth).wait()
    }

    /// [`Rdd::tree_aggregate`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn tree_aggregate_async<U, S, C>(&self, zero: U, seq: S, comb: C, depth: usize) -> JobHandle<U>
    where
        U: Data,
        S: Fn(U, T) -> U + Send + Sync + 'static,
        C: Fn(U, U) -> U + Send + Sync + 'static,
    {
        self.tree_aggregate_for(zero, seq, comb, depth, Action::here("tree_aggregate"))
    }

    fn tree_aggregate_for<U, S, C>(&self, zero: U, seq: S, comb: C, depth: usize, action: Action) -> JobHandle<U>
    where
        U: Data,
        S: Fn(U, T) -> U + Send + Sync + 'static,
        C: Fn(U, U) -> U + Send + Sync + 'static,
    {
        let call_site = action.call_site();
        let comb = Arc::new(comb);
        let start = zero.clone();
        let mut partials: Rdd<U> = self.narrow("tree_aggregate", call_site, false, move |_, iter, _| {
            Box::new(std::iter::once(iter.fold(start.clone(), &seq)))
        });
        let mut n = partials.num_partitions();
        let scale = ((n as f64).powf(1.0 / depth.max(1) as f64).ceil() as usize).max(2);
        while n > scale + n.div_ceil(scale) {
            n /= scale;
            let target = n;
            let keyed = partials.narrow("tree_aggregate", call_site, false, move |p, iter, _| {
                Box::new(iter.map(move |u| (p % target, u)))
            });
            let merge = Arc::clone(&comb);
            partials = keyed.reduce_by_key_with_partitions(move |a, b| merge(a, b), target).values();
        }
        let merge = Arc::clone(&comb);
        partials.fold_for(zero, move |a, b| merge(a, b), action)
    }

    /// Like [`Rdd::reduce`], with the partial results merged in a tree of `depth` levels as
    /// in [`Rdd::tree_aggregate`]. `f` must be associative and commutative.
    ///
    /// # Errors
    /// an error of kind [`EmptyRdd`](crate::ErrorKind::EmptyRdd) when there are no elements.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(1, 101, 1, 16).tree_reduce(|a, b| a.max(b), 3)?, 100);
    /// assert!(ctx.parallelize(Vec::<i32>::new(), 4).tree_reduce(|a, b| a + b, 2).is_err());
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn tree_reduce<F>(&self, f: F, depth: usize) -> Result<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.tree_reduce_async(f, depth).wait()
    }

    /// [`Rdd::tree_reduce`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn tree_reduce_async<F>(&self, f: F, depth: usize) -> JobHandle<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let action = Action::here("tree_reduce");
        let f = Arc::new(f);
        let (seq_f, comb_f) = (Arc::clone(&f), f);
        let merge = move |a: Option<T>, b: Option<T>, f: &Arc<F>| match (a, b) {
            (Some(a), Some(b)) => Some(f(a, b)),
            (a, b) => a.or(b),
        };
        self.tree_aggregate_for(
            None,
            move |acc, x| merge(acc, Some(x), &seq_f),
            move |a, b| merge(a, b, &comb_f),
            depth,
            action,
        )
        .map(move |result| result.ok_or_else(|| Error::empty_rdd("tree_reduce", action.call_site())))
    }
}
