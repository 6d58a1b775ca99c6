//! [`PartWriter`]: one task attempt's part, streamed to its attempt file with bounded memory.
//!
//! A part that outgrows one chunk becomes a multipart upload. On stores whose uploads are
//! addressed by id (S3, GCS, Azure: [`MultipartStore`]) the writer drives the upload itself
//! and first records its id in `upload.json` beside the attempt file: a writer killed
//! mid-upload cannot abort it, so whoever cleans the save's temporary files later (the next
//! save to the output, or [`crate::Storage::clean_output`]) aborts every recorded upload
//! ([`abort_recorded_uploads`]) instead of leaving its parts billed forever.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{MultipartId, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::{OutputJob, PART_CHUNK, PartCommit, UPLOAD_CONCURRENCY};
use crate::error::{Result, StorageError, shown};
use crate::io::Storage;
use crate::url::Location;

/// The name of an upload's record, beside its attempt file.
const UPLOAD_RECORD: &str = "upload.json";

/// Streams one part to its attempt file; see [`OutputJob::part_writer`].
///
/// `std::io::Write`: a failed upload surfaces as an `io::Error` wrapping the
/// [`StorageError`]. Every write blocks only when a chunk is full and the
/// upload has 4 chunks in flight.
pub struct PartWriter<'a> {
    job: &'a OutputJob,
    partition: usize,
    attempt: usize,
    store: Arc<dyn ObjectStore>,
    multipart: Option<Arc<dyn MultipartStore>>,
    location: Location,
    url: String,
    buf: Vec<u8>,
    upload: Option<Upload>,
    written: u64,
}

/// A multipart upload in progress.
enum Upload {
    /// `object_store`'s own writer, for stores without addressable uploads.
    Opaque(object_store::WriteMultipart),
    /// An upload this writer drives by id, recorded beside the attempt file.
    Recorded(Recorded),
}

struct Recorded {
    store: Arc<dyn MultipartStore>,
    path: Path,
    id: MultipartId,
    /// Parts uploading, oldest first.
    in_flight: VecDeque<JoinHandle<object_store::Result<PartId>>>,
    /// Parts uploaded, in order.
    done: Vec<PartId>,
}

/// What `upload.json` holds.
#[derive(Serialize, Deserialize)]
struct UploadRecord {
    path: String,
    id: MultipartId,
}

impl<'a> PartWriter<'a> {
    /// A writer for the attempt file at `location`; see [`OutputJob::part_writer`].
    pub(super) fn new(job: &'a OutputJob, partition: usize, attempt: usize, location: Location) -> Result<Self> {
        let store = job.storage.store(&location)?;
        let multipart = job.storage.multipart_store(&location)?;
        let url = location.url();
        Ok(PartWriter {
            job,
            partition,
            attempt,
            store,
            multipart,
            location,
            url,
            buf: Vec::new(),
            upload: None,
            written: 0,
        })
    }
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
                let store = Arc::clone(&self.store);
                let path = self.location.path.clone();
                self.job.storage.run(&self.url, async move {
                    store.put(&path, PutPayload::from(buf)).await.map_err(|e| StorageError::io(&owned, e))
                })?;
            }
            Some(Upload::Opaque(mut upload)) => {
                self.job.storage.run(&self.url, async move {
                    upload.put(buf);
                    upload.finish().await.map_err(|e| StorageError::io(&owned, e))
                })?;
            }
            Some(Upload::Recorded(mut upload)) => {
                if !buf.is_empty() {
                    upload.send(&self.job.storage, buf);
                }
                let result = upload.complete(&self.job.storage, &self.url);
                if result.is_err() {
                    upload.abort(&self.job.storage, &self.url);
                }
                result?;
            }
        }
        Ok(PartCommit { partition: self.partition as u64, attempt: self.attempt as u64, bytes: self.written })
    }

    /// Sends the full buffer as the next chunk, starting the multipart upload if needed.
    fn send_chunk(&mut self) -> Result<()> {
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PART_CHUNK)));
        let upload = match self.upload.take() {
            Some(upload) => upload,
            None => self.start_upload()?,
        };
        match upload {
            Upload::Opaque(upload) => {
                let owned = self.url.clone();
                let upload = self.job.storage.run(&self.url, async move {
                    let mut upload = upload;
                    upload.wait_for_capacity(UPLOAD_CONCURRENCY).await.map_err(|e| StorageError::io(&owned, e))?;
                    upload.put(chunk);
                    Ok(upload)
                })?;
                self.upload = Some(Upload::Opaque(upload));
            }
            Upload::Recorded(mut upload) => {
                let waited = upload.wait_for_capacity(&self.job.storage, &self.url);
                if waited.is_ok() {
                    upload.send(&self.job.storage, chunk);
                }
                // Kept even on error: dropping the writer then aborts the upload.
                self.upload = Some(Upload::Recorded(upload));
                waited?;
            }
        }
        Ok(())
    }

    /// Starts the multipart upload: by id, recorded first, where the store allows.
    fn start_upload(&self) -> Result<Upload> {
        let path = self.location.path.clone();
        let owned = self.url.clone();
        let Some(multipart) = self.multipart.clone() else {
            let store = Arc::clone(&self.store);
            let upload = self.job.storage.run(&self.url, async move {
                store.put_multipart(&path).await.map_err(|e| StorageError::io(&owned, e))
            })?;
            return Ok(Upload::Opaque(object_store::WriteMultipart::new_with_chunk_size(upload, PART_CHUNK)));
        };
        let id = self.job.storage.run(&self.url, {
            let (multipart, path) = (Arc::clone(&multipart), path.clone());
            async move { multipart.create_multipart(&path).await.map_err(|e| StorageError::io(&owned, e)) }
        })?;
        let upload = Recorded { store: multipart, path, id, in_flight: VecDeque::new(), done: Vec::new() };
        let record = UploadRecord { path: upload.path.as_ref().to_owned(), id: upload.id.clone() };
        let bytes = serde_json::to_vec(&record).expect("an upload record always serializes");
        let recorded = self.job.storage.put(&self.location.sibling(UPLOAD_RECORD).url(), Bytes::from(bytes));
        if let Err(err) = recorded {
            upload.abort(&self.job.storage, &self.url);
            return Err(err);
        }
        Ok(Upload::Recorded(upload))
    }
}

impl Recorded {
    /// Starts uploading `chunk` as the next part.
    fn send(&mut self, storage: &Storage, chunk: Bytes) {
        let (store, path, id) = (Arc::clone(&self.store), self.path.clone(), self.id.clone());
        let index = self.done.len() + self.in_flight.len();
        self.in_flight
            .push_back(storage.spawn(async move { store.put_part(&path, &id, index, PutPayload::from(chunk)).await }));
    }

    /// Waits until fewer than [`UPLOAD_CONCURRENCY`] parts are uploading.
    fn wait_for_capacity(&mut self, storage: &Storage, url: &str) -> Result<()> {
        while self.in_flight.len() >= UPLOAD_CONCURRENCY {
            self.wait_oldest(storage, url)?;
        }
        Ok(())
    }

    fn wait_oldest(&mut self, storage: &Storage, url: &str) -> Result<()> {
        let Some(oldest) = self.in_flight.pop_front() else { return Ok(()) };
        let owned = url.to_owned();
        let part = storage.run(url, async move {
            match oldest.await {
                Ok(part) => part.map_err(|e| StorageError::io(&owned, e)),
                Err(join) => Err(StorageError::io(&owned, object_store::Error::from(join))),
            }
        })?;
        self.done.push(part);
        Ok(())
    }

    /// Waits for every part, then completes the upload.
    fn complete(&mut self, storage: &Storage, url: &str) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.wait_oldest(storage, url)?;
        }
        let (store, path, id, parts) =
            (Arc::clone(&self.store), self.path.clone(), self.id.clone(), std::mem::take(&mut self.done));
        let owned = url.to_owned();
        storage.run(url, async move {
            store.complete_multipart(&path, &id, parts).await.map(|_| ()).map_err(|e| StorageError::io(&owned, e))
        })
    }

    /// Aborts the upload, best effort (a failure is logged).
    fn abort(&self, storage: &Storage, url: &str) {
        for part in &self.in_flight {
            part.abort();
        }
        abort_upload(storage, url, Arc::clone(&self.store), self.path.clone(), self.id.clone());
    }
}

fn abort_upload(storage: &Storage, url: &str, store: Arc<dyn MultipartStore>, path: Path, id: MultipartId) {
    let owned = url.to_owned();
    let _ = storage.run(url, async move {
        if let Err(error) = store.abort_multipart(&path, &id).await {
            tracing::warn!(%error, url = %shown(&owned), "could not abort a multipart upload");
        }
        Ok(())
    });
}

/// Aborts every multipart upload recorded under `under` (a save's, or every save's,
/// temporary files), before those files are deleted. Best effort: an upload already gone
/// is fine, and failures are logged. Cost: one listing of `under`, one get and one abort per
/// recorded upload.
pub(super) fn abort_recorded_uploads(storage: &Storage, under: &Location) {
    let Ok(Some(multipart)) = storage.multipart_store(under) else { return };
    let Ok(store) = storage.store(under) else { return };
    let prefix = under.path.clone();
    let url = under.url();
    let owned = url.clone();
    let records = storage.run(&url, async move {
        let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await.map_err(|e| StorageError::io(&owned, e))?;
        let mut records = Vec::new();
        for meta in metas.into_iter().filter(|m| m.location.filename() == Some(UPLOAD_RECORD)) {
            // A record gone meanwhile belongs to a save cleaned by someone else.
            let Ok(got) = store.get(&meta.location).await else { continue };
            let bytes = got.bytes().await.map_err(|e| StorageError::io(&owned, e))?;
            if let Ok(record) = serde_json::from_slice::<UploadRecord>(&bytes) {
                records.push(record);
            }
        }
        Ok(records)
    });
    match records {
        Ok(records) => {
            for record in records {
                tracing::info!(path = record.path, "aborting the multipart upload of a save that did not finish");
                abort_upload(storage, &url, Arc::clone(&multipart), Path::from(record.path), record.id);
            }
        }
        Err(error) => tracing::warn!(%error, url = %shown(&url), "could not look for unfinished multipart uploads"),
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
        // Unfinished: abort the upload so no parts linger (best effort).
        match self.upload.take() {
            None => {}
            Some(Upload::Opaque(upload)) => {
                let url = self.url.clone();
                let _ = self.job.storage.run(&self.url, async move {
                    if let Err(error) = upload.abort().await {
                        tracing::warn!(%error, url = %shown(&url), "could not abort a multipart upload");
                    }
                    Ok(())
                });
            }
            Some(Upload::Recorded(upload)) => upload.abort(&self.job.storage, &self.url),
        }
    }
}

impl std::fmt::Debug for PartWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartWriter").field("url", &self.url).field("written", &self.written).finish()
    }
}
