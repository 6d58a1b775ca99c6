//! Actions: the operations that run a job and bring a result to the driver (or write it out).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::io::Write;
use std::panic::Location;
use std::sync::Arc;

use ember_engine::TaskFailure;

use crate::data::Data;
use crate::error::{Error, Result};
use crate::rdd::{PartitionIter, Rdd};
use ember_storage::object_file::ObjectFileWriter;

fn call_site_string(location: &Location<'_>) -> String {
    format!("{}:{}", location.file(), location.line())
}

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
    /// [`Error::Job`] when a task fails on every attempt.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![3, 1, 2], 2).collect()?, vec![3, 1, 2]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn collect(&self) -> Result<Vec<T>> {
        let parts = self.context().run_all(self, |_, iter, tc| {
            let part: Vec<T> = iter.collect();
            tc.add_records_written(part.len() as u64);
            Ok(part)
        })?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// How many elements. Runs a job.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(0, 10, 1, 3).count()?, 10);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn count(&self) -> Result<u64> {
        let counts = self.context().run_all(self, |_, iter, _| Ok(iter.count() as u64))?;
        Ok(counts.into_iter().sum())
    }

    /// Combines all elements with `f`: each partition left to right, then the partitions'
    /// results in partition order. `f` should be associative.
    ///
    /// # Errors
    /// [`Error::EmptyRdd`] when there are no elements (as Spark's "empty collection").
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(1, 5, 1, 2).reduce(|a, b| a * b)?, 24);
    /// assert!(matches!(ctx.parallelize(Vec::<i32>::new(), 2).reduce(|a, b| a + b), Err(ember::Error::EmptyRdd { .. })));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn reduce<F>(&self, f: F) -> Result<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let call_site = Location::caller();
        let f = Arc::new(f);
        let per_partition = Arc::clone(&f);
        let partials = self.context().run_all(self, move |_, iter, _| Ok(iter.reduce(|a, b| per_partition(a, b))))?;
        partials
            .into_iter()
            .flatten()
            .reduce(|a, b| f(a, b))
            .ok_or_else(|| Error::EmptyRdd { action: "reduce", call_site: call_site_string(call_site) })
    }

    /// Folds every partition from `zero` with `f`, then folds the partitions' results from
    /// `zero` in partition order (so a non-neutral `zero` counts once per partition plus once,
    /// as in Spark).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![1, 2, 3], 2).fold(0, |a, b| a + b)?, 6);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn fold<F>(&self, zero: T, f: F) -> Result<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let (per_partition, start) = (Arc::clone(&f), zero.clone());
        let partials =
            self.context().run_all(self, move |_, iter, _| Ok(iter.fold(start.clone(), |a, b| per_partition(a, b))))?;
        Ok(partials.into_iter().fold(zero, |a, b| f(a, b)))
    }

    /// Aggregates into a `U`: each partition folds its elements from `zero` with `seq`, then
    /// the partitions' results are merged from `zero` with `comb` in partition order.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let (sum, n) = ctx.parallelize(vec![2.0, 4.0, 9.0], 2).aggregate((0.0, 0), |(s, n), x| (s + x, n + 1), |(s1, n1), (s2, n2)| (s1 + s2, n1 + n2))?;
    /// assert_eq!(sum / n as f64, 5.0);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn aggregate<U, S, C>(&self, zero: U, seq: S, comb: C) -> Result<U>
    where
        U: Data,
        S: Fn(U, T) -> U + Send + Sync + 'static,
        C: Fn(U, U) -> U + Send + Sync + 'static,
    {
        let start = zero.clone();
        let partials = self.context().run_all(self, move |_, iter, _| Ok(iter.fold(start.clone(), &seq)))?;
        Ok(partials.into_iter().fold(zero, comb))
    }

    /// The first `n` elements in partition order. Scans partitions incrementally as Spark
    /// does: one partition first, then more (up to 4× as many) until `n` are found, so a small
    /// `take` on a large RDD computes few partitions.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(0, 1_000_000, 1, 8).take(3)?, vec![0, 1, 2]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn take(&self, n: usize) -> Result<Vec<T>> {
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
            let parts =
                self.context().run_job(self, &partitions, move |_, iter, _| Ok(iter.take(left).collect::<Vec<T>>()))?;
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
    /// [`Error::EmptyRdd`] when there are no elements.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec!['x', 'y'], 2).first()?, 'x');
    /// assert!(matches!(ctx.parallelize(Vec::<char>::new(), 2).first(), Err(ember::Error::EmptyRdd { .. })));
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn first(&self) -> Result<T> {
        let call_site = Location::caller();
        self.take(1)?.pop().ok_or_else(|| Error::EmptyRdd { action: "first", call_site: call_site_string(call_site) })
    }

    /// True when the RDD has no elements (scans partitions until it finds one).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert!(ctx.parallelize(Vec::<u8>::new(), 3).is_empty()?);
    /// assert!(!ctx.parallelize(vec![1u8], 3).is_empty()?);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.num_partitions() == 0 || self.take(1)?.is_empty())
    }

    /// The `n` elements with the largest `key`, largest first. Each partition keeps only its
    /// own top `n`, so memory is `O(n)` per task.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let words = ctx.parallelize(vec![('a', 5), ('b', 9), ('c', 1)], 2);
    /// assert_eq!(words.top_by(2, |(_, n)| *n)?, vec![('b', 9), ('a', 5)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn top_by<K, F>(&self, n: usize, key: F) -> Result<Vec<T>>
    where
        K: Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.take_ordered_by_compare(n, move |a, b| key(b).cmp(&key(a)))
    }

    /// The `n` largest elements, largest first.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![5, 1, 4, 2], 2).top(2)?, vec![5, 4]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn top(&self, n: usize) -> Result<Vec<T>>
    where
        T: Ord,
    {
        self.take_ordered_by_compare(n, |a: &T, b: &T| b.cmp(a))
    }

    /// The `n` smallest elements, smallest first.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.parallelize(vec![5, 1, 4, 2], 2).take_ordered(2)?, vec![1, 2]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn take_ordered(&self, n: usize) -> Result<Vec<T>>
    where
        T: Ord,
    {
        self.take_ordered_by_compare(n, |a: &T, b: &T| a.cmp(b))
    }

    /// The `n` elements with the smallest `key`, smallest first.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let words = ctx.parallelize(vec!["ccc".to_string(), "a".into(), "bb".into()], 2);
    /// assert_eq!(words.take_ordered_by(2, |w| w.len())?, vec!["a", "bb"]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn take_ordered_by<K, F>(&self, n: usize, key: F) -> Result<Vec<T>>
    where
        K: Ord,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        self.take_ordered_by_compare(n, move |a, b| key(a).cmp(&key(b)))
    }

    fn take_ordered_by_compare<F>(&self, n: usize, compare: F) -> Result<Vec<T>>
    where
        F: Fn(&T, &T) -> Ordering + Send + Sync + 'static,
    {
        let compare = Arc::new(compare);
        let per_partition = Arc::clone(&compare);
        let parts = self.context().run_all(self, move |_, iter, _| Ok(smallest_n(iter, n, &*per_partition)))?;
        Ok(smallest_n(parts.into_iter().flatten(), n, &*compare))
    }

    /// Runs `f` on every element, on the workers (for side effects such as writing to an
    /// external system). Runs a job.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let total = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    /// let sink = std::sync::Arc::clone(&total);
    /// ctx.range(1, 5, 1, 2).foreach(move |x| { sink.fetch_add(x, std::sync::atomic::Ordering::Relaxed); })?;
    /// assert_eq!(total.load(std::sync::atomic::Ordering::Relaxed), 10);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn foreach<F>(&self, f: F) -> Result<()>
    where
        F: Fn(T) + Send + Sync + 'static,
    {
        self.context().run_all(self, move |_, iter, _| {
            iter.for_each(&f);
            Ok(())
        })?;
        Ok(())
    }

    /// Runs `f` once per partition with the partition's iterator, on the workers. Runs a job.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let parts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    /// let seen = std::sync::Arc::clone(&parts);
    /// ctx.range(0, 9, 1, 3).foreach_partition(move |_| { seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed); })?;
    /// assert_eq!(parts.load(std::sync::atomic::Ordering::Relaxed), 3);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn foreach_partition<F>(&self, f: F) -> Result<()>
    where
        F: Fn(crate::rdd::PartitionIter<T>) + Send + Sync + 'static,
    {
        self.context().run_all(self, move |_, iter, _| {
            f(iter);
            Ok(())
        })?;
        Ok(())
    }

    /// How many times each distinct element occurs, returned to the driver. Runs a job with a
    /// shuffle (map-side combined).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
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
        let call_site = Location::caller();
        let ones = self.narrow("count_by_value", call_site, false, |_, iter, _| Box::new(iter.map(|x| (x, 1u64))));
        ones.reduce_by_key(|a, b| a + b).collect_as_map()
    }

    /// Writes every element's `Display` form as one line, one `part-NNNNN` file per partition,
    /// under the directory `path`, then an empty `_SUCCESS` file. Task attempts write under
    /// `path/_temporary/`; the job moves finished parts into place only when every task has
    /// succeeded, so a failed job leaves no `part-*` and no `_SUCCESS` visible, and a retried
    /// task never duplicates lines.
    ///
    /// # Errors
    /// [`Error::Storage`] when `path` already exists (as in Spark) or cannot be written;
    /// [`Error::Job`] when a task fails on every attempt.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let dir = tempfile::tempdir()?;
    /// let out = dir.path().join("out");
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec![1, 2, 3], 2).save_as_text_file(out.to_str().unwrap())?;
    /// assert_eq!(std::fs::read_to_string(out.join("part-00001"))?, "2\n3\n");
    /// assert!(out.join("_SUCCESS").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn save_as_text_file(&self, path: &str) -> Result<()>
    where
        T: Display,
    {
        self.save_as_text_file_with(path, SaveMode::ErrorIfExists)
    }

    /// [`Rdd::save_as_text_file`], replacing whatever is at `path` when `mode` is
    /// [`SaveMode::Overwrite`].
    ///
    /// # Errors
    /// As [`Rdd::save_as_text_file`].
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec![1, 2], 1).save_as_text_file("memory://t/out")?;
    /// assert!(ctx.parallelize(vec![3], 1).save_as_text_file("memory://t/out").is_err());
    /// ctx.parallelize(vec![3], 1).save_as_text_file_with("memory://t/out", SaveMode::Overwrite)?;
    /// assert_eq!(ctx.text_file("memory://t/out", 1)?.collect()?, ["3"]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    pub fn save_as_text_file_with(&self, path: &str, mode: SaveMode) -> Result<()>
    where
        T: Display,
    {
        self.save_parts(path, mode, |iter, buf| {
            let mut n = 0;
            for x in iter {
                writeln!(buf, "{x}").map_err(TaskFailure::error)?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Writes the elements as Ember object files (bincode records in length frames after a
    /// versioned header, ending in a record count), one `part-NNNNN` per partition, with the
    /// same commit protocol as [`Rdd::save_as_text_file`]. [`Context::object_file`] reads
    /// them back; a truncated file or one of another format is an error naming the file.
    ///
    /// # Errors
    /// As [`Rdd::save_as_text_file`].
    ///
    /// # Examples
    /// See [`Context::object_file`].
    ///
    /// [`Context::object_file`]: crate::Context::object_file
    pub fn save_as_object_file(&self, path: &str) -> Result<()> {
        self.save_as_object_file_with(path, SaveMode::ErrorIfExists)
    }

    /// [`Rdd::save_as_object_file`] with an explicit [`SaveMode`].
    ///
    /// # Errors
    /// As [`Rdd::save_as_text_file`].
    pub fn save_as_object_file_with(&self, path: &str, mode: SaveMode) -> Result<()> {
        self.save_parts(path, mode, |iter, out| {
            let mut writer = ObjectFileWriter::new(out).map_err(TaskFailure::error)?;
            for x in iter {
                writer.write(&x).map_err(TaskFailure::error)?;
            }
            let n = writer.count();
            writer.finish().map_err(TaskFailure::error)?;
            Ok(n)
        })
    }

    /// Writes each element as one line of JSON (`serde_json`), one `part-NNNNN` per
    /// partition, with the same commit protocol as [`Rdd::save_as_text_file`]; read them back
    /// with [`Context::json_file`] or any JSON-lines tool.
    ///
    /// # Errors
    /// As [`Rdd::save_as_text_file`]; [`Error::Job`] when an element cannot be serialized
    /// as JSON (a map with non-string keys, for instance).
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec![(1, "a".to_owned())], 1).save_as_json_file("memory://j/out")?;
    /// assert_eq!(ctx.text_file("memory://j/out", 1)?.collect()?, [r#"[1,"a"]"#]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    ///
    /// [`Context::json_file`]: crate::Context::json_file
    pub fn save_as_json_file(&self, path: &str) -> Result<()> {
        self.save_as_json_file_with(path, SaveMode::ErrorIfExists)
    }

    /// [`Rdd::save_as_json_file`] with an explicit [`SaveMode`].
    ///
    /// # Errors
    /// As [`Rdd::save_as_json_file`].
    pub fn save_as_json_file_with(&self, path: &str, mode: SaveMode) -> Result<()> {
        self.save_parts(path, mode, |iter, buf| {
            let mut n = 0;
            for x in iter {
                serde_json::to_writer(&mut *buf, &x).map_err(TaskFailure::error)?;
                buf.write_all(b"\n").map_err(TaskFailure::error)?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Writes the elements as Parquet files (snappy), one `part-NNNNN` file per partition,
    /// with the same commit protocol as [`Rdd::save_as_text_file`]. `T` must be a record (a
    /// struct, or a tuple with columns `0`, `1`, ...): its Arrow schema is traced from its
    /// serde implementation (serde_arrow), and rows are written in batches of 8192. Other
    /// Arrow tools read the files; [`Context::read_parquet`] reads them back.
    ///
    /// # Errors
    /// [`Error::Storage`] as in [`Rdd::save_as_text_file`], or [`Error::Storage`] with a
    /// `Format` error when `T` cannot be mapped to Arrow columns; [`Error::Job`] when a
    /// task fails.
    ///
    /// # Examples
    /// ```
    /// # use ember::prelude::*;
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct Sale { item: String, cents: i64, note: Option<String> }
    ///
    /// let ctx = Context::local(2)?;
    /// let sales = vec![Sale { item: "tea".into(), cents: 350, note: None },
    ///                  Sale { item: "cake".into(), cents: 420, note: Some("fresh".into()) }];
    /// ctx.parallelize(sales.clone(), 2).save_as_parquet("memory://pq/sales")?;
    /// assert_eq!(ctx.read_parquet::<Sale>("memory://pq/sales")?.collect()?, sales);
    /// # Ok::<(), ember::Error>(())
    /// ```
    ///
    /// [`Context::read_parquet`]: crate::Context::read_parquet
    pub fn save_as_parquet(&self, path: &str) -> Result<()> {
        self.save_as_parquet_with(path, SaveMode::ErrorIfExists)
    }

    /// [`Rdd::save_as_parquet`] with an explicit [`SaveMode`].
    ///
    /// # Errors
    /// As [`Rdd::save_as_parquet`].
    pub fn save_as_parquet_with(&self, path: &str, mode: SaveMode) -> Result<()> {
        let fields = crate::parquet_io::fields_of::<T>()
            .map_err(|reason| ember_storage::StorageError::format(path, "Parquet", reason))?;
        self.save_parts(path, mode, move |iter, out| {
            crate::parquet_io::write_rows(&fields, iter, out).map_err(TaskFailure::error)
        })
    }

    /// Runs a job that encodes each partition with `encode` into a streaming part writer
    /// (one put for a small part, a multipart upload with bounded memory for a large one),
    /// as one part of an output committed at `path` (see [`ember_storage::OutputJob`]).
    fn save_parts<F>(&self, path: &str, mode: SaveMode, encode: F) -> Result<()>
    where
        F: Fn(PartitionIter<T>, &mut (dyn Write + Send)) -> Result<u64, TaskFailure> + Send + Sync + 'static,
    {
        let overwrite = mode == SaveMode::Overwrite;
        let output = Arc::new(self.context().storage().create_output(path, overwrite)?);
        let writer = Arc::clone(&output);
        let job = self.context().run_all(self, move |p, iter, tc| {
            let mut part = writer.part_writer(p, tc.attempt() as usize).map_err(TaskFailure::error)?;
            let records = {
                // Many small writes (one per line) go through a buffer to the part writer.
                let mut buffered = std::io::BufWriter::with_capacity(64 << 10, &mut part);
                let records = encode(iter, &mut buffered)?;
                buffered.flush().map_err(TaskFailure::error)?;
                records
            };
            if tc.has_failed() {
                // The stream was cut short; dropping the writer aborts its upload, and the
                // runner reports the recorded failure.
                return Ok(());
            }
            tc.add_records_written(records);
            part.finish().map(|_| ()).map_err(TaskFailure::error)
        });
        match job {
            Ok(_) => Ok(output.commit(self.num_partitions())?),
            Err(err) => {
                output.abort();
                Err(err)
            }
        }
    }
}

/// What a save does when its output location already holds data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SaveMode {
    /// Fail with [`Error::Storage`] naming the location (Spark's default).
    #[default]
    ErrorIfExists,
    /// Delete everything under the location first, then write.
    Overwrite,
}

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
