//! Read throughput: `text_file(..).count()` against a plain buffered read of the same file, and
//! over an S3-compatible server with one and with several concurrent ranged reads.
//!
//! ```text
//! cargo bench --bench read                     # local files (256 MiB corpus, generated once)
//! source .ci/s3-server && cargo bench --bench read   # also over the local moto S3 server
//! ```
//!
//! Local: the baseline is one thread reading the file through a 1 MiB `BufReader` and
//! counting its lines as `String`s (what a hand-written program does); Ember reads the same
//! file with `text_file(path, threads).count()` on all cores. Each figure is the best of
//! `ROUNDS` runs in this process, after a warm-up read that puts the file in the page cache.
//! S3 (when `EMBER_TEST_S3_URL` is set): a 64 MiB prefix of the corpus is uploaded and read
//! with 1 thread (one ranged read at a time) and with 4 threads over 8 splits.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use ember::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CORPUS_BYTES: u64 = 256 << 20;
const S3_BYTES: usize = 64 << 20;
const ROUNDS: usize = 3;

fn best<T: PartialEq + std::fmt::Debug>(mut run: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let r = run();
        best = best.min(started.elapsed());
        if let Some(prev) = &result {
            assert_eq!(prev, &r, "every round gives the same answer");
        }
        result = Some(r);
    }
    (best, result.expect("ROUNDS > 0"))
}

fn mb_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return Ok(()); // `cargo test --benches` probes harness-less benches this way
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ember-data/corpus-256m.txt");
    ember_examples::corpus::ensure(&path, CORPUS_BYTES)?;
    let bytes = std::fs::metadata(&path)?.len();
    let url = path.to_str().ok_or("corpus path is not UTF-8")?;

    let plain = || -> u64 {
        let reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&path).expect("open corpus"));
        let mut n = 0;
        for line in reader.lines() {
            std::hint::black_box(line.expect("read line"));
            n += 1;
        }
        n
    };
    plain(); // warm the page cache
    let (plain_time, lines) = best(plain);

    let ctx = Context::from_env()?;
    let threads = ctx.parallelism();
    let (ember_time, ember_lines) = best(|| ctx.text_file(url, threads).and_then(|r| r.count()).expect("job"));
    assert_eq!(ember_lines, lines);
    let one = Context::local(1)?;
    let (one_time, one_lines) = best(|| one.text_file(url, threads).and_then(|r| r.count()).expect("job"));
    assert_eq!(one_lines, lines);
    let ratio = |t: Duration| plain_time.as_secs_f64() / t.as_secs_f64();
    println!("local file, {:.0} MB, {lines} lines", bytes as f64 / 1e6);
    println!("  plain BufReader lines (1 thread):   {:>8.1} MB/s", mb_s(bytes, plain_time));
    println!(
        "  text_file.count (1 thread):         {:>8.1} MB/s  ({:.2} x plain)",
        mb_s(bytes, one_time),
        ratio(one_time)
    );
    println!(
        "  text_file.count ({threads} threads):        {:>8.1} MB/s  ({:.2} x plain)",
        mb_s(bytes, ember_time),
        ratio(ember_time)
    );

    match std::env::var("EMBER_TEST_S3_URL") {
        Ok(base) if !base.is_empty() => {
            let data = std::fs::read(&path)?;
            let cut = data[..S3_BYTES].iter().rposition(|&b| b == b'\n').map_or(S3_BYTES, |i| i + 1);
            let s3_url = format!("{}/bench-read/{}/corpus.txt", base.trim_end_matches('/'), std::process::id());
            ctx.storage().put(&s3_url, bytes::Bytes::copy_from_slice(&data[..cut]))?;
            let s3_lines = data[..cut].iter().filter(|&&b| b == b'\n').count() as u64;
            println!(
                "S3 ({}), {:.0} MB, {s3_lines} lines",
                std::env::var("AWS_ENDPOINT").unwrap_or_default(),
                cut as f64 / 1e6
            );
            for (threads, splits) in [(1, 1), (1, 8), (4, 8)] {
                let ctx = Context::local(threads)?;
                let (t, n) = best(|| ctx.text_file(&s3_url, splits).and_then(|r| r.count()).expect("job"));
                assert_eq!(n, s3_lines);
                let parts = ctx.text_file(&s3_url, splits)?.num_partitions();
                println!("  {threads} concurrent ranged read(s), {parts} splits: {:>8.1} MB/s", mb_s(cut as u64, t));
            }
        }
        _ => println!("S3: skipped (set EMBER_TEST_S3_URL, e.g. `source .ci/s3-server`)"),
    }
    Ok(())
}
