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
//! | `s3://bucket/key` (also `s3a://`) | S3 (or compatible), one client per bucket | `key` |
//! | `gs://bucket/key` | Google Cloud Storage, one client per bucket | `key` |
//! | `az://container/key` (also `azure://`) | Azure Blob Storage, one client per container | `key` |
//! | `http://host:port/key`, `https://…` | HTTP/WebDAV, one client per host | `key` |
//!
//! Every other `scheme://` is [`StorageError::UnsupportedScheme`]. The
//! display form ([`Location::url`]) is `file:///…`, `memory://…` or
//! `scheme://authority/key`, and parsing a display form gives back the
//! same location.

use std::borrow::Cow;
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
    /// Amazon S3 or an S3-compatible server; the authority is the bucket.
    S3,
    /// Google Cloud Storage; the authority is the bucket.
    Gcs,
    /// Azure Blob Storage; the authority is the container.
    Azure,
    /// Plain HTTP (WebDAV); the authority is `host[:port]`.
    Http,
    /// HTTPS (WebDAV); the authority is `host[:port]`.
    Https,
}

impl Scheme {
    /// The URL scheme, without `://`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Memory => "memory",
            Self::S3 => "s3",
            Self::Gcs => "gs",
            Self::Azure => "az",
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// The remote scheme named `name` (lower case), if any.
    fn remote(name: &str) -> Option<Self> {
        Some(match name {
            "s3" | "s3a" => Self::S3,
            "gs" => Self::Gcs,
            "az" | "azure" => Self::Azure,
            "http" => Self::Http,
            "https" => Self::Https,
            _ => return None,
        })
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
                other if Scheme::remote(other).is_some() => {
                    let scheme = Scheme::remote(other).expect("checked by the guard");
                    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                    if authority.is_empty() {
                        return Err(StorageError::invalid(
                            url,
                            format!("a {other}:// URL needs a bucket or host, as in {other}://name/key"),
                        ));
                    }
                    let mut location = Self::from_url_path(url, scheme, path)?;
                    location.key.authority = authority.to_owned();
                    Ok(location)
                }
                _ => Err(StorageError::UnsupportedScheme { url: crate::error::shown(url), scheme: scheme.to_owned() }),
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
        if let Some(hint) = mistyped_url(url) {
            return Err(StorageError::invalid(url, hint));
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
            remote => format!("{}://{}/{escaped}", remote.as_str(), self.key.authority),
        }
    }

    /// The URL of this location's store (`s3://bucket`, `https://host`),
    /// as object_store's builders take it.
    pub(crate) fn store_url(&self) -> String {
        format!("{}://{}", self.key.scheme.as_str(), self.key.authority)
    }

    /// The location of `name` directly under this one.
    pub(crate) fn child(&self, name: &str) -> Self {
        Self::new(self.key.clone(), self.path.clone().join(name))
    }

    /// The last segment of the path (the output's or file's own name), if the path has one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.path.filename()
    }

    /// The location of `name` beside this one, in the same parent directory (or prefix).
    pub(crate) fn sibling(&self, name: &str) -> Self {
        let parents = self.path.parts_count().saturating_sub(1);
        let parent: Path = self.path.parts().take(parents).collect();
        Self::new(self.key.clone(), parent.join(name))
    }

    /// The local file-system path, for `file` locations. Cost: O(path).
    pub(crate) fn local_path(&self) -> Option<PathBuf> {
        match self.key.scheme {
            Scheme::File => Some(PathBuf::from("/").join(self.path.as_ref())),
            _ => None,
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

/// `text` with the credentials of every URL in it (also one with a mistyped `://`) replaced
/// by `***`: `s3://key:secret@b/k`
/// becomes `s3://***@b/k`, `https://user:pass@host/p` becomes `https://***@host/p`. Every
/// error message and log line that shows a URL goes through it. Cost: one pass over `text`;
/// no allocation when there is nothing to redact.
///
/// The user part of a URL is what precedes an `@` in its authority; a secret holding an
/// unescaped `/` (as AWS secret keys may) is recognised by the `:` before it, so
/// `s3://id:se/cret@bucket/k` is redacted whole while `s3://bucket/dir/a@b.txt`, an `@` in a
/// path, is left alone.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut from = 0;
    // After `://`, and after the `:/` or `//` of a mistyped URL (`s3:/id:secret@b`), which
    // errors quote too.
    while let Some(i) = text[from..].find(":/").into_iter().chain(text[from..].find("//")).min() {
        let start = from + i + text[from + i..].find(|c| c != ':' && c != '/').unwrap_or(text.len() - from - i);
        let rest = &text[start..];
        let word =
            rest.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`')).unwrap_or(rest.len());
        let credentials = rest[..word].find('@').filter(|&at| {
            let user = &rest[..at];
            match user.find('/') {
                None => !user.is_empty(),
                Some(slash) => user[..slash].contains(':'),
            }
        });
        match credentials {
            Some(at) => {
                out.push_str(&text[copied..start]);
                out.push_str("***");
                copied = start + at;
                from = copied;
            }
            None => from = start,
        }
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
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

/// A bare path that is most likely a URL with its `://` mistyped (`s3//bucket/x`,
/// `s3:/bucket/x`, `gs:bucket`): what the user meant, to refuse it with, rather than reading
/// or writing a local directory named `s3`.
fn mistyped_url(path: &str) -> Option<String> {
    const SCHEMES: [&str; 9] = ["s3", "s3a", "gs", "az", "abfs", "abfss", "http", "https", "memory"];
    let (head, rest) = match path.split_once(':') {
        Some((head, rest)) => (head, rest.trim_start_matches('/')),
        None => {
            let (head, rest) = path.split_once("//")?;
            (head, rest)
        }
    };
    let scheme = head.to_ascii_lowercase();
    if !SCHEMES.contains(&scheme.as_str()) || rest.is_empty() {
        return None;
    }
    Some(format!("this looks like a mistyped URL; did you mean {scheme}://{rest}?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_redacted_and_nothing_else_is() {
        for (raw, shown) in [
            ("s3://key:secret@bucket/x", "s3://***@bucket/x"),
            ("https://user:pass@host:8080/p?q=1", "https://***@host:8080/p?q=1"),
            ("https://token@host/p", "https://***@host/p"),
            ("s3://AKID:wJal/K7MD@bucket/key", "s3://***@bucket/key"),
            ("GET http://u:p@h/x failed (see s3://a:b@c/d)", "GET http://***@h/x failed (see s3://***@c/d)"),
            ("did you mean s3:/id:key@b/k?", "did you mean s3:/***@b/k?"),
        ] {
            assert_eq!(redact(raw), shown, "{raw}");
        }
        for plain in ["s3://bucket/dir/a@b.txt", "s3://bucket/dir:x/a@b", "file:///tmp/a@b", "no url at all", "x://"] {
            assert!(matches!(redact(plain), Cow::Borrowed(_)), "{plain}");
        }
    }

    #[test]
    fn mistyped_urls_get_a_hint_and_real_paths_do_not() {
        for (typo, meant) in [
            ("s3//bucket/in", "s3://bucket/in"),
            ("s3:/bucket/in", "s3://bucket/in"),
            ("gs:bucket", "gs://bucket"),
            ("HTTPS:/host/x", "https://host/x"),
        ] {
            let err = Location::parse(typo).unwrap_err().to_string();
            assert!(err.contains(typo) && err.contains(&format!("did you mean {meant}?")), "{err}");
        }
        for fine in ["s3/bucket", "data//x", "s3_dir//x", "./s3//x"] {
            assert!(Location::parse(fine).is_ok(), "{fine}");
        }
    }

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
    fn remote_urls_key_the_store_by_scheme_and_authority() {
        let loc = Location::parse("s3a://bkt/dir/x.txt").unwrap();
        assert_eq!((loc.key.scheme, loc.key.authority.as_str(), loc.path.as_ref()), (Scheme::S3, "bkt", "dir/x.txt"));
        assert_eq!(loc.url(), "s3://bkt/dir/x.txt");
        assert_eq!(loc.store_url(), "s3://bkt");
        let loc = Location::parse("http://127.0.0.1:9000/a/b").unwrap();
        assert_eq!((loc.key.scheme, loc.key.authority.as_str()), (Scheme::Http, "127.0.0.1:9000"));
        assert_eq!(Location::parse("s3://bkt").unwrap().path.parts_count(), 0);
        assert_eq!(Location::parse("az://c/k").unwrap().key.scheme, Scheme::Azure);
        assert_eq!(Location::parse("gs://c/k").unwrap().key.scheme, Scheme::Gcs);
    }

    #[test]
    fn display_form_round_trips() {
        for url in
            ["file:///tmp/a b/c%d.txt", "/tmp/plain.txt", "memory://b/k%25", "file:///", "s3://b/k x", "https://h:1/p"]
        {
            let loc = Location::parse(url).unwrap();
            assert_eq!(Location::parse(&loc.url()).unwrap(), loc, "{url}");
        }
        assert_eq!(Location::parse("/tmp/x").unwrap().url(), "file:///tmp/x");
    }

    #[test]
    fn bad_urls_are_typed_errors_naming_the_url() {
        let err = Location::parse("ftp://host/key").unwrap_err();
        assert!(matches!(&err, StorageError::UnsupportedScheme { scheme, .. } if scheme == "ftp"), "{err:?}");
        assert!(err.to_string().contains("ftp://host/key"));
        for bad in ["", "file://otherhost/x", "file:rel", "memory://a//b", "file:///a/../b", "s3:///key", "gs://b//x"] {
            let err = Location::parse(bad).unwrap_err();
            assert!(matches!(err, StorageError::InvalidUrl { .. }), "{bad}: {err:?}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
