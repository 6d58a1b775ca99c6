//! Output commit protocol: attempts write under `_temporary`, the job commit moves them into place.
//!
//! Modelled on Hadoop's `FileOutputCommitter` (algorithm v1), on object
//! stores:
//!
//! ```text
//! <out>/_temporary/attempt_00003_1/part-00003   write_part(3, attempt 1) -> PartCommit
//! <out>/_temporary/attempt_00003_2/part-00003   write_part(3, attempt 2) -> PartCommit  <- accepted
//!                       commit(n, accepted messages)
//! <out>/part-00000 .. part-<n-1>                 one accepted attempt per partition
//! <out>/_SUCCESS                                 written last: the output is complete
//! <out>/_temporary                               deleted
//! ```
//!
//! A task writes its attempt's file and returns a [`PartCommit`] message (serde data, so it
//! travels from any executor in the task's result); the driver commits exactly the attempts
//! whose messages the scheduler accepted (Spark's `OutputCommitCoordinator`), so a retried or
//! speculative task never duplicates rows and the committed part is the one whose result and
//! accumulators counted. Readers skip `_`-names (see [`crate::Storage::list_inputs`]) and
//! treat an output without `_SUCCESS` as incomplete, so they never see half an output.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError};
use crate::io::Storage;
use crate::url::Location;

/// Name of the directory that holds attempt outputs until commit.
const TEMPORARY: &str = "_temporary";
/// Name of the empty marker written last by a successful commit.
const SUCCESS: &str = "_SUCCESS";
/// Renames in flight at once during commit.
const COMMIT_CONCURRENCY: usize = 16;
/// A part up to this size (8 MiB) is written with one put; a larger part streams out as a
/// multipart upload in chunks of this size.
pub const PART_CHUNK: usize = 8 << 20;
/// Chunks of one part uploading at once: a part writer holds at most
/// `(UPLOAD_CONCURRENCY + 1) × PART_CHUNK` bytes.
const UPLOAD_CONCURRENCY: usize = 4;

/// One output being written: a directory of `part-NNNNN` files committed
/// all at once. Created by [`Storage::create_output`].
///
/// `Send + Sync`: tasks share it through an `Arc` and call
/// [`OutputJob::write_part`] or [`OutputJob::part_writer`] concurrently, each
/// getting a [`PartCommit`]; the driver calls [`OutputJob::commit`] with the
/// accepted messages, or [`OutputJob::abort`], once, after the tasks.
/// Dropping it without either leaves `_temporary` in place (and no
/// visible output).
pub struct OutputJob {
    storage: Storage,
    url: String,
    root: Location,
}

/// What a task attempt that wrote its part tells the driver: which attempt of which
/// partition, and how many bytes. Plain data: it travels in the task's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartCommit {
    /// The partition.
    pub partition: u64,
    /// The attempt that wrote it.
    pub attempt: u64,
    /// The part's size in bytes.
    pub bytes: u64,
}

/// The file name of partition `partition`: `part-NNNNN` (at least 5 digits).
pub fn part_name(partition: usize) -> String {
    format!("part-{partition:05}")
}

impl OutputJob {
    /// [`Storage::create_output`]: see there for the contract.
    pub(crate) fn create(storage: &Storage, url: &str, overwrite: bool) -> Result<Self> {
        let root = Location::parse(url)?;
        if root.path.parts_count() == 0 {
            return Err(StorageError::invalid(url, "an output needs its own directory below the store root"));
        }
        let store = storage.store(&root)?;
        let path = root.path.clone();
        let owned = url.to_owned();
        let exists = storage.run(url, async move {
            let io = |e| StorageError::io(&owned, e);
            match store.head(&path).await {
                Ok(_) => return Ok(true),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(io(e)),
            }
            let first = store.list(Some(&path)).next().await.transpose().map_err(io)?;
            Ok(first.is_some())
        })?;
        if exists {
            if !overwrite {
                return Err(StorageError::AlreadyExists { url: url.to_owned() });
            }
            tracing::info!(url, "overwriting existing output");
            storage.delete_all(&root, url)?;
        }
        Ok(Self { storage: storage.clone(), url: root.url(), root })
    }

    /// The output's display URL (`file:///…`, `memory://…`). Cost: O(1).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes the whole content of one task attempt's part to
    /// `<out>/_temporary/attempt_<PPPPP>_<attempt>/part-<PPPPP>` and returns the
    /// message that commits it.
    ///
    /// Called once per successful attempt, at its end. Cost: one put of
    /// `bytes` (no copy); local parents are created.
    ///
    /// # Errors
    /// [`StorageError::Io`] if the write fails.
    pub fn write_part(&self, partition: usize, attempt: usize, bytes: Bytes) -> Result<PartCommit> {
        let size = bytes.len() as u64;
        let location = self.attempt_file(partition, attempt);
        let store = self.storage.store(&location)?;
        let url = location.url();
        let owned = url.clone();
        self.storage.run(&url, async move {
            store
                .put(&location.path, PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| StorageError::io(&owned, e))
        })?;
        Ok(PartCommit { partition: partition as u64, attempt: attempt as u64, bytes: size })
    }

    /// A streaming writer for one task attempt's part, for parts too large to hold in memory:
    /// bytes written to it go to the same attempt file as [`OutputJob::write_part`], through
    /// one put if the part stays under [`PART_CHUNK`] bytes, otherwise through a multipart
    /// upload of [`PART_CHUNK`]-byte chunks, a few in flight at once (bounded memory).
    /// [`PartWriter::finish`] completes the upload and returns the attempt's
    /// [`PartCommit`]; dropping the writer unfinished aborts the upload.
    ///
    /// # Errors
    /// [`StorageError::StoreConfig`] if the output's store cannot be set up.
    pub fn part_writer(&self, partition: usize, attempt: usize) -> Result<PartWriter<'_>> {
        let location = self.attempt_file(partition, attempt);
        let store = self.storage.store(&location)?;
        let url = location.url();
        Ok(PartWriter {
            job: self,
            partition,
            attempt,
            store,
            location,
            url,
            buf: Vec::new(),
            upload: None,
            written: 0,
        })
    }

    /// Moves, for each partition `0..num_partitions`, the file of the attempt
    /// `parts` names for it (the first message of a partition wins) to
    /// `<out>/part-NNNNN`, then writes an empty `<out>/_SUCCESS`, then deletes
    /// `<out>/_temporary` (with the files of attempts not named).
    ///
    /// Cost: one rename per partition (up to 16 at once; on stores without
    /// rename, a copy and a delete), one put, one recursive delete.
    ///
    /// # Errors
    /// [`StorageError::MissingPart`] naming the first partition without a
    /// message (checked before anything moves);
    /// [`StorageError::Io`] if a move or the `_SUCCESS` write fails (the
    /// output then has no `_SUCCESS`). Failing to delete `_temporary` after
    /// `_SUCCESS` is written is only logged: the output is complete.
    pub fn commit(&self, num_partitions: usize, parts: &[PartCommit]) -> Result<()> {
        let mut accepted: Vec<Option<usize>> = vec![None; num_partitions];
        for part in parts {
            if let Some(slot) = usize::try_from(part.partition).ok().and_then(|p| accepted.get_mut(p))
                && slot.is_none()
            {
                *slot = usize::try_from(part.attempt).ok();
            }
        }
        let moves = accepted
            .iter()
            .enumerate()
            .map(|(partition, attempt)| match attempt {
                Some(attempt) => Ok((self.attempt_file(partition, *attempt), self.root.child(&part_name(partition)))),
                None => Err(StorageError::MissingPart { url: self.url.clone(), partition }),
            })
            .collect::<Result<Vec<_>>>()?;
        let store = self.storage.store(&self.root)?;
        let success = self.root.child(SUCCESS);
        let url = self.url.clone();
        self.storage.run(&self.url, async move {
            futures::stream::iter(moves)
                .map(|(from, to)| {
                    let store = &store;
                    async move {
                        store
                            .rename(&from.path, &to.path)
                            .await
                            .map_err(|e| StorageError::io(&from.url(), e))
                    }
                })
                .buffer_unordered(COMMIT_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
            store.put(&success.path, PutPayload::default()).await.map_err(|e| StorageError::io(&url, e))?;
            Ok(())
        })?;
        self.clean_temporary();
        Ok(())
    }

    /// Deletes everything under `<out>/_temporary`, best effort (failures
    /// are logged); visible output stays absent. Cost: one recursive delete.
    pub fn abort(&self) {
        self.clean_temporary();
    }

    /// `<out>/_temporary/attempt_<PPPPP>_<attempt>/part-<PPPPP>`.
    fn attempt_file(&self, partition: usize, attempt: usize) -> Location {
        self.root.child(TEMPORARY).child(&format!("attempt_{partition:05}_{attempt}")).child(&part_name(partition))
    }

    fn clean_temporary(&self) {
        let temporary = self.root.child(TEMPORARY);
        let url = temporary.url();
        if let Err(error) = self.storage.delete_all(&temporary, &url) {
            tracing::warn!(%error, url, "could not delete the temporary output");
        }
    }
}

/// Streams one part to its attempt file; see [`OutputJob::part_writer`].
///
/// `std::io::Write`: a failed upload surfaces as an `io::Error` wrapping the
/// [`StorageError`]. Every write blocks only when a chunk is full and the
/// upload has 4 chunks in flight.
pub struct PartWriter<'a> {
    job: &'a OutputJob,
    partition: usize,
    attempt: usize,
    store: std::sync::Arc<dyn object_store::ObjectStore>,
    location: Location,
    url: String,
    buf: Vec<u8>,
    upload: Option<object_store::WriteMultipart>,
    written: u64,
}

impl PartWriter<'_> {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Uploads what is left, completes the object and returns the message that commits this
    /// attempt, as [`OutputJob::write_part`] does.
    ///
    /// # Errors
    /// [`StorageError::Io`] if an upload fails.
    pub fn finish(mut self) -> Result<PartCommit> {
        let buf = Bytes::from(std::mem::take(&mut self.buf));
        let owned = self.url.clone();
        match self.upload.take() {
            None => {
                let store = std::sync::Arc::clone(&self.store);
                let path = self.location.path.clone();
                self.job.storage.run(&self.url, async move {
                    store.put(&path, PutPayload::from(buf)).await.map_err(|e| StorageError::io(&owned, e))
                })?;
            }
            Some(mut upload) => {
                self.job.storage.run(&self.url, async move {
                    upload.put(buf);
                    upload.finish().await.map_err(|e| StorageError::io(&owned, e))
                })?;
            }
        }
        Ok(PartCommit { partition: self.partition as u64, attempt: self.attempt as u64, bytes: self.written })
    }

    /// Sends the full buffer as the next chunk, starting the multipart upload if needed.
    fn send_chunk(&mut self) -> Result<()> {
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PART_CHUNK)));
        let owned = self.url.clone();
        let upload = match self.upload.take() {
            Some(upload) => upload,
            None => {
                let store = std::sync::Arc::clone(&self.store);
                let path = self.location.path.clone();
                let io_url = owned.clone();
                let up = self.job.storage.run(&self.url, async move {
                    store.put_multipart(&path).await.map_err(|e| StorageError::io(&io_url, e))
                })?;
                object_store::WriteMultipart::new_with_chunk_size(up, PART_CHUNK)
            }
        };
        let upload = self.job.storage.run(&self.url, async move {
            let mut upload = upload;
            upload.wait_for_capacity(UPLOAD_CONCURRENCY).await.map_err(|e| StorageError::io(&owned, e))?;
            upload.put(chunk);
            Ok(upload)
        })?;
        self.upload = Some(upload);
        Ok(())
    }
}

impl std::io::Write for PartWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= PART_CHUNK {
            self.send_chunk().map_err(std::io::Error::other)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for PartWriter<'_> {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            // Unfinished: abort the upload so no parts linger (best effort).
            let url = self.url.clone();
            let _ = self.job.storage.run(&self.url, async move {
                if let Err(error) = upload.abort().await {
                    tracing::warn!(%error, url, "could not abort a multipart upload");
                }
                Ok(())
            });
        }
    }
}

impl std::fmt::Debug for PartWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartWriter").field("url", &self.url).field("written", &self.written).finish()
    }
}

impl std::fmt::Debug for OutputJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputJob").field("url", &self.url).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(storage: &Storage, url: &str) -> Vec<String> {
        let root = Location::parse(url).unwrap();
        let store = storage.store(&root).unwrap();
        let mut names: Vec<String> = storage
            .run(url, async move {
                let metas: Vec<_> = store.list(Some(&root.path)).try_collect().await.unwrap();
                Ok(metas)
            })
            .unwrap()
            .into_iter()
            .map(|m| m.location.as_ref().to_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn large_parts_stream_as_multipart_and_small_ones_as_one_put() {
        use std::io::Write;
        let storage = Storage::new().unwrap();
        let job = storage.create_output("memory://o/stream", false).unwrap();
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
        let mut big = job.part_writer(0, 0).unwrap();
        for _ in 0..(PART_CHUNK * 2 + 1000) / line.len() {
            big.write_all(line).unwrap();
        }
        let first = big.finish().unwrap();
        assert!(first.bytes > 2 * PART_CHUNK as u64);
        let mut small = job.part_writer(1, 3).unwrap();
        small.write_all(b"tiny\n").unwrap();
        let second = small.finish().unwrap();
        assert_eq!(second, PartCommit { partition: 1, attempt: 3, bytes: 5 });
        // An unfinished writer leaves nothing to commit.
        let mut dropped = job.part_writer(2, 0).unwrap();
        dropped.write_all(&vec![b'x'; PART_CHUNK + 1]).unwrap();
        drop(dropped);
        assert!(matches!(job.commit(3, &[first, second]), Err(StorageError::MissingPart { partition: 2, .. })));
        let third = job.write_part(2, 1, Bytes::new()).unwrap();
        job.commit(3, &[first, second, third]).unwrap();
        assert_eq!(storage.get("memory://o/stream/part-00000").unwrap().len() as u64, first.bytes);
        assert_eq!(storage.get("memory://o/stream/part-00001").unwrap().as_ref(), b"tiny\n");
    }

    #[test]
    fn part_names_have_five_digits() {
        assert_eq!(part_name(0), "part-00000");
        assert_eq!(part_name(42), "part-00042");
        assert_eq!(part_name(123_456), "part-123456");
    }

    #[test]
    fn memory_commit_moves_recorded_attempts_and_cleans_up() {
        let storage = Storage::new().unwrap();
        let job = storage.create_output("memory://o/out", false).unwrap();
        assert_eq!(job.url(), "memory://o/out");
        job.write_part(1, 0, Bytes::from_static(b"one-a0\n")).unwrap();
        let zero = job.write_part(0, 0, Bytes::from_static(b"zero\n")).unwrap();
        let one = job.write_part(1, 1, Bytes::from_static(b"one-a1\n")).unwrap();
        assert!(names(&storage, "memory://o/out").iter().all(|n| n.contains("_temporary")));
        // Attempt 1 of partition 1 is the one the scheduler accepted.
        job.commit(2, &[one, zero]).unwrap();
        assert_eq!(names(&storage, "memory://o/out"), ["o/out/_SUCCESS", "o/out/part-00000", "o/out/part-00001"]);
        assert_eq!(storage.get("memory://o/out/part-00001").unwrap().as_ref(), b"one-a1\n");
    }

    #[test]
    fn missing_partition_fails_before_anything_moves() {
        let storage = Storage::new().unwrap();
        let job = storage.create_output("memory://o/miss", false).unwrap();
        let zero = job.write_part(0, 0, Bytes::from_static(b"x")).unwrap();
        let err = job.commit(3, &[zero]).unwrap_err();
        assert!(matches!(&err, StorageError::MissingPart { partition: 1, url } if url == "memory://o/miss"), "{err:?}");
        assert!(err.to_string().contains("partition 1"), "{err}");
        assert!(names(&storage, "memory://o/miss").iter().all(|n| n.contains("_temporary")));
        job.abort();
        assert!(names(&storage, "memory://o/miss").is_empty());
    }
}
