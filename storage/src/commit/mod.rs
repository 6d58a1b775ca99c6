//! Output commit: all or nothing, against task failures, cancellation, crashes of the
//! writing process and concurrent writers.
//!
//! A save goes through three stages, each owned by one file here:
//!
//! 1. **Claim** ([`claim`]): before any task runs, the save creates
//!    `<parent>/.<name>.ember-claim` if absent. A second save to the same output fails at once
//!    naming the holder; a claim left by a process that died is broken by the next save, which
//!    cleans what it left.
//! 2. **Attempts**: each task attempt writes its whole part to a file of its own (attempt files
//!    of retried or speculative attempts never collide), returning a [`PartCommit`] message
//!    (serde data, so it travels from any executor in the task's result).
//! 3. **Commit**: the driver commits exactly the attempts whose messages the scheduler accepted
//!    (Spark's `OutputCommitCoordinator`), so a retried task never duplicates rows, and the
//!    output becomes visible in one atomic step:
//!    * local files ([`local`]): parts are staged in a hidden sibling directory, which one
//!      rename (an atomic exchange, for an overwrite) turns into the output;
//!    * object stores ([`manifest`]): one conditionally written `_ember_manifest.json` lists
//!      the parts; Ember's readers read exactly those, and refuse a directory Ember began to
//!      write and did not commit ([`StorageError::IncompleteOutput`]).
//!
//! An overwrite writes beside the old output and replaces it only at commit, so a failed or
//! killed overwrite leaves the old data. `_SUCCESS` is written for other tools.

mod claim;
mod local;
pub(crate) mod manifest;
mod part_writer;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use object_store::{ObjectStoreExt, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

pub use part_writer::PartWriter;

use self::claim::Claim;
use self::local::LocalTarget;
use self::manifest::ManifestPart;
use crate::error::{Result, StorageError, shown};
use crate::io::Storage;
use crate::url::Location;

/// Name of the directory that holds attempt outputs until commit.
const TEMPORARY: &str = "_temporary";
/// Name of the empty marker a successful commit writes.
const SUCCESS: &str = "_SUCCESS";
/// A part up to this size (8 MiB) is written with one put; a larger part streams out as a
/// multipart upload in chunks of this size.
pub const PART_CHUNK: usize = 8 << 20;
/// Chunks of one part uploading at once: a part writer holds at most
/// `(UPLOAD_CONCURRENCY + 1) × PART_CHUNK` bytes.
const UPLOAD_CONCURRENCY: usize = 4;

/// One output being written: a directory of `part-NNNNN` files committed all at once, by the
/// save that holds its claim. Created by [`Storage::create_output`].
///
/// `Send + Sync`: tasks share it through an `Arc` and call [`OutputJob::write_part`] or
/// [`OutputJob::part_writer`] concurrently, each getting a [`PartCommit`]; the driver calls
/// [`OutputJob::commit`] with the accepted messages, or [`OutputJob::abort`], once, after the
/// tasks. Dropping it without either aborts it. A process killed meanwhile leaves its claim
/// and staged files, which the next save to the same output (or
/// [`Storage::clean_output`]) removes; the output itself is untouched.
pub struct OutputJob {
    storage: Storage,
    url: String,
    root: Location,
    /// This save's id: in its claim, its staging names and its manifest.
    save: String,
    /// `None` for a save joined from another process ([`Storage::join_output`]): the process
    /// that holds the claim commits or aborts; this one only writes attempts.
    claim: Option<Claim>,
    target: Target,
    overwrite: bool,
    /// Left by the first commit or abort, and held while either runs: a second caller (the
    /// Ctrl-C handler aborting while the job's own finisher aborts) waits until the first
    /// is done, so the process never exits halfway through a clean-up.
    state: Mutex<State>,
}

/// Where an output job is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Committed,
    Aborted,
}

/// Where a save's attempts go and how its output becomes visible.
enum Target {
    /// Local files: a staging directory beside the output, renamed into place.
    Local(LocalTarget),
    /// Object stores: attempts under `<out>/_temporary/<save>/`, committed by the manifest;
    /// `previous` is the version of the manifest the output had, to replace it conditionally.
    Object { previous: Option<UpdateVersion> },
}

/// What a task attempt that wrote its part tells the driver: which attempt of which
/// partition, and how many bytes. Plain data: it travels in the task's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartCommit {
    /// The partition.
    pub partition: u64,
    /// The attempt that wrote it.
    pub attempt: u64,
    /// The part's size in bytes.
    pub bytes: u64,
}

/// The file name of partition `partition`: `part-NNNNN` (at least 5 digits).
pub fn part_name(partition: usize) -> String {
    format!("part-{partition:05}")
}

impl OutputJob {
    /// [`Storage::create_output`]: see there for the contract.
    pub(crate) fn create(storage: &Storage, url: &str, overwrite: bool, save: Option<&str>) -> Result<Self> {
        let root = Location::parse(url)?;
        if root.path.parts_count() == 0 {
            return Err(StorageError::invalid(url, "an output needs its own directory below the store root"));
        }
        let save = match save {
            Some(save) => checked_save_id(url, save)?,
            None => new_save_id(),
        };
        let (claim, broke) = Claim::acquire(storage, &root, &save)?;
        let prepared = (|| {
            if broke {
                remove_leftovers(storage, &root)?;
            }
            if exists(storage, &root, url)? && !overwrite {
                return Err(StorageError::AlreadyExists { url: shown(url) });
            }
            Ok(match root.local_path() {
                Some(path) => Target::Local(LocalTarget::new(path, &save)),
                None => Target::Object { previous: manifest::read(storage, &root)?.map(|(_, version)| version) },
            })
        })();
        match prepared {
            Ok(target) => Ok(Self {
                storage: storage.clone(),
                url: root.url(),
                root,
                save,
                claim: Some(claim),
                target,
                overwrite,
                state: Mutex::new(State::Open),
            }),
            Err(err) => {
                claim.release(storage);
                Err(err)
            }
        }
    }

    /// [`Storage::join_output`]: see there for the contract.
    pub(crate) fn join(storage: &Storage, url: &str, save: &str) -> Result<Self> {
        let root = Location::parse(url)?;
        if root.path.parts_count() == 0 {
            return Err(StorageError::invalid(url, "an output needs its own directory below the store root"));
        }
        let save = checked_save_id(url, save)?;
        let target = match root.local_path() {
            Some(path) => Target::Local(LocalTarget::new(path, &save)),
            None => Target::Object { previous: None },
        };
        Ok(Self {
            storage: storage.clone(),
            url: root.url(),
            root,
            save,
            claim: None,
            target,
            overwrite: false,
            state: Mutex::new(State::Open),
        })
    }

    /// Whether this process holds the save's claim (it commits); `false` for a joined save.
    pub fn is_owner(&self) -> bool {
        self.claim.is_some()
    }

    /// The output's display URL (`file:///…`, `memory://…`). Cost: O(1).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes the whole content of one task attempt's part to its attempt file and returns
    /// the message that commits it.
    ///
    /// Called once per successful attempt, at its end. Cost: one put of `bytes` (no copy);
    /// local parents are created.
    ///
    /// # Errors
    /// [`StorageError::Io`] if the write fails.
    pub fn write_part(&self, partition: usize, attempt: usize, bytes: Bytes) -> Result<PartCommit> {
        let size = bytes.len() as u64;
        let location = self.attempt_file(partition, attempt);
        let store = self.storage.store(&location)?;
        let url = location.url();
        let owned = url.clone();
        self.storage.run(&url, async move {
            store
                .put(&location.path, PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| StorageError::io(&owned, e))
        })?;
        Ok(PartCommit { partition: partition as u64, attempt: attempt as u64, bytes: size })
    }

    /// A streaming writer for one task attempt's part, for parts too large to hold in memory:
    /// bytes written to it go to the same attempt file as [`OutputJob::write_part`], through
    /// one put if the part stays under [`PART_CHUNK`] bytes, otherwise through a multipart
    /// upload of [`PART_CHUNK`]-byte chunks, a few in flight at once (bounded memory).
    /// [`PartWriter::finish`] completes the upload and returns the attempt's
    /// [`PartCommit`]; dropping the writer unfinished aborts the upload.
    ///
    /// # Errors
    /// [`StorageError::StoreConfig`] if the output's store cannot be set up.
    pub fn part_writer(&self, partition: usize, attempt: usize) -> Result<PartWriter<'_>> {
        PartWriter::new(self, partition, attempt, self.attempt_file(partition, attempt))
    }

    /// Commits, for each partition `0..num_partitions`, the file of the attempt `parts` names
    /// for it (the first message of a partition wins), making the whole output visible at
    /// once (see the module docs), replacing the old output for an overwrite; then releases
    /// the claim.
    ///
    /// Cost: local files: one rename per part and one (or two) for the directory; object
    /// stores: one manifest put, then one copy per part (16 at once), a second manifest put
    /// and a listing and bulk delete of what the output held before.
    ///
    /// # Errors
    /// [`StorageError::MissingPart`] naming the first partition without a message (checked
    /// before anything moves); [`StorageError::AlreadyExists`] if, without overwrite,
    /// something appeared at a local output path meanwhile; [`StorageError::Io`] if the
    /// visible step fails. On any error the save is aborted and the output is as it was.
    pub fn commit(&self, num_partitions: usize, parts: &[PartCommit]) -> Result<()> {
        if self.claim.is_none() {
            // A joined save: the owner commits.
            return Ok(());
        }
        let mut accepted: Vec<Option<PartCommit>> = vec![None; num_partitions];
        for part in parts {
            if let Some(slot) = usize::try_from(part.partition).ok().and_then(|p| accepted.get_mut(p))
                && slot.is_none()
            {
                *slot = Some(*part);
            }
        }
        let accepted = accepted
            .into_iter()
            .enumerate()
            .map(|(partition, part)| part.ok_or(StorageError::MissingPart { url: self.url.clone(), partition }))
            .collect::<Result<Vec<_>>>();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            State::Open => {}
            State::Committed => return Ok(()),
            State::Aborted => {
                let detail = "its save was aborted before the commit".to_owned();
                return Err(StorageError::incomplete(&self.url, detail));
            }
        }
        let committed = accepted.and_then(|accepted| self.publish(&accepted));
        *state = if committed.is_ok() { State::Committed } else { State::Aborted };
        if committed.is_err() {
            self.discard();
        }
        if let Some(claim) = &self.claim {
            claim.release(&self.storage);
        }
        committed
    }

    /// Discards every attempt file and releases the claim, best effort (failures are logged);
    /// the output stays as it was. A second call, or one after a commit, does nothing (and
    /// returns once the first has finished); a commit after an abort is an error. Cost: one recursive delete.
    pub fn abort(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if *state == State::Open {
            *state = State::Aborted;
            // A joined save leaves its attempts to the owner, whose abort removes them all.
            if let Some(claim) = &self.claim {
                self.discard();
                claim.release(&self.storage);
            }
        }
    }

    fn discard(&self) {
        match &self.target {
            Target::Local(local) => local.discard(),
            Target::Object { .. } => {
                let attempts = self.attempts_root();
                part_writer::abort_recorded_uploads(&self.storage, &attempts);
                if let Err(error) = self.storage.delete_all(&attempts, &attempts.url()) {
                    tracing::warn!(%error, url = %shown(&attempts.url()), "could not delete an aborted save's files");
                }
            }
        }
    }

    fn publish(&self, accepted: &[PartCommit]) -> Result<()> {
        match &self.target {
            Target::Local(local) => {
                let moves: Vec<_> = accepted
                    .iter()
                    .map(|p| {
                        let from = self.attempt_file(p.partition as usize, p.attempt as usize);
                        (
                            from.local_path().expect("a local output's attempts are local"),
                            part_name(p.partition as usize),
                        )
                    })
                    .collect();
                std::fs::create_dir_all(&local.staging).map_err(|e| StorageError::local(&self.url, e))?;
                local.stage(&moves, SUCCESS).map_err(|e| StorageError::local(&self.url, e))?;
                local.publish(&self.url, self.overwrite)
            }
            Target::Object { previous } => {
                let prefix = self.root.path.parts_count();
                let staged = accepted
                    .iter()
                    .map(|p| {
                        let file = self.attempt_file(p.partition as usize, p.attempt as usize);
                        let relative: Vec<String> =
                            file.path.parts().skip(prefix).map(|s| s.as_ref().to_owned()).collect();
                        ManifestPart { path: relative.join("/"), size: p.bytes }
                    })
                    .collect();
                manifest::publish(&self.storage, &self.root, &self.save, staged, previous.clone())
            }
        }
    }

    /// Where this save's attempt files go: `<staging>/_temporary` for local files,
    /// `<out>/_temporary/<save>` on object stores.
    fn attempts_root(&self) -> Location {
        match &self.target {
            Target::Local(local) => {
                let staging = self.root.sibling(local.staging.file_name().and_then(|n| n.to_str()).unwrap_or_default());
                staging.child(TEMPORARY)
            }
            Target::Object { .. } => self.root.child(TEMPORARY).child(&self.save),
        }
    }

    /// `<attempts root>/attempt_<PPPPP>_<attempt>/part-<PPPPP>`.
    fn attempt_file(&self, partition: usize, attempt: usize) -> Location {
        self.attempts_root().child(&format!("attempt_{partition:05}_{attempt}")).child(&part_name(partition))
    }
}

impl Drop for OutputJob {
    fn drop(&mut self) {
        self.abort();
    }
}

impl std::fmt::Debug for OutputJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputJob").field("url", &self.url).field("save", &self.save).finish()
    }
}

/// The writer holding the claim on the output at `root`, if one does (for readers' errors).
pub(crate) fn holder(storage: &Storage, root: &Location) -> Result<Option<String>> {
    Ok(claim::holder(storage, root)?.map(|w| w.to_string()))
}

/// [`Storage::clean_output`]: see there for the contract.
pub(crate) fn clean_output(storage: &Storage, url: &str) -> Result<()> {
    let root = Location::parse(url)?;
    if let Some(holder) = claim::holder(storage, &root)?
        && holder.runs_here()
    {
        return Err(StorageError::busy(&root.url(), holder.to_string()));
    }
    remove_leftovers(storage, &root)?;
    claim::remove(storage, &root)
}

/// What saves of `root` that did not finish left: local staging directories (and an old
/// output moved aside, which comes back if the output is missing); on object stores every
/// temporary file the output's manifest does not name. Call only while no live save
/// writes `root`.
fn remove_leftovers(storage: &Storage, root: &Location) -> Result<()> {
    if let Some(path) = root.local_path() {
        local::remove_leftovers(&path);
        return Ok(());
    }
    let named: std::collections::HashSet<String> = manifest::read(storage, root)?
        .map(|(manifest, _)| manifest.parts.into_iter().map(|p| p.path).collect())
        .unwrap_or_default();
    part_writer::abort_recorded_uploads(storage, &root.child(TEMPORARY));
    let temporary = format!("{TEMPORARY}/");
    manifest::delete_except(storage, root, |relative| !relative.starts_with(&temporary) || named.contains(relative))
}

/// Whether anything is at or under `root` (an empty local directory does not count).
fn exists(storage: &Storage, root: &Location, url: &str) -> Result<bool> {
    if let Some(path) = root.local_path() {
        return Ok(match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_some()),
            Ok(_) => true,
            Err(_) => false,
        });
    }
    let store = storage.store(root)?;
    let path = root.path.clone();
    let owned = url.to_owned();
    storage.run(url, async move {
        let io = |e| StorageError::io(&owned, e);
        match store.head(&path).await {
            Ok(_) => return Ok(true),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(io(e)),
        }
        let first = store.list(Some(&path)).next().await.transpose().map_err(io)?;
        Ok(first.is_some())
    })
}

/// Attempts of one driver-side step of a save (claim, manifest, marker) before its error is
/// the save's: tasks are retried by the scheduler, these steps only here.
const STEP_ATTEMPTS: u32 = 4;

/// Runs `step` until it succeeds, fails with an error that another try cannot mend (anything
/// but [`StorageError::Io`]), or has failed [`STEP_ATTEMPTS`] times, waiting 50 ms, 200 ms,
/// then 800 ms between tries (as a task gets 4 attempts). `step` is told whether an earlier try failed: a conditional put
/// whose reply was lost then finds its own object and must take it for success.
pub(crate) fn retrying<T>(mut step: impl FnMut(bool) -> Result<T>) -> Result<T> {
    let mut failed = 0;
    loop {
        match step(failed > 0) {
            Err(StorageError::Io { url, source }) if failed + 1 < STEP_ATTEMPTS => {
                tracing::debug!(url, error = %source, "retrying a step of an output commit");
                std::thread::sleep(std::time::Duration::from_millis(50 << (2 * failed)));
                failed += 1;
            }
            other => return other,
        }
    }
}

/// `save` when it is a usable save id (1 to 64 ASCII letters, digits, `-` or `_`: it goes
/// into file names).
fn checked_save_id(url: &str, save: &str) -> Result<String> {
    let ok = !save.is_empty()
        && save.len() <= 64
        && save.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(save.to_owned()) } else { Err(StorageError::invalid(url, format!("{save:?} is not a save id"))) }
}

/// A fresh save id: 16 hex digits from the process's random hasher keys, the pid and the time.
fn new_save_id() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    fn names(storage: &Storage, url: &str) -> Vec<String> {
        let root = Location::parse(url).unwrap();
        let store = storage.store(&root).unwrap();
        let mut names: Vec<String> = storage
            .run(url, async move {
                let metas: Vec<_> = store.list(Some(&root.path)).try_collect().await.unwrap();
                Ok(metas)
            })
            .unwrap()
            .into_iter()
            .map(|m| m.location.as_ref().to_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn large_parts_stream_as_multipart_and_small_ones_as_one_put() {
        use std::io::Write;
        let storage = Storage::new().unwrap();
        let job = storage.create_output("memory://o/stream", false).unwrap();
        let line = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n";
        let mut big = job.part_writer(0, 0).unwrap();
        for _ in 0..(PART_CHUNK * 2 + 1000) / line.len() {
            big.write_all(line).unwrap();
        }
        let first = big.finish().unwrap();
        assert!(first.bytes > 2 * PART_CHUNK as u64);
        let mut small = job.part_writer(1, 3).unwrap();
        small.write_all(b"tiny\n").unwrap();
        let second = small.finish().unwrap();
        assert_eq!(second, PartCommit { partition: 1, attempt: 3, bytes: 5 });
        // An unfinished writer leaves nothing to commit.
        let mut dropped = job.part_writer(2, 0).unwrap();
        dropped.write_all(&vec![b'x'; PART_CHUNK + 1]).unwrap();
        drop(dropped);
        let third = job.write_part(2, 1, Bytes::new()).unwrap();
        job.commit(3, &[first, second, third]).unwrap();
        assert_eq!(storage.get("memory://o/stream/part-00000").unwrap().len() as u64, first.bytes);
        assert_eq!(storage.get("memory://o/stream/part-00001").unwrap().as_ref(), b"tiny\n");
    }

    #[test]
    fn part_names_have_five_digits() {
        assert_eq!(part_name(0), "part-00000");
        assert_eq!(part_name(42), "part-00042");
        assert_eq!(part_name(123_456), "part-123456");
    }

    #[test]
    fn memory_commit_moves_recorded_attempts_and_cleans_up() {
        let storage = Storage::new().unwrap();
        let job = storage.create_output("memory://o/out", false).unwrap();
        assert_eq!(job.url(), "memory://o/out");
        job.write_part(1, 0, Bytes::from_static(b"one-a0\n")).unwrap();
        let zero = job.write_part(0, 0, Bytes::from_static(b"zero\n")).unwrap();
        let one = job.write_part(1, 1, Bytes::from_static(b"one-a1\n")).unwrap();
        assert!(names(&storage, "memory://o/out").iter().all(|n| n.contains("_temporary")));
        // Attempt 1 of partition 1 is the one the scheduler accepted.
        job.commit(2, &[one, zero]).unwrap();
        assert_eq!(
            names(&storage, "memory://o/out"),
            ["o/out/_SUCCESS", "o/out/_ember_manifest.json", "o/out/part-00000", "o/out/part-00001"]
        );
        let read: Vec<String> = storage.list_inputs("memory://o/out").unwrap().into_iter().map(|f| f.url).collect();
        assert_eq!(read, ["memory://o/out/part-00000", "memory://o/out/part-00001"]);
        assert_eq!(storage.get("memory://o/out/part-00001").unwrap().as_ref(), b"one-a1\n");
    }

    #[test]
    fn missing_partition_fails_before_anything_moves() {
        let storage = Storage::new().unwrap();
        let job = storage.create_output("memory://o/miss", false).unwrap();
        let zero = job.write_part(0, 0, Bytes::from_static(b"x")).unwrap();
        let err = job.commit(3, &[zero]).unwrap_err();
        assert!(matches!(&err, StorageError::MissingPart { partition: 1, url } if url == "memory://o/miss"), "{err:?}");
        assert!(err.to_string().contains("partition 1"), "{err}");
        assert!(names(&storage, "memory://o/miss").is_empty(), "a failed commit aborts the save");
        assert!(storage.create_output("memory://o/miss", false).is_ok(), "and releases its claim");
    }
}
