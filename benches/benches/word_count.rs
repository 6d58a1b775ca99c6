//! The macro benchmark: Ember's word count and `reduce_by_key` next to the hand-written limit
//! in `../shared/bench/limit`, on the same machine, in the same run, on the same input.
//!
//! ```text
//! cargo bench --bench word_count
//! ```
//!
//! Every measurement runs in a child process (this same binary, re-executed), so each has its
//! own wall time, user CPU time and peak resident memory. The limit is built into
//! `target/limit/`. Shared machines drift by a third within an hour, so every row runs Ember
//! and the limit alternately (A B A B ..., five pairs after a warm-up pair) and reports the
//! median and the range of the per-pair ratios: a slow spell hits both halves of a pair. Each
//! word-count row runs on two corpora: the project's generator and
//! `../shared/bench/gen_corpus.py`'s Zipf corpus (skipped, with a message, without
//! `../shared` or numpy). Without `../shared/bench/limit`, Ember's figures are printed alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ember::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CORPUS_BYTES: u64 = 256 << 20;
const PAIRS: u64 = 20_000_000;
const KEYS: u64 = 1_000_000;
const CHILD_ENV: &str = "EMBER_BENCH_CHILD";

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("benches/ sits in the workspace").to_owned();
    let target = workspace.join("target");
    let scratch = tempfile::tempdir_in(&target).expect("scratch dir under target/");
    let limit = build_limit(&workspace, &target);
    let mut corpora = vec![("the project's generator", project_corpus(&target))];
    match zipf_corpus(&workspace, &target) {
        Ok(path) => corpora.push(("../shared/bench/gen_corpus.py (Zipf)", path)),
        Err(why) => println!("(skipped the second corpus: {why})"),
    }
    println!(
        "\nEvery row: Ember and the limit run alternately (A B A B ..., {PAIRS_MEASURED} pairs after {WARMUP} warm-up pair), each in its own process;"
    );
    println!(
        "ratio = limit seconds / Ember seconds per pair (throughput ratio): median [min - max]; user CPU seconds: median."
    );
    for (name, corpus) in &corpora {
        let bytes = std::fs::metadata(corpus).expect("corpus exists").len();
        // Warm the page cache so the first measured run is not the only one reading from disk;
        // through a small buffer: a child's peak RSS counts what this process held at the fork.
        let mut file = std::fs::File::open(corpus).expect("corpus readable");
        std::io::copy(&mut file, &mut std::io::sink()).expect("corpus readable");
        let mb = bytes as f64 / 1e6;
        println!("\nword count on {name}: {} ({mb:.1} MB), 2 threads", corpus.display());
        print_header("MB/s");
        let limit_out = scratch.path().join("limit-wc");
        let limit_wc = limit.as_ref().map(|l| Program::limit(l, &["wc"], corpus, &limit_out, &["--threads", "2"]));
        for (label, spec) in [
            ("Text words (text_lines), one job", "wc:2:text"),
            ("the README's main command", "main:2:text"),
            ("String words (text_file)", "wc:2:string"),
        ] {
            let out = scratch.path().join(spec.replace(':', "-"));
            let ember = Program::ember(&format!("{spec}:{}", out.display()), corpus, &out);
            let row = compare(&ember, limit_wc.as_ref());
            print_compared(label, &row, mb);
            if let Some(reference) = &limit_wc
                && !spec.starts_with("main")
            {
                let same = word_table(&reference.out) == word_table(&out);
                println!("{:<40} output == limit output: {}", "", if same { "yes" } else { "NO (bug!)" });
            }
        }
        let one = Program::ember(
            &format!("wc:1:text:{}", scratch.path().join("wc1").display()),
            corpus,
            &scratch.path().join("wc1"),
        );
        let two = Program::ember(
            &format!("wc:2:text:{}", scratch.path().join("wc2").display()),
            corpus,
            &scratch.path().join("wc2"),
        );
        let scaling = compare(&two, Some(&one));
        println!(
            "scaling, Text word count, 2 threads over 1: {:.2}x [{:.2} - {:.2}] (1 thread {:.3} s, 2 threads {:.3} s)",
            scaling.ratio.median,
            scaling.ratio.min,
            scaling.ratio.max,
            scaling.reference.as_ref().map_or(f64::NAN, |r| r.seconds),
            scaling.ember.seconds
        );
    }

    let mpairs = PAIRS as f64 / 1e6;
    println!("\nreduce_by_key + sort_by_key: {PAIRS} (u64, u64) pairs on {KEYS} keys, written out; 2 threads");
    print_header("Mpairs/s");
    let kv_out = scratch.path().join("ember-kv");
    let limit_kv_out = scratch.path().join("limit-kv");
    let limit_kv =
        limit.as_ref().map(|l| Program::limit(l, &["shuffle"], Path::new(""), &limit_kv_out, &["--threads", "2"]));
    let kv = Program::ember(&format!("kv:2:-:{}", kv_out.display()), &corpora[0].1, &kv_out);
    let row = compare(&kv, limit_kv.as_ref());
    print_compared("reduce_by_key + sort_by_key", &row, mpairs);
    if limit_kv.is_some() {
        let same = sorted_lines(&limit_kv_out) == sorted_lines(&kv_out);
        println!("{:<40} output == limit output: {}", "", if same { "yes" } else { "NO (bug!)" });
    }

    let (corpus, mb) = (&corpora[0].1, std::fs::metadata(&corpora[0].1).map_or(0.0, |m| m.len() as f64 / 1e6));
    println!("\nthe cluster mode against local[2], alternating the same way");
    print_header("MB/s");
    let local = Program::ember(
        &format!("wc:2:text:{}", scratch.path().join("wc-local").display()),
        corpus,
        &scratch.path().join("wc-local"),
    );
    let cluster_out = scratch.path().join("wc-cluster");
    let cluster = Program::ember(&format!("wc:cluster:text:{}", cluster_out.display()), corpus, &cluster_out);
    let row = compare(&cluster, Some(&local));
    print_compared("word count, local-cluster[2,1] (vs local[2])", &row, mb);
    println!(
        "{:<40} output == local[2] output: {}",
        "",
        if word_table(&cluster_out) == word_table(&local.out) { "yes" } else { "NO (bug!)" }
    );
    let kv_local = Program::ember(&format!("kv:2:-:{}", kv_out.display()), corpus, &kv_out);
    let kv_cluster_out = scratch.path().join("kv-cluster");
    let kv_cluster = Program::ember(&format!("kv:cluster:-:{}", kv_cluster_out.display()), corpus, &kv_cluster_out);
    let row = compare(&kv_cluster, Some(&kv_local));
    print_compared("shuffle, local-cluster[2,1] (vs local[2])", &row, mpairs);
    println!(
        "{:<40} output == local[2] output: {}",
        "",
        if sorted_lines(&kv_cluster_out) == sorted_lines(&kv_out) { "yes" } else { "NO (bug!)" }
    );

    println!("\nlocal-cluster[2,1] on loopback");
    let exe = std::env::current_exe().expect("own path");
    let output = Command::new(&exe).env(CHILD_ENV, "fetch:cluster:-:-").output().expect("child starts");
    assert!(output.status.success(), "the fetch child failed: {}", String::from_utf8_lossy(&output.stderr));
    print!("{}", String::from_utf8_lossy(&output.stdout));
}

/// Measured pairs per row, after the warm-up pairs.
const PAIRS_MEASURED: usize = 5;
/// Pairs run first and thrown away (page cache, CPU frequency, the allocator's first pages).
const WARMUP: usize = 1;
/// The environment variable that tells a child which corpus to read.
const CORPUS_ENV: &str = "EMBER_BENCH_CORPUS";

/// One program a row runs: a child of this binary (an Ember job) or the limit.
struct Program {
    command: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    out: PathBuf,
}

impl Program {
    fn ember(spec: &str, corpus: &Path, out: &Path) -> Self {
        Program {
            command: vec![std::env::current_exe().expect("own path").into()],
            env: vec![(CHILD_ENV.to_owned(), spec.to_owned()), (CORPUS_ENV.to_owned(), corpus.display().to_string())],
            out: out.to_owned(),
        }
    }

    fn limit(limit: &Path, verb: &[&str], corpus: &Path, out: &Path, flags: &[&str]) -> Self {
        let mut command: Vec<std::ffi::OsString> = vec![limit.into()];
        command.extend(verb.iter().map(Into::into));
        if !corpus.as_os_str().is_empty() {
            command.push(corpus.into());
        }
        command.push(out.into());
        command.extend(flags.iter().map(Into::into));
        Program { command, env: Vec::new(), out: out.to_owned() }
    }

    /// Runs it once: wall seconds, user CPU seconds (its own and its children's) and peak
    /// resident MiB, both from the kernel's accounting of this one child (`wait4`).
    fn run(&self) -> Measured {
        let _ = std::fs::remove_dir_all(&self.out);
        let started = Instant::now();
        let mut child = Command::new(&self.command[0])
            .args(&self.command[1..])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("a benchmark process starts");
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr);
        // Reaped by wait4 below, for the usage std does not give; `child` is not waited again.
        let (status, usage) = wait_with_usage(child.id());
        std::mem::forget(child);
        let seconds = started.elapsed().as_secs_f64();
        assert!(status == 0, "{:?} failed (wait status {status}): {stderr}", self.command);
        let user = usage.ru_utime.tv_sec as f64 + usage.ru_utime.tv_usec as f64 / 1e6;
        Measured { seconds, user, peak_mib: usage.ru_maxrss as f64 / 1024.0 }
    }
}

/// Reaps child `pid` and returns its wait status and resource usage (what `std` does not
/// expose): its own user time and peak RSS, plus those of the children it waited for.
fn wait_with_usage(pid: u32) -> (i32, libc::rusage) {
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 writes the status and a whole rusage into the pointers it is given; the
    // child is ours and not waited for elsewhere.
    #[allow(unsafe_code)]
    let usage = unsafe {
        let reaped = libc::wait4(pid as libc::pid_t, &mut status, 0, usage.as_mut_ptr());
        assert_eq!(reaped, pid as libc::pid_t, "wait4 on a benchmark process");
        usage.assume_init()
    };
    (status, usage)
}

struct Measured {
    seconds: f64,
    user: f64,
    peak_mib: f64,
}

/// Median and range of a sample.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(xs: &[f64]) -> Spread {
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    Spread { median: sorted[sorted.len() / 2], min: sorted[0], max: sorted[sorted.len() - 1] }
}

/// A row: Ember's runs and, when there is a reference, its runs and the per-pair ratios.
struct Compared {
    ember: Run,
    ember_user: f64,
    reference: Option<Run>,
    reference_user: f64,
    ratio: Spread,
}

/// Runs `ember` and `reference` alternately (reference first in each pair): `WARMUP` pairs
/// thrown away, then `PAIRS_MEASURED`; Ember alone the same number of times without one.
fn compare(ember: &Program, reference: Option<&Program>) -> Compared {
    let (mut mine, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..WARMUP + PAIRS_MEASURED {
        let r = reference.map(Program::run);
        let e = ember.run();
        if round < WARMUP {
            continue;
        }
        if let Some(r) = r {
            ratios.push(r.seconds / e.seconds);
            theirs.push(r);
        }
        mine.push(e);
    }
    let run = |ms: &[Measured]| Run {
        seconds: spread(&ms.iter().map(|m| m.seconds).collect::<Vec<_>>()).median,
        peak_mib: ms.iter().map(|m| m.peak_mib).fold(f64::NAN, f64::max),
    };
    let user = |ms: &[Measured]| {
        if ms.is_empty() { f64::NAN } else { spread(&ms.iter().map(|m| m.user).collect::<Vec<_>>()).median }
    };
    Compared {
        ember: run(&mine),
        ember_user: user(&mine),
        reference: (!theirs.is_empty()).then(|| run(&theirs)),
        reference_user: user(&theirs),
        ratio: if ratios.is_empty() {
            Spread { median: f64::NAN, min: f64::NAN, max: f64::NAN }
        } else {
            spread(&ratios)
        },
    }
}

fn print_header(unit: &str) {
    println!(
        "{:<40} {:>8} {:>9} {:>8} {:>9} {:>9} {:>19}",
        "row", "seconds", unit, "user s", "peak MiB", "ref user", "ratio [range]"
    );
}

fn print_compared(label: &str, row: &Compared, units: f64) {
    let peak = if row.ember.peak_mib.is_nan() { "-".to_owned() } else { format!("{:.0}", row.ember.peak_mib) };
    let ref_peak = row.reference.as_ref().map_or_else(|| "-".to_owned(), |r| format!("{:.0}", r.peak_mib));
    let ratio = if row.ratio.median.is_nan() {
        "(no reference)".to_owned()
    } else {
        format!("{:.2}x [{:.2}-{:.2}]", row.ratio.median, row.ratio.min, row.ratio.max)
    };
    println!(
        "{label:<40} {:>8.3} {:>9.1} {:>8.2} {peak:>9} {:>9.2} {ref_peak:>9} {ratio:>19}",
        row.ember.seconds,
        units / row.ember.seconds,
        row.ember_user,
        row.reference_user
    );
}

/// The project's own 256 MiB corpus (generated once).
fn project_corpus(target: &Path) -> PathBuf {
    let corpus = target.join("ember-data/corpus-256m.txt");
    eprintln!("preparing the 256 MiB corpus at {} ...", corpus.display());
    ember_examples::corpus::ensure(&corpus, CORPUS_BYTES).expect("corpus generation");
    corpus
}

/// The shared generator's 256 MiB Zipf corpus (generated once), or why there is none.
fn zipf_corpus(workspace: &Path, target: &Path) -> Result<PathBuf, String> {
    let script = workspace.join("../shared/bench/gen_corpus.py");
    if !script.exists() {
        return Err(format!("{} is absent", script.display()));
    }
    let corpus = target.join("ember-data/zipf-256m.txt");
    if corpus.exists() {
        return Ok(corpus);
    }
    let numpy =
        Command::new("python3").args(["-c", "import numpy"]).output().map_err(|e| format!("no python3: {e}"))?;
    if !numpy.status.success() {
        return Err("python3 has no numpy (pip install numpy)".to_owned());
    }
    eprintln!("generating the Zipf corpus at {} with {} (once) ...", corpus.display(), script.display());
    let status = Command::new("python3").arg(&script).arg("256").arg(&corpus).status().map_err(|e| e.to_string())?;
    if status.success() { Ok(corpus) } else { Err(format!("{} failed: {status}", script.display())) }
}

struct Run {
    seconds: f64,
    peak_mib: f64,
}

/// A measured run inside the child process: `wc:THREADS:VARIANT:OUT` (VARIANT `text` or
/// `string`), `kv:THREADS:-:OUT` or `fetch:cluster:-:-`; THREADS `cluster` runs on
/// `local-cluster[2,1]` (whose executors re-execute this binary with the same spec). Run one by hand with
/// `EMBER_BENCH_CHILD=wc:2:text:/tmp/out target/release/deps/word_count-*`.
fn child(spec: &str) {
    let mut parts = spec.splitn(4, ':');
    let (job, threads, variant, out) = (parts.next(), parts.next(), parts.next(), parts.next());
    let out = out.expect("output dir");
    let started = Instant::now();
    let (ctx, threads) = match threads {
        Some("cluster") => (Context::builder().master("local-cluster[2,1]").build().expect("a cluster context"), 2),
        t => {
            let threads: usize = t.and_then(|t| t.parse().ok()).expect("thread count");
            (Context::local(threads).expect("context"), threads)
        }
    };
    let startup = started.elapsed();
    let result = match (job, variant) {
        (Some("fetch"), _) => {
            fetch_report(&ctx, startup);
            Ok(())
        }
        (Some("wc"), Some("text")) => word_count(&ctx, threads, out),
        (Some("wc"), Some("string")) => word_count_strings(&ctx, threads, out),
        (Some("main"), _) => readme_main(&ctx, threads),
        (Some("kv"), _) => {
            let partitions = 4 * threads;
            ctx.range(0, PAIRS as i64, 1, partitions)
                .map(|i| pair(i as u64))
                .reduce_by_key_with_partitions(|a, b| a + b, partitions)
                .sort_by_key(true)
                .map(|(k, v)| format!("{k}\t{v}"))
                .save_as_text_file(out)
        }
        _ => panic!("unknown child spec {spec}"),
    };
    result.expect("benchmark job");
}

/// Executor start-up, and the reduce stage's throughput when half of every reducer's buckets
/// come from the other executor over loopback: 4 M records of 100 bytes shuffled once, then
/// read again by a job that runs only the reduce stage.
fn fetch_report(ctx: &Context, startup: std::time::Duration) {
    let records = 4_000_000u64;
    let shuffled = ctx
        .range(0, records as i64, 1, 8)
        .map(|i| (i as u64 % 1024, vec![i as u8; 92]))
        .partition_by(ember::partitioner::HashPartitioner::new(8));
    shuffled.count().expect("the map stage and a first read");
    let started = Instant::now();
    let n = shuffled.count().expect("a second read, reduce stage only");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(n, records);
    if ctx.is_driver() {
        let bytes = ctx.last_job().expect("metrics").shuffle_bytes_read() as f64;
        println!("executor start-up (context build, 2 executors registered): {:.0} ms", startup.as_secs_f64() * 1e3);
        println!(
            "reduce stage over the shuffle: {:.1} MB read in {seconds:.3} s = {:.0} MB/s (half of it fetched from the other executor)",
            bytes / 1e6,
            bytes / 1e6 / seconds
        );
    }
}

/// The word count as a user writes it: lines and words as zero-copy `Text`.
fn word_count(ctx: &Context, threads: usize, out: &str) -> ember::Result<()> {
    ctx.text_lines(&corpus_path(), threads)?
        .flat_map(Text::into_words)
        .map(|word| (word, 1u64))
        .reduce_by_key(|a, b| a + b)
        .map(|(word, n)| format!("{word}\t{n}"))
        .save_as_text_file(out)
}

/// The README's main command (`examples/word_count.rs`): one reduced RDD and three actions
/// on it, `count`, `fold` over the values and `top`; the later actions reuse the shuffle.
fn readme_main(ctx: &Context, threads: usize) -> ember::Result<()> {
    let counts = ctx
        .text_lines(&corpus_path(), threads)?
        .flat_map(Text::into_words)
        .map(|word| (word, 1u64))
        .reduce_by_key(|a, b| a + b);
    let distinct = counts.count()?;
    let total = counts.values().fold(0, |a, b| a + b)?;
    let top = counts.top_by(10, |(_, n)| *n)?;
    assert!(distinct > 0 && total > 0 && !top.is_empty());
    Ok(())
}

/// The same job over `String` lines and one `String` per word, for comparison.
fn word_count_strings(ctx: &Context, threads: usize, out: &str) -> ember::Result<()> {
    ctx.text_file(&corpus_path(), threads)?
        .flat_map(|line| line.split_ascii_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1u64))
        .reduce_by_key(|a, b| a + b)
        .map(|(word, n)| format!("{word}\t{n}"))
        .save_as_text_file(out)
}

/// The limit's synthetic stream: pair `i` → (key, value), from xxh64 with seed 42.
fn pair(i: u64) -> (u64, u64) {
    let u = xxhash_rust::xxh64::xxh64(&i.to_le_bytes(), 42) >> 1;
    let key_id = u % KEYS;
    (xxhash_rust::xxh64::xxh64(&key_id.to_le_bytes(), 42) >> 1, (u >> 40) % 1000)
}

/// The corpus the parent named (`EMBER_BENCH_CORPUS`), else the project's.
fn corpus_path() -> String {
    std::env::var(CORPUS_ENV).unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/ember-data/corpus-256m.txt")
            .to_string_lossy()
            .into_owned()
    })
}

/// Builds `../shared/bench/limit` into `target/limit`, or says why it cannot.
fn build_limit(workspace: &Path, target: &Path) -> Option<PathBuf> {
    let manifest = workspace.join("../shared/bench/limit/Cargo.toml");
    if !manifest.exists() {
        eprintln!("note: {} is absent; skipping the reference (figures without ratios)", manifest.display());
        return None;
    }
    let target_dir = target.join("limit");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .status();
    match status {
        Ok(s) if s.success() => Some(target_dir.join("release/limit")),
        other => {
            eprintln!("note: building the reference failed ({other:?}); skipping it");
            None
        }
    }
}

fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|entries| entries.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.starts_with(['_', '.'])));
    files.sort();
    files
}

/// A word-count output as a table, whatever its part layout.
fn word_table(dir: &Path) -> HashMap<String, u64> {
    let mut table = HashMap::new();
    for file in data_files(dir) {
        for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
            if let Some((word, n)) = line.rsplit_once('\t') {
                table.insert(word.to_owned(), n.parse().unwrap_or(u64::MAX));
            }
        }
    }
    table
}

/// Every line of the part files in name order (a globally sorted output reads sorted).
fn sorted_lines(dir: &Path) -> Vec<String> {
    data_files(dir)
        .iter()
        .flat_map(|f| std::fs::read_to_string(f).unwrap_or_default().lines().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}
