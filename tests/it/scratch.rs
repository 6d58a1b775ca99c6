//! Scratch data (shuffle files, spilled runs, blocks persisted on disk) is private to its
//! user: directories 0700, files 0600. The scratch directories of a killed process are
//! removed by the next context that starts, and a live process's never are.

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ember::prelude::*;

use crate::TestResult;

/// 4 MiB: small enough that the shuffle below writes its map outputs to disk and its
/// aggregations spill.
const SMALL_BUDGET: u64 = 4 << 20;

fn key_of(i: i64) -> u64 {
    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % 100_000
}

/// The scratch directories of process `pid`, as Ember names them (`ember-local-<pid>-…`,
/// `ember-blocks-<pid>-…`).
fn scratch_dirs(pid: u32) -> Vec<PathBuf> {
    let prefixes = [format!("ember-local-{pid}-"), format!("ember-blocks-{pid}-")];
    let entries = std::fs::read_dir(std::env::temp_dir()).expect("the temp dir is readable");
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| prefixes.iter().any(|p| n.starts_with(p.as_str()))))
        .map(|e| e.path())
        .collect()
}

/// Every scratch directory and file of this process now, with its permission bits. Files
/// that other tests' contexts delete while this looks are skipped.
fn scratch_modes() -> Vec<(PathBuf, u32)> {
    let mode = |p: &PathBuf| std::fs::metadata(p).ok().map(|m| m.permissions().mode() & 0o777);
    let mut seen = Vec::new();
    for dir in scratch_dirs(std::process::id()) {
        let Some(dir_mode) = mode(&dir) else { continue };
        let files: Vec<PathBuf> =
            std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        seen.push((dir, dir_mode));
        seen.extend(files.into_iter().filter_map(|f| Some((f.clone(), mode(&f)?))));
    }
    seen
}

#[test]
fn shuffle_spill_and_disk_block_files_are_private() -> TestResult {
    let ctx = Context::builder().threads(2).memory_budget(SMALL_BUDGET).build()?;
    let seen: Arc<Mutex<Vec<(PathBuf, u32)>>> = Arc::default();
    let (map_seen, reduce_seen) = (Arc::clone(&seen), Arc::clone(&seen));
    // Looks while the map tasks run and while the reduce tasks merge their spilled runs.
    let pairs = ctx.range(0, 300_000, 1, 6).map(move |i| {
        if i % 20_000 == 19_999 {
            map_seen.lock().expect("not poisoned").extend(scratch_modes());
        }
        (key_of(i), i)
    });
    pairs.persist(StorageLevel::DiskOnly);
    // Groups keep every value, so the reduce tasks cannot hold them and spill sorted runs.
    let groups = pairs.group_by_key().map_partitions(move |mut it| {
        // The first record comes out of the merge of the task's spilled runs.
        let first = it.next();
        reduce_seen.lock().expect("not poisoned").extend(scratch_modes());
        first.into_iter().chain(it)
    });
    assert_eq!(groups.count()?, 100_000);
    let job = ctx.last_job().ok_or("a job ran")?;
    assert!(job.spills() > 0, "the aggregation spilled: {job:?}");
    let mut seen = std::mem::take(&mut *seen.lock().expect("not poisoned"));
    seen.extend(scratch_modes()); // the shuffle's map outputs and the persisted blocks
    for (path, mode) in &seen {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let want = if name.starts_with("ember-") { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}", path.display());
    }
    let has = |prefix: &str| {
        seen.iter().any(|(p, _)| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
    };
    for kind in ["ember-local-", "ember-blocks-", "shuffle-map-", "spill-", "rdd_"] {
        assert!(has(kind), "no {kind} scratch entry was seen: {seen:?}");
    }
    Ok(())
}

const SCRATCH_CHILD: &str = "EMBER_TEST_SCRATCH_CHILD";

/// How the child announces each of its scratch directories.
const DIR_LINE: &str = "scratch dir: ";

/// Run by `a_killed_processes_scratch_dirs_are_removed_by_the_next_context` in a child
/// process: leaves shuffle files and disk blocks in its scratch directories, prints them,
/// and waits to be killed.
#[test]
#[ignore = "run by its parent test in a child process"]
fn scratch_child() -> TestResult {
    std::env::var(SCRATCH_CHILD).map_err(|_| "run only by its parent test")?;
    let ctx = Context::builder().threads(2).memory_budget(SMALL_BUDGET).build()?;
    let pairs = ctx.range(0, 300_000, 1, 6).map(|i| (key_of(i), i));
    pairs.persist(StorageLevel::DiskOnly);
    let sums = pairs.reduce_by_key(|a, b| a + b);
    assert_eq!(sums.count()?, 100_000);
    for dir in scratch_dirs(std::process::id()) {
        println!("{DIR_LINE}{}", dir.display());
    }
    println!("ready");
    loop {
        std::thread::park();
    }
}

#[test]
fn a_killed_processes_scratch_dirs_are_removed_by_the_next_context() -> TestResult {
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["scratch::scratch_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(SCRATCH_CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("a piped stdout")?;
    let mut dirs = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        // The test harness's own "test … " may precede the first line.
        if let Some((_, dir)) = line.split_once(DIR_LINE) {
            dirs.push(PathBuf::from(dir));
        } else if line.ends_with("ready") {
            break;
        }
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let kill = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    child.wait()?; // reaped: its pid is no longer alive
    kill?;
    assert_eq!(dirs.len(), 2, "the child had a shuffle and a block directory: {dirs:?}");
    for dir in &dirs {
        let files = std::fs::read_dir(dir).map(Iterator::count).unwrap_or(0);
        assert!(files > 0 || !dir.exists(), "{} held the child's data", dir.display());
    }
    // This context may not be the first to notice (the suite's other tests start contexts
    // too): either way, once it has started the dead child's directories are gone, and this
    // process's own are not.
    let ctx = Context::local(1)?;
    ctx.parallelize(vec![(1, 2), (1, 3)], 2).reduce_by_key(|a, b| a + b).collect()?;
    for dir in &dirs {
        assert!(!dir.exists(), "{} of the killed child is still there", dir.display());
    }
    Ok(())
}
