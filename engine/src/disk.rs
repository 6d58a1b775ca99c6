//! [`LocalDisk`]: the context's scratch directory for data that did not fit in memory
//! (shuffle outputs written to disk, sorted runs spilled by aggregations and sorts).
//!
//! Every file is a [`SpillFile`] that deletes itself when its last handle drops, so a failed
//! task, a removed shuffle or a finished merge leaves nothing behind; the directory itself
//! goes with the context.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The scratch directory of one context, created on first use under the system temp dir,
/// private to this user (see [`crate::scratch`]).
#[derive(Debug, Default)]
pub struct LocalDisk {
    dir: OnceLock<io::Result<tempfile::TempDir>>,
    next: AtomicU64,
}

impl LocalDisk {
    /// Creates a new empty file named after `kind` (e.g. `shuffle_3_7`, `spill`), open for
    /// reading and writing.
    ///
    /// # Errors
    /// The OS error when the directory or the file cannot be created.
    pub fn create(&self, kind: &str) -> io::Result<(SpillFile, File)> {
        let dir = self
            .dir
            .get_or_init(|| crate::scratch::create_dir("ember-local"))
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), format!("creating the local scratch directory: {e}")))?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = dir.path().join(format!("{kind}-{n}"));
        let file = crate::scratch::create_file(&path)?;
        Ok((SpillFile { path }, file))
    }

    /// The scratch directory, once the first file made it.
    pub fn dir(&self) -> Option<&Path> {
        match self.dir.get() {
            Some(Ok(dir)) => Some(dir.path()),
            _ => None,
        }
    }

    /// How many files the directory holds now (0 before it exists): for leak checks.
    pub fn file_count(&self) -> usize {
        match self.dir.get() {
            Some(Ok(dir)) => std::fs::read_dir(dir.path()).map_or(0, Iterator::count),
            _ => 0,
        }
    }
}

/// A file in the scratch directory, deleted when dropped. Share it with `Arc` to keep it
/// while readers still need it.
#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
}

impl SpillFile {
    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file for reading.
    ///
    /// # Errors
    /// The OS error, naming the path.
    pub fn open(&self) -> io::Result<File> {
        File::open(&self.path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn files_are_distinct_and_deleted_on_drop() {
        let disk = LocalDisk::default();
        let (a, mut fa) = disk.create("spill").expect("create");
        let (b, _) = disk.create("spill").expect("create");
        assert_ne!(a.path(), b.path());
        fa.write_all(b"run").expect("write");
        let mut back = String::new();
        a.open().expect("open").read_to_string(&mut back).expect("read");
        assert_eq!(back, "run");
        let mode =
            |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).expect("meta").permissions());
        assert_eq!(mode(disk.dir().expect("made")) & 0o777, 0o700, "the directory is private");
        assert_eq!(mode(a.path()) & 0o777, 0o600, "files are private");
        let path = a.path().to_path_buf();
        drop((a, fa));
        assert!(!path.exists());
    }
}
