//! The macro benchmark: Ember's word count and `reduce_by_key` next to the hand-written limit
//! in `../shared/bench/limit`, on the same machine, in the same run, on the same input.
//!
//! ```text
//! cargo bench --bench word_count
//! ```
//!
//! Every measurement runs in a child process (this same binary, re-executed), so each has its
//! own wall time and peak resident memory. The limit is built into `target/limit/`. Without
//! `../shared/bench/limit`, Ember's figures are printed alone with a note. Shared machines
//! drift, so the ratios are the result, not the absolute times.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ember::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CORPUS_BYTES: u64 = 256 << 20;
const ROUNDS: usize = 3;
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
    let corpus = target.join("ember-data/corpus-256m.txt");
    eprintln!("preparing the 256 MiB corpus at {} ...", corpus.display());
    ember_examples::corpus::ensure(&corpus, CORPUS_BYTES).expect("corpus generation");
    let corpus_bytes = std::fs::metadata(&corpus).expect("corpus exists").len();
    // Warm the page cache so the first measured run is not the only one reading from disk.
    std::fs::read(&corpus).expect("corpus readable");
    let scratch = tempfile::tempdir_in(&target).expect("scratch dir under target/");
    let limit = build_limit(&workspace, &target);

    println!(
        "\nword count: {:.1} MB corpus, median of {ROUNDS} runs, wall time of the whole process",
        corpus_bytes as f64 / 1e6
    );
    println!("{:<34} {:>7} {:>9} {:>9} {:>10}", "program", "threads", "seconds", "MB/s", "peak MiB");
    let mb = corpus_bytes as f64 / 1e6;
    let mut limit_wc: Option<Run> = None;
    if let Some(limit) = &limit {
        // Run first: RUSAGE_CHILDREN's peak is then exactly the limit's.
        let out = scratch.path().join("limit-wc");
        let runs: Vec<f64> = (0..ROUNDS)
            .map(|_| {
                let _ = std::fs::remove_dir_all(&out);
                timed(Command::new(limit).arg("wc").arg(&corpus).arg(&out).args(["--threads", "2"]))
            })
            .collect();
        let run = Run { seconds: median(runs), peak_mib: children_peak_mib() };
        print_row("limit (hand-written, zero-copy)", 2, &run, mb);
        limit_wc = Some(run);
    }
    let ember_out = scratch.path().join("ember-wc");
    let one = ember_runs(&format!("wc:1:text:{}", ember_out.display()), &ember_out);
    print_row("ember, Text words (text_lines)", 1, &one, mb);
    let string_out = scratch.path().join("ember-wc-string");
    let string = ember_runs(&format!("wc:2:string:{}", string_out.display()), &string_out);
    print_row("ember, String words (text_file)", 2, &string, mb);
    // Last, so `ember_out` holds the headline run's output for the comparison below.
    let two = ember_runs(&format!("wc:2:text:{}", ember_out.display()), &ember_out);
    print_row("ember, Text words (text_lines)", 2, &two, mb);
    println!("\nember 2 threads / 1 thread (Text): {:.2}x", one.seconds / two.seconds);
    let cluster_out = scratch.path().join("ember-wc-cluster");
    let (local, cluster, ratio) = paired_runs(
        &format!("wc:2:text:{}", ember_out.display()),
        &ember_out,
        &format!("wc:cluster:text:{}", cluster_out.display()),
        &cluster_out,
    );
    print_row("ember local[2] (paired run)", 2, &local, mb);
    print_row("ember local-cluster[2,1]", 2, &cluster, mb);
    println!(
        "local-cluster[2,1] / local[2] throughput, median of {ROUNDS} alternating pairs: {ratio:.2}x (output equal: {})",
        if word_table(&cluster_out) == word_table(&ember_out) { "yes" } else { "NO (bug!)" }
    );
    if let Some(limit_run) = &limit_wc {
        let expected = word_table(&scratch.path().join("limit-wc"));
        let same = expected == word_table(&ember_out) && expected == word_table(&string_out);
        println!("ember output == limit output: {}", if same { "yes" } else { "NO (bug!)" });
        println!(
            "throughput vs limit, 2 threads: Text {:.2}x, String {:.2}x",
            limit_run.seconds / two.seconds,
            limit_run.seconds / string.seconds
        );
        println!(
            "peak memory vs limit, 2 threads: Text {:.2}x, String {:.2}x",
            two.peak_mib / limit_run.peak_mib,
            string.peak_mib / limit_run.peak_mib
        );
    } else {
        println!("(no reference: ../shared/bench/limit is absent, so no ratio)");
    }

    println!("\nreduce_by_key: {PAIRS} (u64, u64) pairs on {KEYS} keys, sum per key, sorted by key, written out");
    println!("{:<34} {:>7} {:>9} {:>9} {:>10}", "program", "threads", "seconds", "Mpairs/s", "peak MiB");
    let mpairs = PAIRS as f64 / 1e6;
    let limit_kv = limit.as_ref().map(|limit| {
        let out = scratch.path().join("limit-kv");
        let runs: Vec<f64> = (0..ROUNDS)
            .map(|_| {
                let _ = std::fs::remove_dir_all(&out);
                timed(Command::new(limit).arg("shuffle").arg(&out).args(["--threads", "2"]))
            })
            .collect();
        let run = Run { seconds: median(runs), peak_mib: f64::NAN };
        print_row("limit shuffle (hand-written)", 2, &run, mpairs);
        run
    });
    let kv_out = scratch.path().join("ember-kv");
    let kv = ember_runs(&format!("kv:2:-:{}", kv_out.display()), &kv_out);
    print_row("ember reduce_by_key + sort_by_key", 2, &kv, mpairs);
    if let Some(limit_kv) = limit_kv {
        let same = sorted_lines(&scratch.path().join("limit-kv")) == sorted_lines(&kv_out);
        println!("ember output == limit output: {}", if same { "yes" } else { "NO (bug!)" });
        println!("throughput vs limit, 2 threads: {:.2}x", limit_kv.seconds / kv.seconds);
    }
    let kv_cluster_out = scratch.path().join("ember-kv-cluster");
    let (local, cluster, ratio) = paired_runs(
        &format!("kv:2:-:{}", kv_out.display()),
        &kv_out,
        &format!("kv:cluster:-:{}", kv_cluster_out.display()),
        &kv_cluster_out,
    );
    print_row("ember local[2] (paired run)", 2, &local, mpairs);
    print_row("ember local-cluster[2,1]", 2, &cluster, mpairs);
    println!(
        "local-cluster[2,1] / local[2] throughput, median of {ROUNDS} alternating pairs: {ratio:.2}x (output equal: {})",
        if sorted_lines(&kv_cluster_out) == sorted_lines(&kv_out) { "yes" } else { "NO (bug!)" }
    );

    println!("\nlocal-cluster[2,1] on loopback");
    let exe = std::env::current_exe().expect("own path");
    let output = Command::new(&exe).env(CHILD_ENV, "fetch:cluster:-:-").output().expect("child starts");
    assert!(output.status.success(), "the fetch child failed: {}", String::from_utf8_lossy(&output.stderr));
    print!(
        "{}",
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.starts_with("PEAK_KIB="))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
}

/// Runs `a` and `b` alternately (A B A B …, `ROUNDS` pairs, each in its own process): the
/// median run of each and the median of the per-pair throughput ratios `b / a` (a slow spell
/// of the machine hits both halves of a pair alike).
fn paired_runs(a: &str, a_out: &Path, b: &str, b_out: &Path) -> (Run, Run, f64) {
    let (mut runs_a, mut runs_b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let ra = ember_runs_n(a, a_out, 1);
        let rb = ember_runs_n(b, b_out, 1);
        ratios.push(ra.seconds / rb.seconds);
        runs_a.push(ra);
        runs_b.push(rb);
    }
    let pick = |runs: Vec<Run>| Run {
        seconds: median(runs.iter().map(|r| r.seconds).collect()),
        peak_mib: runs.iter().map(|r| r.peak_mib).fold(0.0, f64::max),
    };
    (pick(runs_a), pick(runs_b), median(ratios))
}

struct Run {
    seconds: f64,
    peak_mib: f64,
}

fn print_row(name: &str, threads: usize, run: &Run, units: f64) {
    let peak = if run.peak_mib.is_nan() { "-".to_owned() } else { format!("{:.0}", run.peak_mib) };
    println!("{name:<34} {threads:>7} {:>9.3} {:>9.1} {peak:>10}", run.seconds, units / run.seconds);
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn timed(command: &mut Command) -> f64 {
    let started = Instant::now();
    let status = command.stdout(std::process::Stdio::null()).status().expect("benchmark process starts");
    assert!(status.success(), "{command:?} failed: {status}");
    started.elapsed().as_secs_f64()
}

/// Runs this binary as a child `ROUNDS` times with `spec`; median wall time, largest peak.
fn ember_runs(spec: &str, out: &Path) -> Run {
    ember_runs_n(spec, out, ROUNDS)
}

/// [`ember_runs`] with `rounds` runs.
fn ember_runs_n(spec: &str, out: &Path, rounds: usize) -> Run {
    let exe = std::env::current_exe().expect("own path");
    let mut seconds = Vec::new();
    let mut peak_kib = 0u64;
    for _ in 0..rounds {
        let _ = std::fs::remove_dir_all(out);
        let started = Instant::now();
        let output = Command::new(&exe).env(CHILD_ENV, spec).output().expect("child starts");
        seconds.push(started.elapsed().as_secs_f64());
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child {spec} failed: {}", String::from_utf8_lossy(&output.stderr));
        let peak = stdout.lines().find_map(|l| l.strip_prefix("PEAK_KIB=")).and_then(|v| v.trim().parse().ok());
        peak_kib = peak_kib.max(peak.unwrap_or(0));
    }
    Run { seconds: median(seconds), peak_mib: peak_kib as f64 / 1024.0 }
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
    if ctx.is_driver() {
        println!("PEAK_KIB={}", own_peak_kib());
    }
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

fn corpus_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ember-data/corpus-256m.txt").to_string_lossy().into_owned()
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

/// Peak resident memory of the waited-for children so far, in MiB.
fn children_peak_mib() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    #[allow(unsafe_code)]
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_maxrss as f64 / 1024.0
}

/// This process's peak resident memory (VmHWM), in KiB.
fn own_peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
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
