//! Output commit protocol: attempts write under `_temporary`, the job commit moves them into place.
//!
//! Modelled on Hadoop's `FileOutputCommitter` (algorithm v1), on object
//! stores:
//!
//! ```text
//! <out>/_temporary/attempt_00003_1/part-00003   write_part(3, attempt 1)
//! <out>/_temporary/attempt_00003_2/part-00003   write_part(3, attempt 2)  <- recorded for 3
//!                       commit(n)
//! <out>/part-00000 .. part-<n-1>                 one recorded attempt per partition
//! <out>/_SUCCESS                                 written last: the output is complete
//! <out>/_temporary                               deleted
//! ```
//!
//! Readers skip `_`-names (see [`crate::Storage::list_inputs`]) and treat
//! an output without `_SUCCESS` as incomplete, so they never see half an
//! output; a retried or speculative task never duplicates rows, because
//! exactly one attempt per partition is moved into place.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutPayload};

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
/// [`OutputJob::write_part`] concurrently; the driver calls
/// [`OutputJob::commit`] or [`OutputJob::abort`] once, after the tasks.
/// Dropping it without either leaves `_temporary` in place (and no
/// visible output).
pub struct OutputJob {
    storage: Storage,
    url: String,
    root: Location,
    /// Partition -> the attempt whose part file will be committed.
    recorded: Mutex<HashMap<usize, usize>>,
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
        Ok(Self { storage: storage.clone(), url: root.url(), root, recorded: Mutex::new(HashMap::new()) })
    }

    /// The output's display URL (`file:///…`, `memory://…`). Cost: O(1).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes the whole content of one task attempt's part to
    /// `<out>/_temporary/attempt_<PPPPP>_<attempt>/part-<PPPPP>` and records
    /// that attempt as the one to commit for `partition` (the latest
    /// successful call for a partition wins).
    ///
    /// Called once per successful attempt, at its end. Cost: one put of
    /// `bytes` (no copy); local parents are created.
    ///
    /// # Errors
    /// [`StorageError::Io`] if the write fails; nothing is recorded then.
    pub fn write_part(&self, partition: usize, attempt: usize, bytes: Bytes) -> Result<()> {
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
        self.lock().insert(partition, attempt);
        Ok(())
    }

    /// A streaming writer for one task attempt's part, for parts too large to hold in memory:
    /// bytes written to it go to the same attempt file as [`OutputJob::write_part`], through
    /// one put if the part stays under [`PART_CHUNK`] bytes, otherwise through a multipart
    /// upload of [`PART_CHUNK`]-byte chunks, a few in flight at once (bounded memory).
    /// [`PartWriter::finish`] completes the upload and records the attempt; dropping the
    /// writer unfinished aborts the upload and records nothing.
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

    /// Moves, for each partition `0..num_partitions`, its recorded attempt's
    /// file to `<out>/part-NNNNN`, then writes an empty `<out>/_SUCCESS`,
    /// then deletes `<out>/_temporary` (with the files of attempts that
    /// were not recorded).
    ///
    /// Cost: one rename per partition (up to 16 at once; on stores without
    /// rename, a copy and a delete), one put, one recursive delete.
    ///
    /// # Errors
    /// [`StorageError::MissingPart`] naming the first partition without a
    /// recorded attempt (checked before anything moves);
    /// [`StorageError::Io`] if a move or the `_SUCCESS` write fails (the
    /// output then has no `_SUCCESS`). Failing to delete `_temporary` after
    /// `_SUCCESS` is written is only logged: the output is complete.
    pub fn commit(&self, num_partitions: usize) -> Result<()> {
        let moves = {
            let recorded = self.lock();
            (0..num_partitions)
                .map(|partition| match recorded.get(&partition) {
                    Some(&attempt) => {
                        Ok((self.attempt_file(partition, attempt), self.root.child(&part_name(partition))))
                    }
                    None => Err(StorageError::MissingPart { url: self.url.clone(), partition }),
                })
                .collect::<Result<Vec<_>>>()?
        };
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
        self.lock().clear();
        Ok(())
    }

    /// Deletes everything under `<out>/_temporary`, best effort (failures
    /// are logged); visible output stays absent. Cost: one recursive delete.
    pub fn abort(&self) {
        self.clean_temporary();
        self.lock().clear();
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

    /// The recorded attempts. A poisoned lock only means another thread
    /// panicked between two map operations, which leave the map consistent.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, usize>> {
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
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

    /// Uploads what is left, completes the object and records this attempt for its
    /// partition, as [`OutputJob::write_part`] does. Returns the part's size in bytes.
    ///
    /// # Errors
    /// [`StorageError::Io`] if an upload fails; nothing is recorded then.
    pub fn finish(mut self) -> Result<u64> {
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
        self.job.lock().insert(self.partition, self.attempt);
        Ok(self.written)
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
        f.debug_struct("OutputJob").field("url", &self.url).field("recorded", &self.lock().len()).finish()
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
        let size = big.finish().unwrap();
        assert!(size > 2 * PART_CHUNK as u64);
        let mut small = job.part_writer(1, 3).unwrap();
        small.write_all(b"tiny\n").unwrap();
        assert_eq!(small.finish().unwrap(), 5);
        // An unfinished writer records nothing.
        let mut dropped = job.part_writer(2, 0).unwrap();
        dropped.write_all(&vec![b'x'; PART_CHUNK + 1]).unwrap();
        drop(dropped);
        assert!(matches!(job.commit(3), Err(StorageError::MissingPart { partition: 2, .. })));
        job.write_part(2, 1, Bytes::new()).unwrap();
        job.commit(3).unwrap();
        assert_eq!(storage.get("memory://o/stream/part-00000").unwrap().len() as u64, size);
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
        job.write_part(0, 0, Bytes::from_static(b"zero\n")).unwrap();
        job.write_part(1, 1, Bytes::from_static(b"one-a1\n")).unwrap();
        assert!(names(&storage, "memory://o/out").iter().all(|n| n.contains("_temporary")));
        job.commit(2).unwrap();
        assert_eq!(names(&storage, "memory://o/out"), ["o/out/_SUCCESS", "o/out/part-00000", "o/out/part-00001"]);
        assert_eq!(storage.get("memory://o/out/part-00001").unwrap().as_ref(), b"one-a1\n");
    }

    #[test]
    fn missing_partition_fails_before_anything_moves() {
        let storage = Storage::new().unwrap();
        let job = storage.create_output("memory://o/miss", false).unwrap();
        job.write_part(0, 0, Bytes::from_static(b"x")).unwrap();
        let err = job.commit(3).unwrap_err();
        assert!(matches!(&err, StorageError::MissingPart { partition: 1, url } if url == "memory://o/miss"), "{err:?}");
        assert!(err.to_string().contains("partition 1"), "{err}");
        assert!(names(&storage, "memory://o/miss").iter().all(|n| n.contains("_temporary")));
        job.abort();
        assert!(names(&storage, "memory://o/miss").is_empty());
    }
}
