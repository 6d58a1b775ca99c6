//! Reads the text lines that belong to one byte-range split of a file.
//!
//! A line starts at byte 0 and right after every `\n`. A split `[s, e)`
//! owns exactly the lines whose start offset `p` has `s <= p < e`, so every
//! line of a file belongs to exactly one split whatever the boundaries:
//!
//! ```text
//! file:   a a a \n b b b b b b \n c c \n
//! split:  [----- s1 -----)[------ s2 ------)
//! s1 owns "aaa" and "bbbbbb" (starts in s1, finished by reading past e1)
//! s2 skips the tail of "bbbbbb" and owns "cc"
//! ```
//!
//! For `s > 0` the byte at `s - 1` says whether a line starts at `s`;
//! otherwise the split's lines begin after the first `\n` at or after `s`.
//! The last owned line may run past `e`: the reader keeps reading ranges
//! past `e` (64 KiB, doubling) until its `\n` or the end of the file.
//!
//! All I/O happens up front in [`crate::Storage::read_split`]; [`SplitLines`] then walks the
//! in-memory buffer with `memchr`, allocating one `String` per line, or, through
//! [`SplitLines::next_line`] and [`SplitLines::next_shared`], handing out ranges or slices of
//! the buffer without copying.

use std::ops::Range;

use bytes::Bytes;

use crate::split::FileSplit;

/// Largest single read past a split's end while finishing its last line.
pub(crate) const MAX_TAIL_CHUNK: u64 = 8 << 20;

/// The lines of one split, in file order: see [`crate::Storage::read_split`].
///
/// Each line comes without its `\n` and without one trailing `\r` (so CRLF
/// files read cleanly). Empty lines are `""`; a file's last line needs no
/// `\n`; a file ending in `\n` has no empty line after it. Bytes are decoded
/// as UTF-8, invalid sequences replaced by U+FFFD.
///
/// Holds the split's bytes in memory; iterating does no I/O and no copy of
/// the buffer. `Send`, so it can move between threads.
pub struct SplitLines {
    /// The split's bytes, from one byte before `start` (when `start > 0`)
    /// to `end` or the end of the file, whichever is first.
    buf: Bytes,
    /// Offset in `buf` of the next line's start; `>= buf.len()` when done.
    pos: usize,
    /// Bytes after `buf` up to (not including) the `\n` ending the last
    /// owned line, or to the end of the file.
    tail: Vec<u8>,
}

impl SplitLines {
    /// An iterator over no lines.
    fn empty() -> Self {
        Self { buf: Bytes::new(), pos: 0, tail: Vec::new() }
    }

    /// The lines of a whole, already decoded file. Cost: O(1), no copy.
    pub(crate) fn whole(buf: Bytes) -> Self {
        Self { buf, pos: 0, tail: Vec::new() }
    }
}

impl SplitLines {
    /// The next line as a buffer that shares the split's memory (no copy, no UTF-8 check),
    /// with the same line rules as the `String` iterator: no `\n`, one trailing `\r`
    /// removed. The one exception to sharing is a last line that runs past the split's end:
    /// it is joined into a buffer of its own. Lines and strings can be mixed on one reader;
    /// each line is returned once either way.
    ///
    /// This is the zero-copy path for element types that slice lines further (words) without
    /// allocating; the caller decides what invalid UTF-8 means.
    pub fn next_shared(&mut self) -> Option<Bytes> {
        Some(match self.next_line()? {
            Line::InBuffer(range) => self.buf.slice(range),
            Line::Joined(joined) => joined,
        })
    }

    /// The next line as a range of [`SplitLines::buffer`] (or, for a last line that runs past
    /// the split's end, a buffer of its own), with the same line rules as the `String`
    /// iterator. For callers that cut many values from the one buffer and want to share it
    /// their own way; [`SplitLines::next_shared`] is the same line as a `Bytes` slice.
    pub fn next_line(&mut self) -> Option<Line> {
        let strip_cr = |bytes: &[u8]| bytes.len() - usize::from(bytes.ends_with(b"\r"));
        Some(match self.next_raw()? {
            RawLine::InBuffer(start, end) => Line::InBuffer(start..start + strip_cr(&self.buf[start..end])),
            RawLine::Joined(mut joined) => {
                joined.truncate(strip_cr(&joined));
                Line::Joined(Bytes::from(joined))
            }
        })
    }

    /// The split's bytes the lines of [`SplitLines::next_line`] are ranges of. Cost: O(1).
    pub fn buffer(&self) -> &Bytes {
        &self.buf
    }

    /// Advances past the next line and says where its bytes are (`\r` not yet removed).
    fn next_raw(&mut self) -> Option<RawLine> {
        let start = self.pos;
        let rest = self.buf.get(start..).filter(|r| !r.is_empty())?;
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                self.pos += i + 1;
                Some(RawLine::InBuffer(start, start + i))
            }
            None => {
                // The last owned line: it continues into the tail.
                self.pos = self.buf.len();
                if self.tail.is_empty() {
                    Some(RawLine::InBuffer(start, self.buf.len()))
                } else {
                    let mut joined = Vec::with_capacity(rest.len() + self.tail.len());
                    joined.extend_from_slice(rest);
                    joined.extend_from_slice(&self.tail);
                    Some(RawLine::Joined(joined))
                }
            }
        }
    }
}

/// A line from [`SplitLines::next_line`], without its `\n` and one trailing `\r`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// This range of [`SplitLines::buffer`].
    InBuffer(Range<usize>),
    /// The split's last line, joined with the bytes read past the split's end.
    Joined(Bytes),
}

/// Where a line's bytes are: a range of the split's buffer, or joined with the tail.
enum RawLine {
    InBuffer(usize, usize),
    Joined(Vec<u8>),
}

impl Iterator for SplitLines {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        Some(match self.next_raw()? {
            RawLine::InBuffer(start, end) => line_string(&self.buf[start..end]),
            RawLine::Joined(joined) => line_string(&joined),
        })
    }
}

impl std::fmt::Debug for SplitLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplitLines")
            .field("buffered", &self.buf.len())
            .field("pos", &self.pos)
            .field("tail", &self.tail.len())
            .finish()
    }
}

/// `bytes` minus one trailing `\r`, as a `String`: one allocation when the
/// bytes are valid UTF-8 (the fast path), lossy replacement otherwise.
fn line_string(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Reads what `split` needs and returns its lines, with `read` reading a byte range of the
/// split's file. `tail_chunk` is the size of the first read past the split's end (doubling up
/// to [`MAX_TAIL_CHUNK`]).
///
/// Reads never go past the file size recorded in the split's
/// [`crate::InputFile`]; a file that changed since listing may read
/// inconsistently, or fail with a range error if it shrank below the split.
///
/// # Errors
/// `read`'s error for the first failed read.
pub(crate) fn fetch(
    split: &FileSplit,
    tail_chunk: u64,
    mut read: impl FnMut(Range<u64>) -> crate::Result<Bytes>,
) -> crate::Result<SplitLines> {
    let size = split.file.size;
    let (start, end) = (split.start, split.end.min(size));
    if start >= end {
        return Ok(SplitLines::empty());
    }
    // One byte before `start` says whether a line starts at `start`.
    let read_from = start.saturating_sub(1);
    let buf = read(read_from..end)?;
    let first = if start == 0 {
        0
    } else {
        match buf.first() {
            Some(b'\n') => 1,
            Some(_) => memchr::memchr(b'\n', &buf[1..]).map_or(buf.len(), |i| i + 2),
            None => buf.len(),
        }
    };
    let mut lines = SplitLines { pos: first, tail: Vec::new(), buf };
    let owns_a_line = first < lines.buf.len();
    let last_line_open = lines.buf.last() != Some(&b'\n');
    if owns_a_line && last_line_open {
        let mut offset = read_from + lines.buf.len() as u64;
        let mut chunk = tail_chunk.max(1);
        while offset < size {
            let piece = read(offset..(offset + chunk).min(size))?;
            if piece.is_empty() {
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &piece) {
                lines.tail.extend_from_slice(&piece[..i]);
                break;
            }
            lines.tail.extend_from_slice(&piece);
            offset += piece.len() as u64;
            chunk = (chunk * 2).min(MAX_TAIL_CHUNK);
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InputFile, Storage};
    use proptest::prelude::*;

    /// The reference: split on '\n', strip one '\r', no empty piece after a final '\n'.
    fn reference(content: &[u8]) -> Vec<String> {
        if content.is_empty() {
            return Vec::new();
        }
        let body = content.strip_suffix(b"\n").unwrap_or(content);
        body.split(|&b| b == b'\n').map(line_string).collect()
    }

    fn put_file(storage: &Storage, name: &str, content: &[u8]) -> InputFile {
        let url = format!("memory://lines/{name}");
        storage.put(&url, Bytes::copy_from_slice(content)).unwrap();
        storage.list_inputs(&url).unwrap().remove(0)
    }

    /// `content` as a local file (read through recycled buffers rather than `object_store`).
    fn local_file(storage: &Storage, dir: &std::path::Path, content: &[u8]) -> InputFile {
        let path = dir.join("local.txt");
        std::fs::write(&path, content).unwrap();
        storage.list_inputs(path.to_str().unwrap()).unwrap().remove(0)
    }

    /// The lines of splits of `size` bytes each (last one may reach past the file).
    fn by_split_size(storage: &Storage, file: &InputFile, size: u64, tail: u64) -> Vec<String> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < file.size.max(1) {
            let split = FileSplit::new(file.clone(), start, start + size);
            out.extend(storage.read_split_with(&split, tail).unwrap());
            start += size;
        }
        out
    }

    /// [`by_split_size`] through [`SplitLines::next_shared`], decoded the same way.
    fn shared_by_split_size(storage: &Storage, file: &InputFile, size: u64, tail: u64) -> Vec<String> {
        let mut out = Vec::new();
        let mut start = 0;
        while start < file.size.max(1) {
            let mut lines = storage.read_split_with(&FileSplit::new(file.clone(), start, start + size), tail).unwrap();
            while let Some(line) = lines.next_shared() {
                out.push(String::from_utf8_lossy(&line).into_owned());
            }
            start += size;
        }
        out
    }

    #[test]
    fn line_string_strips_one_cr_and_replaces_bad_utf8() {
        assert_eq!(line_string(b"a\r"), "a");
        assert_eq!(line_string(b"a\r\r"), "a\r");
        assert_eq!(line_string(b"\r"), "");
        assert_eq!(line_string(b"x\xffy"), "x\u{fffd}y");
    }

    #[test]
    fn iterator_joins_the_last_line_with_its_tail() {
        let mut lines = SplitLines { buf: Bytes::from_static(b"ab\ncd\r"), pos: 0, tail: b"ef\r".to_vec() };
        assert_eq!(lines.next().as_deref(), Some("ab"));
        assert_eq!(lines.next().as_deref(), Some("cd\ref"));
        assert_eq!(lines.next(), None);
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn shared_lines_follow_the_same_rules_and_share_the_buffer() {
        let buf = Bytes::from_static(b"ab\r\n\ncd\r");
        let mut lines = SplitLines { buf: buf.clone(), pos: 0, tail: b"ef\r".to_vec() };
        let first = lines.next_shared().unwrap();
        assert_eq!(&first[..], b"ab");
        assert_eq!(first.as_ptr(), buf.as_ptr(), "a line inside the buffer is a slice of it");
        assert_eq!(lines.next().as_deref(), Some(""), "strings and shared lines mix");
        assert_eq!(lines.next_shared().as_deref(), Some(&b"cd\ref"[..]));
        assert_eq!(lines.next_shared(), None);
    }

    #[test]
    fn line_ranges_follow_the_same_rules() {
        let mut lines = SplitLines { buf: Bytes::from_static(b"ab\r\n\r\ncd\r"), pos: 0, tail: b"ef\r".to_vec() };
        assert_eq!(lines.next_line(), Some(Line::InBuffer(0..2)));
        assert_eq!(lines.next_line(), Some(Line::InBuffer(4..4)));
        assert_eq!(lines.next_line(), Some(Line::Joined(Bytes::from_static(b"cd\ref"))));
        assert_eq!(lines.next_line(), None);
        let mut whole = SplitLines::whole(Bytes::from_static(b"x\r"));
        assert_eq!(whole.next_line(), Some(Line::InBuffer(0..1)));
        assert_eq!(&whole.buffer()[..1], b"x");
    }

    #[test]
    fn a_local_file_gone_since_listing_is_not_found_by_url() {
        let storage = Storage::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = local_file(&storage, dir.path(), b"a\nb\n");
        std::fs::remove_file(dir.path().join("local.txt")).unwrap();
        let err = storage.read_split(&FileSplit::new(file.clone(), 0, 4)).unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(err.to_string().contains(&file.url), "{err}");
    }

    #[test]
    fn tail_reads_grow_past_a_long_line() {
        let storage = Storage::new().unwrap();
        let long = "x".repeat(5000);
        let content = format!("a\n{long}\nb");
        let file = put_file(&storage, "long", content.as_bytes());
        for tail in [1, 3, 64, 1 << 16] {
            let first = FileSplit::new(file.clone(), 0, 4);
            let got: Vec<String> = storage.read_split_with(&first, tail).unwrap().collect();
            assert_eq!(got, ["a", long.as_str()], "tail chunk {tail}");
            assert_eq!(by_split_size(&storage, &file, 7, tail), reference(content.as_bytes()));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Every split size and tail chunk gives each line exactly once.
        #[test]
        fn splits_partition_the_lines(
            pieces in proptest::collection::vec(
                prop_oneof![
                    Just(String::new()),
                    Just("\r".to_owned()),
                    "[a-c\r é]{1,6}",
                    "[a-z]{20,60}",
                ],
                0..12,
            ),
            final_newline in any::<bool>(),
            tail in 1u64..9,
        ) {
            let mut content = pieces.join("\n");
            if final_newline {
                content.push('\n');
            }
            let storage = Storage::new().unwrap();
            let file = put_file(&storage, "p", content.as_bytes());
            let dir = tempfile::tempdir().unwrap();
            let local = local_file(&storage, dir.path(), content.as_bytes());
            let expected = reference(content.as_bytes());
            for size in 1..=file.size + 1 {
                prop_assert_eq!(&by_split_size(&storage, &local, size, tail), &expected,
                    "local file, split size {}", size);
                prop_assert_eq!(&by_split_size(&storage, &file, size, tail), &expected,
                    "split size {}", size);
                prop_assert_eq!(&shared_by_split_size(&storage, &file, size, tail), &expected,
                    "shared lines, split size {}", size);
            }
        }
    }
}
