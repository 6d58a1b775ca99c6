//! Word count, Ember's main job.
//!
//! ```text
//! cargo run --release --example word_count -- [INPUT] [OUTPUT_DIR]
//! ```
//!
//! INPUT is a file, a directory or a glob, as a path or a URL (`file://`, `s3://bucket/in`,
//! `gs://`, `az://`, `http(s)://`; S3 credentials and endpoint from `AWS_*` variables);
//! without it a 256 MiB synthetic corpus is generated once under `target/ember-data/` and
//! counted. With OUTPUT_DIR (a path or URL that must not exist yet), `word<TAB>count` lines
//! are written there (`part-NNNNN` files and `_SUCCESS`). Threads come from `EMBER_MASTER`
//! (`local[2]`, `local[*]`; default: all cores). `RUST_LOG=ember_engine=info` logs jobs and
//! stages (`Context::from_env` installs the subscriber).
//!
//! The pipeline reads lines with `Context::text_lines`, so each line is a `Text` sharing the
//! buffer its split was read into, and splits them with `Text::into_words`, so each word is a
//! `Text` kept inline (up to 22 bytes) or sharing the line: nothing is allocated per line
//! or per word before the map-side combine, which is where `text_file` and
//! `str::to_owned` would spend most of the job.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ember::prelude::*;

/// Size of the generated default corpus.
const DEFAULT_CORPUS_BYTES: u64 = 256 << 20;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let input = match args.next() {
        Some(input) => input,
        None => default_corpus()?,
    };
    let output = args.next();

    let ctx = Context::from_env()?;
    let input_bytes: u64 = ctx.storage().list_inputs(&input)?.iter().map(|f| f.size).sum();
    let started = Instant::now();

    // `text_lines` hands out each line as a `Text` sharing the buffer its split was read into;
    // `into_words` splits it into `Text`s kept inline (short words) or shared (long ones). No
    // line and no word is allocated on its way into the map-side combine.
    let counts = ctx
        .text_lines(&input, ctx.parallelism())?
        .flat_map(Text::into_words)
        .map(|word| (word, 1u64))
        .reduce_by_key(|a, b| a + b);

    // The first action runs both stages; the later ones reuse the shuffle output and run only
    // the reduce stage.
    let distinct = counts.count()?;
    let total = counts.values().fold(0, |a, b| a + b)?;
    let top = counts.top_by(10, |(_, n)| *n)?;
    if let Some(output) = &output {
        counts.map(|(word, n)| format!("{word}\t{n}")).save_as_text_file(output)?;
    }
    let seconds = started.elapsed().as_secs_f64();

    // In the cluster mode every process runs this `main` and gets every action's result;
    // the report is the driver's to print.
    if !ctx.is_driver() {
        return Ok(());
    }
    println!("master:         {}", ctx.master());
    println!("input:          {input} ({:.1} MB)", input_bytes as f64 / 1e6);
    println!("task slots:     {}", ctx.parallelism());
    println!("distinct words: {distinct}");
    println!("total words:    {total}");
    println!("top 10:");
    for (word, n) in &top {
        println!("  {n:>12}  {word}");
    }
    if let Some(output) = &output {
        println!("output:         {output}");
    }
    println!("elapsed:        {seconds:.3} s");
    if input_bytes > 0 {
        println!("throughput:     {:.1} MB/s", input_bytes as f64 / 1e6 / seconds);
    }
    Ok(())
}

/// Generates (once) and returns the default corpus under the workspace's `target/`.
fn default_corpus() -> std::io::Result<String> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ember-data/corpus-256m.txt");
    if !path.exists() {
        eprintln!("generating a 256 MiB corpus at {} (once)...", path.display());
    }
    ember_examples::corpus::ensure(&path, DEFAULT_CORPUS_BYTES)?;
    Ok(path.to_string_lossy().into_owned())
}
