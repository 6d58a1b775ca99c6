//! The source RDDs a [`Context`] creates: from the driver's memory (`parallelize`, `range`)
//! and from storage (`text_file`, `text_lines`, `whole_text_files`, `object_file`,
//! `json_file`, `read_parquet`).

use std::panic::Location;
use std::sync::Arc;

use ember_engine::lineage::NodeMeta;
use ember_storage::object_file::read_object_file;
use ember_storage::{FileSplit, Storage, StorageError, plan_splits};
use serde::de::DeserializeOwned;

use super::Context;
use crate::data::Data;
use crate::error::Result;
use crate::rdd::Rdd;
use crate::rdd::file_source::{FileSourceNode, ReadSplit, decoded, fail_on_error};
use crate::rdd::parallelize::{ParallelCollectionNode, RangeNode};
use crate::text::{SharedPiece, Text};

/// Parses one JSON value.
fn parse_json<T: DeserializeOwned>(line: &str) -> serde_json::Result<T> {
    serde_json::from_str(line)
}

/// Where a bad line is, for its error: its line number in the file when the split starts the
/// file, else its byte offset (counting the lines before a later split would mean reading the
/// file up to it).
fn line_place(split: &FileSplit, number: u64, offset: u64) -> String {
    if split.start == 0 {
        format!("line {number}")
    } else {
        format!("the line starting at byte {offset} (the line number is not known in a later split)")
    }
}

impl Context {
    /// Distributes a local collection over `slices` partitions: partition `i` holds
    /// `data[i·len/slices .. (i+1)·len/slices]`, as Spark slices it. Lazy, like every source.
    ///
    /// # Panics
    /// If `slices` is 0.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// let rdd = ctx.parallelize(vec!['a', 'b', 'c'], 2);
    /// assert_eq!(rdd.glom().collect()?, vec![vec!['a'], vec!['b', 'c']]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn parallelize<T: Data>(&self, data: Vec<T>, slices: usize) -> Rdd<T> {
        assert!(slices >= 1, "parallelize needs at least one slice");
        let meta = self.new_meta("parallelize", Location::caller());
        Rdd::from_node(Arc::new(ParallelCollectionNode::new(meta, data, slices)), self.clone())
    }

    /// The integers `start, start + step, ...` up to but excluding `end` (Spark's
    /// `sc.range`), in `slices` partitions sliced like [`Context::parallelize`]. Nothing is
    /// materialised: each partition generates its numbers.
    ///
    /// # Panics
    /// If `step` or `slices` is 0.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// assert_eq!(ctx.range(0, 10, 3, 2).collect()?, vec![0, 3, 6, 9]);
    /// assert_eq!(ctx.range(5, 0, -2, 1).collect()?, vec![5, 3, 1]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn range(&self, start: i64, end: i64, step: i64, slices: usize) -> Rdd<i64> {
        assert!(step != 0, "range needs a non-zero step");
        assert!(slices >= 1, "range needs at least one slice");
        let meta = self.new_meta("range", Location::caller());
        Rdd::from_node(Arc::new(RangeNode::new(meta, start, end, step, slices)), self.clone())
    }

    /// The lines of a text file, of every visible file of a directory (names starting with
    /// `_` or `.` are skipped, as Hadoop does), or of every file matching a glob
    /// (`s3://bucket/logs/2026-*/*.txt`), as an `Rdd<String>`. `path` is a bare path or a
    /// URL: `file://`, `memory://`, `s3://`, `gs://`, `az://`, `http(s)://`. A path that
    /// exists exactly as written (`out[1]`) is read literally, not as a glob; inside a glob,
    /// `[[]` matches a `[` (see [`crate::storage::listing`] for how globs are listed).
    ///
    /// Files are split into byte ranges as Hadoop's `FileInputFormat` does: at least
    /// `min_partitions` splits overall, at most 32 MiB each. A local file's split is read 64 KiB
    /// at a time as its lines are pulled; an object store's with one ranged read.
    /// A split yields every line that *starts* inside it, reading past its end to finish its
    /// last line, so no line is lost or read twice. `.gz` and `.zst` files are decompressed
    /// and are one split each. Lines end at `\n`; a trailing `\r` is removed; invalid UTF-8 is
    /// replaced with U+FFFD. The file list is read now; the contents when a job runs.
    ///
    /// # Errors
    /// an error of kind [`NotFound`](crate::ErrorKind::NotFound) naming the path when it does not exist or cannot be listed. When a
    /// job runs, a read that fails partway through a split (the file cut short since it was
    /// listed, a disk error) fails the task with an error naming the file: no line is dropped.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    ///
    /// let path = std::env::temp_dir().join(format!("ember-poem-{}.txt", std::process::id()));
    /// std::fs::write(&path, "the cat\r\nthe hat\n")?;
    /// let ctx = Context::local(2)?;
    /// let lines = ctx.text_file(path.to_str().unwrap(), 2)?;
    /// assert_eq!(lines.collect()?, vec!["the cat", "the hat"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn text_file(&self, path: &str, min_partitions: usize) -> Result<Rdd<String>> {
        let meta = self.new_meta("text_file", Location::caller());
        let files = self.inner.storage.list_inputs(path)?;
        let splits = plan_splits(&files, min_partitions);
        let read: ReadSplit<String> = Arc::new(|storage, split, ctx| {
            let ctx = ctx.clone();
            Ok(Box::new(storage.read_split(split)?.map_while(move |line| fail_on_error(&ctx, line))))
        });
        let node = FileSourceNode::new(meta, self.inner.storage.clone(), splits, read);
        Ok(Rdd::from_node(Arc::new(node), self.clone()))
    }

    /// The lines of the files at `path`, exactly as [`Context::text_file`] reads them (same
    /// splits, same line rules, invalid UTF-8 replaced the same way), as zero-copy [`Text`]
    /// instead of `String`: each line shares the buffer its piece of the split was read into
    /// (64 KiB of a local file, the whole split from an object store), and
    /// [`Text::words`] splits it into words that are inline or shared too. A pipeline over
    /// it, such as a word count, allocates nothing per line or per word.
    ///
    /// `Text` dereferences to `str`, so a closure written for `text_file`'s lines usually
    /// works unchanged. A long line or word kept after the job (collected, cached) keeps its
    /// buffer alive; [`Text::compact`] copies it out.
    ///
    /// # Errors
    /// an error of kind [`NotFound`](crate::ErrorKind::NotFound) naming the path when it does not exist or cannot be listed.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    ///
    /// let path = std::env::temp_dir().join(format!("ember-poem-words-{}.txt", std::process::id()));
    /// std::fs::write(&path, "the cat\r\nthe hat\n")?;
    /// let ctx = Context::local(2)?;
    /// let mut counts = ctx
    ///     .text_lines(path.to_str().unwrap(), 2)?
    ///     .flat_map(Text::into_words)
    ///     .map(|word| (word, 1u64))
    ///     .reduce_by_key(|a, b| a + b)
    ///     .collect()?;
    /// counts.sort();
    /// assert_eq!(counts, [(Text::from("cat"), 1), (Text::from("hat"), 1), (Text::from("the"), 2)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[track_caller]
    pub fn text_lines(&self, path: &str, min_partitions: usize) -> Result<Rdd<Text>> {
        let meta = self.new_meta("text_lines", Location::caller());
        let files = self.inner.storage.list_inputs(path)?;
        let splits = plan_splits(&files, min_partitions);
        // Each piece's UTF-8 is checked once (`SharedPiece`); a line holding invalid UTF-8 is
        // repaired alone, exactly as `text_file` repairs it. Every long line shares its piece's
        // buffer through the piece's one `Arc`: no allocation per line.
        let read: ReadSplit<Text> = Arc::new(|storage, split, ctx| {
            let mut lines = storage.read_split(split)?;
            let ctx = ctx.clone();
            let mut piece = SharedPiece::of(&lines);
            Ok(Box::new(std::iter::from_fn(move || {
                let range = fail_on_error(&ctx, lines.next_line()?)?;
                if piece.generation != lines.buffer_generation() {
                    piece = SharedPiece::of(&lines);
                }
                Some(piece.text(range))
            })))
        });
        let node = FileSourceNode::new(meta, self.inner.storage.clone(), splits, read);
        Ok(Rdd::from_node(Arc::new(node), self.clone()))
    }

    /// `(url, content)` for each file at `path` (a file, a directory's visible files, or a
    /// glob), one partition per file, as Spark's `wholeTextFiles`. `.gz` and `.zst` files are
    /// decompressed; invalid UTF-8 is replaced with U+FFFD. Each file is read whole.
    ///
    /// # Errors
    /// an error of kind [`NotFound`](crate::ErrorKind::NotFound) naming the path when nothing is there or it cannot be listed.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec!["a".to_owned(), "b".to_owned()], 2).save_as_text_file("memory://wt/in")?;
    /// let files = ctx.whole_text_files("memory://wt/in")?.collect()?;
    /// assert_eq!(files, [("memory://wt/in/part-00000".to_owned(), "a\n".to_owned()),
    ///                    ("memory://wt/in/part-00001".to_owned(), "b\n".to_owned())]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn whole_text_files(&self, path: &str) -> Result<Rdd<(String, String)>> {
        let meta = self.new_meta("whole_text_files", Location::caller());
        let read: ReadSplit<(String, String)> = decoded(|storage: &Storage, split: &FileSplit| {
            let bytes = storage.read_file(&split.file)?;
            Ok(vec![(split.file.url.clone(), String::from_utf8_lossy(&bytes).into_owned())])
        });
        self.file_source(meta, path, read)
    }

    /// Reads the records that [`Rdd::save_as_object_file`] wrote under `path` (or at a file
    /// or glob): one partition per file. The files carry a format header and an end marker,
    /// so a file of another format or version, or a truncated one, is an error naming it.
    ///
    /// # Errors
    /// an error of kind [`NotFound`](crate::ErrorKind::NotFound) naming the path when nothing is there; when a job runs,
    /// an error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) whose cause names a file that is not a valid object file of `T`.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// let ctx = Context::local(2)?;
    /// ctx.parallelize(vec![("a".to_owned(), 1u32), ("b".to_owned(), 2)], 2).save_as_object_file("memory://o/pairs")?;
    /// let back = ctx.object_file::<(String, u32)>("memory://o/pairs")?.collect()?;
    /// assert_eq!(back, [("a".to_owned(), 1), ("b".to_owned(), 2)]);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn object_file<T: Data>(&self, path: &str) -> Result<Rdd<T>> {
        let meta = self.new_meta("object_file", Location::caller());
        let read: ReadSplit<T> = decoded(|storage: &Storage, split: &FileSplit| {
            let bytes = storage.read_file(&split.file)?;
            read_object_file(&bytes, &split.file.url)
        });
        self.file_source(meta, path, read)
    }

    /// Reads JSON lines (one JSON value per line, as [`Rdd::save_as_json_file`] writes) from
    /// a file, directory or glob into `T`, split into byte ranges like
    /// [`Context::text_file`]. Blank lines are skipped.
    ///
    /// # Errors
    /// an error of kind [`NotFound`](crate::ErrorKind::NotFound) naming the path when nothing is there; when a job runs,
    /// an error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) whose cause names the file and the line that is not a valid `T`: its line number in the
    /// file (`line 7`) when the line is in the file's first split, else the byte offset in
    /// the file where it starts (`the line starting at byte 1234`), as the lines before a
    /// later split are not counted.
    ///
    /// # Examples
    /// ```
    /// use ember::prelude::*;
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct Hit { page: String, n: u32 }
    ///
    /// let ctx = Context::local(2)?;
    /// let hits = vec![Hit { page: "/".into(), n: 3 }, Hit { page: "/a".into(), n: 1 }];
    /// ctx.parallelize(hits.clone(), 2).save_as_json_file("memory://j/hits")?;
    /// assert_eq!(ctx.json_file::<Hit>("memory://j/hits", 2)?.collect()?, hits);
    /// # Ok::<(), ember::Error>(())
    /// ```
    #[track_caller]
    pub fn json_file<T: Data>(&self, path: &str, min_partitions: usize) -> Result<Rdd<T>> {
        let meta = self.new_meta("json_file", Location::caller());
        let files = self.inner.storage.list_inputs(path)?;
        let splits = plan_splits(&files, min_partitions);
        let read: ReadSplit<T> = decoded(|storage: &Storage, split: &FileSplit| {
            let mut out = Vec::new();
            let mut lines = storage.read_split(split)?;
            let mut number = 0u64;
            loop {
                let at = lines.offset();
                let Some(line) = lines.next() else { break };
                let line = line?;
                number += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let value = parse_json(&line).map_err(|e| {
                    StorageError::format(
                        &split.file.url,
                        "JSON lines",
                        format!("{}: {e}", line_place(split, number, at)),
                    )
                })?;
                out.push(value);
            }
            Ok(out)
        });
        let node = FileSourceNode::new(meta, self.inner.storage.clone(), splits, read);
        Ok(Rdd::from_node(Arc::new(node), self.clone()))
    }

    #[cfg(feature = "parquet")]
    #[cfg_attr(docsrs, doc(cfg(feature = "parquet")))]
    /// Reads Parquet files (a file, a directory's visible files, or a glob) into `T`, one
    /// partition per file: the files [`Rdd::save_as_parquet`] writes, or any Parquet file
    /// whose columns match `T`'s fields (serde_arrow). Each file is read whole.
    ///
    /// # Errors
    /// an error of kind [`NotFound`](crate::ErrorKind::NotFound) naming the path when nothing is there; when a job runs,
    /// an error of kind [`TaskFailed`](crate::ErrorKind::TaskFailed) whose cause names a file that is not Parquet or does not match `T`.
    ///
    /// # Examples
    /// See [`Rdd::save_as_parquet`].
    #[track_caller]
    pub fn read_parquet<T: Data>(&self, path: &str) -> Result<Rdd<T>> {
        let meta = self.new_meta("read_parquet", Location::caller());
        let read: ReadSplit<T> = decoded(|storage: &Storage, split: &FileSplit| {
            let bytes = storage.get(&split.file.url)?;
            crate::parquet_io::read_rows(bytes, &split.file.url)
        });
        self.file_source(meta, path, read)
    }

    /// One partition per input file at `path`, each decoded by `read`.
    fn file_source<T: Data>(&self, meta: NodeMeta, path: &str, read: ReadSplit<T>) -> Result<Rdd<T>> {
        let files = self.inner.storage.list_inputs(path)?;
        let splits = files.into_iter().map(|f| {
            let size = f.size;
            FileSplit::new(f, 0, size)
        });
        let node = FileSourceNode::new(meta, self.inner.storage.clone(), splits.collect(), read);
        Ok(Rdd::from_node(Arc::new(node), self.clone()))
    }
}
