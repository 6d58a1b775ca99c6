//! [`StatCounter`]: count, mean, variance, minimum and maximum in one mergeable pass, what
//! [`Rdd::stats`](crate::Rdd::stats) returns. The numeric actions (`sum`, `min`, `max`, and on
//! `Rdd<f64>` `stats`, `mean` and `histogram`) are methods of [`Rdd`](crate::Rdd).

use serde::{Deserialize, Serialize};

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
