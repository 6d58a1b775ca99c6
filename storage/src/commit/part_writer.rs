//! [`PartWriter`]: one task attempt's part, streamed to its attempt file with bounded memory.

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};

use super::{OutputJob, PART_CHUNK, PartCommit, UPLOAD_CONCURRENCY};
use crate::error::{Result, StorageError};
use crate::url::Location;

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

impl<'a> PartWriter<'a> {
    /// A writer for the attempt file at `location`; see [`OutputJob::part_writer`].
    pub(super) fn new(job: &'a OutputJob, partition: usize, attempt: usize, location: Location) -> Result<Self> {
        let store = job.storage.store(&location)?;
        let url = location.url();
        Ok(PartWriter { job, partition, attempt, store, location, url, buf: Vec::new(), upload: None, written: 0 })
    }
}
