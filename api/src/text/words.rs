//! [`Words`]: the ASCII-whitespace-separated words of a [`Text`], as `Text`s.

use super::Text;

/// The words of a [`Text`], from [`Text::words`]: split as [`str::split_ascii_whitespace`]
/// splits, each word a `Text` (inline when short, sharing the text's buffer when long).
///
/// Splitting at ASCII bytes keeps every word valid UTF-8, since an ASCII byte never occurs
/// inside a multi-byte character.
#[derive(Clone, Debug)]
pub struct Words {
    text: Text,
    /// Where the scan for the next word starts.
    pos: usize,
}

impl Words {
    pub(super) fn new(text: Text) -> Self {
        Words { text, pos: 0 }
    }
}

impl Iterator for Words {
    type Item = Text;

    // Forced inline: the caller's loop then writes each word straight into its batch instead
    // of taking it back through memory (user time -1.5 % on word count, three measurements).
    #[inline(always)]
    fn next(&mut self) -> Option<Text> {
        let (with_slack, end) = self.text.bytes_with_slack();
        let bytes = &with_slack[..end];
        let mut i = self.pos;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == bytes.len() {
            self.pos = i;
            return None;
        }
        if let Some((word, len)) = short_word_at(with_slack, i, end) {
            self.pos = i + len;
            return Some(word);
        }
        self.long_word_at(i)
    }
}

impl Words {
    /// The general path: a word of any length at `start`, found byte by byte.
    #[cold]
    #[inline(never)]
    fn long_word_at(&mut self, start: usize) -> Option<Text> {
        let bytes = self.text.as_bytes();
        let mut i = start;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        self.pos = i;
        Some(self.text.slice_valid(start, i))
    }
}

/// Bytes below this are word-end candidates: ASCII whitespace and the other control bytes.
const BELOW: u64 = 0x2121_2121_2121_2121;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The fast path for the common case: the word starting at `start` is at most
/// `INLINE_CAPACITY` bytes and ends at ASCII whitespace or at the text's `end` within the
/// next 24 bytes. Reads those 24 bytes as three words, finds the first byte below `!` in all
/// of them at once (SWAR), and builds the inline text from the same registers, with no
/// byte-by-byte scan and no variable-length copy. The 24 bytes may run past `end` into the
/// rest of the buffer the text is a slice of (`bytes`), so that the last words of a line take
/// this path too; nothing past `end` is ever part of a word. `None` sends the caller to the
/// general path (near the buffer's end, a long word, or a control byte that is not
/// whitespace).
// Forced inline, as `Words::next` is: returned through memory, the word cost a stall per
// call (user time -2.6 % inlined, two measurements).
#[inline(always)]
fn short_word_at(bytes: &[u8], start: usize, end: usize) -> Option<(Text, usize)> {
    let window: &[u8; 24] = bytes.get(start..start + 24)?.try_into().ok()?;
    let lane = |i: usize| u64::from_le_bytes(window[i * 8..i * 8 + 8].try_into().expect("an 8-byte lane of 24 bytes"));
    let lanes = [lane(0), lane(1), lane(2)];
    // `x - 0x21..` borrows out of exactly the bytes below 0x21 (the lowest one at least, and
    // only the lowest one matters); `!x` drops bytes >= 0x80, which are never whitespace.
    let mut len = None;
    for (i, x) in lanes.iter().enumerate() {
        let candidates = x.wrapping_sub(BELOW) & !x & HIGH_BITS;
        if candidates != 0 {
            len = Some(i * 8 + (candidates.trailing_zeros() / 8) as usize);
            break;
        }
    }
    let left = end - start;
    let len = match len {
        // Ends inside the text: at whitespace, or it is a control byte the slow path handles.
        Some(len) if len < left => {
            (len <= super::INLINE_CAPACITY && window[len].is_ascii_whitespace()).then_some(len)?
        }
        // Runs to the text's end (what follows it in the buffer is not the text's).
        _ if left <= super::INLINE_CAPACITY => left,
        _ => return None,
    };
    Some((Text::inline_from_window(window, len), len))
}

impl std::iter::FusedIterator for Words {}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::super::INLINE_CAPACITY;
    use super::*;

    /// Words of `s` through `Text`, checked against `str::split_ascii_whitespace`.
    fn check(s: &str) {
        for text in [Text::from(s), Text::from_utf8(Bytes::copy_from_slice(s.as_bytes())).unwrap()] {
            let got: Vec<Text> = text.words().collect();
            let expected: Vec<&str> = s.split_ascii_whitespace().collect();
            assert_eq!(got, expected, "words of {s:?}");
            for word in &got {
                assert_eq!(word.is_inline(), word.len() <= INLINE_CAPACITY, "canonical form of {word:?}");
            }
        }
    }

    #[test]
    fn splits_like_str_on_adversarial_input() {
        let long = "w".repeat(INLINE_CAPACITY + 9);
        let at_cap = "c".repeat(INLINE_CAPACITY);
        for s in [
            "",
            " ",
            " \t\r\n\x0c ",
            "one",
            "  lead and trail  ",
            "crlf line\r\n",
            "a\r\nb\r\n",
            "tabs\tand\x0cfeeds",
            "vertical\x0btab is not ascii whitespace",
            "non-breaking\u{a0}space stays inside",
            "café naïve 日本語 über",
            &format!("{long} {at_cap} {long}x"),
            &long,
            &format!("\t{at_cap}\r"),
        ] {
            check(s);
        }
    }

    proptest::proptest! {
        /// Long lines, so that most words go through the 24-byte fast path, with words around
        /// the inline boundary and the bytes that path must not mistake for a word's end.
        #[test]
        fn splits_like_str_on_random_lines(
            words in proptest::collection::vec("[a-c\x00\x0b\x7fé日]{0,3}|x{20,26}", 0..40),
            separators in proptest::collection::vec("[ \t\r\n\x0c]{1,3}", 40),
        ) {
            let mut line = String::new();
            for (word, sep) in words.iter().zip(&separators) {
                line.push_str(word);
                line.push_str(sep);
            }
            check(&line);
        }
    }

    proptest::proptest! {
        /// A text cut from a larger buffer (as `text_lines` cuts lines) splits like its own
        /// bytes: the fast path reads past the text's end but never takes a byte from there.
        #[test]
        fn a_slice_of_a_buffer_splits_like_its_own_bytes(
            words in proptest::collection::vec("[a-c]{1,7}[ \t\n\x0b]", 8..30),
            start in 0usize..40,
            len in 23usize..100,
        ) {
            let buffer = words.concat();
            let start = start.min(buffer.len());
            let end = (start + len).min(buffer.len());
            let shared = std::sync::Arc::new(Bytes::from(buffer.clone()));
            let text = Text::from_utf8_lossy_in(&shared, start, end);
            let got: Vec<Text> = text.words().collect();
            let expected: Vec<&str> = buffer[start..end].split_ascii_whitespace().collect();
            proptest::prop_assert_eq!(got, expected, "words of {:?}[{}..{}]", buffer, start, end);
        }
    }

    #[test]
    fn long_words_share_the_line_and_short_ones_do_not() {
        let long = "z".repeat(40);
        let line = Text::from(format!("{long} hi {long}"));
        let words: Vec<Text> = line.words().collect();
        let base = line.as_bytes().as_ptr() as usize;
        assert_eq!(words[0].as_bytes().as_ptr() as usize, base);
        assert_eq!(words[2].as_bytes().as_ptr() as usize, base + 44);
        assert!(words[1].is_inline());
    }

    #[test]
    fn is_fused() {
        let mut words = Text::from("a").words();
        assert_eq!(words.next(), Some(Text::from("a")));
        assert_eq!(words.next(), None);
        assert_eq!(words.next(), None);
    }
}
