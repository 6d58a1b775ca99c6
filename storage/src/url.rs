//! Turns user URLs and bare paths into a store key and an object path.
//!
//! Accepted forms:
//!
//! | input | store | object path |
//! | --- | --- | --- |
//! | `data/in.txt` (relative) | local files | `<cwd>/data/in.txt`, `.` and `..` resolved lexically |
//! | `/abs/in.txt` | local files | `abs/in.txt` |
//! | `file:///abs/in.txt`, `file://localhost/abs`, `file:/abs` | local files | `abs/in.txt` (percent-decoded) |
//! | `memory://bucket/key` | the storage's in-memory store | `bucket/key` (percent-decoded) |
//!
//! Every other `scheme://` is [`StorageError::UnsupportedScheme`]. The
//! display form ([`Location::url`]) is `file:///…` or `memory://…`, and
//! parsing a display form gives back the same location.

use std::path::{Component, PathBuf};

use object_store::path::Path;

use crate::error::{Result, StorageError};

/// The kinds of store this build can reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Scheme {
    /// The local file system, rooted at `/`.
    File,
    /// The in-memory store owned by one [`crate::Storage`].
    Memory,
}

impl Scheme {
    /// The URL scheme, without `://`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Memory => "memory",
        }
    }
}

/// Which store an object lives in: one store instance per key.
///
/// The authority (bucket, host) is part of the key so that stores with
/// buckets slot in later; local files and memory use an empty authority
/// (for `memory://`, the authority is the first segment of the object path
/// inside the one in-memory store).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StoreKey {
    pub(crate) scheme: Scheme,
    pub(crate) authority: String,
}

/// A resolved location: the store key and the object path within it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Location {
    pub(crate) key: StoreKey,
    pub(crate) path: Path,
}

impl Location {
    /// Parses a user URL or bare path. Cost: one pass over the string;
    /// a relative path also reads the current directory.
    ///
    /// # Errors
    /// [`StorageError::UnsupportedScheme`] for other `scheme://` URLs;
    /// [`StorageError::InvalidUrl`] for an empty string, a `file://` URL
    /// naming a remote host, a relative `file:` URL, empty or `.`/`..`
    /// segments in a URL, control characters, or a path that is not UTF-8.
    pub(crate) fn parse(url: &str) -> Result<Self> {
        if url.is_empty() {
            return Err(StorageError::invalid(url, "empty path"));
        }
        if let Some((scheme, rest)) = split_scheme(url) {
            return match scheme.to_ascii_lowercase().as_str() {
                "file" => {
                    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
                        return Err(StorageError::invalid(
                            url,
                            format!("file URLs cannot name a host ({host:?}); use file:///absolute/path"),
                        ));
                    }
                    Self::from_url_path(url, Scheme::File, path)
                }
                "memory" => Self::from_url_path(url, Scheme::Memory, rest),
                _ => Err(StorageError::UnsupportedScheme { url: url.to_owned(), scheme: scheme.to_owned() }),
            };
        }
        if let Some(rest) = url.strip_prefix("file:") {
            if !rest.starts_with('/') {
                return Err(StorageError::invalid(
                    url,
                    "a file: URL needs an absolute path, as in file:///data/in.txt",
                ));
            }
            return Self::from_url_path(url, Scheme::File, rest);
        }
        Self::from_bare_path(url)
    }

    /// A location in the store of `key` at `path`.
    pub(crate) fn new(key: StoreKey, path: Path) -> Self {
        Self { key, path }
    }

    /// The display URL: `file:///abs/path` or `memory://bucket/key`, with
    /// `%` escaped so that [`Location::parse`] reads it back unchanged.
    pub(crate) fn url(&self) -> String {
        let raw: &str = self.path.as_ref();
        let escaped = raw.replace('%', "%25");
        match self.key.scheme {
            Scheme::File => format!("file:///{escaped}"),
            Scheme::Memory => format!("memory://{escaped}"),
        }
    }

    /// The location of `name` directly under this one.
    pub(crate) fn child(&self, name: &str) -> Self {
        Self::new(self.key.clone(), self.path.clone().join(name))
    }

    /// The local file-system path, for `file` locations. Cost: O(path).
    pub(crate) fn local_path(&self) -> Option<PathBuf> {
        match self.key.scheme {
            Scheme::File => Some(PathBuf::from("/").join(self.path.as_ref())),
            Scheme::Memory => None,
        }
    }

    fn from_url_path(url: &str, scheme: Scheme, path: &str) -> Result<Self> {
        let path = Path::from_url_path(path).map_err(|e| StorageError::invalid(url, e))?;
        Ok(Self::new(StoreKey { scheme, authority: String::new() }, path))
    }

    fn from_bare_path(url: &str) -> Result<Self> {
        let absolute = std::path::absolute(url)
            .map_err(|e| StorageError::invalid(url, format!("cannot make the path absolute: {e}")))?;
        let mut normal = PathBuf::new();
        for component in absolute.components() {
            match component {
                Component::CurDir => {}
                Component::ParentDir => {
                    normal.pop();
                }
                other => normal.push(other),
            }
        }
        let path = Path::from_absolute_path(&normal).map_err(|e| StorageError::invalid(url, e))?;
        Ok(Self::new(StoreKey { scheme: Scheme::File, authority: String::new() }, path))
    }
}

/// Splits `scheme://rest` when the part before `://` is a valid URL scheme
/// (a letter, then letters, digits, `+`, `-`, `.`).
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(url: &str) -> String {
        Location::parse(url).unwrap().path.as_ref().to_owned()
    }

    #[test]
    fn file_urls_and_absolute_paths_agree() {
        assert_eq!(path_of("/tmp/a/b.txt"), "tmp/a/b.txt");
        assert_eq!(path_of("file:///tmp/a/b.txt"), "tmp/a/b.txt");
        assert_eq!(path_of("file://localhost/tmp/a/b.txt"), "tmp/a/b.txt");
        assert_eq!(path_of("file:/tmp/a/b.txt"), "tmp/a/b.txt");
        assert_eq!(path_of("FILE:///tmp/x%20y"), "tmp/x y");
        assert_eq!(path_of("/tmp/a/./c/../b.txt"), "tmp/a/b.txt");
        assert_eq!(Location::parse("/tmp").unwrap().key.scheme, Scheme::File);
    }

    #[test]
    fn relative_paths_resolve_against_the_current_dir() {
        let cwd = std::env::current_dir().unwrap();
        let loc = Location::parse("some/rel.txt").unwrap();
        assert_eq!(loc.local_path().unwrap(), cwd.join("some/rel.txt"));
        // A colon in a relative name is not a scheme.
        assert_eq!(Location::parse("a:b").unwrap().local_path().unwrap(), cwd.join("a:b"));
    }

    #[test]
    fn memory_urls_keep_authority_as_first_segment() {
        let loc = Location::parse("memory://bucket/dir/x").unwrap();
        assert_eq!(loc.key.scheme, Scheme::Memory);
        assert_eq!(loc.path.as_ref(), "bucket/dir/x");
        assert_eq!(loc.url(), "memory://bucket/dir/x");
        assert!(loc.local_path().is_none());
    }

    #[test]
    fn display_form_round_trips() {
        for url in ["file:///tmp/a b/c%d.txt", "/tmp/plain.txt", "memory://b/k%25", "file:///"] {
            let loc = Location::parse(url).unwrap();
            assert_eq!(Location::parse(&loc.url()).unwrap(), loc, "{url}");
        }
        assert_eq!(Location::parse("/tmp/x").unwrap().url(), "file:///tmp/x");
    }

    #[test]
    fn bad_urls_are_typed_errors_naming_the_url() {
        let err = Location::parse("s3://bucket/key").unwrap_err();
        assert!(matches!(&err, StorageError::UnsupportedScheme { scheme, .. } if scheme == "s3"), "{err:?}");
        assert!(err.to_string().contains("s3://bucket/key"));
        for bad in ["", "file://otherhost/x", "file:rel", "memory://a//b", "file:///a/../b"] {
            let err = Location::parse(bad).unwrap_err();
            assert!(matches!(err, StorageError::InvalidUrl { .. }), "{bad}: {err:?}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
