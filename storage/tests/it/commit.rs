//! Output commit on local files: parts, _SUCCESS, no _temporary, abort, overwrite, retries.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use ember_storage::{OutputJob, StorageError};

use crate::storage;

/// Every file under `dir`, relative, sorted (directories end with '/').
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
            if path.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn commit_moves_parts_writes_success_and_removes_temporary() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/out");
    let job = storage.create_output(out.to_str().unwrap(), false).unwrap();
    assert_eq!(job.url(), format!("file://{}", out.display()));
    let parts: Vec<_> = (0..3).map(|p| job.write_part(p, 0, Bytes::from(format!("row {p}\n"))).unwrap()).collect();
    // Before commit nothing is there: the parts are staged beside it, and readers are told
    // the output is not finished.
    assert!(!out.exists());
    let err = storage.list_inputs(out.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, StorageError::IncompleteOutput { .. }), "{err}");
    assert!(err.to_string().contains("did not finish"), "{err}");
    job.commit(3, &parts).unwrap();
    assert_eq!(
        tree(out.parent().unwrap()),
        ["out/", "out/_SUCCESS", "out/part-00000", "out/part-00001", "out/part-00002"],
        "no staging or claim is left"
    );
    assert_eq!(tree(&out), ["_SUCCESS", "part-00000", "part-00001", "part-00002"]);
    assert_eq!(std::fs::read(out.join("_SUCCESS")).unwrap(), b"");
    assert_eq!(std::fs::read_to_string(out.join("part-00002")).unwrap(), "row 2\n");
    // Reading the output back skips _SUCCESS.
    assert_eq!(storage.list_inputs(out.to_str().unwrap()).unwrap().len(), 3);
}

#[test]
fn only_the_accepted_attempt_is_committed_without_duplicates() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = storage.create_output(out.to_str().unwrap(), false).unwrap();
    let a = job.write_part(0, 0, Bytes::from_static(b"a\n")).unwrap();
    job.write_part(1, 0, Bytes::from_static(b"b-first\n")).unwrap();
    let retry = job.write_part(1, 2, Bytes::from_static(b"b-retry\n")).unwrap();
    // The driver was told of attempt 2 of partition 1 (its result was the one accepted).
    job.commit(2, &[retry, a]).unwrap();
    assert_eq!(tree(&out), ["_SUCCESS", "part-00000", "part-00001"]);
    let mut rows = Vec::new();
    for split in ember_storage::plan_splits(&storage.list_inputs(out.to_str().unwrap()).unwrap(), 1) {
        rows.extend(storage.read_split(&split).unwrap().map(Result::unwrap));
    }
    assert_eq!(rows, ["a", "b-retry"]);
}

#[test]
fn concurrent_tasks_share_the_job_through_an_arc() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job: Arc<OutputJob> = Arc::new(storage.create_output(out.to_str().unwrap(), false).unwrap());
    std::thread::scope(|s| {
        for p in 0..8 {
            let job = Arc::clone(&job);
            s.spawn(move || job.write_part(p, 1, Bytes::from(format!("{p}\n"))).unwrap());
        }
    });
    let parts: Vec<_> = (0..8).map(|p| ember_storage::PartCommit { partition: p, attempt: 1, bytes: 2 }).collect();
    job.commit(8, &parts).unwrap();
    assert_eq!(tree(&out).len(), 9);
}

#[test]
fn abort_leaves_nothing_visible() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = storage.create_output(out.to_str().unwrap(), false).unwrap();
    job.write_part(0, 0, Bytes::from_static(b"x\n")).unwrap();
    job.write_part(1, 0, Bytes::from_static(b"y\n")).unwrap();
    job.abort();
    assert!(tree(&out).is_empty(), "{:?}", tree(&out));
    // A later job may write the same output.
    let again = storage.create_output(out.to_str().unwrap(), false).unwrap();
    let z = again.write_part(0, 0, Bytes::from_static(b"z\n")).unwrap();
    again.commit(1, &[z]).unwrap();
    assert_eq!(tree(&out), ["_SUCCESS", "part-00000"]);
}

#[test]
fn missing_partition_names_it_and_commits_nothing() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = storage.create_output(out.to_str().unwrap(), false).unwrap();
    let x = job.write_part(0, 0, Bytes::from_static(b"x\n")).unwrap();
    let y = job.write_part(2, 0, Bytes::from_static(b"y\n")).unwrap();
    let err = job.commit(3, &[x, y]).unwrap_err();
    assert!(matches!(err, StorageError::MissingPart { partition: 1, .. }), "{err:?}");
    assert!(!out.join("_SUCCESS").exists());
    assert!(!out.join("part-00000").exists());
}

#[test]
fn existing_output_is_refused_unless_overwrite() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let url = out.to_str().unwrap();
    let job = storage.create_output(url, false).unwrap();
    let zero = job.write_part(0, 0, Bytes::from_static(b"old\n")).unwrap();
    let one = job.write_part(1, 0, Bytes::from_static(b"old\n")).unwrap();
    job.commit(2, &[zero, one]).unwrap();

    let err = storage.create_output(url, false).unwrap_err();
    assert!(matches!(&err, StorageError::AlreadyExists { url: u } if u == url), "{err:?}");
    assert!(err.to_string().contains(url), "{err}");
    assert_eq!(tree(&out).len(), 3, "a refused create changes nothing");

    let job = storage.create_output(url, true).unwrap();
    assert_eq!(tree(&out).len(), 3, "an overwrite leaves the old output until it commits");
    let new = job.write_part(0, 0, Bytes::from_static(b"new\n")).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("part-00001")).unwrap(), "old\n");
    job.commit(1, &[new]).unwrap();
    assert_eq!(tree(&out), ["_SUCCESS", "part-00000"]);
    assert_eq!(std::fs::read_to_string(out.join("part-00000")).unwrap(), "new\n");
    assert_eq!(tree(dir.path()), ["out/", "out/_SUCCESS", "out/part-00000"], "the old output is gone");

    // An overwrite that fails (here: aborted) keeps the old output.
    let failed = storage.create_output(url, true).unwrap();
    failed.write_part(0, 0, Bytes::from_static(b"never\n")).unwrap();
    failed.abort();
    assert_eq!(std::fs::read_to_string(out.join("part-00000")).unwrap(), "new\n");
    assert_eq!(tree(dir.path()), ["out/", "out/_SUCCESS", "out/part-00000"]);
}

#[test]
fn a_plain_file_at_the_output_url_counts_as_existing() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::write(&out, "not a directory").unwrap();
    let url = out.to_str().unwrap();
    assert!(matches!(storage.create_output(url, false), Err(StorageError::AlreadyExists { .. })));
    let job = storage.create_output(url, true).unwrap();
    let ok = job.write_part(0, 0, Bytes::from_static(b"ok\n")).unwrap();
    job.commit(1, &[ok]).unwrap();
    assert!(out.join("part-00000").is_file());
}

#[test]
fn memory_output_overwrite_and_abort() {
    let storage = storage();
    let job = storage.create_output("memory://b/out", false).unwrap();
    let one = job.write_part(0, 0, Bytes::from_static(b"1\n")).unwrap();
    job.commit(1, &[one]).unwrap();
    assert!(matches!(storage.create_output("memory://b/out", false), Err(StorageError::AlreadyExists { .. })));
    let job = storage.create_output("memory://b/out", true).unwrap();
    job.write_part(0, 0, Bytes::from_static(b"2\n")).unwrap();
    assert_eq!(read_all(&storage, "memory://b/out"), ["1"], "the old output reads until the commit");
    job.abort();
    assert_eq!(read_all(&storage, "memory://b/out"), ["1"], "an aborted overwrite keeps it");
    let job = storage.create_output("memory://b/out", true).unwrap();
    let three = job.write_part(0, 0, Bytes::from_static(b"3\n")).unwrap();
    job.commit(1, &[three]).unwrap();
    assert_eq!(read_all(&storage, "memory://b/out"), ["3"]);
}

/// Every line of the output at `url`, in order.
fn read_all(storage: &ember_storage::Storage, url: &str) -> Vec<String> {
    let mut rows = Vec::new();
    for split in ember_storage::plan_splits(&storage.list_inputs(url).unwrap(), 1) {
        rows.extend(storage.read_split(&split).unwrap().map(Result::unwrap));
    }
    rows
}

#[test]
fn a_second_save_to_the_same_output_is_refused_at_once_naming_the_first() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    for url in [dir.path().join("out").to_str().unwrap().to_owned(), "memory://b/busy".to_owned()] {
        let first = storage.create_output(&url, false).unwrap();
        for overwrite in [false, true] {
            let err = storage.create_output(&url, overwrite).unwrap_err();
            assert!(matches!(err, StorageError::OutputBusy { .. }), "{url}: {err:?}");
            let message = err.to_string();
            assert!(
                message.contains(first.url()) && message.contains(&format!("process {}", std::process::id())),
                "{message}"
            );
        }
        let part = first.write_part(0, 0, Bytes::from_static(b"first\n")).unwrap();
        first.commit(1, &[part]).unwrap();
        assert_eq!(read_all(&storage, &url), ["first"]);
        assert!(matches!(storage.create_output(&url, false), Err(StorageError::AlreadyExists { .. })), "released");
    }
}

#[test]
fn racing_saves_get_exactly_one_claim() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("race").to_str().unwrap().to_owned();
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| storage.create_output(&url, false))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, StorageError::OutputBusy { .. })));
}

/// A claim as a process that died would have left it (pid 0 never names a user process).
fn dead_claim() -> Bytes {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    Bytes::from(format!(
        r#"{{"job":"dead","pid":4194303,"host":"{}","started_ms":0,"process_start":null}}"#,
        host.trim()
    ))
}

#[test]
fn the_next_save_breaks_a_dead_saves_claim_and_cleans_what_it_left() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let url = out.to_str().unwrap();
    // What a save killed before its commit leaves: its claim and its staging directory.
    std::fs::write(dir.path().join(".out.ember-claim"), dead_claim()).unwrap();
    std::fs::create_dir_all(dir.path().join(".out.ember-staging-dead/_temporary/attempt_00000_0")).unwrap();
    std::fs::write(dir.path().join(".out.ember-staging-dead/_temporary/attempt_00000_0/part-00000"), "x\n").unwrap();
    let err = storage.list_inputs(url).unwrap_err();
    assert!(matches!(err, StorageError::IncompleteOutput { .. }), "{err}");
    assert!(err.to_string().contains("no longer running"), "{err}");
    let job = storage.create_output(url, false).unwrap();
    let part = job.write_part(0, 0, Bytes::from_static(b"ok\n")).unwrap();
    job.commit(1, &[part]).unwrap();
    assert_eq!(tree(dir.path()), ["out/", "out/_SUCCESS", "out/part-00000"]);
}

#[test]
fn clean_output_removes_a_dead_saves_leftovers_and_refuses_a_live_one() {
    let storage = storage();
    // An object-store save killed before its commit: claim and temporary files, no manifest.
    storage.put("memory://b/.left.ember-claim", dead_claim()).unwrap();
    storage.put("memory://b/left/_temporary/dead/attempt_00000_0/part-00000", Bytes::from_static(b"x\n")).unwrap();
    let err = storage.list_inputs("memory://b/left").unwrap_err();
    assert!(matches!(err, StorageError::IncompleteOutput { .. }), "{err}");
    storage.clean_output("memory://b/left").unwrap();
    assert!(storage.list_inputs("memory://b/left").unwrap_err().is_not_found());
    // Temporary files alone (no claim) are still an incomplete output.
    storage.put("memory://b/tmp/_temporary/x/attempt_00000_0/part-00000", Bytes::from_static(b"x\n")).unwrap();
    assert!(matches!(storage.list_inputs("memory://b/tmp"), Err(StorageError::IncompleteOutput { .. })));
    let live = storage.create_output("memory://b/live", false).unwrap();
    assert!(matches!(storage.clean_output("memory://b/live"), Err(StorageError::OutputBusy { .. })));
    live.abort();
    storage.clean_output("memory://b/live").unwrap();
}
