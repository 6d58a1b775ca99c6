//! The output commit against what task retries do not cover: a writer killed with SIGKILL at
//! several points of its save, two saves to one path at once, and overwrites that fail or
//! would replace their own input. On local files, `memory://` and the S3 server.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ember::SaveMode;
use ember::prelude::*;
use ember::testing;

use crate::TestResult;
use crate::storage::{backends, lines};

/// The variable that makes [`killed_child`] run, naming the output it saves to.
const CHILD_OUTPUT: &str = "EMBER_COMMIT_CHILD_OUTPUT";
/// Partitions (and rows) of the child's save.
const CHILD_PARTITIONS: usize = 400;

fn rows() -> Vec<String> {
    (0..CHILD_PARTITIONS * 5).map(|i| format!("row {i:05}")).collect()
}

/// Set for a child that saves one large part (a multipart upload) instead of many small ones.
const CHILD_LARGE: &str = "EMBER_COMMIT_CHILD_LARGE";

/// One partition of about 40 MiB: five 8 MiB chunks of a multipart upload.
fn large_rows() -> Vec<String> {
    (0..400_000).map(|i| format!("{i:08} {}", "x".repeat(91))).collect()
}

#[test]
#[ignore = "run in a child process by the crash tests of this module"]
fn killed_child() -> TestResult {
    let out = std::env::var(CHILD_OUTPUT).map_err(|_| "run only by its parent test")?;
    let ctx = Context::local(2)?;
    let (rows, partitions) =
        if std::env::var_os(CHILD_LARGE).is_some() { (large_rows(), 1) } else { (rows(), CHILD_PARTITIONS) };
    let data = ctx.parallelize(rows, partitions);
    println!("saving");
    data.save_as_text_file_with(&out, SaveMode::Overwrite)?;
    println!("saved");
    // Stay alive until killed, so the parent can kill a process that committed.
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

fn spawn_child(out: &str) -> Result<Child, Box<dyn std::error::Error>> {
    spawn_child_with(out, false)
}

fn spawn_child_with(out: &str, large: bool) -> Result<Child, Box<dyn std::error::Error>> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["commit::killed_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"]);
    if large {
        command.env(CHILD_LARGE, "1");
    }
    let mut child = command.env(CHILD_OUTPUT, out).stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().ok_or("a piped stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    while let Some(line) = lines.next().transpose()? {
        if line.ends_with("saving") {
            break;
        }
    }
    // Keep draining the child's output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(child)
}

/// Whether the staging directory of a save to the local output `path` holds `name`.
fn staged(path: &str, name: &str) -> bool {
    let path = std::path::Path::new(path);
    let (Some(parent), Some(out)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else { return false };
    let prefix = format!(".{out}.ember-staging-");
    std::fs::read_dir(parent).is_ok_and(|entries| {
        entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with(&prefix) && e.path().join(name).exists())
    })
}

/// Whether anything `glob` matches exists (a listing that finds nothing is `false`).
fn any(ctx: &Context, glob: &str) -> bool {
    ctx.storage().list_inputs(glob).is_ok_and(|files| !files.is_empty())
}

/// Where the save is when the parent kills it: tasks writing attempts, the commit moving
/// parts (object stores: copies of the committed parts appearing), and after the commit.
#[derive(Clone, Copy, Debug)]
enum KillPoint {
    AttemptsWritten,
    PartsAppearing,
    Committed,
}

#[test]
fn a_save_killed_at_any_point_leaves_all_or_an_incomplete_output() -> TestResult {
    let expected = rows();
    for b in backends("crash").into_iter().filter(|b| b.name != "memory") {
        let ctx = Context::local(2)?;
        for (n, point) in
            [KillPoint::AttemptsWritten, KillPoint::PartsAppearing, KillPoint::Committed].into_iter().enumerate()
        {
            let out = format!("{}/out-{n}", b.root);
            let local = out.strip_prefix("file://");
            let mut child = spawn_child(&out)?;
            let deadline = Instant::now() + Duration::from_secs(120);
            let parent = out.rsplit_once('/').map(|(p, _)| p.to_owned()).ok_or("a parent")?;
            let claimed_at = std::cell::Cell::new(None::<Instant>);
            let reached = |ctx: &Context| match (point, local) {
                // Local attempts and staged parts live in a hidden directory beside the output.
                (KillPoint::AttemptsWritten, Some(path)) => staged(path, "_temporary"),
                (KillPoint::PartsAppearing, Some(path)) => {
                    staged(path, "part-00000") || any(ctx, &format!("{out}/part-*"))
                }
                (KillPoint::Committed, Some(path)) => std::path::Path::new(path).join("_SUCCESS").exists(),
                // Attempt names hold the save's id: give the tasks time once the claim is there.
                (KillPoint::AttemptsWritten, None) => {
                    if claimed_at.get().is_none()
                        && ctx.storage().get(&format!("{parent}/.out-{n}.ember-claim")).is_ok()
                    {
                        claimed_at.set(Some(Instant::now()));
                    }
                    claimed_at.get().is_some_and(|t| t.elapsed() > Duration::from_millis(300))
                }
                (KillPoint::PartsAppearing, None) => any(ctx, &format!("{out}/part-*")),
                (KillPoint::Committed, None) => ctx.storage().get(&format!("{out}/_SUCCESS")).is_ok(),
            };
            while !reached(&ctx) {
                assert!(Instant::now() < deadline, "{}: the child never reached {point:?}", b.name);
                if let Some(status) = child.try_wait()? {
                    return Err(format!("{}: the child exited with {status} before {point:?}", b.name).into());
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            child.kill()?; // SIGKILL
            child.wait()?;

            match ctx.text_file(&out, 4).and_then(|rdd| rdd.collect()) {
                Ok(read) => assert_eq!(read, expected, "{}, killed at {point:?}: all rows or none", b.name),
                Err(err) => {
                    assert_eq!(err.kind(), ErrorKind::IncompleteOutput, "{}, {point:?}: {err}", b.name);
                    assert!(err.to_string().contains("did not finish"), "{err}");
                }
            }
            if matches!(point, KillPoint::Committed) {
                assert_eq!(ctx.text_file(&out, 4)?.count()?, expected.len() as u64, "{}: committed", b.name);
            }
            // Saving again cleans up what the killed save left and succeeds.
            ctx.parallelize(expected.clone(), 7).save_as_text_file_with(&out, SaveMode::Overwrite)?;
            assert_eq!(ctx.text_file(&out, 4)?.collect()?, expected, "{}, after {point:?}", b.name);
            assert!(!any(&ctx, &format!("{out}/_temporary/*")), "{}: temporary files left", b.name);
            if let Some(path) = local {
                let parent = std::path::Path::new(path).parent().ok_or("a parent")?;
                let left: Vec<String> = std::fs::read_dir(parent)?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with(&format!(".out-{n}.")))
                    .collect();
                assert!(left.is_empty(), "{}: leftovers {left:?}", b.name);
            }
        }
    }
    Ok(())
}

#[test]
fn two_saves_to_one_path_at_once_one_wins_and_the_other_fails_naming_it() -> TestResult {
    for b in backends("concurrent-saves") {
        let ctx = Context::local(2)?;
        let out = format!("{}/out", b.root);
        let (blocked, gate) = testing::blocking(&ctx, 2);
        let first = blocked.save_as_text_file_async(&out);
        gate.wait_entered(2);
        for mode in [SaveMode::ErrorIfExists, SaveMode::Overwrite] {
            let err = ctx.parallelize(lines(10), 2).save_as_text_file_with(&out, mode).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Conflict, "{}: {err}", b.name);
            let message = err.to_string();
            assert!(message.contains("out") && message.contains("being written by another save"), "{message}");
        }
        gate.release();
        first.wait()?;
        let mut read: Vec<u64> = ctx.text_file(&out, 2)?.map(|l| l.parse::<u64>().unwrap_or(u64::MAX)).collect()?;
        read.sort_unstable();
        let mut expected: Vec<u64> = (0..2u64).flat_map(|p| (0..testing::RECORDS).map(move |i| p * 1000 + i)).collect();
        expected.sort_unstable();
        assert_eq!(read, expected, "{}: only the first job's rows", b.name);
    }
    Ok(())
}

#[test]
fn an_overwrite_of_the_jobs_own_input_is_refused_before_anything_runs() -> TestResult {
    for b in backends("overwrite-input") {
        let ctx = Context::local(2)?;
        let out = format!("{}/data", b.root);
        ctx.parallelize(lines(20), 2).save_as_text_file(&out)?;
        let upper = ctx.text_file(&out, 2)?.map(|l| l.to_uppercase());
        let err = upper.save_as_text_file_with(&out, SaveMode::Overwrite).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{}: {err}", b.name);
        assert!(err.to_string().contains("the job reads"), "{err}");
        assert_eq!(ctx.job_history().len(), 1, "{}: no job ran for the refused save", b.name);
        // Through a shuffle, too.
        let counted = ctx.text_file(&out, 2)?.map(|l| (l.len(), 1u32)).reduce_by_key(|a, b| a + b);
        let err = counted.save_as_tsv_file_with(&out, SaveMode::Overwrite).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict, "{}: {err}", b.name);
        assert_eq!(ctx.text_file(&out, 2)?.collect()?, lines(20), "{}: the input is intact", b.name);
    }
    Ok(())
}

#[test]
fn a_failed_overwrite_keeps_the_old_output() -> TestResult {
    for b in backends("failed-overwrite") {
        let ctx = Context::local(2)?;
        let out = format!("{}/out", b.root);
        ctx.parallelize(lines(30), 3).save_as_text_file(&out)?;
        let failing = ctx.parallelize(lines(30), 3).map(|l| {
            assert!(!l.starts_with("0000029"), "the last row fails");
            l
        });
        let err = failing.save_as_text_file_with(&out, SaveMode::Overwrite).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TaskFailed, "{}: {err}", b.name);
        assert_eq!(ctx.text_file(&out, 2)?.collect()?, lines(30), "{}: the old output stays", b.name);
    }
    Ok(())
}

/// The multipart uploads in progress under `prefix` (a key prefix in the test bucket), as
/// the S3 server lists them (ListMultipartUploads; the moto test server needs no signature).
fn uploads_under(prefix: &str) -> Result<usize, Box<dyn std::error::Error>> {
    use std::io::{Read, Write};
    let endpoint = std::env::var("AWS_ENDPOINT")?;
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let bucket = std::env::var("EMBER_TEST_S3_URL")?.trim_start_matches("s3://").trim_end_matches('/').to_owned();
    let mut stream = std::net::TcpStream::connect(host)?;
    write!(stream, "GET /{bucket}?uploads&prefix={prefix} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    if !reply.starts_with("HTTP/1.1 200") {
        return Err(format!("listing uploads: {}", reply.lines().next().unwrap_or_default()).into());
    }
    Ok(reply.matches("<Upload>").count())
}

#[test]
fn the_uploads_of_a_writer_killed_mid_part_are_aborted_by_the_next_save() -> TestResult {
    let Some(s3) = backends("killed-upload").into_iter().find(|b| b.name == "s3") else {
        return Ok(()); // the storage suite says once that S3 is skipped
    };
    let ctx = Context::local(2)?;
    let out = format!("{}/out", s3.root);
    let prefix = out.trim_start_matches("s3://").split_once('/').map(|(_, key)| key.to_owned()).ok_or("a key")?;
    let mut child = spawn_child_with(&out, true)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while uploads_under(&prefix)? == 0 {
        assert!(Instant::now() < deadline, "the child never started its upload");
        assert!(child.try_wait()?.is_none(), "the child exited before its upload started");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill()?;
    child.wait()?;
    assert_eq!(uploads_under(&prefix)?, 1, "the killed writer's upload is left open");
    let err = ctx.text_file(&out, 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IncompleteOutput, "{err}");

    ctx.parallelize(lines(10), 2).save_as_text_file_with(&out, SaveMode::Overwrite)?;
    assert_eq!(uploads_under(&prefix)?, 0, "the next save aborted it");
    assert_eq!(ctx.text_file(&out, 2)?.collect()?, lines(10));
    Ok(())
}
