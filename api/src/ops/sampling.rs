//! Random sampling: `sample`, `random_split` (narrow) and `take_sample` (an action).
//!
//! Every random draw comes from a PCG generator seeded from the user's seed and the
//! partition index, so a sample is the same on every run, every thread count and every
//! retry of a task.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::context::Action;
use crate::data::Data;
use crate::error::Result;
use crate::job::JobHandle;
use crate::rdd::Rdd;

/// The generator for `partition` under `seed`.
fn rng_for(seed: u64, partition: usize) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(seed ^ (partition as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17))
}

/// A Poisson draw with mean `lambda` (Knuth's method, splitting large means so `exp` stays
/// representable).
fn poisson(rng: &mut Pcg64Mcg, lambda: f64) -> usize {
    let mut left = lambda;
    let mut k = 0usize;
    while left > 0.0 {
        let step = left.min(30.0);
        left -= step;
        let limit = (-step).exp();
        let mut p: f64 = rng.random();
        while p > limit {
            k += 1;
            p *= rng.random::<f64>();
        }
    }
    k
}

impl<T: Data> Rdd<T> {
    /// A random sample: without replacement, each element is kept with probability
    /// `fraction` (in `[0, 1]`); with replacement, each element appears a Poisson(`fraction`)
    /// number of times (`fraction` is then the expected count and may exceed 1). The size is
    /// only about `fraction` of the count. Deterministic for a given `seed`. Narrow: no
    /// shuffle.
    ///
    /// # Panics
    /// If `fraction` is negative or NaN, or above 1 without replacement.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.range(0, 10_000, 1, 4);
    /// let sample = rdd.sample(false, 0.1, 42).collect()?;
    /// assert!((800..1200).contains(&sample.len()));
    /// assert_eq!(sample, rdd.sample(false, 0.1, 42).collect()?); // same seed, same sample
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn sample(&self, with_replacement: bool, fraction: f64, seed: u64) -> Rdd<T> {
        assert!(fraction >= 0.0, "sample: the fraction must be at least 0, got {fraction}");
        assert!(with_replacement || fraction <= 1.0, "sample without replacement: fraction {fraction} is above 1");
        self.narrow("sample", std::panic::Location::caller(), true, move |p, iter, _| {
            let mut rng = rng_for(seed, p);
            if with_replacement {
                Box::new(iter.flat_map(move |x| {
                    let copies = poisson(&mut rng, fraction);
                    std::iter::repeat_n(x, copies)
                }))
            } else {
                Box::new(iter.filter(move |_| rng.random::<f64>() < fraction))
            }
        })
    }

    /// Splits the RDD randomly into one RDD per weight, each element going to exactly one
    /// of them with probability proportional to its weight. Deterministic for a given
    /// `seed`; each split recomputes this RDD (persist it when that is expensive). Narrow.
    ///
    /// # Panics
    /// If a weight is negative or all are zero.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.range(0, 1000, 1, 3);
    /// let parts = rdd.random_split(&[0.7, 0.3], 7);
    /// let (a, b) = (parts[0].collect()?, parts[1].collect()?);
    /// assert_eq!(a.len() + b.len(), 1000);
    /// assert!(a.iter().all(|x| !b.contains(x)));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn random_split(&self, weights: &[f64], seed: u64) -> Vec<Rdd<T>> {
        assert!(weights.iter().all(|w| *w >= 0.0), "random_split: weights must not be negative: {weights:?}");
        let total: f64 = weights.iter().sum();
        assert!(total > 0.0, "random_split: the weights sum to zero");
        let call_site = std::panic::Location::caller();
        let mut bounds = vec![0.0];
        for w in weights {
            bounds.push(bounds.last().copied().unwrap_or(0.0) + w / total);
        }
        let last = weights.len() - 1;
        (0..weights.len())
            .map(|i| {
                let (lo, hi) = (bounds[i], if i == last { f64::INFINITY } else { bounds[i + 1] });
                self.narrow("random_split", call_site, true, move |p, iter, _| {
                    let mut rng = rng_for(seed, p);
                    Box::new(iter.filter(move |_| {
                        let u: f64 = rng.random();
                        lo <= u && u < hi
                    }))
                })
            })
            .collect()
    }

    /// `num` elements drawn at random (without replacement: distinct positions; with
    /// replacement: positions may repeat), in random order, brought to the driver.
    /// Deterministic for a given `seed`. Runs a count job, then sampling jobs until enough
    /// elements are drawn (usually one).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.range(0, 100, 1, 4);
    /// let drawn = rdd.take_sample(false, 10, 1)?;
    /// let mut distinct = drawn.clone();
    /// distinct.sort();
    /// distinct.dedup();
    /// assert_eq!((drawn.len(), distinct.len()), (10, 10));
    /// assert_eq!(rdd.take_sample(false, 1000, 1)?.len(), 100);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn take_sample(&self, with_replacement: bool, num: usize, seed: u64) -> Result<Vec<T>> {
        self.take_sample_at(with_replacement, num, seed, Action::here("take_sample"))
    }

    /// [`Rdd::take_sample`], submitted: its jobs run on a thread of their own; the handle
    /// cancels and reports on whichever is running.
    #[track_caller]
    pub fn take_sample_async(&self, with_replacement: bool, num: usize, seed: u64) -> JobHandle<Vec<T>> {
        let (rdd, action) = (self.clone(), Action::here("take_sample"));
        JobHandle::spawn(move || rdd.take_sample_at(with_replacement, num, seed, action))
    }

    fn take_sample_at(&self, with_replacement: bool, num: usize, seed: u64, action: Action) -> Result<Vec<T>> {
        let total = self.count_for(action).wait()? as usize;
        if num == 0 || total == 0 {
            return Ok(Vec::new());
        }
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let mut drawn: Vec<T> = if !with_replacement && num >= total {
            self.collect_for(action).wait()?
        } else {
            // Oversample so that one pass almost always yields enough.
            let want = num as f64;
            let margin = 3.0 * want.sqrt() + 10.0;
            let mut fraction = (want + margin) / total as f64;
            if !with_replacement {
                fraction = fraction.min(1.0);
            }
            let mut attempt = 0u64;
            loop {
                let got =
                    self.sample(with_replacement, fraction, seed.wrapping_add(attempt)).collect_for(action).wait()?;
                if got.len() >= num {
                    break got;
                }
                attempt += 1;
            }
        };
        for i in (1..drawn.len()).rev() {
            let j = rng.random_range(0..=i);
            drawn.swap(i, j);
        }
        drawn.truncate(num);
        Ok(drawn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_mean_is_lambda() {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        for lambda in [0.5, 2.0, 45.0] {
            let n = 20_000;
            let mean = (0..n).map(|_| poisson(&mut rng, lambda)).sum::<usize>() as f64 / n as f64;
            assert!((mean - lambda).abs() < 0.05 * lambda.max(1.0), "lambda {lambda}: mean {mean}");
        }
    }

    #[test]
    fn partitions_draw_different_streams() {
        let a: u64 = rng_for(1, 0).random();
        let b: u64 = rng_for(1, 1).random();
        assert_ne!(a, b);
    }
}
