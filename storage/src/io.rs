//! `Storage`: the blocking facade over object stores, their registry and the I/O runtime.
//!
//! The engine's workers are plain threads, so every method here blocks.
//! Underneath, requests are async `object_store` calls run on a small
//! private tokio runtime (2 workers named `ember-io`; local-file reads go
//! to its blocking pool). The exception is a split of a local file, which
//! the calling thread reads itself, a piece at a time, into recycled
//! buffers (see `buffers`). A call spawns its request onto that runtime and
//! waits for it, so it works from any thread, many at a time; called from
//! inside another async runtime it still works but blocks that runtime's
//! worker for the duration, so async callers should use `spawn_blocking`.
//!
//! There are no process globals of ours: each `Storage` owns its runtime,
//! its stores, and its in-memory store, so two engines in one process do
//! not see each other's `memory://` objects. Remote stores are created on
//! first use, one client per scheme and bucket (or host) for the whole
//! `Storage` and every task that uses it, never one per task; a context
//! owns one `Storage`, so two contexts hold two clients. (The one
//! process-wide effect: the first `Storage` installs rustls's `ring`
//! provider as the default TLS crypto provider if none is installed yet.)

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::multipart::MultipartStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::runtime::Runtime;

use crate::buffers::BufferPool;
use crate::commit::OutputJob;
use crate::compression::Compression;
use crate::error::{Result, StorageError};
use crate::lines::{self, SplitLines};
use crate::listing::{self, InputFile};
use crate::options::StorageOptions;
use crate::split::FileSplit;
use crate::url::{Location, Scheme, StoreKey};

/// First ranged read past a split's end when its last line runs on (64 KiB);
/// each further read doubles, up to [`lines::MAX_TAIL_CHUNK`].
const TAIL_CHUNK: u64 = 64 << 10;

/// Handle to the storage layer: URL resolution, listing, split reading,
/// whole-object put/get and output jobs.
///
/// Cheap to clone (an `Arc`); clones share the runtime and the stores.
/// `Send + Sync`; every method blocks the calling thread until its I/O is
/// done and may be called from many threads at once. The runtime stops when
/// the last clone (and the last [`OutputJob`]) is dropped.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    /// `Some` until drop, where it is shut down without blocking.
    runtime: Option<Runtime>,
    /// One store per key: local and memory at construction, remote ones on first use.
    stores: Mutex<HashMap<StoreKey, Arc<dyn ObjectStore>>>,
    /// The same stores as [`MultipartStore`]s, for those whose uploads are addressed by id.
    multipart: Mutex<HashMap<StoreKey, Arc<dyn MultipartStore>>>,
    /// How remote stores are configured.
    options: StorageOptions,
    /// Spare buffers for split reads of local files.
    buffers: Arc<BufferPool>,
}

impl Storage {
    /// Starts the I/O runtime and registers the local-file and in-memory
    /// stores, with remote stores configured from the environment alone.
    ///
    /// Cost: starts 2 threads. The in-memory store starts empty and lives as
    /// long as this `Storage` (all clones).
    ///
    /// # Errors
    /// [`StorageError::Runtime`] if the runtime's threads cannot be started.
    pub fn new() -> Result<Storage> {
        Self::with_options(StorageOptions::default())
    }

    /// [`Storage::new`], with remote stores configured by `options` on top
    /// of the environment, and `options`' retry policy.
    ///
    /// # Errors
    /// [`StorageError::InvalidOption`] for an option key no store knows;
    /// [`StorageError::Runtime`] if the runtime's threads cannot be started.
    pub fn with_options(options: StorageOptions) -> Result<Storage> {
        options.validate()?;
        crate::stores::install_tls_provider();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ember-io")
            .enable_all()
            .build()
            .map_err(|source| StorageError::Runtime { source })?;
        let mut stores: HashMap<StoreKey, Arc<dyn ObjectStore>> = HashMap::new();
        let key = |scheme| StoreKey { scheme, authority: String::new() };
        stores.insert(key(Scheme::File), Arc::new(LocalFileSystem::new()));
        let memory = Arc::new(InMemory::new());
        stores.insert(key(Scheme::Memory), Arc::clone(&memory) as Arc<dyn ObjectStore>);
        let multipart: HashMap<StoreKey, Arc<dyn MultipartStore>> = HashMap::from([(key(Scheme::Memory), memory as _)]);
        Ok(Storage {
            inner: Arc::new(Inner {
                runtime: Some(runtime),
                stores: Mutex::new(stores),
                multipart: Mutex::new(multipart),
                options,
                buffers: Arc::default(),
            }),
        })
    }

    /// Serves every URL under `store_url` (`scheme://authority`, such as
    /// `s3://bucket`) from `store` instead of a client built from the
    /// options, replacing any store already there. For custom stores and
    /// test doubles (a store that fails on purpose, a throttled store).
    ///
    /// # Errors
    /// URL errors as in [`Storage::put`]; [`StorageError::InvalidUrl`] if
    /// `store_url` has a path or names a local or `memory://` location.
    pub fn register_store(&self, store_url: &str, store: Arc<dyn ObjectStore>) -> Result<()> {
        let location = Location::parse(store_url)?;
        if matches!(location.key.scheme, Scheme::File | Scheme::Memory) || location.path.parts_count() != 0 {
            return Err(StorageError::invalid(store_url, "expected a remote store root such as s3://bucket"));
        }
        self.inner.multipart.lock().unwrap_or_else(PoisonError::into_inner).remove(&location.key);
        self.stores().insert(location.key, store);
        Ok(())
    }

    /// The options remote stores are built with.
    pub fn options(&self) -> &StorageOptions {
        &self.inner.options
    }

    /// Lists the input files at `url`: a file gives itself; a directory (or
    /// prefix) gives its visible files one level deep, skipping names that
    /// start with `_` or `.` and subdirectories, sorted by path; a glob gives
    /// the visible files it matches, unless something exists at exactly that
    /// path (see [`crate::listing`]).
    ///
    /// Cost: one `head` and at most one one-level listing; a glob adds one
    /// one-level listing per directory a wildcard segment looks into (a
    /// recursive one only below `**`).
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if nothing is at `url` (an existing empty
    /// local directory is `Ok(vec![])`); URL errors as in [`Storage::put`];
    /// [`StorageError::Io`] if the store fails.
    pub fn list_inputs(&self, url: &str) -> Result<Vec<InputFile>> {
        listing::list_inputs(self, url)
    }

    /// Reads the lines of one split: exactly the lines whose first byte lies
    /// in `[split.start, split.end)`, without `\n` and a trailing `\r`;
    /// see [`SplitLines`].
    ///
    /// Cost: the first read happens here, the rest as the lines are pulled. A local file is
    /// read 64 KiB at a time on the calling thread, into memory an earlier read used when one
    /// is free (so the kernel does not zero fresh pages for it); a buffer goes back for reuse
    /// when the last line or slice sharing it is dropped. An object store's split is one
    /// ranged read (plus one byte before it). When the last line runs past the split's end,
    /// reads of 64 KiB and growing follow until its end. Memory: one piece of the split at a
    /// time, and a line longer than a piece whole.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the file is gone; [`StorageError::Io`]
    /// if the first read fails. Later reads fail through the lines.
    pub fn read_split(&self, split: &FileSplit) -> Result<SplitLines> {
        self.read_split_with(split, lines::LOCAL_CHUNK, TAIL_CHUNK)
    }

    /// [`Storage::read_split`] with reads of `local_chunk` bytes for a local file and a first
    /// tail read of `tail_chunk` bytes (tests use tiny ones to exercise the carrying of lines
    /// across reads and the tail's growth).
    pub(crate) fn read_split_with(&self, split: &FileSplit, local_chunk: u64, tail_chunk: u64) -> Result<SplitLines> {
        let compression = Compression::from_name(&split.file.url);
        if !compression.is_splittable() {
            // A compressed file is one split (see `plan_splits`); a later
            // split of it, if a caller made one, owns no lines.
            if split.start > 0 {
                return Ok(SplitLines::whole(Bytes::new()));
            }
            return Ok(SplitLines::whole(self.read_file(&split.file)?));
        }
        let url = split.file.url.clone();
        if let Some(path) = split.file.location.local_path() {
            // Read on this thread, into recycled memory (see `buffers`).
            let buffers = Arc::clone(&self.inner.buffers);
            let mut file = None;
            let read = move |range: Range<u64>, carried: &[u8]| {
                let file = match &file {
                    Some(file) => file,
                    None => file.insert(std::fs::File::open(&path).map_err(|e| StorageError::local(&url, e))?),
                };
                read_local_range(file, range, carried, &buffers).map_err(|e| StorageError::local(&url, e))
            };
            return lines::fetch(split, local_chunk, tail_chunk, Box::new(read));
        }
        let store = self.store(&split.file.location)?;
        let storage = self.clone();
        let path = split.file.location.path.clone();
        let read = move |range: Range<u64>, carried: &[u8]| {
            let (store, path, owned) = (Arc::clone(&store), path.clone(), url.clone());
            let wanted = range.end - range.start;
            let piece = storage.run(&url, async move {
                store.get_range(&path, range).await.map_err(|e| StorageError::from_store(&owned, e))
            })?;
            if piece.len() as u64 != wanted {
                // Some stores answer a range past the end with what there is.
                let short =
                    format!("the object is shorter than when it was listed ({} of {wanted} bytes)", piece.len());
                let source = object_store::Error::Generic { store: "object store", source: short.into() };
                return Err(StorageError::io(&url, source));
            }
            Ok(if carried.is_empty() { piece } else { Bytes::from([carried, &piece[..]].concat()) })
        };
        // The whole split in one request: object stores charge per request and answer slowly.
        let whole_split = split.end.min(split.file.size).saturating_sub(split.start.saturating_sub(1));
        lines::fetch(split, whole_split, tail_chunk, Box::new(read))
    }

    /// The whole content of `file`, decompressed by its extension (`.gz`,
    /// `.zst`). Cost: one get; the decoded file in memory.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if the file is gone; [`StorageError::Io`]
    /// if the read fails; [`StorageError::Format`] if decoding fails.
    pub fn read_file(&self, file: &InputFile) -> Result<Bytes> {
        let bytes = self.get(&file.url)?;
        Compression::from_name(&file.url).decode(bytes, &file.url)
    }

    /// Starts an output job writing `part-NNNNN` files under `url`, claiming the output for
    /// it first; see [`OutputJob`]. Nothing at `url` changes until [`OutputJob::commit`]:
    /// with `overwrite`, the old output is replaced only then.
    ///
    /// Cost: one conditional put (the claim), a `head` and a listing; on an object store, one
    /// get of the old manifest. After breaking a dead save's claim, also the clean-up
    /// [`Storage::clean_output`] does.
    ///
    /// # Errors
    /// [`StorageError::OutputBusy`] if another save holds the output's claim;
    /// [`StorageError::AlreadyExists`] if anything is at or under `url` and `overwrite` is
    /// false; URL errors as in [`Storage::put`], and [`StorageError::InvalidUrl`] for a store
    /// root (`file:///`, `memory://`); [`StorageError::Io`] if checking fails.
    pub fn create_output(&self, url: &str, overwrite: bool) -> Result<OutputJob> {
        OutputJob::create(self, url, overwrite, None)
    }

    /// [`Storage::create_output`] with the save id given instead of a random one: the id
    /// every process of a cluster application derives alike, so that executors can
    /// [`Storage::join_output`] the driver's save.
    ///
    /// # Errors
    /// As [`Storage::create_output`]; [`StorageError::InvalidUrl`] for an id that is not 1 to 64
    /// letters, digits, `-` or `_`.
    pub fn create_output_as(&self, url: &str, overwrite: bool, save: &str) -> Result<OutputJob> {
        OutputJob::create(self, url, overwrite, Some(save))
    }

    /// Joins save `save` of the output `url`, which another process (the cluster's driver)
    /// created and holds the claim of: this process writes task attempts exactly where the
    /// owner's commit looks for them, and never commits or aborts (its
    /// [`OutputJob::commit`] returns `Ok(())` at once, its abort leaves the attempts to the
    /// owner's). Cost: no I/O.
    ///
    /// # Errors
    /// [`StorageError::InvalidUrl`] for a malformed URL, the store root, or a malformed id.
    pub fn join_output(&self, url: &str, save: &str) -> Result<OutputJob> {
        OutputJob::join(self, url, save)
    }

    /// Removes what saves to the output `url` that did not finish left behind: the claim of
    /// a save whose process is gone (or runs on another host: call this only when you know it
    /// is gone), local staging directories, and on object stores the temporary files no
    /// committed manifest names. The output's committed data is never touched, and an old
    /// output an interrupted local overwrite had moved aside is moved back. The next save to
    /// `url` does the same on its own when it finds a dead save's claim.
    ///
    /// Cost: a get of the claim; for local files one listing of the parent directory, for
    /// object stores a get of the manifest, a listing of the output and a bulk delete.
    ///
    /// # Errors
    /// [`StorageError::OutputBusy`] if a live process of this host holds the claim; URL
    /// errors as in [`Storage::put`]; [`StorageError::Io`] if the store fails.
    pub fn clean_output(&self, url: &str) -> Result<()> {
        crate::commit::clean_output(self, url)
    }

    /// The display URL of `url` (`file:///abs/path` for a bare or relative path), the form in
    /// which listings name the files under it. Cost: O(url); a relative path reads the
    /// current directory.
    ///
    /// # Errors
    /// [`StorageError::InvalidUrl`] or [`StorageError::UnsupportedScheme`] as for any URL.
    pub fn display_url(url: &str) -> Result<String> {
        Ok(Location::parse(url)?.url())
    }

    /// The local file-system path `url` names (a bare path, `file://`), or `None` for any
    /// other store. For callers that append to a local file, which object stores cannot do.
    ///
    /// # Errors
    /// [`StorageError::InvalidUrl`] or [`StorageError::UnsupportedScheme`] as for any URL.
    pub fn local_path(url: &str) -> Result<Option<std::path::PathBuf>> {
        let location = Location::parse(url)?;
        Ok((location.key.scheme == Scheme::File).then(|| std::path::Path::new("/").join(location.path.as_ref())))
    }

    /// Writes `bytes` as the whole object at `url`, replacing any object
    /// there (local parents are created). Cost: one put; no copy of `bytes`.
    ///
    /// # Errors
    /// [`StorageError::UnsupportedScheme`] / [`StorageError::InvalidUrl`] if
    /// `url` cannot be resolved; [`StorageError::Io`] if the write fails.
    pub fn put(&self, url: &str, bytes: Bytes) -> Result<()> {
        let location = Location::parse(url)?;
        let store = self.store(&location)?;
        let owned = url.to_owned();
        self.run(url, async move {
            store
                .put(&location.path, PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| StorageError::io(&owned, e))
        })
    }

    /// Reads the whole object at `url`. Cost: one get, the object in memory.
    ///
    /// # Errors
    /// [`StorageError::NotFound`] if there is no object at `url` (a
    /// directory is not an object); URL errors as in [`Storage::put`];
    /// [`StorageError::Io`] if the read fails.
    pub fn get(&self, url: &str) -> Result<Bytes> {
        let location = Location::parse(url)?;
        let store = self.store(&location)?;
        let owned = url.to_owned();
        self.run(url, async move {
            let read = async { store.get(&location.path).await?.bytes().await };
            read.await.map_err(|e| StorageError::from_store(&owned, e))
        })
    }

    /// The store of `location`, creating its client on first use.
    ///
    /// # Errors
    /// [`StorageError::StoreConfig`] if the client cannot be configured.
    pub(crate) fn store(&self, location: &Location) -> Result<Arc<dyn ObjectStore>> {
        let mut stores = self.stores();
        if let Some(store) = stores.get(&location.key) {
            return Ok(Arc::clone(store));
        }
        let built = crate::stores::build_store(&self.inner.options, location, &location.url())?;
        if let Some(multipart) = built.multipart {
            self.inner.multipart.lock().unwrap_or_else(PoisonError::into_inner).insert(location.key.clone(), multipart);
        }
        stores.insert(location.key.clone(), Arc::clone(&built.store));
        Ok(built.store)
    }

    /// The store of `location` as a [`MultipartStore`], when its multipart uploads are
    /// addressed by id (S3, GCS, Azure, memory); `None` for local files, HTTP and stores
    /// registered with [`Storage::register_store`].
    ///
    /// # Errors
    /// [`StorageError::StoreConfig`] if the client cannot be configured.
    pub(crate) fn multipart_store(&self, location: &Location) -> Result<Option<Arc<dyn MultipartStore>>> {
        self.store(location)?;
        Ok(self.inner.multipart.lock().unwrap_or_else(PoisonError::into_inner).get(&location.key).cloned())
    }

    /// The store registry. A poisoned lock only means a panic between two
    /// map operations, which leave the map consistent.
    fn stores(&self) -> std::sync::MutexGuard<'_, HashMap<StoreKey, Arc<dyn ObjectStore>>> {
        self.inner.stores.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts `request` on the I/O runtime without waiting for it (await the handle inside
    /// [`Storage::run`]).
    pub(crate) fn spawn<T, F>(&self, request: F) -> tokio::task::JoinHandle<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        self.inner.runtime().spawn(request)
    }

    /// Runs `request` on the I/O runtime and blocks until it finishes.
    ///
    /// # Errors
    /// The request's own error, or [`StorageError::Io`] naming `url` if the
    /// request panicked (a bug in a store).
    pub(crate) fn run<T, F>(&self, url: &str, request: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let handle = self.inner.runtime().spawn(request);
        match futures::executor::block_on(handle) {
            Ok(result) => result,
            Err(join) => Err(StorageError::io(url, object_store::Error::from(join))),
        }
    }

    /// Deletes every object at or under `location` (best effort for races:
    /// objects already gone are not an error). For local files the
    /// directory tree itself is removed too, since object stores have no
    /// directories to clean up.
    ///
    /// # Errors
    /// [`StorageError::Io`] naming `url` if listing or deleting fails;
    /// [`StorageError::InvalidUrl`] for the root of a store (`file:///`,
    /// `memory://`), which is never deleted wholesale.
    pub(crate) fn delete_all(&self, location: &Location, url: &str) -> Result<()> {
        if location.path.parts_count() == 0 {
            return Err(StorageError::invalid(
                url,
                "refusing to delete the root of a store; name a directory below it",
            ));
        }
        if let Some(local) = location.local_path() {
            let removed = match std::fs::symlink_metadata(&local) {
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&local),
                Ok(_) => std::fs::remove_file(&local),
                Err(e) => Err(e),
            };
            return match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::io(
                    url,
                    object_store::Error::Generic { store: "LocalFileSystem", source: Box::new(e) },
                )),
                _ => Ok(()),
            };
        }
        let store = self.store(location)?;
        let path = location.path.clone();
        let owned = url.to_owned();
        self.run(url, async move {
            let gone_is_ok = |r: object_store::Result<()>| match r {
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                other => other,
            };
            let io = |e| StorageError::io(&owned, e);
            gone_is_ok(store.delete(&path).await).map_err(io)?;
            let under = store.list(Some(&path)).map_ok(|meta| meta.location).boxed();
            let mut deleted = store.delete_stream(under);
            while let Some(result) = deleted.next().await {
                gone_is_ok(result.map(|_| ())).map_err(io)?;
            }
            Ok(())
        })
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut schemes: Vec<String> =
            self.stores().keys().map(|k| format!("{}://{}", k.scheme.as_str(), k.authority)).collect();
        schemes.sort_unstable();
        f.debug_struct("Storage").field("schemes", &schemes).finish()
    }
}

/// `carried` followed by `range` of the local `file`, in a recycled buffer.
fn read_local_range(
    file: &std::fs::File,
    range: Range<u64>,
    carried: &[u8],
    buffers: &Arc<BufferPool>,
) -> std::io::Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let len = usize::try_from(range.end - range.start).map_err(std::io::Error::other)?;
    buffers.filled(carried.len() + len, |buf| {
        let (front, rest) = buf.split_at_mut(carried.len());
        front.copy_from_slice(carried);
        // Positioned: one system call per piece, no seek.
        file.read_exact_at(rest, range.start)
    })
}

impl Inner {
    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("the runtime is only taken in Drop, after the last use")
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // `shutdown_background` never blocks, so dropping the last handle is
        // safe on any thread, including inside an async context.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Storage>();
    }

    #[test]
    fn put_get_round_trip_in_memory_and_isolated_per_storage() {
        let a = Storage::new().unwrap();
        let b = Storage::new().unwrap();
        a.put("memory://bkt/k", Bytes::from_static(b"hello")).unwrap();
        assert_eq!(a.get("memory://bkt/k").unwrap(), Bytes::from_static(b"hello"));
        assert_eq!(a.clone().get("memory://bkt/k").unwrap().len(), 5);
        let err = b.get("memory://bkt/k").unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        assert!(err.to_string().contains("memory://bkt/k"));
    }

    #[test]
    fn unsupported_scheme_is_refused_before_any_io() {
        let storage = Storage::new().unwrap();
        let err = storage.get("ftp://bucket/x").unwrap_err();
        assert!(matches!(err, StorageError::UnsupportedScheme { .. }), "{err:?}");
    }

    #[test]
    fn concurrent_calls_from_many_threads() {
        let storage = Storage::new().unwrap();
        std::thread::scope(|s| {
            for t in 0..8 {
                let storage = storage.clone();
                s.spawn(move || {
                    for i in 0..50 {
                        let url = format!("memory://c/{t}/{i}");
                        storage.put(&url, Bytes::from(format!("{t}-{i}"))).unwrap();
                        assert_eq!(storage.get(&url).unwrap(), format!("{t}-{i}").as_bytes());
                    }
                });
            }
        });
    }

    #[test]
    fn callable_from_inside_another_runtime() {
        let storage = Storage::new().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            storage.put("memory://r/x", Bytes::from_static(b"1")).unwrap();
            assert_eq!(storage.get("memory://r/x").unwrap().as_ref(), b"1");
        });
        drop(rt);
        // Dropping the last handle inside an async context must not panic.
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async move { drop(storage) });
    }

    #[test]
    fn overwrite_never_deletes_a_store_root() {
        let storage = Storage::new().unwrap();
        storage.put("memory://keep/x", Bytes::new()).unwrap();
        for root in ["memory://", "file:///"] {
            let err = storage.create_output(root, true).unwrap_err();
            assert!(matches!(err, StorageError::InvalidUrl { .. }), "{root}: {err:?}");
        }
        assert!(storage.get("memory://keep/x").is_ok());
    }
}
