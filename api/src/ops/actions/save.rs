//! The save actions: `save_as_text_file`, `save_as_object_file`, `save_as_json_file` and
//! `save_as_parquet` (each with a [`SaveMode`]), all over one committed write of parts
//! (`save_parts`).

use std::io::Write;
use std::sync::Arc;

use std::collections::HashSet;

use ember_engine::TaskFailure;
use ember_engine::lineage::LineageNode;
use ember_storage::object_file::ObjectFileWriter;
use ember_storage::{PartCommit, Storage, StorageError};

use super::lines::{Line, TextLine, TsvRecord};
use crate::context::Action;
use crate::data::Data;
use crate::error::Result;
use crate::job::JobHandle;
use crate::rdd::stream::for_each_record;
use crate::rdd::{PartitionIter, Rdd};

impl<T: Data> Rdd<T> {
    /// Writes every element's `Display` form as one line (pairs and other tuples: see
    /// [`Rdd::save_as_tsv_file`]), one `part-NNNNN` file per partition,
    /// under the directory `path`, then an empty `_SUCCESS` file. The output appears all at
    /// once when every task has succeeded, never in part: on local files it is built in a
    /// hidden directory beside `path` and renamed into place; on object stores a manifest
    /// written in one put commits it, and Ember's readers read exactly the parts it lists. A
    /// failed, cancelled or killed job leaves nothing visible (readers refuse a directory
    /// whose save did not finish, with an error of kind
    /// [`IncompleteOutput`](crate::ErrorKind::IncompleteOutput)), and a retried task never
    /// duplicates lines. The save claims `path` before any task runs: a second save to the
    /// same path while this one runs fails at once.
    ///
    /// # Errors
    /// an error of kind [`AlreadyExists`](crate::ErrorKind::AlreadyExists) when `path` already exists (as in Spark),
    /// of kind [`Conflict`](crate::ErrorKind::Conflict) when another save is writing it, or a storage error when it cannot be written;
    /// an error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) when a task fails on every attempt.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    ///
    /// let out = std::env::temp_dir().join(format!("ember-example-{}", std::process::id()));
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec![1, 2, 3], 2).save_as_text_file(out.to_str().unwrap())?;
    /// assert_eq!(std::fs::read_to_string(out.join("part-00001"))?, "2\n3\n");
    /// assert!(out.join("_SUCCESS").exists());
    /// std::fs::remove_dir_all(&out)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Pairs are not `Display`, so this does not compile; the compiler's note points to
    /// [`Rdd::save_as_tsv_file`]:
    ///
    /// ```compile_fail
    /// use ember::prelude::*;
    ///
    /// let ctx = Context::local(1)?;
    /// ctx.parallelize(vec![("to".to_string(), 2u64)], 1).save_as_text_file("memory://t/pairs")?;
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn save_as_text_file(&self, path: &str) -> Result<()>
    where
        T: TextLine,
    {
        self.save_as_text_file_async(path).wait()
    }

    /// [`Rdd::save_as_text_file`], submitted: returns the job's [`JobHandle`] at once. The
    /// output is committed when the job ends (a cancelled job leaves nothing), whether or not
    /// the handle is waited for.
    #[track_caller]
    pub fn save_as_text_file_async(&self, path: &str) -> JobHandle<()>
    where
        T: TextLine,
    {
        self.save_as_text_file_with_async(path, SaveMode::ErrorIfExists)
    }

    /// [`Rdd::save_as_text_file`], replacing whatever is at `path` when `mode` is
    /// [`SaveMode::Overwrite`].
    ///
    /// # Errors
    /// As [`Rdd::save_as_text_file`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec![1, 2], 1).save_as_text_file("memory://t/out")?;
    /// assert!(ctx.parallelize(vec![3], 1).save_as_text_file("memory://t/out").is_err());
    /// ctx.parallelize(vec![3], 1).save_as_text_file_with("memory://t/out", SaveMode::Overwrite)?;
    /// assert_eq!(ctx.text_file("memory://t/out", 1)?.collect()?, ["3"]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn save_as_text_file_with(&self, path: &str, mode: SaveMode) -> Result<()>
    where
        T: TextLine,
    {
        self.save_as_text_file_with_async(path, mode).wait()
    }

    /// [`Rdd::save_as_text_file_with`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn save_as_text_file_with_async(&self, path: &str, mode: SaveMode) -> JobHandle<()>
    where
        T: TextLine,
    {
        self.save_parts(path, mode, Action::here("save_as_text_file"), |iter, buf| {
            for_each_record(iter, |x| writeln!(buf, "{}", Line(&x, T::fmt_line)).map_err(TaskFailure::error))
        })
    }

    /// Writes every element, a tuple of two to four `Display` values, as one line of
    /// tab-separated fields (`(word, 3)` becomes `word<TAB>3`), with the same files and
    /// commit protocol as [`Rdd::save_as_text_file`]. `text_file` reads them back as lines.
    ///
    /// # Errors
    /// As [`Rdd::save_as_text_file`].
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    ///
    /// let ctx = Context::local(2)?;
    /// let counts = ctx.parallelize(vec![("to".to_string(), 2u64), ("be".to_string(), 2)], 1);
    /// counts.save_as_tsv_file("memory://t/counts")?;
    /// assert_eq!(ctx.text_file("memory://t/counts", 1)?.collect()?, ["to\t2", "be\t2"]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn save_as_tsv_file(&self, path: &str) -> Result<()>
    where
        T: TsvRecord,
    {
        self.save_as_tsv_file_with_async(path, SaveMode::ErrorIfExists).wait()
    }

    /// [`Rdd::save_as_tsv_file`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn save_as_tsv_file_async(&self, path: &str) -> JobHandle<()>
    where
        T: TsvRecord,
    {
        self.save_as_tsv_file_with_async(path, SaveMode::ErrorIfExists)
    }

    /// [`Rdd::save_as_tsv_file`], replacing whatever is at `path` when `mode` is
    /// [`SaveMode::Overwrite`].
    ///
    /// # Errors
    /// As [`Rdd::save_as_text_file`].
    #[track_caller]
    pub fn save_as_tsv_file_with(&self, path: &str, mode: SaveMode) -> Result<()>
    where
        T: TsvRecord,
    {
        self.save_as_tsv_file_with_async(path, mode).wait()
    }

    /// [`Rdd::save_as_tsv_file_with`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn save_as_tsv_file_with_async(&self, path: &str, mode: SaveMode) -> JobHandle<()>
    where
        T: TsvRecord,
    {
        self.save_parts(path, mode, Action::here("save_as_tsv_file"), |iter, buf| {
            for_each_record(iter, |x| writeln!(buf, "{}", Line(&x, T::fmt_fields)).map_err(TaskFailure::error))
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
    #[track_caller]
    pub fn save_as_object_file(&self, path: &str) -> Result<()> {
        self.save_as_object_file_async(path).wait()
    }

    /// [`Rdd::save_as_object_file`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn save_as_object_file_async(&self, path: &str) -> JobHandle<()> {
        self.save_as_object_file_with_async(path, SaveMode::ErrorIfExists)
    }

    /// [`Rdd::save_as_object_file`] with an explicit [`SaveMode`].
    ///
    /// # Errors
    /// As [`Rdd::save_as_text_file`].
    #[track_caller]
    pub fn save_as_object_file_with(&self, path: &str, mode: SaveMode) -> Result<()> {
        self.save_as_object_file_with_async(path, mode).wait()
    }

    /// [`Rdd::save_as_object_file_with`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn save_as_object_file_with_async(&self, path: &str, mode: SaveMode) -> JobHandle<()> {
        self.save_parts(path, mode, Action::here("save_as_object_file"), |iter, out| {
            let mut writer = ObjectFileWriter::new(out).map_err(TaskFailure::error)?;
            for_each_record(iter, |x| writer.write(&x).map_err(TaskFailure::error))?;
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
    /// As [`Rdd::save_as_text_file`]; an error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) when an element cannot be serialized
    /// as JSON (a map with non-string keys, for instance).
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec![(1, "a".to_owned())], 1).save_as_json_file("memory://j/out")?;
    /// assert_eq!(ctx.text_file("memory://j/out", 1)?.collect()?, [r#"[1,"a"]"#]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    ///
    /// [`Context::json_file`]: crate::Context::json_file
    #[track_caller]
    pub fn save_as_json_file(&self, path: &str) -> Result<()> {
        self.save_as_json_file_async(path).wait()
    }

    /// [`Rdd::save_as_json_file`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn save_as_json_file_async(&self, path: &str) -> JobHandle<()> {
        self.save_as_json_file_with_async(path, SaveMode::ErrorIfExists)
    }

    /// [`Rdd::save_as_json_file`] with an explicit [`SaveMode`].
    ///
    /// # Errors
    /// As [`Rdd::save_as_json_file`].
    #[track_caller]
    pub fn save_as_json_file_with(&self, path: &str, mode: SaveMode) -> Result<()> {
        self.save_as_json_file_with_async(path, mode).wait()
    }

    /// [`Rdd::save_as_json_file_with`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn save_as_json_file_with_async(&self, path: &str, mode: SaveMode) -> JobHandle<()> {
        self.save_parts(path, mode, Action::here("save_as_json_file"), |iter, buf| {
            for_each_record(iter, |x| {
                serde_json::to_writer(&mut *buf, &x).map_err(TaskFailure::error)?;
                buf.write_all(b"\n").map_err(TaskFailure::error)
            })
        })
    }

    #[cfg(feature = "parquet")]
    #[cfg_attr(docsrs, doc(cfg(feature = "parquet")))]
    /// Writes the elements as Parquet files (snappy), one `part-NNNNN` file per partition,
    /// with the same commit protocol as [`Rdd::save_as_text_file`]. `T` must be a record (a
    /// struct, or a tuple with columns `0`, `1`, ...): its Arrow schema is traced from its
    /// serde implementation (serde_arrow), and rows are written in batches of 8192. Other
    /// Arrow tools read the files; [`Context::read_parquet`] reads them back.
    ///
    /// # Errors
    /// as in [`Rdd::save_as_text_file`], or an error of kind [`Format`](crate::ErrorKind::Format) when `T` cannot be mapped to Arrow columns; an error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) when a
    /// task fails.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
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
    #[track_caller]
    pub fn save_as_parquet(&self, path: &str) -> Result<()> {
        self.save_as_parquet_async(path).wait()
    }

    #[cfg(feature = "parquet")]
    #[cfg_attr(docsrs, doc(cfg(feature = "parquet")))]
    /// [`Rdd::save_as_parquet`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn save_as_parquet_async(&self, path: &str) -> JobHandle<()> {
        self.save_as_parquet_with_async(path, SaveMode::ErrorIfExists)
    }

    #[cfg(feature = "parquet")]
    #[cfg_attr(docsrs, doc(cfg(feature = "parquet")))]
    /// [`Rdd::save_as_parquet`] with an explicit [`SaveMode`].
    ///
    /// # Errors
    /// As [`Rdd::save_as_parquet`].
    #[track_caller]
    pub fn save_as_parquet_with(&self, path: &str, mode: SaveMode) -> Result<()> {
        self.save_as_parquet_with_async(path, mode).wait()
    }

    #[cfg(feature = "parquet")]
    #[cfg_attr(docsrs, doc(cfg(feature = "parquet")))]
    /// [`Rdd::save_as_parquet_with`], submitted: returns the job's [`JobHandle`] at once.
    #[track_caller]
    pub fn save_as_parquet_with_async(&self, path: &str, mode: SaveMode) -> JobHandle<()> {
        let action = Action::here("save_as_parquet");
        let fields = match crate::parquet_io::fields_of::<T>() {
            Ok(fields) => fields,
            Err(reason) => {
                return JobHandle::ready(Err(ember_storage::StorageError::format(path, "Parquet", reason).into()));
            }
        };
        self.save_parts(path, mode, action, move |iter, out| {
            crate::parquet_io::write_rows(&fields, iter, out).map_err(TaskFailure::error)
        })
    }

    /// Submits a job that encodes each partition with `encode` into a streaming part writer
    /// (one put for a small part, a multipart upload with bounded memory for a large one),
    /// as one part of an output committed at `path` (see [`ember_storage::OutputJob`]). Each
    /// task returns its part's commit message; when the job ends the driver commits the
    /// attempts the scheduler accepted, or, when it failed or was cancelled (its tasks have
    /// stopped by then), removes everything the attempts wrote.
    fn save_parts<F>(&self, path: &str, mode: SaveMode, action: Action, encode: F) -> JobHandle<()>
    where
        F: Fn(PartitionIter<T>, &mut (dyn Write + Send)) -> Result<u64, TaskFailure> + Send + Sync + 'static,
    {
        let overwrite = mode == SaveMode::Overwrite;
        if overwrite && let Err(err) = refuse_overwriting_input(&self.lineage_node(), path) {
            return JobHandle::ready(Err(err.into()));
        }
        let storage = self.context().storage();
        let created = match self.context().next_save_id() {
            None => storage.create_output(path, overwrite),
            // The cluster's driver claims the output; executors write their attempts into it.
            Some(save) if self.context().is_driver() => storage.create_output_as(path, overwrite, &save),
            Some(save) => storage.join_output(path, &save),
        };
        let output = match created {
            Ok(output) => Arc::new(output),
            Err(err) => return JobHandle::ready(Err(err.into())),
        };
        let writer = Arc::clone(&output);
        let in_progress = self.context().track_output(&output);
        let partitions = self.num_partitions();
        self.context().submit_all(
            self,
            action.writing(),
            move |p, iter, tc| {
                let mut part = writer.part_writer(p, tc.attempt().0 as usize).map_err(TaskFailure::error)?;
                let records = {
                    // Many small writes (one per line) go through a buffer to the part writer.
                    let mut buffered = std::io::BufWriter::with_capacity(64 << 10, &mut part);
                    let records = encode(iter, &mut buffered)?;
                    buffered.flush().map_err(TaskFailure::error)?;
                    records
                };
                tc.add_records_written(records);
                part.finish().map_err(TaskFailure::error)
            },
            move |parts: Result<Vec<PartCommit>>| {
                let _in_progress = in_progress;
                match parts {
                    Ok(parts) => Ok(output.commit(partitions, &parts)?),
                    Err(err) => {
                        output.abort();
                        Err(err)
                    }
                }
            },
        )
    }
}

/// Refuses an overwrite of `path` by a job whose lineage reads a file at or under it: the
/// job would replace the data it is still reading (Spark refuses it too). Cost: one walk of
/// the lineage, visiting each node once.
fn refuse_overwriting_input(root: &Arc<dyn LineageNode>, path: &str) -> Result<(), StorageError> {
    let output = Storage::display_url(path)?;
    let under = format!("{}/", output.trim_end_matches('/'));
    let mut seen = HashSet::new();
    let mut stack = vec![Arc::clone(root)];
    while let Some(node) = stack.pop() {
        if !seen.insert(node.meta().id) {
            continue;
        }
        if let Some(input) = node.input_files().into_iter().find(|f| *f == output || f.starts_with(&under)) {
            return Err(StorageError::overwrites_input(&output, &input));
        }
        stack.extend(node.dependencies().iter().map(|dep| Arc::clone(dep.parent())));
    }
    Ok(())
}

/// What a save does when its output location already holds data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SaveMode {
    /// Fail with an error of kind [`AlreadyExists`](crate::ErrorKind::AlreadyExists) naming the location (Spark's default).
    #[default]
    ErrorIfExists,
    /// Replace what is at the location: the new output is written beside the old one and
    /// replaces it only when the job commits, so a failed, cancelled or killed overwrite
    /// leaves the old data. Overwriting a location the job itself reads is refused before
    /// anything runs (an error of kind [`Conflict`](crate::ErrorKind::Conflict)).
    Overwrite,
}
