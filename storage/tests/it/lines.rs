//! Split reading on local files: each line in exactly one split, for any boundaries.

use ember_storage::{FileSplit, InputFile, Storage, plan_splits};
use proptest::prelude::*;

use crate::{local_file, storage};

/// The oracle: split on '\n', strip one trailing '\r', no empty piece after a final '\n'.
fn reference(content: &[u8]) -> Vec<String> {
    if content.is_empty() {
        return Vec::new();
    }
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    body.split(|&b| b == b'\n')
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            String::from_utf8_lossy(line).into_owned()
        })
        .collect()
}

fn read(storage: &Storage, file: &InputFile, start: u64, end: u64) -> Vec<String> {
    let lines = storage.read_split(&FileSplit::new(file.clone(), start, end)).expect("read split");
    lines.collect::<Result<_, _>>().expect("every read succeeds")
}

/// The lines of the splits between consecutive `cuts` (which start at 0
/// and end at or past the file size).
fn read_cuts(storage: &Storage, file: &InputFile, cuts: &[u64]) -> Vec<String> {
    cuts.windows(2).flat_map(|w| read(storage, file, w[0], w[1])).collect()
}

fn uniform_cuts(size: u64, split: u64) -> Vec<u64> {
    let mut cuts: Vec<u64> = (0..size).step_by(split as usize).collect();
    cuts.push(size);
    cuts
}

#[test]
fn line_longer_than_the_split() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(&storage, dir.path(), "long.txt", b"ab\nccccccccccccccc\nd\n");
    // The split [0, 4) owns "ab" and "ccc…" (starts at 3) and reads past its end.
    assert_eq!(read(&storage, &file, 0, 4), ["ab", "ccccccccccccccc"]);
    // Splits inside the long line own nothing; the one holding offset 19 owns "d".
    assert!(read(&storage, &file, 4, 10).is_empty());
    assert!(read(&storage, &file, 10, 19).is_empty());
    assert_eq!(read(&storage, &file, 19, 21), ["d"]);
}

#[test]
fn very_long_line_needs_several_growing_tail_reads() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let long = "y".repeat(600 << 10);
    let content = format!("first\n{long}\r\nlast");
    let file = local_file(&storage, dir.path(), "huge.txt", content.as_bytes());
    let got = read(&storage, &file, 0, 10);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].len(), long.len());
    assert_eq!(read_cuts(&storage, &file, &uniform_cuts(file.size, 100_000)), reference(content.as_bytes()));
}

#[test]
fn empty_file_has_no_lines() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(&storage, dir.path(), "empty.txt", b"");
    assert_eq!(file.size, 0);
    let splits = plan_splits(std::slice::from_ref(&file), 4);
    assert_eq!(splits.len(), 1);
    assert_eq!(storage.read_split(&splits[0]).unwrap().count(), 0);
    // A range past the end of an empty file reads nothing, without error.
    assert!(read(&storage, &file, 0, 100).is_empty());
}

#[test]
fn single_newline_is_one_empty_line() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(&storage, dir.path(), "nl.txt", b"\n");
    assert_eq!(read(&storage, &file, 0, 1), [""]);
    assert_eq!(read_cuts(&storage, &file, &[0, 1, 2]), [""]);
}

#[test]
fn no_trailing_newline_and_empty_middle_lines() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(&storage, dir.path(), "tail.txt", b"a\n\n\nlast");
    assert_eq!(read(&storage, &file, 0, file.size), ["a", "", "", "last"]);
    assert_eq!(read(&storage, &file, 0, 5), ["a", "", "", "last"]);
    assert_eq!(read(&storage, &file, 5, 8), Vec::<String>::new());
}

#[test]
fn crlf_lines_lose_their_cr() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(&storage, dir.path(), "crlf.txt", b"one\r\ntwo\r\n\r\nthree\r\n");
    assert_eq!(read(&storage, &file, 0, file.size), ["one", "two", "", "three"]);
}

#[test]
fn boundary_exactly_at_a_line_start() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    // Lines start at 0, 4 and 8.
    let file = local_file(&storage, dir.path(), "at.txt", b"aaa\nbbb\nccc\n");
    assert_eq!(read(&storage, &file, 0, 4), ["aaa"]);
    assert_eq!(read(&storage, &file, 4, 8), ["bbb"]);
    assert_eq!(read(&storage, &file, 8, 12), ["ccc"]);
    // One byte later, the line at 4 belongs to the first split.
    assert_eq!(read(&storage, &file, 0, 5), ["aaa", "bbb"]);
    assert_eq!(read(&storage, &file, 5, 12), ["ccc"]);
}

#[test]
fn boundary_right_after_the_cr_of_crlf() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    // "ab\r\ncd\r\n": '\r' at 2, '\n' at 3; a boundary at 3 splits the CRLF.
    let file = local_file(&storage, dir.path(), "cr.txt", b"ab\r\ncd\r\nef");
    assert_eq!(read(&storage, &file, 0, 3), ["ab"]);
    assert_eq!(read(&storage, &file, 3, 5), ["cd"]);
    assert_eq!(read(&storage, &file, 5, 10), ["ef"]);
    assert_eq!(read_cuts(&storage, &file, &[0, 3, 7, 10]), ["ab", "cd", "ef"]);
}

#[test]
fn invalid_utf8_is_replaced() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(&storage, dir.path(), "bad.txt", b"ok\nb\xffd\n");
    assert_eq!(read(&storage, &file, 0, file.size), ["ok", "b\u{fffd}d"]);
}

#[test]
fn deleted_file_is_not_found() {
    let storage = storage();
    let dir = tempfile::tempdir().unwrap();
    let file = local_file(&storage, dir.path(), "gone.txt", b"x\n");
    std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
    let err = storage.read_split(&FileSplit::new(file.clone(), 0, 2)).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(err.to_string().contains(&file.url), "{err}");
}

/// A random line: empty, a lone '\r', short text with CR and multibyte
/// characters, or a line longer than most splits.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), Just("\r".to_owned()), "[a-c\r é]{1,5}", "[a-z]{30,80}",]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Uniform split sizes 1..=n+1 and random cut points all give every line once.
    #[test]
    fn any_splits_give_each_line_exactly_once(
        lines in proptest::collection::vec(line(), 0..10),
        final_newline in any::<bool>(),
        cut_seeds in proptest::collection::vec(any::<u64>(), 0..8),
    ) {
        let mut content = lines.join("\n");
        if final_newline {
            content.push('\n');
        }
        let storage = storage();
        let dir = tempfile::tempdir().unwrap();
        let file = local_file(&storage, dir.path(), "p.txt", content.as_bytes());
        let expected = reference(content.as_bytes());
        for split in 1..=file.size + 1 {
            prop_assert_eq!(&read_cuts(&storage, &file, &uniform_cuts(file.size, split)), &expected);
        }
        let mut cuts: Vec<u64> = cut_seeds.iter().map(|s| s % (file.size + 1)).collect();
        cuts.extend([0, file.size]);
        cuts.sort_unstable();
        cuts.dedup();
        prop_assert_eq!(&read_cuts(&storage, &file, &cuts), &expected);
        for min in [1, 2, 3, 7] {
            let got: Vec<String> = plan_splits(std::slice::from_ref(&file), min)
                .iter()
                .flat_map(|s| storage.read_split(s).unwrap().map(Result::unwrap))
                .collect();
            prop_assert_eq!(&got, &expected);
        }
    }
}
