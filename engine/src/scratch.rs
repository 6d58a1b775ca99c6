//! Scratch directories: private to their user, named after the process that made them, and
//! removed by the next context once that process is gone (a SIGKILL or an abort runs no
//! destructor, so a dead process cannot clean up after itself).
//!
//! A scratch directory is `<temp dir>/<kind>-<pid>-<host>-<random>` (kind `ember-local` or
//! `ember-blocks`), mode 0700; its files are created 0600. `<host>` tells apart the machines
//! and pid namespaces (containers) that may share one temp dir, where a pid means another
//! process: it holds the kernel's boot id and the pid namespace. [`remove_stale`] removes a
//! directory only when its name has exactly that form with this process's `<host>`, it is a
//! real directory (not a link) owned by this user, and no process with its pid is alive: a
//! live process's directory is never touched, and a reused pid only keeps a stale directory a
//! while longer.

use std::fs::{File, Permissions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The kinds of scratch directory Ember makes, as their names begin.
pub const KINDS: [&str; 2] = ["ember-local", "ember-blocks"];

/// Creates a new scratch directory of `kind` (one of [`KINDS`]) under the system temp dir,
/// mode 0700, deleted when the returned handle drops.
///
/// # Errors
/// The OS error when the directory cannot be created.
pub(crate) fn create_dir(kind: &str) -> io::Result<tempfile::TempDir> {
    debug_assert!(KINDS.contains(&kind), "{kind} is not a scratch kind");
    tempfile::Builder::new()
        .prefix(&format!("{kind}-{}-{}-", std::process::id(), host_tag()))
        .permissions(Permissions::from_mode(0o700))
        .tempdir()
}

/// Creates the new file `path` (failing if it exists), mode 0600, open for reading and
/// writing.
///
/// # Errors
/// The OS error.
pub(crate) fn create_file(path: &Path) -> io::Result<File> {
    File::options().read(true).write(true).create_new(true).mode(0o600).open(path)
}

/// Writes `bytes` as the whole content of `path`, creating it with mode 0600 when absent.
///
/// # Errors
/// The OS error.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::options().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    io::Write::write_all(&mut file, bytes)
}

/// Removes this process's own scratch directories under `root`: what a process about to exit
/// without running destructors (a cluster executor told to stop) calls first. Best effort.
pub fn remove_own(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    let (me, host) = (std::process::id() as i32, host_tag());
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().and_then(owner).is_some_and(|(pid, tag)| pid == me && tag == host) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Removes the scratch directories under `root` that dead processes of this user left, and
/// returns how many. Cost: one listing of `root`, one liveness probe per Ember directory,
/// then the removal of each stale one. Errors are logged and skipped: cleaning is best effort
/// and never fails a context.
pub fn remove_stale(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else { return 0 };
    let me = nix::unistd::getuid().as_raw();
    let host = host_tag();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((pid, tag)) = name.to_str().and_then(owner) else { continue };
        if tag != host {
            continue;
        }
        let path = entry.path();
        let ours = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == me);
        if !ours || is_alive(pid) {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {
                tracing::info!(dir = %path.display(), pid, "removed the scratch directory of a dead process");
                removed += 1;
            }
            Err(err) => tracing::warn!(dir = %path.display(), %err, "could not remove a stale scratch directory"),
        }
    }
    removed
}

/// The pid and host tag in a scratch directory's name `<kind>-<pid>-<host>-<random>`, or
/// `None` for any other name (including scratch directories of older Ember versions).
fn owner(name: &str) -> Option<(i32, &str)> {
    let rest = KINDS.iter().find_map(|kind| name.strip_prefix(kind)?.strip_prefix('-'))?;
    let mut parts = rest.split('-');
    let (pid, host, random) = (parts.next()?, parts.next()?, parts.next()?);
    let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    if parts.next().is_some() || !alnum(host) || !alnum(random) || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pid: i32 = pid.parse().ok()?;
    (pid > 0).then_some((pid, host))
}

/// This machine's boot and pid namespace: the first 12 hex digits of the kernel's boot id,
/// then the pid namespace's inode number. Two processes with the same tag see the same pids.
/// Where `/proc` is unreadable the tag is `0`, which only matches others without `/proc`.
fn host_tag() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let namespace = std::fs::read_link("/proc/self/ns/pid").unwrap_or_default();
    let boot = boot.chars().filter(char::is_ascii_hexdigit).take(12);
    let namespace = namespace.to_string_lossy().chars().filter(char::is_ascii_digit).collect::<String>();
    let tag: String = boot.chain(namespace.chars()).collect();
    if tag.is_empty() { "0".to_owned() } else { tag }
}

/// Whether a process with `pid` exists. A process of another user (`EPERM`) exists too; only
/// "no such process" means dead.
fn is_alive(pid: i32) -> bool {
    !matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ember_names_with_a_pid_and_host_have_an_owner() {
        assert_eq!(owner("ember-local-123-00ff-aB9xYz"), Some((123, "00ff")));
        assert_eq!(owner("ember-blocks-7-h-q1"), Some((7, "h")));
        for other in [
            "ember-local-AbCdEf",
            "ember-local-12-AbCdEf",
            "ember-local--1-h-x",
            "ember-local-0-h-x",
            "ember-local-+5-h-x",
            "ember-local-12-h-",
            "ember-local-12-h-x-y",
            "ember-other-1-h-x",
            "x-1-h-y",
        ] {
            assert_eq!(owner(other), None, "{other}");
        }
    }

    /// The pid of a process that has exited and been reaped.
    fn dead_pid() -> i32 {
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id() as i32;
        child.wait().expect("wait");
        pid
    }

    #[test]
    fn dead_processes_dirs_go_live_ones_and_strangers_stay() {
        let root = tempfile::tempdir().expect("root");
        let (dead, host) = (dead_pid(), host_tag());
        let stale = root.path().join(format!("ember-local-{dead}-{host}-abc123"));
        let live = root.path().join(format!("ember-blocks-{}-{host}-abc123", std::process::id()));
        // The same pid on another machine or in another container may well be alive.
        let elsewhere = root.path().join(format!("ember-local-{dead}-elsewhere-abc123"));
        let foreign = root.path().join("someone-else-1-abc");
        for dir in [&stale, &live, &elsewhere, &foreign] {
            std::fs::create_dir(dir).expect("mkdir");
            std::fs::write(dir.join("data"), b"x").expect("write");
        }
        assert_eq!(remove_stale(root.path()), 1);
        assert!(!stale.exists() && live.exists() && elsewhere.exists() && foreign.exists());
    }

    #[test]
    fn directories_are_0700_and_files_0600() {
        let dir = create_dir("ember-local").expect("dir");
        let name = dir.path().file_name().and_then(|n| n.to_str()).expect("a name");
        let host = host_tag();
        assert_eq!(owner(name), Some((std::process::id() as i32, host.as_str())));
        assert_eq!(std::fs::metadata(dir.path()).expect("meta").permissions().mode() & 0o777, 0o700);
        let path = dir.path().join("f");
        create_file(&path).expect("file");
        assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        assert!(create_file(&path).is_err(), "create_new refuses an existing file");
    }
}
