//! The object-store commit: an output made visible by one atomically written manifest.
//!
//! Object stores cannot rename a directory, so a commit that moves parts one by one is
//! visible half done. Instead:
//!
//! ```text
//! <out>/_temporary/<save>/attempt_00003_1/part-00003   tasks write
//! <out>/_ember_manifest.json                           commit, step 1: one put (create-if-absent
//!                                                      for a new output, if-match the old
//!                                                      manifest's version for an overwrite)
//!                                                      listing the accepted attempts' files
//! <out>/_SUCCESS                                       step 2 (for other tools)
//! <out>/part-00000 ..                                  step 3: copies, then the manifest again,
//!                                                      listing them; then every other object
//!                                                      under <out> is deleted
//! ```
//!
//! The output is committed at step 1: Ember's readers read exactly the files the manifest
//! lists, so a crash later leaves a complete output (its manifest still names the staged
//! files, which are deleted only after a manifest names the copies). A crash before step 1
//! leaves no manifest, and readers refuse the directory as incomplete
//! ([`crate::StorageError::IncompleteOutput`]).

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError, shown};
use crate::io::Storage;
use crate::url::Location;

/// The manifest's name inside the output (hidden from listings by its `_`).
pub(crate) const MANIFEST: &str = "_ember_manifest.json";
/// The manifest format's version; readers refuse others.
const VERSION: u32 = 1;
/// Copies in flight at once while promoting.
const COPY_CONCURRENCY: usize = 16;

/// What a committed object-store output holds: its parts, in partition order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// Always `"ember-output"`.
    format: String,
    /// [`VERSION`].
    version: u32,
    /// The save that wrote it.
    save: String,
    /// The parts, in partition order.
    pub(crate) parts: Vec<ManifestPart>,
}

/// One part of a committed output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestPart {
    /// Its key relative to the output, `/`-separated (`part-00003`, or a staged attempt's).
    pub(crate) path: String,
    /// Its size in bytes.
    pub(crate) size: u64,
}

impl Manifest {
    fn new(save: &str, parts: Vec<ManifestPart>) -> Self {
        Manifest { format: "ember-output".to_owned(), version: VERSION, save: save.to_owned(), parts }
    }

    /// The location of part `part` of the output at `root`.
    pub(crate) fn locate(root: &Location, part: &ManifestPart) -> Location {
        let mut location = root.clone();
        for segment in part.path.split('/') {
            location = location.child(segment);
        }
        location
    }
}

/// The manifest of the output at `root`, with its version for a conditional replace, or
/// `None` when there is none.
///
/// # Errors
/// [`StorageError::Format`] naming the manifest if it is not one this version reads;
/// [`StorageError::Io`] if the store fails.
pub(crate) fn read(storage: &Storage, root: &Location) -> Result<Option<(Manifest, UpdateVersion)>> {
    let location = root.child(MANIFEST);
    let store = storage.store(&location)?;
    let url = location.url();
    let owned = url.clone();
    let got = storage.run(&url, async move {
        match store.get(&location.path).await {
            Ok(got) => {
                let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
                let bytes = got.bytes().await.map_err(|e| StorageError::io(&owned, e))?;
                Ok(Some((bytes, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::io(&owned, e)),
        }
    })?;
    let Some((bytes, version)) = got else { return Ok(None) };
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| StorageError::format(&url, "Ember output manifest", e))?;
    if manifest.format != "ember-output" || manifest.version != VERSION {
        return Err(StorageError::format(
            &url,
            "Ember output manifest",
            format!("format {:?} version {} (this Ember reads version {VERSION})", manifest.format, manifest.version),
        ));
    }
    Ok(Some((manifest, version)))
}

/// Commits the output at `root`, written by save `save`, whose accepted parts are `staged`
/// (each `(relative path, size)`, in partition order); `previous` is the version of the
/// manifest the output had when the save began, if it had one. See the module docs for the
/// steps. Only step 1 can fail the commit; later failures are logged (the output is
/// complete and readable either way).
///
/// # Errors
/// [`StorageError::Io`] if the manifest cannot be written; [`StorageError::OutputBusy`] if
/// the manifest changed since the save began (someone wrote this output without its claim).
pub(crate) fn publish(
    storage: &Storage,
    root: &Location,
    save: &str,
    staged: Vec<ManifestPart>,
    previous: Option<UpdateVersion>,
) -> Result<()> {
    let mode = match previous {
        Some(version) => PutMode::Update(version),
        None => PutMode::Create,
    };
    let manifest = Manifest::new(save, staged.clone());
    super::retrying(|retried| match put(storage, root, &manifest, mode.clone()) {
        // An earlier try's reply was lost after the manifest was written: it is ours.
        Err(StorageError::OutputBusy { .. }) if retried && read(storage, root)?.is_some_and(|(m, _)| m == manifest) => {
            Ok(())
        }
        other => other,
    })?;
    let success = root.child(super::SUCCESS);
    if let Err(error) = super::retrying(|_| storage.put(&success.url(), Bytes::new())) {
        tracing::warn!(%error, "could not write _SUCCESS; the output is committed by its manifest");
    }
    if let Err(error) = promote(storage, root, save, staged) {
        tracing::warn!(%error, output = %shown(&root.url()), "the output is committed, but moving its parts to their final names failed; its manifest names where they are");
    }
    Ok(())
}

/// Step 3: copies the staged parts to `part-NNNNN`, rewrites the manifest to name them, and
/// deletes everything else under the output (older parts, every save's temporary files).
fn promote(storage: &Storage, root: &Location, save: &str, staged: Vec<ManifestPart>) -> Result<()> {
    let finals: Vec<ManifestPart> = staged
        .iter()
        .enumerate()
        .map(|(partition, part)| ManifestPart { path: super::part_name(partition), size: part.size })
        .collect();
    let store = storage.store(root)?;
    let copies: Vec<(Path, Path)> = staged
        .iter()
        .zip(&finals)
        .map(|(from, to)| (Manifest::locate(root, from).path, Manifest::locate(root, to).path))
        .collect();
    let url = root.url();
    let owned = url.clone();
    storage.run(&url, async move {
        futures::stream::iter(copies)
            .map(|(from, to)| {
                let store = &store;
                async move { store.copy(&from, &to).await }
            })
            .buffer_unordered(COPY_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map_err(|e| StorageError::io(&owned, e))
    })?;
    let keep: std::collections::HashSet<String> =
        finals.iter().map(|p| p.path.clone()).chain([MANIFEST.to_owned(), super::SUCCESS.to_owned()]).collect();
    let manifest = Manifest::new(save, finals);
    super::retrying(|_| put(storage, root, &manifest, PutMode::Overwrite))?;
    delete_except(storage, root, |relative| keep.contains(relative))
}

/// Deletes every object under `root` whose path relative to it `keep` refuses. Objects
/// already gone are no error.
pub(crate) fn delete_except(storage: &Storage, root: &Location, keep: impl Fn(&str) -> bool) -> Result<()> {
    let store = storage.store(root)?;
    let prefix = root.path.clone();
    let skip = prefix.parts_count();
    let url = root.url();
    let owned = url.clone();
    let listed: Vec<Path> = storage.run(&url, {
        let store = std::sync::Arc::clone(&store);
        let owned = owned.clone();
        async move {
            let metas: Vec<_> =
                store.list(Some(&prefix)).try_collect().await.map_err(|e| StorageError::io(&owned, e))?;
            Ok(metas.into_iter().map(|m| m.location).collect())
        }
    })?;
    let doomed: Vec<Path> = listed
        .into_iter()
        .filter(|path| {
            let relative: Vec<String> = path.parts().skip(skip).map(|p| p.as_ref().to_owned()).collect();
            !keep(&relative.join("/"))
        })
        .collect();
    if doomed.is_empty() {
        return Ok(());
    }
    storage.run(&url, async move {
        let mut deleted = store.delete_stream(futures::stream::iter(doomed.into_iter().map(Ok)).boxed());
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StorageError::io(&owned, e)),
            }
        }
        Ok(())
    })
}

fn put(storage: &Storage, root: &Location, manifest: &Manifest, mode: PutMode) -> Result<()> {
    let location = root.child(MANIFEST);
    let store = storage.store(&location)?;
    let bytes = serde_json::to_vec(manifest).expect("a manifest always serializes");
    let url = location.url();
    let output = root.url();
    storage.run(&url.clone(), async move {
        let options = PutOptions { mode, ..PutOptions::default() };
        store.put_opts(&location.path, PutPayload::from(bytes), options).await.map(|_| ()).map_err(|e| match e {
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
                StorageError::busy(&output, "a writer that did not claim it (its manifest changed during this save)")
            }
            e => StorageError::io(&url, e),
        })
    })
}
