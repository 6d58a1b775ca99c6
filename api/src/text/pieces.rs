//! [`SharedPiece`]: the buffer a split's lines are cut from, shared by the `Text`s cut from it.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use ember_storage::SplitLines;

use super::Text;

/// One buffer of a [`SplitLines`] reader, behind the one `Arc` every long line cut from it
/// shares, with how much of it is known to be valid UTF-8.
///
/// The buffer is checked once, up to its last `\n`, when the reader moves to it: one pass at
/// memory speed instead of one call per line (lines average about 100 bytes, so the per-call
/// cost dominated). A line inside the checked prefix needs no check of its own, since a `\n`
/// never falls inside a multi-byte character; a line past it (the buffer holds invalid UTF-8
/// there, or it is a file's unterminated last line) is checked, and repaired, alone.
pub(crate) struct SharedPiece {
    pub(crate) generation: u64,
    buf: Arc<Bytes>,
    valid_end: usize,
}

impl SharedPiece {
    /// The reader's current buffer. Cost: one `Arc`, one UTF-8 check of the buffer.
    pub(crate) fn of(lines: &SplitLines) -> Self {
        let buf = lines.buffer();
        let lines_end = memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1);
        let valid_end = match std::str::from_utf8(&buf[..lines_end]) {
            Ok(_) => lines_end,
            Err(err) => err.valid_up_to(),
        };
        SharedPiece { generation: lines.buffer_generation(), buf: Arc::new(buf.clone()), valid_end }
    }

    /// The line at `range` of the buffer (invalid UTF-8 replaced with U+FFFD).
    #[inline]
    pub(crate) fn text(&self, range: Range<usize>) -> Text {
        if range.end <= self.valid_end {
            Text::from_valid_in(&self.buf, range.start, range.end)
        } else {
            Text::from_utf8_lossy_in(&self.buf, range.start, range.end)
        }
    }
}

#[cfg(test)]
mod tests {
    use ember_storage::{FileSplit, Storage};

    use super::*;

    #[test]
    fn lines_before_and_after_invalid_utf8_decode_as_text_file_decodes_them() {
        let content: &[u8] =
            b"caf\xc3\xa9 first line, valid and longer than inline\nbad \xff here\nafter the bad one\nunterminated";
        let storage = Storage::new().unwrap();
        storage.put("memory://pieces/a.txt", Bytes::from_static(content)).unwrap();
        let file = storage.list_inputs("memory://pieces/a.txt").unwrap().remove(0);
        let mut lines = storage.read_split(&FileSplit::new(file, 0, content.len() as u64)).unwrap();
        let piece = SharedPiece::of(&lines);
        assert_eq!(piece.valid_end, content.iter().position(|&b| b == 0xff).unwrap(), "checked up to the bad byte");
        let mut got = Vec::new();
        while let Some(range) = lines.next_line() {
            got.push(piece.text(range.unwrap()).to_string());
        }
        let expected: Vec<String> =
            content.split(|&b| b == b'\n').map(|l| String::from_utf8_lossy(l).into_owned()).collect();
        assert_eq!(got, expected);
    }
}
