//! Numeric actions: `sum`, `min`, `max`, and on `Rdd<f64>` `mean`, `stats`
//! ([`StatCounter`]) and `histogram`, each with its `_async` form.

use crate::context::Action;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::job::JobHandle;
use crate::rdd::Rdd;
use crate::stats::StatCounter;

impl<T: Data> Rdd<T> {
    /// The sum of the elements (`T`'s zero when there are none). Runs a job.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(1, 11, 1, 3).sum()?, 55);
    /// assert_eq!(ctx.parallelize(Vec::<i64>::new(), 2).sum()?, 0);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn sum(&self) -> Result<T>
    where
        T: std::iter::Sum,
    {
        self.sum_async().wait()
    }

    /// [`Rdd::sum`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn sum_async(&self) -> JobHandle<T>
    where
        T: std::iter::Sum,
    {
        self.context().submit_all(
            self,
            Action::here("sum"),
            |_, iter, _| Ok(iter.sum::<T>()),
            |partials: Result<Vec<T>>| Ok(partials?.into_iter().sum()),
        )
    }

    /// The largest element. Runs a job.
    ///
    /// # Errors
    /// An error of kind [`EmptyRdd`](crate::ErrorKind::EmptyRdd) when there are no elements;
    /// as [`Rdd::collect`] otherwise.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![3, 9, 1], 2).max()?, 9);
    /// assert!(ctx.parallelize(Vec::<i32>::new(), 2).max().is_err());
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn max(&self) -> Result<T>
    where
        T: Ord,
    {
        self.max_async().wait()
    }

    /// [`Rdd::max`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn max_async(&self) -> JobHandle<T>
    where
        T: Ord,
    {
        let action = Action::here("max");
        self.context().submit_all(
            self,
            action,
            |_, iter, _| Ok(iter.max()),
            move |partials: Result<Vec<Option<T>>>| {
                partials?.into_iter().flatten().max().ok_or_else(|| Error::empty_rdd("max", action.call_site()))
            },
        )
    }

    /// The smallest element. Runs a job.
    ///
    /// # Errors
    /// As [`Rdd::max`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![3, 9, 1], 2).min()?, 1);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn min(&self) -> Result<T>
    where
        T: Ord,
    {
        self.min_async().wait()
    }

    /// [`Rdd::min`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn min_async(&self) -> JobHandle<T>
    where
        T: Ord,
    {
        let action = Action::here("min");
        self.context().submit_all(
            self,
            action,
            |_, iter, _| Ok(iter.min()),
            move |partials: Result<Vec<Option<T>>>| {
                partials?.into_iter().flatten().min().ok_or_else(|| Error::empty_rdd("min", action.call_site()))
            },
        )
    }
}

impl Rdd<f64> {
    /// Count, mean, variance (population and sample), min, max and sum in one job.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let s = ctx.parallelize(vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], 3).stats()?;
    /// assert_eq!((s.count(), s.mean(), s.stdev()), (8, 5.0, 2.0));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn stats(&self) -> Result<StatCounter> {
        self.stats_async().wait()
    }

    /// [`Rdd::stats`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn stats_async(&self) -> JobHandle<StatCounter> {
        self.stats_for(Action::here("stats"))
    }

    fn stats_for(&self, action: Action) -> JobHandle<StatCounter> {
        self.context().submit_all(
            self,
            action,
            |_, iter, _| Ok(StatCounter::of(iter)),
            |partials: Result<Vec<StatCounter>>| {
                Ok(partials?.into_iter().fold(StatCounter::default(), StatCounter::merge))
            },
        )
    }

    /// The arithmetic mean; 0.0 when there are no elements (as Spark's `mean`).
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![1.0, 2.0, 6.0], 2).mean()?, 3.0);
    /// assert_eq!(ctx.parallelize(Vec::<f64>::new(), 2).mean()?, 0.0);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn mean(&self) -> Result<f64> {
        self.mean_async().wait()
    }

    /// [`Rdd::mean`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn mean_async(&self) -> JobHandle<f64> {
        let rdd = self.clone();
        let action = Action::here("mean");
        JobHandle::spawn(move || Ok(rdd.stats_for(action).wait()?.mean()))
    }

    /// Counts the elements in each bucket given by sorted `bounds`: bucket `i` is
    /// `[bounds[i], bounds[i+1])`, the last one closed on the right; elements outside every
    /// bucket (and NaN) are not counted. One job, no shuffle.
    ///
    /// # Errors
    /// As [`Rdd::collect`].
    ///
    /// # Panics
    /// If fewer than two bounds are given or they are not strictly increasing.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.parallelize(vec![1.0, 5.0, 10.0, 11.0, 50.0], 2);
    /// assert_eq!(rdd.histogram_with_bounds(&[0.0, 10.0, 50.0])?, vec![2, 3]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn histogram_with_bounds(&self, bounds: &[f64]) -> Result<Vec<u64>> {
        self.histogram_with_bounds_async(bounds).wait()
    }

    /// [`Rdd::histogram_with_bounds`], submitted: returns the job's [`JobHandle`] at once.
    ///
    /// # Panics
    /// As [`Rdd::histogram_with_bounds`].
    #[track_caller]
    pub fn histogram_with_bounds_async(&self, bounds: &[f64]) -> JobHandle<Vec<u64>> {
        self.histogram_for(bounds, Action::here("histogram_with_bounds"))
    }

    fn histogram_for(&self, bounds: &[f64], action: Action) -> JobHandle<Vec<u64>> {
        assert!(bounds.len() >= 2, "a histogram needs at least two bounds");
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "histogram bounds must be strictly increasing");
        let bounds = bounds.to_vec();
        let buckets = bounds.len() - 1;
        self.context().submit_all(
            self,
            action,
            move |_, iter, _| {
                let mut counts = vec![0u64; buckets];
                for x in iter {
                    if x.is_nan() || x < bounds[0] || x > bounds[buckets] {
                        continue;
                    }
                    let i = bounds.partition_point(|b| *b <= x).saturating_sub(1).min(buckets - 1);
                    counts[i] += 1;
                }
                Ok(counts)
            },
            move |partials: Result<Vec<Vec<u64>>>| {
                Ok(partials?.into_iter().fold(vec![0u64; buckets], |mut acc, part| {
                    acc.iter_mut().zip(part).for_each(|(a, b)| *a += b);
                    acc
                }))
            },
        )
    }

    /// Splits `[min, max]` into `buckets` equal buckets and counts the elements in each; returns
    /// the `buckets + 1` bounds and the counts. Two jobs (the range, then the counts). An RDD
    /// whose elements are all equal gives one bucket holding all of them.
    ///
    /// # Errors
    /// An error of kind [`EmptyRdd`](crate::ErrorKind::EmptyRdd) when there are no elements;
    /// as [`Rdd::collect`] otherwise.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let (bounds, counts) = ctx.parallelize(vec![0.0, 1.0, 2.0, 3.0, 4.0], 2).histogram(2)?;
    /// assert_eq!((bounds, counts), (vec![0.0, 2.0, 4.0], vec![2, 3]));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn histogram(&self, buckets: usize) -> Result<(Vec<f64>, Vec<u64>)> {
        self.histogram_at(buckets, Action::here("histogram"))
    }

    /// [`Rdd::histogram`], submitted: its two jobs run on a thread of their own.
    #[track_caller]
    pub fn histogram_async(&self, buckets: usize) -> JobHandle<(Vec<f64>, Vec<u64>)> {
        let (rdd, action) = (self.clone(), Action::here("histogram"));
        JobHandle::spawn(move || rdd.histogram_at(buckets, action))
    }

    fn histogram_at(&self, buckets: usize, action: Action) -> Result<(Vec<f64>, Vec<u64>)> {
        let s = self.stats_for(action).wait()?;
        if s.count() == 0 {
            return Err(Error::empty_rdd("histogram", action.call_site()));
        }
        let (lo, hi) = (s.min(), s.max());
        if lo == hi || buckets <= 1 {
            return Ok((vec![lo, hi], vec![s.count()]));
        }
        let width = (hi - lo) / buckets as f64;
        let mut bounds: Vec<f64> = (0..buckets).map(|i| lo + width * i as f64).collect();
        bounds.push(hi);
        let counts = self.histogram_for(&bounds, action).wait()?;
        Ok((bounds, counts))
    }
}
