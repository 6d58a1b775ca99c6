//! `text_lines` and `Text`: the zero-copy word count against plain Rust, and `Text` across the
//! boundaries where elements are serialized.

use std::collections::HashMap;
use std::path::Path;

use ember::prelude::*;
use ember_examples::corpus::{CorpusSpec, generate};

use crate::TestResult;

/// Lines that stress the splitter and the word path: CRLF, blank lines, runs of mixed
/// whitespace, words right at and past the inline size (22 bytes), multi-byte UTF-8, a
/// vertical tab (not ASCII whitespace), invalid UTF-8, and no final newline.
fn adversarial(lines: usize) -> Vec<u8> {
    let pieces: [&[u8]; 10] = [
        b"the quick brown fox\r\n",
        b"\n",
        b"  \t lead and trail \x0c \r\n",
        b"abcdefghijklmnopqrstuv abcdefghijklmnopqrstuvw abcdefghijklmnopqrstuvwx\n",
        "caf\u{e9} na\u{ef}ve \u{65e5}\u{672c}\u{8a9e} \u{fc}ber the\n".as_bytes(),
        b"vertical\x0btab stays inside one word\n",
        b"bad \xff\xfe bytes become replacement chars\n",
        b"a-very-long-word-that-is-much-longer-than-any-inline-text the end\n",
        b"\r\n",
        b"the",
    ];
    let mut out = Vec::new();
    for i in 0..lines {
        let piece = pieces[i % pieces.len()];
        // The unterminated piece only ends the file.
        if piece == b"the" && i + 1 != lines {
            continue;
        }
        out.extend_from_slice(piece);
    }
    out
}

/// Word counts computed without Ember: lines as `text_file` defines them (split at `\n`, one
/// trailing `\r` removed, invalid UTF-8 replaced), words as `str::split_ascii_whitespace`.
fn reference_counts(content: &[u8]) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        for word in String::from_utf8_lossy(line).split_ascii_whitespace() {
            *counts.entry(word.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

fn text_word_count(ctx: &Context, path: &Path, partitions: usize) -> ember::Result<HashMap<String, u64>> {
    let counts = ctx
        .text_lines(path.to_str().expect("a UTF-8 temp path"), partitions)?
        .flat_map(|line| line.words())
        .map(|word| (word, 1u64))
        .reduce_by_key(|a, b| a + b)
        .collect()?;
    Ok(counts.into_iter().map(|(word, n)| (String::from(word), n)).collect())
}

#[test]
fn text_word_count_equals_plain_rust_on_adversarial_input() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("adversarial.txt");
    let content = adversarial(2_000);
    std::fs::write(&path, &content)?;
    let expected = reference_counts(&content);
    assert!(expected.contains_key("\u{fffd}\u{fffd}") && expected.contains_key("vertical\x0btab"));
    for threads in [1, 3] {
        let ctx = Context::local(threads)?;
        // 64 partitions of a ~60 KB file: splits cut lines and words everywhere.
        for partitions in [1, 7, 64] {
            assert_eq!(
                text_word_count(&ctx, &path, partitions)?,
                expected,
                "{threads} threads, {partitions} partitions"
            );
        }
    }
    Ok(())
}

#[test]
fn text_word_count_equals_plain_rust_on_a_zipf_corpus() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("corpus.txt");
    generate(&path, 3 << 20, &CorpusSpec { vocabulary: 50_000, ..CorpusSpec::default() })?;
    let expected = reference_counts(&std::fs::read(&path)?);
    let ctx = Context::local(2)?;
    // One split read in 48 pieces of 64 KiB (lines carried across each cut), and five splits.
    for partitions in [1, 5] {
        assert_eq!(text_word_count(&ctx, &path, partitions)?, expected, "{partitions} partitions");
    }
    Ok(())
}

#[test]
fn a_file_cut_short_after_listing_fails_the_job_and_names_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("shrinking.txt");
    generate(&path, 3 << 20, &CorpusSpec::default())?;
    let url = path.to_str().expect("a UTF-8 temp path");
    let ctx = Context::local(1)?;
    // Listed at 3 MiB: one split, read a piece at a time as its lines are pulled.
    let texts = ctx.text_lines(url, 1)?;
    let strings = ctx.text_file(url, 1)?;
    std::fs::OpenOptions::new().write(true).open(&path)?.set_len(3 << 19)?;
    for (reader, result) in [("text_lines", texts.count()), ("text_file", strings.count())] {
        let err = result.expect_err("a short read fails the job rather than dropping lines").to_string();
        assert!(err.contains("shrinking.txt"), "{reader}: {err}");
    }
    Ok(())
}

#[test]
fn text_lines_reads_the_lines_text_file_reads() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("lines.txt");
    std::fs::write(&path, adversarial(300))?;
    let url = path.to_str().expect("a UTF-8 temp path");
    let ctx = Context::local(2)?;
    for partitions in [1, 4, 50] {
        let texts = ctx.text_lines(url, partitions)?;
        let strings = ctx.text_file(url, partitions)?;
        assert_eq!(texts.num_partitions(), strings.num_partitions());
        let texts: Vec<String> = texts.map(String::from).collect()?;
        assert_eq!(texts, strings.collect()?, "{partitions} partitions");
    }
    Ok(())
}

#[test]
fn text_survives_shuffles_caches_and_object_files() -> TestResult {
    let ctx = Context::local(2)?;
    let long = "x".repeat(40);
    let words: Vec<Text> = ["b", "a", long.as_str(), "é", "a"].into_iter().map(Text::from).collect();
    let rdd = ctx.parallelize(words.clone(), 3);
    rdd.persist(StorageLevel::MemoryAndDisk);

    let mut sorted = rdd.distinct().collect()?;
    sorted.sort();
    assert_eq!(sorted, ["a", "b", long.as_str(), "é"].map(Text::from), "byte order, as for str");
    assert_eq!(rdd.sort_by(|w| w.clone(), true).collect()?, ["a", "a", "b", long.as_str(), "é"].map(Text::from));

    rdd.save_as_object_file("memory://text/objects")?;
    assert_eq!(ctx.object_file::<Text>("memory://text/objects")?.collect()?, words);
    // Written as strings, so readable as strings.
    let strings: Vec<String> = ctx.object_file::<String>("memory://text/objects")?.collect()?;
    assert_eq!(strings, words.iter().map(|w| w.to_string()).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn pairs_and_triples_save_as_tab_separated_lines() -> TestResult {
    let ctx = Context::local(2)?;
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("counts");
    let out = out.to_str().expect("a UTF-8 temp path");
    let counts = ctx
        .parallelize(vec!["to be or not to be".to_owned()], 1)
        .flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>());
    let counts = counts.map(|w| (w, 1u64)).reduce_by_key_with_partitions(|a, b| a + b, 1).sort_by_key(true);
    counts.save_as_tsv_file(out)?;
    assert_eq!(ctx.text_file(out, 1)?.collect()?, ["be\t2", "not\t1", "or\t1", "to\t2"]);
    let triples = ctx.parallelize(vec![(1, 'a', 2.5), (2, 'b', -1.0)], 2);
    triples.save_as_tsv_file_with(out, SaveMode::Overwrite)?;
    assert_eq!(ctx.text_file(out, 1)?.collect()?, ["1\ta\t2.5", "2\tb\t-1"]);
    Ok(())
}
