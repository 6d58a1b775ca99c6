//! One storage suite, three backends: local files, `memory://` and a real S3-compatible server.
//!
//! Every test body runs once per backend root from [`backends`]. The S3 backend is the URL in
//! `EMBER_TEST_S3_URL` (`s3://bucket`, reached with the usual `AWS_ENDPOINT`,
//! `AWS_ACCESS_KEY_ID`, ... variables); `.ci/run` starts a moto server and always sets it.
//! Without it the S3 runs are skipped, and one line on stderr says so.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ember::SaveMode;
use ember::prelude::*;
use ember::storage::StorageError;
use ember::storage::object_store::memory::InMemory;
use ember::storage::testing::FailFirst;
use serde::{Deserialize, Serialize};

use crate::TestResult;

/// The variable naming the S3 bucket URL the suite also runs against.
const S3_ENV: &str = "EMBER_TEST_S3_URL";

/// One store to run a test body on: a unique root directory URL in it.
pub(crate) struct Backend {
    pub(crate) name: &'static str,
    pub(crate) root: String,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh root for `test` on each backend: a temporary directory, `memory://`, and S3 when
/// `EMBER_TEST_S3_URL` is set.
pub(crate) fn backends(test: &str) -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut out = vec![
        Backend { name: "file", root: format!("file://{}", dir.path().display()), _dir: Some(dir) },
        Backend { name: "memory", root: format!("memory://suite/{test}"), _dir: None },
    ];
    match std::env::var(S3_ENV) {
        Ok(base) if !base.is_empty() => {
            let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let root = format!("{}/{test}-{}-{nanos}", base.trim_end_matches('/'), std::process::id());
            out.push(Backend { name: "s3", root, _dir: None });
        }
        _ => {
            // Once per run, past the harness's capture (which takes `eprintln!` only), so a
            // run without the server says so instead of passing as if S3 had been tested.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "storage suite: SKIPPING the S3 backend: {S3_ENV} is not set (.ci/run starts a moto server and sets it)"
                );
            });
        }
    }
    out
}

/// A context per backend run, with fast store retries so failures surface quickly.
fn context() -> Result<Context, ember::Error> {
    // Four attempts per task: the suite injects transient failures that a retry survives.
    Context::builder().master("local[3,4]").storage_retry(3, Duration::from_secs(30)).build()
}

/// Lines of varied length, `n` of them.
pub(crate) fn lines(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i:07} {}", "xyz".repeat(i % 37))).collect()
}

/// Visible names directly under `url`, sorted.
fn visible(ctx: &Context, url: &str) -> Vec<String> {
    match ctx.storage().list_inputs(url) {
        Ok(files) => files.iter().filter_map(|f| f.name().map(str::to_owned)).collect(),
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => panic!("listing {url}: {e}"),
    }
}

#[test]
fn multi_mib_text_file_splits_give_the_same_lines_as_one_read() -> TestResult {
    let expected = lines(60_000); // about 3.5 MiB
    let body = expected.join("\n") + "\n";
    for b in backends("splits") {
        let ctx = context()?;
        let url = format!("{}/big.txt", b.root);
        ctx.storage().put(&url, body.clone().into())?;
        let whole = ctx.text_file(&url, 1)?;
        let split = ctx.text_file(&url, 9)?;
        assert_eq!(whole.num_partitions(), 1, "{}", b.name);
        assert!(split.num_partitions() >= 9, "{}", b.name);
        assert_eq!(whole.collect()?, expected, "{}", b.name);
        assert_eq!(split.collect()?, expected, "{}", b.name);
        assert_eq!(split.count()?, expected.len() as u64, "{}", b.name);
    }
    Ok(())
}

#[test]
fn text_output_commits_parts_and_success_and_refuses_to_overwrite() -> TestResult {
    for b in backends("text-commit") {
        let ctx = context()?;
        let out = format!("{}/out", b.root);
        ctx.parallelize(lines(1000), 4).save_as_text_file(&out)?;
        assert_eq!(visible(&ctx, &out), ["part-00000", "part-00001", "part-00002", "part-00003"], "{}", b.name);
        assert!(ctx.storage().get(&format!("{out}/_SUCCESS")).is_ok(), "{}", b.name);
        assert!(ctx.storage().list_inputs(&format!("{out}/_temporary")).is_err(), "{}: temporary left", b.name);
        assert_eq!(ctx.text_file(&out, 2)?.collect()?, lines(1000), "{}", b.name);

        let err = ctx.parallelize(lines(3), 1).save_as_text_file(&out).unwrap_err();
        assert!(matches!(err.storage_error(), Some(StorageError::AlreadyExists { .. })), "{}: {err:?}", b.name);
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("out"), "{err}");
        ctx.parallelize(lines(3), 1).save_as_text_file_with(&out, SaveMode::Overwrite)?;
        assert_eq!(ctx.text_file(&out, 2)?.collect()?, lines(3), "{}", b.name);
    }
    Ok(())
}

#[test]
fn a_large_part_streams_out_in_chunks_and_reads_back_whole() -> TestResult {
    let expected = lines(300_000); // about 18 MiB in one partition: more than two 8 MiB chunks
    for b in backends("large-part") {
        let ctx = context()?;
        let out = format!("{}/big", b.root);
        ctx.parallelize(expected.clone(), 1).save_as_text_file(&out)?;
        let files = ctx.storage().list_inputs(&out)?;
        assert_eq!(files.len(), 1, "{}", b.name);
        assert!(files[0].size > 2 * ember::storage::commit::PART_CHUNK as u64, "{}: {}", b.name, files[0].size);
        let back = ctx.text_file(&out, 4)?;
        assert_eq!(back.count()?, expected.len() as u64, "{}", b.name);
        assert_eq!(back.take(3)?, expected[..3], "{}", b.name);
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Visit {
    page: String,
    user: u64,
    ms: Option<f64>,
    tags: Vec<String>,
}

fn visits(n: u64) -> Vec<Visit> {
    (0..n)
        .map(|i| Visit {
            page: format!("/p/{}", i % 13),
            user: i * 7919,
            ms: (i % 3 != 0).then_some(i as f64 / 4.0),
            tags: (0..i % 3).map(|t| format!("t{t}")).collect(),
        })
        .collect()
}

#[test]
fn object_files_round_trip_and_a_truncated_file_is_an_error_naming_it() -> TestResult {
    for b in backends("object") {
        let ctx = context()?;
        let out = format!("{}/visits.obj", b.root);
        ctx.parallelize(visits(500), 3).save_as_object_file(&out)?;
        assert_eq!(ctx.object_file::<Visit>(&out)?.collect()?, visits(500), "{}", b.name);

        let part = format!("{out}/part-00001");
        let bytes = ctx.storage().get(&part)?;
        ctx.storage().put(&part, bytes.slice(..bytes.len() - 5))?;
        let err = ctx.object_file::<Visit>(&out)?.collect().unwrap_err().to_string();
        assert!(err.contains("part-00001") && err.contains("truncated"), "{}: {err}", b.name);

        let text = format!("{}/plain.txt", b.root);
        ctx.storage().put(&text, "not an object file\n".into())?;
        let err = ctx.object_file::<Visit>(&text)?.collect().unwrap_err().to_string();
        assert!(err.contains("plain.txt") && err.contains("header"), "{}: {err}", b.name);
    }
    Ok(())
}

#[test]
fn json_lines_round_trip_and_bad_lines_name_the_file() -> TestResult {
    for b in backends("json") {
        let ctx = context()?;
        let out = format!("{}/visits.json", b.root);
        ctx.parallelize(visits(700), 3).save_as_json_file(&out)?;
        assert_eq!(ctx.json_file::<Visit>(&out, 5)?.collect()?, visits(700), "{}", b.name);
        let first = ctx.text_file(&out, 1)?.first()?;
        assert!(first.starts_with(r#"{"page":"/p/0","user":0"#), "{first}");

        let bad = format!("{}/bad.json", b.root);
        ctx.storage().put(&bad, "{\"page\":\"/\",\"user\":1,\"ms\":null,\"tags\":[]}\n{oops\n".into())?;
        let err = ctx.json_file::<Visit>(&bad, 1)?.collect().unwrap_err().to_string();
        assert!(err.contains("bad.json") && err.contains("line 2"), "{}: {err}", b.name);
    }
    Ok(())
}

#[test]
fn parquet_round_trips_and_a_non_parquet_file_is_an_error_naming_it() -> TestResult {
    for b in backends("parquet") {
        let ctx = context()?;
        let out = format!("{}/visits.parquet", b.root);
        ctx.parallelize(visits(20_000), 3).save_as_parquet(&out)?;
        let head = ctx.storage().get(&format!("{out}/part-00000"))?;
        assert_eq!(&head[..4], b"PAR1", "{}: Parquet magic", b.name);
        assert_eq!(ctx.read_parquet::<Visit>(&out)?.collect()?, visits(20_000), "{}", b.name);

        let text = format!("{}/plain.txt", b.root);
        ctx.storage().put(&text, "not parquet\n".into())?;
        let err = ctx.read_parquet::<Visit>(&text)?.collect().unwrap_err().to_string();
        assert!(err.contains("plain.txt") && err.contains("Parquet"), "{}: {err}", b.name);
    }
    Ok(())
}

/// `printf 'hello\nworld\n' | zstd -c`.
const HELLO_ZST: &[u8] = &[
    0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x61, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0x77, 0x6f, 0x72, 0x6c,
    0x64, 0x0a, 0xb5, 0x0e, 0x87, 0x17,
];

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

#[test]
fn directories_globs_compression_and_whole_text_files() -> TestResult {
    for b in backends("inputs") {
        let ctx = context()?;
        let r = &b.root;
        let put = |key: &str, bytes: Vec<u8>| ctx.storage().put(&format!("{r}/logs/{key}"), bytes.into());
        put("2026-01/a.txt", b"a1\na2\n".to_vec())?;
        put("2026-01/b.txt.gz", gzip(&"gz\n".repeat(20_000)))?;
        put("2026-02/c.txt.zst", HELLO_ZST.to_vec())?;
        put("2026-02/_SUCCESS", Vec::new())?;
        put("2026-02/.c.txt.crc", b"hidden".to_vec())?;
        put("2025-12/d.txt", b"old\n".to_vec())?;

        // A directory gives its visible files.
        let dir = ctx.text_file(&format!("{r}/logs/2026-02"), 4)?;
        assert_eq!(dir.collect()?, ["hello", "world"], "{}", b.name);
        // A glob, across directories; a compressed file is one partition however many asked.
        let glob = ctx.text_file(&format!("{r}/logs/2026-*/*"), 16)?;
        let got = glob.collect()?;
        assert_eq!(got.len(), 2 + 20_000 + 2, "{}", b.name);
        assert_eq!(got.iter().filter(|l| *l == "gz").count(), 20_000, "{}", b.name);
        assert_eq!(ctx.text_file(&format!("{r}/logs/*/*.txt"), 2)?.collect()?, ["old", "a1", "a2"], "{}", b.name);

        let whole = ctx.whole_text_files(&format!("{r}/logs/2026-0?/*.zst"))?.collect()?;
        assert_eq!(whole.len(), 1, "{}", b.name);
        assert!(whole[0].0.ends_with("/logs/2026-02/c.txt.zst"), "{}: {}", b.name, whole[0].0);
        assert_eq!(whole[0].1, "hello\nworld\n", "{}", b.name);
        let all = ctx.whole_text_files(&format!("{r}/logs/2026-01"))?;
        assert_eq!(all.num_partitions(), 2, "{}", b.name);
        assert_eq!(all.map(|(_, text)| text.len()).collect()?, [6, 60_000], "{}", b.name);

        let err = ctx.text_file(&format!("{r}/logs/2030-*/*"), 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{}: {err:?}", b.name);
        assert!(err.to_string().contains("2030-*"), "{err}");
    }
    Ok(())
}

#[test]
fn a_panicking_write_job_leaves_nothing_visible() -> TestResult {
    for b in backends("panic") {
        let ctx = Context::builder().threads(3).max_task_attempts(2).build()?;
        let out = format!("{}/out", b.root);
        let rdd = ctx.parallelize((0..100).collect::<Vec<i32>>(), 4).map(|x| {
            assert!(x != 77, "boom at {x}");
            x
        });
        let err = rdd.save_as_text_file(&out).unwrap_err();
        assert!(err.to_string().contains("boom at 77"), "{}: {err}", b.name);
        assert!(visible(&ctx, &out).is_empty(), "{}: {:?}", b.name, visible(&ctx, &out));
        assert!(ctx.storage().get(&format!("{out}/_SUCCESS")).unwrap_err().is_not_found(), "{}", b.name);
    }
    Ok(())
}

#[test]
fn a_retried_task_never_duplicates_rows() -> TestResult {
    for b in backends("retry-dup") {
        let ctx = context()?;
        let out = format!("{}/out", b.root);
        let failed_once = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&failed_once);
        // Partition 2 panics on its first attempt after producing some rows.
        ctx.parallelize((0..400).collect::<Vec<i32>>(), 4)
            .map(move |x| {
                assert!(x != 250 || flag.swap(true, Ordering::SeqCst), "transient failure at {x}");
                x
            })
            .save_as_text_file(&out)?;
        assert!(failed_once.load(Ordering::SeqCst), "the failure was injected");
        let mut got: Vec<i32> = ctx.text_file(&out, 1)?.map(|l| l.parse::<i32>().expect("a number")).collect()?;
        got.sort_unstable();
        assert_eq!(got, (0..400).collect::<Vec<_>>(), "{}", b.name);
    }
    Ok(())
}

#[test]
fn jobs_survive_injected_transient_store_failures() -> TestResult {
    let ctx = context()?;
    let flaky = Arc::new(FailFirst::new(Arc::new(InMemory::new()), 0));
    ctx.storage().register_store("s3://flaky", flaky.clone())?;
    ctx.storage().put("s3://flaky/in/a.txt", (lines(5000).join("\n") + "\n").into())?;

    flaky.fail_next(3);
    assert_eq!(ctx.text_file("s3://flaky/in", 4)?.count()?, 5000);
    assert_eq!(flaky.injected(), 3);

    flaky.fail_next(3);
    ctx.text_file("s3://flaky/in", 4)?.save_as_text_file("s3://flaky/out")?;
    assert_eq!(flaky.injected(), 6);
    assert_eq!(ctx.text_file("s3://flaky/out", 2)?.collect()?, lines(5000));
    Ok(())
}

#[test]
fn bad_inputs_are_clear_errors_naming_the_url() -> TestResult {
    for b in backends("errors") {
        let ctx = context()?;
        let missing = format!("{}/no/such/thing", b.root);
        let err = ctx.text_file(&missing, 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{}: {err:?}", b.name);
        assert!(err.to_string().contains("no/such/thing"), "{}: {err}", b.name);
        assert!(ctx.object_file::<u32>(&missing).is_err() && ctx.whole_text_files(&missing).is_err());
    }
    let ctx = context()?;
    for (url, check) in [
        ("ftp://host/x", "unsupported URL scheme"),
        ("file://otherhost/x", "invalid URL"),
        ("s3:///no-bucket", "needs a bucket"),
        ("memory://a//b", "invalid URL"),
    ] {
        let err = ctx.text_file(url, 1).unwrap_err().to_string();
        assert!(err.contains(url) && err.contains(check), "{url}: {err}");
    }
    let err = Context::builder().storage_option("aws_endpont", "x").build().unwrap_err().to_string();
    assert!(err.contains("aws_endpont"), "{err}");
    Ok(())
}

/// A TCP proxy in front of `upstream` that answers the first `fail` connections with
/// `503 Service Unavailable` and forwards every later one. Returns its `http://` URL and the
/// count of refused connections.
fn flaky_proxy(upstream: &str, fail: usize) -> std::io::Result<(String, Arc<std::sync::atomic::AtomicUsize>)> {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&refused);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if counter.load(Ordering::SeqCst) < fail {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut client = client;
                let mut head = [0u8; 4096];
                let _ = client.read(&mut head);
                let _ = client
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                continue;
            }
            let Ok(server) = TcpStream::connect(&upstream) else { continue };
            let (mut c2, mut s2) =
                (client.try_clone().expect("clone socket"), server.try_clone().expect("clone socket"));
            let (mut c1, mut s1) = (client, server);
            std::thread::spawn(move || std::io::copy(&mut c1, &mut s1));
            std::thread::spawn(move || std::io::copy(&mut s2, &mut c2));
        }
    });
    Ok((url, refused))
}

#[test]
fn s3_requests_survive_transient_503s_through_the_retry_policy() -> TestResult {
    let (Ok(_), Ok(endpoint)) = (std::env::var(S3_ENV), std::env::var("AWS_ENDPOINT")) else {
        eprintln!("SKIPPING s3_requests_survive_transient_503s_through_the_retry_policy: {S3_ENV} is not set");
        return Ok(());
    };
    let (proxy, refused) = flaky_proxy(&endpoint, 3)?;
    let options = ember::storage::StorageOptions::default()
        .option("aws_endpoint", proxy)
        .retry(5, Duration::from_secs(30))
        .backoff(Duration::from_millis(10), Duration::from_millis(100), 2.0);
    // One attempt per task: only the store's own retries can save the job.
    let ctx = Context::builder().threads(2).max_task_attempts(1).storage_options(options).build()?;
    let url = format!("{}/retry-503-{}/in.txt", std::env::var(S3_ENV)?, std::process::id());
    ctx.storage().put(&url, (lines(2000).join("\n") + "\n").into())?;
    assert_eq!(refused.load(Ordering::SeqCst), 3, "the failures were injected");
    assert_eq!(ctx.text_file(&url, 3)?.count()?, 2000);

    // Without retries the same failure reaches the user, naming the URL.
    let (proxy, _) = flaky_proxy(&endpoint, 1)?;
    let options =
        ember::storage::StorageOptions::default().option("aws_endpoint", proxy).retry(0, Duration::from_secs(5));
    let ctx = Context::builder().threads(1).storage_options(options).build()?;
    let err = ctx.storage().put(&url, "x".into()).unwrap_err().to_string();
    assert!(err.contains(&url) && err.contains("503"), "{err}");
    Ok(())
}

#[test]
fn a_permission_error_names_the_url() -> TestResult {
    let ctx = Context::builder().threads(2).max_task_attempts(1).build()?;
    let denied = Arc::new(FailFirst::denying(Arc::new(InMemory::new()), 0));
    ctx.storage().register_store("s3://locked", denied.clone())?;
    ctx.storage().put("s3://locked/in/a.txt", "x\n".into())?;
    denied.fail_next(usize::MAX);
    let err = ctx.storage().get("s3://locked/in/a.txt").unwrap_err();
    assert!(matches!(err, StorageError::PermissionDenied { .. }), "{err:?}");
    assert!(err.to_string().contains("s3://locked/in/a.txt") && err.to_string().contains("permission denied"));
    let err = ctx.text_file("s3://locked/in", 1)?.collect().unwrap_err().to_string();
    assert!(err.contains("s3://locked/in/a.txt") && err.contains("permission denied"), "{err}");
    Ok(())
}

#[test]
fn a_missing_bucket_is_an_error_naming_the_url() -> TestResult {
    let Ok(base) = std::env::var(S3_ENV) else {
        eprintln!("SKIPPING a_missing_bucket_is_an_error_naming_the_url: {S3_ENV} is not set");
        return Ok(());
    };
    assert!(base.starts_with("s3://"));
    let ctx = context()?;
    let url = "s3://ember-no-such-bucket-xyz/in";
    let err = ctx.text_file(url, 1).unwrap_err();
    assert!(err.to_string().contains(url), "{err}");
    let err = ctx.parallelize(vec![1], 1).save_as_text_file(&format!("{url}/out")).unwrap_err();
    assert!(err.to_string().contains(url), "{err}");
    Ok(())
}

/// A TCP endpoint that accepts connections and never answers (holding them open). Returns
/// its `http://` URL.
fn silent_endpoint() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().flatten().collect();
        drop(held);
    });
    Ok(url)
}

#[test]
fn a_silent_s3_endpoint_fails_within_the_documented_timeout() -> TestResult {
    use ember::storage::options::{DEFAULT_READ_TIMEOUT, DEFAULT_RETRY_TIMEOUT};
    // The endpoint and credentials are options, which win over a test server's AWS_*
    // variables; the timeouts are Ember's defaults.
    let options = ember::storage::StorageOptions::default()
        .option("aws_endpoint", silent_endpoint()?)
        .option("aws_allow_http", "true")
        .option("aws_access_key_id", "test")
        .option("aws_secret_access_key", "test")
        .option("aws_region", "us-east-1");
    let ctx = Context::builder().threads(1).storage_options(options).build()?;
    let url = "s3://silent-bucket/in/a.txt";
    let started = std::time::Instant::now();
    let err = ctx.storage().get(url).unwrap_err();
    let elapsed = started.elapsed();
    let bound = DEFAULT_RETRY_TIMEOUT + DEFAULT_READ_TIMEOUT + Duration::from_secs(2);
    assert!(elapsed < bound, "a silent endpoint took {elapsed:?} to fail (documented: under {bound:?}): {err}");
    assert!(elapsed >= DEFAULT_READ_TIMEOUT, "failed after {elapsed:?}, before any timeout: {err}");
    assert!(err.to_string().contains(url), "{err}");
    eprintln!("a silent S3 endpoint failed after {elapsed:?}: {err}");
    Ok(())
}

#[test]
fn a_bad_json_line_is_named_by_its_line_in_the_first_split_else_its_byte_offset() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("visits.json");
    let good: Vec<String> = visits(1000).iter().map(serde_json::to_string).collect::<Result<_, _>>()?;
    let with_bad = |bad_line: usize| -> std::io::Result<u64> {
        let mut lines = good.clone();
        lines[bad_line - 1] = "{not json".to_owned();
        std::fs::write(&path, lines.join("\n") + "\n")?;
        Ok(lines[..bad_line - 1].iter().map(|l| l.len() as u64 + 1).sum())
    };
    let ctx = context()?;
    let url = path.to_str().ok_or("a UTF-8 path")?;
    with_bad(3)?;
    let err = ctx.json_file::<Visit>(url, 4)?.collect().unwrap_err().to_string();
    assert!(err.contains("visits.json") && err.contains("line 3:"), "{err}");
    let offset = with_bad(900)?;
    let rdd = ctx.json_file::<Visit>(url, 4)?;
    assert!(rdd.num_partitions() >= 4, "the file is read in several splits");
    let err = rdd.collect().unwrap_err().to_string();
    assert!(err.contains("visits.json") && err.contains(&format!("the line starting at byte {offset} ")), "{err}");
    Ok(())
}

/// Every message an error can be printed as: its text, its debug form and its causes.
fn all_text(err: &dyn std::error::Error) -> String {
    let mut text = format!("{err} / {err:?}");
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(&format!(" / {c} / {c:?}"));
        cause = c.source();
    }
    text
}

#[test]
fn credentials_inside_urls_never_appear_in_errors() -> TestResult {
    const SECRET: &str = "hunter2secret";
    // A closed port and no retries: every request fails at once.
    let ctx = Context::builder()
        .threads(1)
        .max_task_attempts(1)
        .storage_option("aws_endpoint", "http://127.0.0.1:1")
        .storage_option("aws_allow_http", "true")
        .storage_option("aws_access_key_id", "test")
        .storage_option("aws_secret_access_key", "test")
        .storage_option("aws_region", "us-east-1")
        .storage_option("allow_http", "true")
        .storage_retry(0, Duration::from_secs(1))
        .build()?;
    let urls = [
        format!("s3://AKIDEXAMPLE:{SECRET}@bkt/in/a.txt"),
        format!("s3://AKIDEXAMPLE:wJal/{SECRET}@bkt/in/a.txt"),
        format!("http://user:{SECRET}@127.0.0.1:1/in/a.txt"),
        format!("https://{SECRET}@127.0.0.1:1/in/a.txt"),
        format!("ftp://user:{SECRET}@host/in/a.txt"),
        format!("s3:/user:{SECRET}@bkt/in/a.txt"),
        format!("memory://AKID:{SECRET}@bkt/none/*.txt"),
    ];
    for url in &urls {
        let err = match ctx.text_file(url, 1) {
            Ok(rdd) => rdd.collect().expect_err("nothing is there"),
            Err(err) => err,
        };
        let text = all_text(&err);
        assert!(!text.contains(SECRET), "{url}: {text}");
        assert!(text.contains("***@"), "{url}: the URL is still named: {text}");
        let err = ctx.storage().get(url).expect_err("nothing is there");
        let text = all_text(&err);
        assert!(!text.contains(SECRET) && text.contains("***@"), "{url}: {text}");
    }
    Ok(())
}
