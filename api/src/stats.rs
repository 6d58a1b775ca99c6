//! Numeric actions: `sum`, `min`, `max`, and on `Rdd<f64>` `mean`, `stats` ([`StatCounter`])
//! and `histogram`.

use std::panic::Location;

use serde::{Deserialize, Serialize};

use crate::data::Data;
use crate::error::{Error, Result};
use crate::rdd::Rdd;

/// Count, mean, variance, minimum and maximum of a set of numbers, computed in one pass and
/// mergeable across partitions (Spark's `StatCounter`, with the same numerically stable
/// merge). An empty counter has mean 0, min `+inf`, max `-inf` and NaN variance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatCounter {
    count: u64,
    mean: f64,
    /// Sum of squared deviations from the mean.
    m2: f64,
    min: f64,
    max: f64,
}

impl Default for StatCounter {
    fn default() -> Self {
        StatCounter { count: 0, mean: 0.0, m2: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl StatCounter {
    /// The statistics of `values`.
    ///
    /// # Examples
    /// ```
    /// let s = ember::stats::StatCounter::of([1.0, 2.0, 3.0, 4.0]);
    /// assert_eq!((s.count(), s.mean(), s.sum(), s.min(), s.max()), (4, 2.5, 10.0, 1.0, 4.0));
    /// assert_eq!(s.variance(), 1.25);
    /// assert!((s.sample_variance() - 5.0 / 3.0).abs() < 1e-12);
    /// ```
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        values.into_iter().fold(StatCounter::default(), StatCounter::push)
    }

    /// Adds one value.
    pub fn push(mut self, value: f64) -> Self {
        let delta = value - self.mean;
        self.count += 1;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self
    }

    /// Merges the statistics of another set of values.
    pub fn merge(self, other: StatCounter) -> Self {
        if other.count == 0 {
            return self;
        }
        if self.count == 0 {
            return other;
        }
        let count = self.count + other.count;
        let delta = other.mean - self.mean;
        let mean = if other.count * 10 < self.count {
            self.mean + delta * other.count as f64 / count as f64
        } else if self.count * 10 < other.count {
            other.mean - delta * self.count as f64 / count as f64
        } else {
            (self.mean * self.count as f64 + other.mean * other.count as f64) / count as f64
        };
        let m2 = self.m2 + other.m2 + delta * delta * self.count as f64 * other.count as f64 / count as f64;
        StatCounter { count, mean, m2, min: self.min.min(other.min), max: self.max.max(other.max) }
    }

    /// How many values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Their arithmetic mean (0 when there are none, as in Spark).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Their sum.
    pub fn sum(&self) -> f64 {
        self.mean * self.count as f64
    }

    /// The smallest (`+inf` when there are none).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// The largest (`-inf` when there are none).
    pub fn max(&self) -> f64 {
        self.max
    }

    /// The population variance (divided by n); NaN when there are none.
    pub fn variance(&self) -> f64 {
        if self.count == 0 { f64::NAN } else { self.m2 / self.count as f64 }
    }

    /// The population standard deviation.
    pub fn stdev(&self) -> f64 {
        self.variance().sqrt()
    }

    /// The sample variance (divided by n − 1); NaN for fewer than two values.
    pub fn sample_variance(&self) -> f64 {
        if self.count <= 1 { f64::NAN } else { self.m2 / (self.count - 1) as f64 }
    }

    /// The sample standard deviation.
    pub fn sample_stdev(&self) -> f64 {
        self.sample_variance().sqrt()
    }
}

fn call_site_string(location: &Location<'_>) -> String {
    format!("{}:{}", location.file(), location.line())
}

impl<T: Data> Rdd<T> {
    /// The sum of the elements (`T`'s zero when there are none). Runs a job.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(1, 11, 1, 3).sum()?, 55);
    /// assert_eq!(ctx.parallelize(Vec::<i64>::new(), 2).sum()?, 0);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn sum(&self) -> Result<T>
    where
        T: std::iter::Sum,
    {
        let partials = self.context().run_all(self, |_, iter, _| Ok(iter.sum::<T>()))?;
        Ok(partials.into_iter().sum())
    }

    /// The largest element. Runs a job.
    ///
    /// # Errors
    /// [`Error::EmptyRdd`] when there are no elements.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
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
        let call_site = Location::caller();
        let partials = self.context().run_all(self, |_, iter, _| Ok(iter.max()))?;
        partials
            .into_iter()
            .flatten()
            .max()
            .ok_or_else(|| Error::EmptyRdd { action: "max", call_site: call_site_string(call_site) })
    }

    /// The smallest element. Runs a job.
    ///
    /// # Errors
    /// [`Error::EmptyRdd`] when there are no elements.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![3, 9, 1], 2).min()?, 1);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn min(&self) -> Result<T>
    where
        T: Ord,
    {
        let call_site = Location::caller();
        let partials = self.context().run_all(self, |_, iter, _| Ok(iter.min()))?;
        partials
            .into_iter()
            .flatten()
            .min()
            .ok_or_else(|| Error::EmptyRdd { action: "min", call_site: call_site_string(call_site) })
    }
}

impl Rdd<f64> {
    /// Count, mean, variance (population and sample), min, max and sum in one job.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let s = ctx.parallelize(vec![2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], 3).stats()?;
    /// assert_eq!((s.count(), s.mean(), s.stdev()), (8, 5.0, 2.0));
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn stats(&self) -> Result<StatCounter> {
        let partials = self.context().run_all(self, |_, iter, _| Ok(StatCounter::of(iter)))?;
        Ok(partials.into_iter().fold(StatCounter::default(), StatCounter::merge))
    }

    /// The arithmetic mean; 0.0 when there are no elements (as Spark's `mean`).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![1.0, 2.0, 6.0], 2).mean()?, 3.0);
    /// assert_eq!(ctx.parallelize(Vec::<f64>::new(), 2).mean()?, 0.0);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn mean(&self) -> Result<f64> {
        Ok(self.stats()?.mean())
    }

    /// Counts the elements in each bucket given by sorted `bounds`: bucket `i` is
    /// `[bounds[i], bounds[i+1])`, the last one closed on the right; elements outside every
    /// bucket (and NaN) are not counted. One job, no shuffle.
    ///
    /// # Panics
    /// If fewer than two bounds are given or they are not strictly increasing.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.parallelize(vec![1.0, 5.0, 10.0, 11.0, 50.0], 2);
    /// assert_eq!(rdd.histogram_with_bounds(&[0.0, 10.0, 50.0])?, vec![2, 3]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn histogram_with_bounds(&self, bounds: &[f64]) -> Result<Vec<u64>> {
        assert!(bounds.len() >= 2, "a histogram needs at least two bounds");
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "histogram bounds must be strictly increasing");
        let bounds = bounds.to_vec();
        let buckets = bounds.len() - 1;
        let partials = self.context().run_all(self, move |_, iter, _| {
            let mut counts = vec![0u64; buckets];
            for x in iter {
                if x.is_nan() || x < bounds[0] || x > bounds[buckets] {
                    continue;
                }
                let i = bounds.partition_point(|b| *b <= x).saturating_sub(1).min(buckets - 1);
                counts[i] += 1;
            }
            Ok(counts)
        })?;
        Ok(partials.into_iter().fold(vec![0u64; buckets], |mut acc, part| {
            acc.iter_mut().zip(part).for_each(|(a, b)| *a += b);
            acc
        }))
    }

    /// Splits `[min, max]` into `buckets` equal buckets and counts the elements in each; returns
    /// the `buckets + 1` bounds and the counts. Two jobs (the range, then the counts). An RDD
    /// whose elements are all equal gives one bucket holding all of them.
    ///
    /// # Errors
    /// [`Error::EmptyRdd`] when there are no elements.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let (bounds, counts) = ctx.parallelize(vec![0.0, 1.0, 2.0, 3.0, 4.0], 2).histogram(2)?;
    /// assert_eq!((bounds, counts), (vec![0.0, 2.0, 4.0], vec![2, 3]));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn histogram(&self, buckets: usize) -> Result<(Vec<f64>, Vec<u64>)> {
        let call_site = Location::caller();
        let s = self.stats()?;
        if s.count() == 0 {
            return Err(Error::EmptyRdd { action: "histogram", call_site: call_site_string(call_site) });
        }
        let (lo, hi) = (s.min(), s.max());
        if lo == hi || buckets <= 1 {
            return Ok((vec![lo, hi], vec![s.count()]));
        }
        let width = (hi - lo) / buckets as f64;
        let mut bounds: Vec<f64> = (0..buckets).map(|i| lo + width * i as f64).collect();
        bounds.push(hi);
        let counts = self.histogram_with_bounds(&bounds)?;
        Ok((bounds, counts))
    }
}
