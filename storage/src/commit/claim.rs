//! The writer's claim on an output: one save per output at a time.
//!
//! Before any task runs, a save creates the claim object `<parent>/.<name>.ember-claim` with
//! create-if-absent semantics (`PutMode::Create`: a no-clobber link on local files, S3's
//! `If-None-Match: *`, the in-memory store's own check), so of two saves racing for one output
//! exactly one gets it; the other fails at once, naming the path and the writer that holds it.
//! The claim says who holds it ([`Writer`]). It is removed when the save commits or aborts;
//! a process killed mid-save leaves it behind, and the next save breaks it when its writer is
//! provably gone: a process of this host whose pid no longer runs (or runs a process started
//! later). A writer on another host cannot be checked from here, so its claim stands until
//! [`crate::Storage::clean_output`] removes it.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError, shown};
use crate::io::Storage;
use crate::url::Location;

/// Suffix of the claim's name: `.<output name>.ember-claim` beside the output.
const CLAIM_SUFFIX: &str = ".ember-claim";

/// Who holds a claim: written into the claim object as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Writer {
    /// The save's own id (unique per save, also in its staging names).
    pub(crate) job: String,
    /// The writing process.
    pub(crate) pid: u32,
    /// The writing process's host name.
    pub(crate) host: String,
    /// When the claim was taken, in milliseconds since the Unix epoch.
    pub(crate) started_ms: u64,
    /// The process's start time in clock ticks after boot (Linux `/proc/<pid>/stat`), so that
    /// a recycled pid is not taken for the writer.
    pub(crate) process_start: Option<u64>,
}

impl Writer {
    /// This process, writing save `job`.
    fn this_process(job: &str) -> Self {
        let pid = std::process::id();
        Writer { job: job.to_owned(), pid, host: host_name(), started_ms: now_ms(), process_start: process_start(pid) }
    }

    /// Whether the writer is known to have died: it ran on this host and its process is no
    /// longer there. Cost: one read of `/proc` (or one `kill(pid, 0)`).
    pub(crate) fn is_gone(&self) -> bool {
        self.host == host_name() && !process_runs(self.pid, self.process_start)
    }

    /// Whether the writer is known to be alive: it runs on this host, now.
    pub(crate) fn runs_here(&self) -> bool {
        self.host == host_name() && process_runs(self.pid, self.process_start)
    }
}

impl std::fmt::Display for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let age = now_ms().saturating_sub(self.started_ms) / 1000;
        write!(f, "save {} of process {} on host {}, started {age} s ago", self.job, self.pid, self.host)?;
        if self.is_gone() { f.write_str(", which is no longer running") } else { Ok(()) }
    }
}

/// A claim this process holds on an output; see the module docs. Released by
/// [`Claim::release`] (the output job calls it when it commits or aborts).
pub(crate) struct Claim {
    location: Location,
}

impl Claim {
    /// Takes the claim on `output` for save `job`. A stale claim (its writer is gone) is
    /// broken and taken over; the second value says whether that happened, so the caller
    /// cleans up what the dead writer left.
    ///
    /// Cost: one conditional put; when a claim is there, one get, and for a stale one a
    /// delete and a second put.
    ///
    /// # Errors
    /// [`StorageError::OutputBusy`] naming the output and the writer holding it;
    /// [`StorageError::Io`] if the store fails.
    pub(crate) fn acquire(storage: &Storage, output: &Location, job: &str) -> Result<(Claim, bool)> {
        let location = claim_location(output);
        let me = serde_json::to_vec(&Writer::this_process(job)).expect("a Writer always serializes");
        let mut broke = false;
        loop {
            let created = super::retrying(|retried| match put_create(storage, &location, Bytes::from(me.clone())) {
                // An earlier try's reply was lost after the claim was made: it is ours.
                Err(StorageError::AlreadyExists { .. })
                    if retried && read_at(storage, &location)?.is_some_and(|w| w.job == job) =>
                {
                    Ok(())
                }
                other => other,
            });
            match created {
                Ok(()) => return Ok((Claim { location }, broke)),
                Err(StorageError::AlreadyExists { .. }) if !broke => {}
                Err(StorageError::AlreadyExists { .. }) => {
                    return Err(busy(output, "another save took it over just now".to_owned()));
                }
                Err(other) => return Err(other),
            }
            match read_at(storage, &location)? {
                Some(holder) if holder.is_gone() => {
                    tracing::info!(output = %shown(&output.url()), %holder, "breaking the claim of a save that did not finish");
                    delete(storage, &location)?;
                    broke = true;
                }
                Some(holder) => return Err(busy(output, holder.to_string())),
                // Released between our put and our read: try again.
                None => {}
            }
        }
    }

    /// Removes the claim, best effort (a failure is logged: the claim then looks held by a
    /// dead writer, which the next save breaks). Cost: one delete.
    pub(crate) fn release(&self, storage: &Storage) {
        if let Err(error) = delete(storage, &self.location) {
            tracing::warn!(%error, claim = %shown(&self.location.url()), "could not remove an output claim");
        }
    }
}

/// The writer holding a claim on `output`, if there is a claim. A claim that is not valid
/// JSON (not Ember's, or cut short) is reported as held by an unknown writer.
///
/// # Errors
/// [`StorageError::Io`] if the store fails.
pub(crate) fn holder(storage: &Storage, output: &Location) -> Result<Option<Writer>> {
    read_at(storage, &claim_location(output))
}

/// Removes the claim on `output` whoever holds it. For [`crate::Storage::clean_output`].
pub(crate) fn remove(storage: &Storage, output: &Location) -> Result<()> {
    delete(storage, &claim_location(output))
}

/// `<parent>/.<name>.ember-claim`: beside the output, so a claim alone does not make the
/// output exist, and hidden from listings of the parent.
fn claim_location(output: &Location) -> Location {
    output.sibling(&format!(".{}{CLAIM_SUFFIX}", output.name().unwrap_or_default()))
}

fn busy(output: &Location, holder: String) -> StorageError {
    StorageError::busy(&output.url(), holder)
}

fn put_create(storage: &Storage, location: &Location, bytes: Bytes) -> Result<()> {
    let store = storage.store(location)?;
    let path = location.path.clone();
    let url = location.url();
    storage.run(&url.clone(), async move {
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        store.put_opts(&path, PutPayload::from(bytes), options).await.map(|_| ()).map_err(|e| match e {
            object_store::Error::AlreadyExists { .. } => StorageError::AlreadyExists { url: shown(&url) },
            e => StorageError::io(&url, e),
        })
    })
}

fn read_at(storage: &Storage, location: &Location) -> Result<Option<Writer>> {
    let store = storage.store(location)?;
    let path = location.path.clone();
    let url = location.url();
    let bytes = storage.run(&url.clone(), async move {
        match store.get(&path).await {
            Ok(got) => got.bytes().await.map(Some).map_err(|e| StorageError::io(&url, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::io(&url, e)),
        }
    })?;
    Ok(bytes.map(|b| {
        serde_json::from_slice(&b).unwrap_or_else(|_| Writer {
            job: "unknown".to_owned(),
            pid: 0,
            host: "an unknown host".to_owned(),
            started_ms: now_ms(),
            process_start: None,
        })
    }))
}

fn delete(storage: &Storage, location: &Location) -> Result<()> {
    let store = storage.store(location)?;
    let path = location.path.clone();
    let url = location.url();
    storage.run(&url.clone(), async move {
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::io(&url, e)),
        }
    })
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// This host's name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else "localhost").
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Field 22 of `/proc/<pid>/stat` (start time in ticks after boot), on Linux.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid` runs, and (when known) is the one that started at `start`.
fn process_runs(pid: u32, start: Option<u64>) -> bool {
    if std::path::Path::new("/proc/self/stat").exists() {
        return match (process_start(pid), start) {
            (None, _) => false,
            (Some(now), Some(then)) => now == then,
            (Some(_), None) => true,
        };
    }
    let Ok(pid) = i32::try_from(pid) else { return false };
    // kill(pid, 0) delivers nothing: it only asks whether the process exists.
    !matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_a_dead_child_does_not() {
        let me = Writer::this_process("j1");
        assert!(!me.is_gone());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = process_start(pid);
        child.wait().unwrap();
        let dead = Writer { pid, process_start: start, ..me.clone() };
        assert!(dead.is_gone(), "{dead}");
        assert!(dead.to_string().contains("no longer running"), "{dead}");
        let elsewhere = Writer { host: "another-host".to_owned(), ..dead };
        assert!(!elsewhere.is_gone(), "a writer on another host cannot be checked");
    }

    #[test]
    fn a_second_claim_is_refused_naming_the_holder_and_a_stale_one_is_broken() {
        let storage = Storage::new().unwrap();
        let out = Location::parse("memory://c/out").unwrap();
        let (first, broke) = Claim::acquire(&storage, &out, "a").unwrap();
        assert!(!broke);
        let err = Claim::acquire(&storage, &out, "b").err().unwrap();
        assert!(matches!(&err, StorageError::OutputBusy { url, .. } if url == "memory://c/out"), "{err}");
        assert!(err.to_string().contains("save a of process"), "{err}");
        first.release(&storage);
        let (second, _) = Claim::acquire(&storage, &out, "b").unwrap();
        // A claim left by a process that died is taken over.
        let dead = Writer { pid: u32::MAX - 1, ..Writer::this_process("dead") };
        storage.put("memory://c/.other.ember-claim", Bytes::from(serde_json::to_vec(&dead).unwrap())).unwrap();
        let other = Location::parse("memory://c/other").unwrap();
        let (_taken, broke) = Claim::acquire(&storage, &other, "c").unwrap();
        assert!(broke);
        assert_eq!(holder(&storage, &other).unwrap().map(|w| w.job), Some("c".to_owned()));
        second.release(&storage);
        assert_eq!(holder(&storage, &out).unwrap(), None);
    }
}
