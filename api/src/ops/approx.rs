//! `count_approx_distinct`: the number of distinct elements estimated with HyperLogLog.
//!
//! HyperLogLog (Flajolet, Fusy, Gandouet, Meunier, 2007) keeps `m = 2^p` small registers.
//! Each element's 64-bit stable hash picks a register with its first `p` bits and stores
//! there the largest position of the first 1-bit seen in the rest. The harmonic mean of
//! `2^register` estimates the distinct count with a relative standard error of about
//! `1.04 / sqrt(m)`; small counts use linear counting on the empty registers. Registers of
//! two partitions merge by taking the maximum, so each partition sketches on its own and
//! the driver merges `m` bytes per partition.

use std::hash::Hash;

use crate::context::Action;
use crate::data::Data;
use crate::error::Result;
use crate::job::JobHandle;
use crate::partitioner::stable_hash;
use crate::rdd::Rdd;

/// A HyperLogLog sketch with `2^precision` registers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct HyperLogLog {
    precision: u32,
    registers: Vec<u8>,
}

impl HyperLogLog {
    /// The smallest sketch whose standard error is at most `relative_sd`, with `p` in 4..=18.
    pub(crate) fn for_error(relative_sd: f64) -> Self {
        let p = (2.0 * (1.04 / relative_sd).log2()).ceil().clamp(4.0, 18.0) as u32;
        HyperLogLog { precision: p, registers: vec![0; 1 << p] }
    }

    pub(crate) fn insert_hash(&mut self, hash: u64) {
        let index = (hash >> (64 - self.precision)) as usize;
        let rest = hash << self.precision;
        let rank = (rest.leading_zeros() + 1).min(64 - self.precision + 1) as u8;
        self.registers[index] = self.registers[index].max(rank);
    }

    pub(crate) fn merge(mut self, other: &HyperLogLog) -> Self {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
        self
    }

    pub(crate) fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let alpha = match self.registers.len() {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        let sum: f64 = self.registers.iter().map(|&r| 2f64.powi(-(r as i32))).sum();
        let raw = alpha * m * m / sum;
        let zeros = self.registers.iter().filter(|&&r| r == 0).count();
        let estimate = if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw };
        estimate.round() as u64
    }
}

impl<T: Data + Hash> Rdd<T> {
    /// Estimates the number of distinct elements with HyperLogLog in one job, using memory
    /// independent of the data: `relative_sd` is the wanted relative standard error
    /// (Spark's default is 0.05; the sketch uses `2^p` registers with the smallest `p` in
    /// 4..=18 such that `1.04 / sqrt(2^p) <= relative_sd`, so errors below about 0.004 are
    /// not reached). No shuffle.
    ///
    /// # Panics
    /// If `relative_sd` is not a positive number.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.range(0, 100_000, 1, 4).map(|x| x % 20_000);
    /// let estimate = rdd.count_approx_distinct(0.01)? as f64;
    /// assert!((estimate - 20_000.0).abs() < 20_000.0 * 0.04, "{estimate}");
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn count_approx_distinct(&self, relative_sd: f64) -> Result<u64> {
        self.count_approx_distinct_async(relative_sd).wait()
    }

    /// [`Rdd::count_approx_distinct`], submitted: returns the job's [`JobHandle`] at once.
    ///
    /// # Panics
    /// As [`Rdd::count_approx_distinct`].
    #[track_caller]
    pub fn count_approx_distinct_async(&self, relative_sd: f64) -> JobHandle<u64> {
        assert!(relative_sd > 0.0, "count_approx_distinct: relative_sd must be positive, got {relative_sd}");
        self.context().submit_all(
            self,
            Action::here("count_approx_distinct"),
            move |_, iter, _| {
                let mut sketch = HyperLogLog::for_error(relative_sd);
                for x in iter {
                    sketch.insert_hash(stable_hash(&x));
                }
                Ok(sketch)
            },
            |sketches: Result<Vec<HyperLogLog>>| {
                let merged = sketches?.into_iter().reduce(|a, b| a.merge(&b));
                Ok(merged.map_or(0, |s| s.estimate()))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_within_four_standard_errors() {
        for (n, sd) in [(10u64, 0.05), (1_000, 0.05), (50_000, 0.02), (300_000, 0.01)] {
            let mut sketch = HyperLogLog::for_error(sd);
            for i in 0..n {
                sketch.insert_hash(stable_hash(&i));
            }
            let est = sketch.estimate() as f64;
            assert!((est - n as f64).abs() <= 4.0 * sd * n as f64 + 1.0, "n {n}: estimate {est}");
        }
    }

    #[test]
    fn merging_equals_sketching_everything() {
        let (mut a, mut b, mut all) =
            (HyperLogLog::for_error(0.05), HyperLogLog::for_error(0.05), HyperLogLog::for_error(0.05));
        for i in 0..5000u64 {
            let h = stable_hash(&i);
            if i % 3 == 0 {
                a.insert_hash(h)
            } else {
                b.insert_hash(h)
            }
            all.insert_hash(h);
        }
        assert_eq!(a.merge(&b), all);
    }
}
