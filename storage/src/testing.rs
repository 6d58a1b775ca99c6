//! Test doubles for stores: [`FailFirst`] fails the next N data calls with a transient-looking error.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result,
};

/// Wraps a store and makes its next `n` reads and writes (`get`, ranged `get`, `put`,
/// multipart starts) fail with `object_store::Error::Generic`, as a flaky network or a
/// throttling server would; every other call, and every call after those, passes through.
///
/// Register it with [`crate::Storage::register_store`] to test that jobs survive transient
/// failures.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use ember_storage::Storage;
/// use ember_storage::object_store::memory::InMemory;
/// use ember_storage::testing::FailFirst;
///
/// let flaky = Arc::new(FailFirst::new(Arc::new(InMemory::new()), 1));
/// let storage = Storage::new()?;
/// storage.register_store("s3://flaky", flaky.clone())?;
/// assert!(storage.put("s3://flaky/x", Bytes::from_static(b"1")).is_err());
/// storage.put("s3://flaky/x", Bytes::from_static(b"1"))?;
/// assert_eq!(flaky.injected(), 1);
/// # Ok::<(), ember_storage::StorageError>(())
/// ```
pub struct FailFirst {
    inner: Arc<dyn ObjectStore>,
    remaining: AtomicUsize,
    injected: AtomicUsize,
    deny: bool,
}

impl FailFirst {
    /// Wraps `inner`; the next `n` data calls fail.
    pub fn new(inner: Arc<dyn ObjectStore>, n: usize) -> Self {
        Self { inner, remaining: AtomicUsize::new(n), injected: AtomicUsize::new(0), deny: false }
    }

    /// Like [`FailFirst::new`], but the failures are `PermissionDenied`, as a store answers
    /// when the credentials lack access.
    pub fn denying(inner: Arc<dyn ObjectStore>, n: usize) -> Self {
        Self { deny: true, ..Self::new(inner, n) }
    }

    /// Makes the next `n` data calls fail (replacing any failures still pending).
    pub fn fail_next(&self, n: usize) {
        self.remaining.store(n, Ordering::SeqCst);
    }

    /// How many failures were injected so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    fn maybe_fail(&self, what: &str, location: &Path) -> Result<()> {
        let take = self.remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if take.is_ok() {
            self.injected.fetch_add(1, Ordering::SeqCst);
            if self.deny {
                return Err(object_store::Error::PermissionDenied {
                    path: location.to_string(),
                    source: format!("injected: access denied on {what}").into(),
                });
            }
            return Err(object_store::Error::Generic {
                store: "FailFirst",
                source: format!("injected transient failure on {what} {location}").into(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for FailFirst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailFirst({})", self.inner)
    }
}

impl fmt::Debug for FailFirst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailFirst").field("remaining", &self.remaining).field("injected", &self.injected).finish()
    }
}

#[async_trait]
impl ObjectStore for FailFirst {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        self.maybe_fail("put", location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        self.maybe_fail("multipart put", location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if !options.head {
            self.maybe_fail("get", location)?;
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.maybe_fail("ranged get", location)?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
