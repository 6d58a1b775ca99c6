//! The local-file commit: the whole output is built in a hidden sibling directory and moved
//! into place with one rename, so a crash at any point leaves either the old state or the new
//! output, never a part of it.
//!
//! ```text
//! <parent>/.<name>.ember-staging-<save>/_temporary/attempt_00003_1/part-00003   tasks write
//! <parent>/.<name>.ember-staging-<save>/part-00000 .. _SUCCESS                  commit, step 1
//! <parent>/<name>                                                              commit, step 2:
//!     rename(staging, output) for a new output; for an overwrite, one atomic exchange of the
//!     two directories (Linux `renameat2(RENAME_EXCHANGE)`), then the old one is removed.
//! ```
//!
//! Where the exchange is not available (other systems, some file systems) an overwrite moves
//! the old output aside to `.<name>.ember-old-<save>` first; a crash between the two renames
//! leaves it there, and the next save to the path moves it back ([`remove_leftovers`]).

use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError, shown};

/// Prefix of staging directories' names after `.<name>`.
const STAGING: &str = ".ember-staging-";
/// Prefix of moved-aside old outputs' names after `.<name>`.
const OLD: &str = ".ember-old-";

/// Where one local save builds its output.
pub(super) struct LocalTarget {
    /// The output directory, `<parent>/<name>`.
    pub(super) output: PathBuf,
    /// The staging directory beside it, `<parent>/.<name>.ember-staging-<save>`.
    pub(super) staging: PathBuf,
}

impl LocalTarget {
    /// The target of save `save` writing `output` (an absolute path with a parent).
    pub(super) fn new(output: PathBuf, save: &str) -> Self {
        let staging = beside(&output, &format!("{STAGING}{save}"));
        LocalTarget { output, staging }
    }

    /// Commit, step 1: moves each accepted attempt file (`from`) to `staging/<name>`, writes
    /// `_SUCCESS`, and removes the attempts not accepted. Cost: one rename per part.
    pub(super) fn stage(&self, parts: &[(PathBuf, String)], success: &str) -> io::Result<()> {
        for (from, name) in parts {
            std::fs::rename(from, self.staging.join(name))?;
        }
        std::fs::write(self.staging.join(success), b"")?;
        remove_dir_if_there(&self.staging.join(super::TEMPORARY))
    }

    /// Commit, step 2: makes the staged directory the output, atomically; with `overwrite`
    /// an existing output is replaced (and removed afterwards, best effort).
    ///
    /// # Errors
    /// [`StorageError::AlreadyExists`] if, without `overwrite`, something non-empty appeared
    /// at the output path during the job; [`StorageError::Io`] if a rename fails.
    pub(super) fn publish(&self, url: &str, overwrite: bool) -> Result<()> {
        let io_error = |e: io::Error| StorageError::local(url, e);
        let exists = std::fs::symlink_metadata(&self.output).is_ok();
        if !exists || is_empty_dir(&self.output) {
            return match std::fs::rename(&self.staging, &self.output) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {
                    Err(StorageError::AlreadyExists { url: shown(url) })
                }
                Err(e) => Err(io_error(e)),
            };
        }
        if !overwrite {
            return Err(StorageError::AlreadyExists { url: shown(url) });
        }
        if exchange(&self.staging, &self.output).map_err(io_error)? {
            // The staging path now holds the old output.
            remove_logged(&self.staging);
            return Ok(());
        }
        let aside = self.staging.with_file_name(
            self.staging.file_name().and_then(|n| n.to_str()).unwrap_or_default().replacen(STAGING, OLD, 1),
        );
        std::fs::rename(&self.output, &aside).map_err(io_error)?;
        if let Err(e) = std::fs::rename(&self.staging, &self.output) {
            // Put the old output back: a failed overwrite keeps the old data.
            let _ = std::fs::rename(&aside, &self.output);
            return Err(io_error(e));
        }
        remove_logged(&aside);
        Ok(())
    }

    /// Removes the staging directory (an aborted save), best effort.
    pub(super) fn discard(&self) {
        remove_logged(&self.staging);
    }
}

/// Cleans what saves of `output` that did not finish left beside it: staging directories are
/// removed; an old output moved aside is moved back if the output is missing, else removed.
/// Call only while holding the output's claim. Cost: one listing of the parent directory.
pub(super) fn remove_leftovers(output: &Path) {
    let Some(name) = output.file_name().and_then(|n| n.to_str()) else { return };
    let Some(parent) = output.parent() else { return };
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    let (staging, old) = (format!(".{name}{STAGING}"), format!(".{name}{OLD}"));
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(entry_name) = file_name.to_str() else { continue };
        if entry_name.starts_with(&staging) {
            tracing::info!(path = %entry.path().display(), "removing the staging directory of a save that did not finish");
            remove_logged(&entry.path());
        } else if entry_name.starts_with(&old) {
            if std::fs::symlink_metadata(output).is_err() && std::fs::rename(entry.path(), output).is_ok() {
                tracing::warn!(output = %output.display(), "restored the output an interrupted overwrite had moved aside");
            } else {
                remove_logged(&entry.path());
            }
        }
    }
}

/// `<parent>/.<name><suffix>` for `path` = `<parent>/<name>`.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    path.with_file_name(format!(".{name}{suffix}"))
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// Atomically swaps the directory entries `a` and `b`. `Ok(false)` where the system or the
/// file system cannot (the caller falls back to two renames).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    match renameat2(AT_FDCWD, a, AT_FDCWD, b, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOSYS | nix::errno::Errno::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(io::Error::from(e)),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<bool> {
    Ok(false)
}

fn remove_dir_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn remove_logged(path: &Path) {
    let removed = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => remove_dir_if_there(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    };
    if let Err(error) = removed {
        tracing::warn!(%error, path = %path.display(), "could not remove a save's leftover files");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overwrite_exchanges_the_directories_and_removes_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out");
        std::fs::create_dir(&output).unwrap();
        std::fs::write(output.join("part-00000"), "old\n").unwrap();
        let target = LocalTarget::new(output.clone(), "s1");
        std::fs::create_dir_all(target.staging.join("_temporary/a")).unwrap();
        std::fs::write(target.staging.join("_temporary/a/p"), "new\n").unwrap();
        target.stage(&[(target.staging.join("_temporary/a/p"), "part-00000".to_owned())], "_SUCCESS").unwrap();
        assert!(matches!(target.publish("out", false), Err(StorageError::AlreadyExists { .. })));
        assert_eq!(std::fs::read_to_string(output.join("part-00000")).unwrap(), "old\n");
        target.publish("out", true).unwrap();
        assert_eq!(std::fs::read_to_string(output.join("part-00000")).unwrap(), "new\n");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, ["out"], "neither staging nor the old output is left");
    }

    #[test]
    fn leftovers_are_removed_and_an_output_moved_aside_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out");
        std::fs::create_dir(dir.path().join(".out.ember-staging-dead")).unwrap();
        std::fs::create_dir(dir.path().join(".out.ember-old-dead")).unwrap();
        std::fs::write(dir.path().join(".out.ember-old-dead/part-00000"), "kept\n").unwrap();
        std::fs::create_dir(dir.path().join(".other.ember-staging-x")).unwrap();
        remove_leftovers(&output);
        assert_eq!(std::fs::read_to_string(output.join("part-00000")).unwrap(), "kept\n");
        let mut left: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [".other.ember-staging-x", "out"], "another output's staging is not touched");
    }
}
