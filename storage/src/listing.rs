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
//! (`s3://b/logs/2026-*/*.txt`), unless an object or directory exists at
//! exactly that path (`out[1]`, a directory Ember wrote): that is read
//! literally. To match such names in a glob, escape the character in
//! brackets: `[[]`, `[*]`, `[?]` (`out[[]1]*` matches `out[1]`, `out[1]-b`).
//! A glob is matched segment by segment (`*` and `?` never cross a `/`):
//! a literal directory is entered without listing, a wildcard segment lists
//! one level of each directory it applies to, and only `**` (any number of
//! directories) lists a subtree recursively. So `dir/*.txt` lists `dir`
//! alone, however deep its subdirectories go (a symlink loop below it does
//! not matter). Hidden names are skipped at every level. A glob matching
//! nothing is [`StorageError::NotFound`].

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
    if let Some(glob) = split_glob(url)?
        && !exists_literally(storage, url)?
    {
        return list_glob(storage, url, glob);
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
    Err(StorageError::incomplete(&root.url(), detail))
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

/// Whether a URL holding wildcard characters names an existing object or directory exactly
/// as written (`out[1]`), which is then read literally rather than as a glob. Cost: a
/// metadata look-up for local files; a HEAD and a delimited listing on other stores.
fn exists_literally(storage: &Storage, url: &str) -> Result<bool> {
    let Ok(location) = Location::parse(url) else { return Ok(false) };
    if let Some(path) = location.local_path() {
        return Ok(std::fs::symlink_metadata(path).is_ok());
    }
    let store = storage.store(&location)?;
    let owned = url.to_owned();
    storage.run(url, async move {
        let io = |e| StorageError::io(&owned, e);
        match store.head(&location.path).await {
            Ok(_) => return Ok(true),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(io(e)),
        }
        let listed = store.list_with_delimiter(Some(&location.path)).await.map_err(io)?;
        Ok(!listed.objects.is_empty() || !listed.common_prefixes.is_empty())
    })
}

/// One segment of a glob's path below its base directory.
enum Segment {
    /// No wildcard: the name itself.
    Literal(String),
    /// A pattern for one name (`*` and `?` never cross a `/`).
    Wild(glob::Pattern),
    /// `**`: any number of directories, matched with the rest of the glob by a recursive
    /// listing (the only case that walks a subtree).
    AnyDepth,
}

/// A glob URL cut at its first wildcard segment: the directory before it, and the segments
/// from there on.
struct Glob {
    base: Location,
    segments: Vec<Segment>,
    /// The segments from the first `**` on, as one pattern over the path below it.
    deep: Option<glob::Pattern>,
}

/// The pattern options for names and paths: `*` never matches a `/`.
const MATCH: glob::MatchOptions =
    glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// Splits a glob URL into the directory before its first wildcard segment and the segments
/// for the rest; `None` for a plain URL.
fn split_glob(url: &str) -> Result<Option<Glob>> {
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
    let base = Location::parse(if base.is_empty() { "/" } else { &base })?;
    let bad = |e: glob::PatternError| StorageError::invalid(url, format!("bad glob: {e}"));
    let raw: Vec<&str> = pattern.split('/').collect();
    let mut segments = Vec::with_capacity(raw.len());
    let mut deep = None;
    for (i, segment) in raw.iter().enumerate() {
        if *segment == "**" && deep.is_none() {
            deep = Some(glob::Pattern::new(&raw[i..].join("/")).map_err(bad)?);
        }
        segments.push(if *segment == "**" {
            Segment::AnyDepth
        } else if segment.contains(['*', '?', '[']) {
            Segment::Wild(glob::Pattern::new(segment).map_err(bad)?)
        } else {
            Segment::Literal((*segment).to_owned())
        });
    }
    Ok(Some(Glob { base, segments, deep }))
}

impl Segment {
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Literal(literal) => literal == name,
            Self::Wild(pattern) => pattern.matches_with(name, MATCH),
            Self::AnyDepth => true,
        }
    }
}

/// Lists the visible objects below `glob.base` whose path matches the glob, segment by
/// segment: one delimited listing per directory a wildcard segment must look into, none for
/// a literal directory, and a recursive listing only below a `**`. So `dir/*.txt` lists
/// `dir` alone, and nothing outside what the pattern can match is walked (a symlink loop
/// elsewhere below does not matter).
fn list_glob(storage: &Storage, url: &str, glob: Glob) -> Result<Vec<InputFile>> {
    let Glob { base, segments, deep } = glob;
    let store = storage.store(&base)?;
    let (owned, root) = (url.to_owned(), base.path.clone());
    let metas: Vec<ObjectMeta> = storage.run(url, async move {
        let io = |e| StorageError::io(&owned, e);
        let mut dirs = vec![root];
        let mut found = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            match segment {
                Segment::AnyDepth => {
                    let deep = deep.as_ref().expect("split_glob made the pattern for the first **");
                    for dir in &dirs {
                        let skip = dir.parts_count();
                        let below: Vec<ObjectMeta> = store.list(Some(dir)).try_collect().await.map_err(io)?;
                        found.extend(below.into_iter().filter(|meta| {
                            let parts: Vec<String> =
                                meta.location.parts().skip(skip).map(|p| p.as_ref().to_owned()).collect();
                            !parts.iter().any(|p| is_hidden(p)) && deep.matches_with(&parts.join("/"), MATCH)
                        }));
                    }
                    break;
                }
                Segment::Literal(name) if !last => {
                    dirs = if is_hidden(name) {
                        Vec::new()
                    } else {
                        dirs.iter().map(|d| d.clone().join(name.as_str())).collect()
                    };
                }
                _ => {
                    let listings = dirs.iter().map(|dir| store.list_with_delimiter(Some(dir)));
                    let listings = futures::future::try_join_all(listings).await.map_err(io)?;
                    let visible = |path: &Path| path.filename().is_some_and(|n| !is_hidden(n) && segment.matches(n));
                    if last {
                        found.extend(listings.into_iter().flat_map(|l| l.objects).filter(|m| visible(&m.location)));
                    } else {
                        dirs = listings.into_iter().flat_map(|l| l.common_prefixes).filter(|p| visible(p)).collect();
                    }
                }
            }
        }
        Ok(found)
    })?;
    let mut files: Vec<InputFile> = metas.into_iter().map(|meta| InputFile::from_meta(&base, meta)).collect();
    if files.is_empty() {
        return Err(StorageError::NotFound { url: crate::error::shown(url) });
    }
    files.sort_by(|a, b| a.location.path.cmp(&b.location.path));
    files.dedup_by(|a, b| a.location.path == b.location.path);
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
