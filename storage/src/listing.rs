//! Expands an input URL (a file, a directory/prefix, or a glob) into sized input files.
//!
//! Rules, as Hadoop's `FileInputFormat` applies them: a URL naming an
//! object gives that object; otherwise the URL is a directory (or prefix)
//! and gives the objects directly inside it, skipping hidden names (those
//! starting with `_` or `.`, such as `_SUCCESS` or `.crc` files) and
//! subdirectories, sorted by path so partition numbers are stable.
//!
//! A directory that is an Ember output is read as its save committed it (see
//! [`crate::commit`]): one with a manifest (`_ember_manifest.json`, object stores) gives
//! exactly the parts it lists; one without visible files that a save claimed, or that holds
//! only `_temporary` files, is [`StorageError::IncompleteOutput`]. Plain directories of
//! other files read as described above.
//!
//! A URL whose path holds `*`, `?` or `[` is a glob
//! (`s3://b/logs/2026-*/*.txt`): everything under the directory before
//! the first wildcard segment is listed recursively and matched segment by
//! segment (`*` never crosses a `/`); hidden names are skipped at every
//! level. A glob matching nothing is [`StorageError::NotFound`].

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};

use crate::commit::manifest;
use crate::error::{Result, StorageError};
use crate::io::Storage;
use crate::url::{Location, Scheme};

/// One input object: where it is and how many bytes it holds.
///
/// Produced by [`Storage::list_inputs`]; the size is the one seen at
/// listing time, and reads never go past it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// Display URL, e.g. `file:///abs/path` or `memory://bucket/key`.
    /// Passing it back to [`Storage::list_inputs`] finds this file again.
    pub url: String,
    /// Size in bytes at listing time.
    pub size: u64,
    /// Which store, and where in it.
    pub(crate) location: Location,
}

impl InputFile {
    /// The object path inside its store. Cost: O(1).
    pub fn path(&self) -> &Path {
        &self.location.path
    }

    /// The file name (last path segment), if the path has one. Cost: O(path).
    pub fn name(&self) -> Option<&str> {
        self.location.path.filename()
    }

    fn from_meta(parent: &Location, meta: ObjectMeta) -> Self {
        let location = Location::new(parent.key.clone(), meta.location);
        Self { url: location.url(), size: meta.size, location }
    }
}

/// What one look-up at a location found.
enum Found {
    /// An object at exactly that path.
    Object(ObjectMeta),
    /// Objects one level below it; `dirs` says whether subdirectories exist, `temporary`
    /// whether one of them is an output's `_temporary`.
    Children { objects: Vec<ObjectMeta>, dirs: bool, temporary: bool },
}

/// The name of an output's directory of attempt files (see [`crate::commit`]).
const TEMPORARY: &str = "_temporary";

/// Whether a file name is hidden from input listings (`_x`, `.x`).
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// [`Storage::list_inputs`]: see there for the contract.
pub(crate) fn list_inputs(storage: &Storage, url: &str) -> Result<Vec<InputFile>> {
    if let Some((base, pattern)) = split_glob(url)? {
        return list_glob(storage, url, base, &pattern);
    }
    let location = Location::parse(url)?;
    let store = storage.store(&location)?;
    let path = location.path.clone();
    let owned = url.to_owned();
    let found = storage.run(url, async move {
        let io = |e| StorageError::io(&owned, e);
        match store.head(&path).await {
            Ok(meta) => return Ok(Found::Object(meta)),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(io(e)),
        }
        let listed = store.list_with_delimiter(Some(&path)).await.map_err(io)?;
        let temporary = listed.common_prefixes.iter().any(|p| p.filename() == Some(TEMPORARY));
        Ok(Found::Children { objects: listed.objects, dirs: !listed.common_prefixes.is_empty(), temporary })
    })?;
    match found {
        Found::Object(meta) => Ok(vec![InputFile::from_meta(&location, meta)]),
        Found::Children { objects, dirs, temporary } => {
            if objects.iter().any(|meta| meta.location.filename() == Some(manifest::MANIFEST)) {
                return committed_parts(storage, &location);
            }
            let mut files: Vec<InputFile> = objects
                .into_iter()
                .filter(|meta| !meta.location.filename().is_some_and(is_hidden))
                .map(|meta| InputFile::from_meta(&location, meta))
                .collect();
            if files.is_empty() {
                refuse_if_incomplete(storage, &location, temporary)?;
                if !dirs && !is_existing_dir(&location) {
                    return Err(StorageError::NotFound { url: url.to_owned() });
                }
            }
            files.sort_by(|a, b| a.location.path.cmp(&b.location.path));
            Ok(files)
        }
    }
}

/// The parts the manifest of the committed object-store output at `root` lists, in partition
/// order: exactly those, whatever else the directory holds.
fn committed_parts(storage: &Storage, root: &Location) -> Result<Vec<InputFile>> {
    let Some((manifest, _)) = manifest::read(storage, root)? else {
        // Replaced between the listing and the read: list again.
        return list_inputs(storage, &root.url());
    };
    Ok(manifest
        .parts
        .iter()
        .map(|part| {
            let location = manifest::Manifest::locate(root, part);
            InputFile { url: location.url(), size: part.size, location }
        })
        .collect())
}

/// Refuses a directory without visible files that an Ember save began to write and did not
/// commit: its claim is there (a local output appears only when committed, so that is all a
/// killed local save leaves), or its `_temporary` files are, without a manifest.
fn refuse_if_incomplete(storage: &Storage, root: &Location, temporary: bool) -> Result<()> {
    let detail = match crate::commit::holder(storage, root)? {
        Some(holder) => format!("claimed by {holder}"),
        None if temporary => "it holds temporary files and no committed manifest".to_owned(),
        None => return Ok(()),
    };
    Err(StorageError::IncompleteOutput { url: root.url(), detail })
}

/// Whether `location` is an existing directory. Only local files have
/// directories without objects; for other stores a prefix with nothing
/// under it does not exist.
fn is_existing_dir(location: &Location) -> bool {
    match location.key.scheme {
        Scheme::File => location.local_path().is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.is_dir())),
        _ => false,
    }
}

/// Splits a glob URL into the location of the directory before its first
/// wildcard segment and the pattern for the rest; `None` for a plain URL.
fn split_glob(url: &str) -> Result<Option<(Location, glob::Pattern)>> {
    let path_start = match url.find("://") {
        Some(i) if url.starts_with("file://") || url.starts_with("memory://") => i + 3,
        Some(i) => url[i + 3..].find('/').map_or(url.len(), |j| i + 3 + j),
        None => 0,
    };
    let Some(wild) = url.find(['*', '?', '[']) else { return Ok(None) };
    if wild < path_start {
        return Err(StorageError::invalid(url, "wildcards are only allowed in the path, not in the bucket or host"));
    }
    let cut = url[..wild].rfind('/').filter(|&i| i >= path_start.saturating_sub(1));
    let (base, pattern) = match cut {
        Some(i) => (&url[..i], &url[i + 1..]),
        None => (".", url),
    };
    let base = if base.ends_with(':') || base.ends_with("://") { format!("{base}/") } else { base.to_owned() };
    let location = Location::parse(if base.is_empty() { "/" } else { &base })?;
    let pattern = glob::Pattern::new(pattern).map_err(|e| StorageError::invalid(url, format!("bad glob: {e}")))?;
    Ok(Some((location, pattern)))
}

/// Lists the visible objects under `base` whose path below it matches `pattern`.
fn list_glob(storage: &Storage, url: &str, base: Location, pattern: &glob::Pattern) -> Result<Vec<InputFile>> {
    let store = storage.store(&base)?;
    let prefix = base.path.clone();
    let owned = url.to_owned();
    let metas: Vec<ObjectMeta> = storage.run(url, async move {
        store.list(Some(&prefix)).try_collect().await.map_err(|e| StorageError::io(&owned, e))
    })?;
    let options = glob::MatchOptions { require_literal_separator: true, ..glob::MatchOptions::new() };
    let skip = base.path.parts_count();
    let mut files: Vec<InputFile> = metas
        .into_iter()
        .filter(|meta| {
            let below: Vec<String> = meta.location.parts().skip(skip).map(|p| p.as_ref().to_owned()).collect();
            !below.iter().any(|p| is_hidden(p)) && pattern.matches_with(&below.join("/"), options)
        })
        .map(|meta| InputFile::from_meta(&base, meta))
        .collect();
    if files.is_empty() {
        return Err(StorageError::NotFound { url: url.to_owned() });
    }
    files.sort_by(|a, b| a.location.path.cmp(&b.location.path));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn hidden_names() {
        assert!(is_hidden("_SUCCESS"));
        assert!(is_hidden(".part-00000.crc"));
        assert!(!is_hidden("part-00000"));
        assert!(!is_hidden("a_b"));
    }

    #[test]
    fn memory_prefix_lists_one_level_sorted_without_hidden() {
        let storage = Storage::new().unwrap();
        for key in ["b.txt", "a.txt", "_SUCCESS", ".hidden", "sub/c.txt"] {
            let url = format!("memory://bkt/dir/{key}");
            storage.put(&url, Bytes::from(key.to_owned())).unwrap();
        }
        let files = storage.list_inputs("memory://bkt/dir").unwrap();
        let urls: Vec<&str> = files.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(urls, ["memory://bkt/dir/a.txt", "memory://bkt/dir/b.txt"]);
        assert_eq!(files[0].size, 5);
        assert_eq!(files[0].name(), Some("a.txt"));
        assert_eq!(files[0].path().as_ref(), "bkt/dir/a.txt");
        // The display URL finds the same file again.
        assert_eq!(storage.list_inputs(&files[1].url).unwrap(), vec![files[1].clone()]);
        // A prefix with only subdirectories exists but has no inputs.
        storage.put("memory://bkt/only/sub/x", Bytes::new()).unwrap();
        assert!(storage.list_inputs("memory://bkt/only").unwrap().is_empty());
    }

    #[test]
    fn globs_match_segment_by_segment_and_skip_hidden() {
        let storage = Storage::new().unwrap();
        for key in
            ["2026-01/a.txt", "2026-01/b.log", "2026-02/c.txt", "2025-12/d.txt", "2026-03/_x.txt", "2026-03/sub/e.txt"]
        {
            storage.put(&format!("memory://g/logs/{key}"), Bytes::from_static(b"x")).unwrap();
        }
        let names = |url: &str| -> Vec<String> {
            storage.list_inputs(url).unwrap().iter().map(|f| f.path().as_ref().to_owned()).collect()
        };
        assert_eq!(names("memory://g/logs/2026-*/*.txt"), ["g/logs/2026-01/a.txt", "g/logs/2026-02/c.txt"]);
        assert_eq!(names("memory://g/logs/202?-1*/*"), ["g/logs/2025-12/d.txt"]);
        assert_eq!(names("memory://g/lo*/2026-0[12]/*.log"), ["g/logs/2026-01/b.log"]);
        let err = storage.list_inputs("memory://g/logs/2027-*/*").unwrap_err();
        assert!(err.is_not_found() && err.to_string().contains("2027-*"), "{err}");
    }

    #[test]
    fn memory_nothing_there_is_not_found() {
        let storage = Storage::new().unwrap();
        let err = storage.list_inputs("memory://bkt/none").unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        assert!(err.to_string().contains("memory://bkt/none"), "{err}");
    }
}
