//! [`Text`]: an immutable UTF-8 string that is inline when short and otherwise a zero-copy
//! slice of a shared buffer, the element type of [`crate::Context::text_lines`].

mod pieces;
mod serde_impls;
mod words;

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::num::NonZeroU64;
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;

pub(crate) use pieces::SharedPiece;
pub use words::Words;

/// The longest text kept inline, in bytes. 22 keeps a `Text` at 24 bytes (the size of the
/// shared form), so a hash table entry `(Text, u64)` is 32 bytes: two per cache line, none
/// straddling two, and a short key with no pointer to follow. (At 40 bytes an entry, word
/// count's table took 60% longer: the table is bound by cache misses.)
pub const INLINE_CAPACITY: usize = 22;

/// An immutable UTF-8 string that costs no allocation: up to [`INLINE_CAPACITY`] bytes it
/// lives inline, longer it is a slice of a shared, reference-counted buffer (such as the
/// buffer a file split was read into).
///
/// It is what [`crate::Context::text_lines`] yields, and what [`Text::words`] splits a line
/// into, so a word count over it allocates nothing per line or per word. It behaves as a
/// string: it dereferences to `str`, prints as one, compares, orders and hashes exactly as
/// the same `str` does (so a `HashMap<Text, _>` can be queried with a `&str`), and is
/// serialized as a string (so it crosses shuffles, caches and object files, and a
/// `Text` written can be read back as a `String` and the other way round).
///
/// Cloning is cheap: a copy of 24 bytes, plus a reference count increment for long text. A
/// long `Text` keeps its whole buffer alive; [`Text::compact`] copies it out when a small
/// piece must outlive a big buffer.
///
/// # Examples
/// ```
/// use ember::Text;
///
/// let line = Text::from("to be or not to be");
/// let words: Vec<Text> = line.words().collect();
/// assert_eq!(words.len(), 6);
/// assert_eq!(words[1], "be");
/// assert!(words[1] < words[2]); // "be" < "or", as for str
/// assert_eq!(words[2].to_uppercase(), "OR"); // any str method, through Deref
/// ```
#[derive(Clone)]
pub struct Text(Repr);

/// Bytes that are not valid UTF-8, from [`Text::from_utf8`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not valid UTF-8: {source}")]
pub struct FromUtf8Error {
    bytes: Bytes,
    source: std::str::Utf8Error,
}

impl FromUtf8Error {
    /// Where the first invalid sequence is.
    pub fn utf8_error(&self) -> std::str::Utf8Error {
        self.source
    }

    /// The buffer that was refused, unchanged.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }
}

/// Invariant (what equality and hashing rely on): text of at most `INLINE_CAPACITY` bytes is
/// always `Inline`, with the bytes after it zero; longer text is always `Shared`. Both hold
/// valid UTF-8.
///
/// Long text points at a whole buffer (`Arc<Bytes>`, one per buffer, such as one per file
/// split) with 32-bit offsets rather than holding a `Bytes` slice, which is 32 bytes on its
/// own: that is what keeps the type at 24 bytes.
#[derive(Clone)]
enum Repr {
    Inline(Inline),
    /// `buf[start..start + len]`, or all of `buf` when `len` is [`WHOLE`] (text of 4 GiB or
    /// more, which 32-bit offsets cannot describe, gets a buffer of its own).
    Shared {
        buf: Arc<Bytes>,
        start: u32,
        len: u32,
    },
}

/// `HEAD_MASKS[n]` keeps the first `n` of 16 bytes.
const HEAD_MASKS: [[u8; 16]; 17] = {
    let mut masks = [[0; 16]; 17];
    let mut n = 0;
    while n <= 16 {
        let mut i = 0;
        while i < n {
            masks[n][i] = 0xff;
            i += 1;
        }
        n += 1;
    }
    masks
};

/// `Repr::Shared`'s `len` for "all of the buffer".
const WHOLE: u32 = u32::MAX;

/// Short text in place: a 16-byte head and an 8-byte tail, both at aligned offsets, so a
/// `Text` moves and compares as a 16-byte and an 8-byte value. (A layout with a tag byte in
/// front was copied at odd offsets that defeated store forwarding: word count ran 25%
/// slower.) `tail` is never zero, which is the niche `Repr` keeps its tag in.
#[derive(Clone, Copy, PartialEq, Eq, bytemuck::NoUninit)]
#[repr(C)]
struct Inline {
    /// Bytes 0..16 of the text, then zeros. Built as one 16-byte value (see `Inline::new`).
    head: [u8; 16],
    /// In memory order: bytes 16..22 of the text, then zeros; the length (byte 22); 0x80.
    tail: NonZeroU64,
}

impl Inline {
    /// Offset of the length byte.
    const LEN_AT: usize = INLINE_CAPACITY;

    /// Inline text of `len` (at most `INLINE_CAPACITY`) bytes, from 24 bytes that start with
    /// it (what follows is masked off here).
    ///
    /// The first 16 bytes are masked as one 16-byte value, which the compiler keeps in a vector
    /// register and writes with one store. A `Text` is moved with a 16-byte and an 8-byte
    /// load; written as two 8-byte words, the 16-byte load could not take its data from the
    /// pending stores and waited for both to reach the cache, on every word a word count
    /// moves out of its word iterator (8% of its time).
    #[inline]
    fn new(window: &[u8; 24], len: usize) -> Self {
        let keep = &HEAD_MASKS[len.min(16)];
        let head: [u8; 16] = std::array::from_fn(|i| window[i] & keep[i]);
        let lane = u64::from_le_bytes(window[16..].try_into().expect("the last 8 of 24 bytes"));
        let keep_bits = (len * 8).saturating_sub(128);
        let rest = lane & ((1u64 << keep_bits) - 1);
        let marked = rest | (len as u64) << 48 | 0x80 << 56;
        let tail = NonZeroU64::new(u64::from_ne_bytes(marked.to_le_bytes())).expect("the marker bit is set");
        Inline { head, tail }
    }

    #[inline]
    fn len(&self) -> usize {
        bytemuck::bytes_of(self)[Self::LEN_AT] as usize
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        &bytemuck::bytes_of(self)[..self.len()]
    }
}

impl Text {
    /// An inline text's 24 bytes as three words (zero padded, length included), `None` for
    /// shared text: a fixed-width key for hashing with no branch on the length. Two inline
    /// texts are equal exactly when their words are; inline and shared text are never equal.
    #[inline]
    pub(crate) fn inline_words(&self) -> Option<(u64, u64, u64)> {
        match &self.0 {
            Repr::Inline(inline) => {
                let [a, b, c]: [u64; 3] = bytemuck::cast(*inline);
                Some((a, b, c))
            }
            Repr::Shared { .. } => None,
        }
    }

    /// The empty text. Cost: none.
    pub const fn new() -> Self {
        let tail = match NonZeroU64::new(u64::from_ne_bytes([0, 0, 0, 0, 0, 0, 0, 0x80])) {
            Some(tail) => tail,
            None => unreachable!(),
        };
        Text(Repr::Inline(Inline { head: [0; 16], tail }))
    }

    /// Wraps a shared buffer that holds valid UTF-8, or returns it back when it does not.
    /// Short text is copied inline (so the buffer is not kept alive for it); long text
    /// shares `bytes` without copying.
    ///
    /// Cost: one UTF-8 validation pass.
    ///
    /// # Errors
    /// [`FromUtf8Error`] when the bytes are not valid UTF-8; it says where the first invalid
    /// sequence is and gives the buffer back.
    ///
    /// # Examples
    /// ```
    /// use bytes::Bytes;
    /// use ember::Text;
    ///
    /// assert_eq!(Text::from_utf8(Bytes::from_static(b"caf\xc3\xa9"))?, "café");
    /// let err = Text::from_utf8(Bytes::from_static(b"ok\xff")).unwrap_err();
    /// assert_eq!(err.utf8_error().valid_up_to(), 2);
    /// assert_eq!(err.into_bytes(), &b"ok\xff"[..]);
    /// # Ok::<(), ember::text::FromUtf8Error>(())
    /// ```
    pub fn from_utf8(bytes: Bytes) -> Result<Self, FromUtf8Error> {
        match std::str::from_utf8(&bytes) {
            Ok(_) => Ok(Text::from_valid(bytes)),
            Err(source) => Err(FromUtf8Error { bytes, source }),
        }
    }

    /// `bytes` as text, each invalid UTF-8 sequence replaced by U+FFFD. Valid input costs
    /// one validation pass and no copy of long text.
    ///
    /// # Examples
    /// ```
    /// use bytes::Bytes;
    /// use ember::Text;
    ///
    /// assert_eq!(Text::from_utf8_lossy(Bytes::from_static(b"a\xffb")), "a\u{fffd}b");
    /// ```
    pub fn from_utf8_lossy(bytes: Bytes) -> Self {
        Text::from_utf8(bytes).unwrap_or_else(|err| Text::from(String::from_utf8_lossy(&err.bytes).into_owned()))
    }

    /// `buf[start..end]` as text, each invalid UTF-8 sequence replaced by U+FFFD: the
    /// constructor for many texts cut from one buffer (the lines of a file split), which
    /// share `buf` without an allocation each. Cost: one validation pass; a reference count
    /// increment for long text.
    pub(crate) fn from_utf8_lossy_in(buf: &Arc<Bytes>, start: usize, end: usize) -> Self {
        let bytes = &buf[start..end];
        match std::str::from_utf8(bytes) {
            Ok(_) => Text::from_valid_in(buf, start, end),
            Err(_) => Text::from(String::from_utf8_lossy(bytes).into_owned()),
        }
    }

    /// `buf[start..end]`, which the caller has checked is valid UTF-8 (an earlier check of
    /// a larger range of `buf`): [`Text::from_utf8_lossy_in`] without checking again.
    pub(crate) fn from_valid_in(buf: &Arc<Bytes>, start: usize, end: usize) -> Self {
        debug_assert!(std::str::from_utf8(&buf[start..end]).is_ok());
        if end - start <= INLINE_CAPACITY { Text::inline(&buf[start..end]) } else { Text::shared(buf, start, end) }
    }

    /// Text from bytes known to be valid UTF-8.
    fn from_valid(bytes: Bytes) -> Self {
        if bytes.len() <= INLINE_CAPACITY {
            Text::inline(&bytes)
        } else {
            let end = bytes.len();
            Text::shared(&Arc::new(bytes), 0, end)
        }
    }

    /// Long text `buf[start..end]` (more than `INLINE_CAPACITY` bytes, valid UTF-8, on
    /// character boundaries), sharing `buf` when the offsets fit 32 bits.
    fn shared(buf: &Arc<Bytes>, start: usize, end: usize) -> Self {
        match (u32::try_from(start), u32::try_from(end - start)) {
            (Ok(start), Ok(len)) if len != WHOLE => Text(Repr::Shared { buf: Arc::clone(buf), start, len }),
            _ if start == 0 && end == buf.len() => Text(Repr::Shared { buf: Arc::clone(buf), start: 0, len: WHOLE }),
            _ => Text(Repr::Shared { buf: Arc::new(buf.slice(start..end)), start: 0, len: WHOLE }),
        }
    }

    /// Inline text from at most `INLINE_CAPACITY` bytes of valid UTF-8.
    #[inline]
    fn inline(valid: &[u8]) -> Self {
        let mut bytes = [0; 24];
        bytes[..valid.len()].copy_from_slice(valid);
        Text::inline_from_window(&bytes, valid.len())
    }

    /// Inline text from the first `len` bytes (at most `INLINE_CAPACITY`, valid UTF-8) of a
    /// 24-byte window; the bytes after `len` are masked to zero, with no variable-length copy.
    #[inline]
    fn inline_from_window(window: &[u8; 24], len: usize) -> Self {
        Text(Repr::Inline(Inline::new(window, len)))
    }

    /// The text as a string slice (also what `Deref`, `Display` and `Serialize` use).
    ///
    /// Cost: a UTF-8 check of the bytes, linear but at memory speed for ASCII: the type's
    /// invariant is re-checked rather than trusted with `unsafe`. Hashing, comparing,
    /// [`Text::len`] and [`Text::as_bytes`] do not pay it.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("a Text holds valid UTF-8: every constructor checks it")
    }

    /// The text's UTF-8 bytes. Cost: O(1).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(inline) => inline.as_bytes(),
            Repr::Shared { buf, len: WHOLE, .. } => buf,
            Repr::Shared { buf, start, len } => &buf[*start as usize..*start as usize + *len as usize],
        }
    }

    /// The text's bytes followed by whatever follows them in the buffer it shares (nothing for
    /// inline text), and the text's length: lets a scanner read a fixed-size window past the
    /// text's end instead of stopping short of it.
    pub(crate) fn bytes_with_slack(&self) -> (&[u8], usize) {
        match &self.0 {
            Repr::Inline(inline) => (inline.as_bytes(), inline.len()),
            Repr::Shared { buf, len: WHOLE, .. } => (buf, buf.len()),
            Repr::Shared { buf, start, len } => (&buf[*start as usize..], *len as usize),
        }
    }

    /// Length in bytes. Cost: O(1).
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Inline(inline) => inline.len(),
            Repr::Shared { buf, len: WHOLE, .. } => buf.len(),
            Repr::Shared { len, .. } => *len as usize,
        }
    }

    /// Whether the text is empty. Cost: O(1).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the text is stored inline (at most [`INLINE_CAPACITY`] bytes) rather than
    /// sharing a buffer.
    ///
    /// # Examples
    /// ```
    /// use ember::text::{INLINE_CAPACITY, Text};
    ///
    /// assert!(Text::from("x".repeat(INLINE_CAPACITY)).is_inline());
    /// assert!(!Text::from("x".repeat(INLINE_CAPACITY + 1)).is_inline());
    /// ```
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(_))
    }

    /// The same text in a buffer of its own, so it no longer keeps a larger shared buffer
    /// alive (for a long piece kept after its line is done with, such as a cached key).
    /// Cost: one copy of long text; nothing for inline text.
    ///
    /// # Examples
    /// ```
    /// use ember::Text;
    ///
    /// let line = Text::from("a word much longer than twenty-three bytes, and more");
    /// let kept = line.words().last().unwrap().compact();
    /// assert_eq!(kept, "more");
    /// ```
    pub fn compact(&self) -> Self {
        match &self.0 {
            Repr::Inline(_) => self.clone(),
            _ => Text::from_valid(Bytes::copy_from_slice(self.as_bytes())),
        }
    }

    /// The words of the text, split on ASCII whitespace exactly as
    /// [`str::split_ascii_whitespace`] splits (space, `\t`, `\n`, `\x0C`, `\r`; no empty
    /// words), each one a `Text` itself: a short word is copied inline, a long one shares
    /// this text's buffer. The iterator owns a clone of the text, so it can be returned
    /// from a `flat_map` closure.
    ///
    /// # Examples
    /// ```
    /// use ember::Text;
    ///
    /// let words: Vec<Text> = Text::from("  the cat\tsat\r\n").words().collect();
    /// assert_eq!(words, ["the", "cat", "sat"]);
    /// ```
    pub fn words(&self) -> Words {
        Words::new(self.clone())
    }

    /// [`Text::words`], consuming the text: saves the clone, which for a long text is a
    /// reference count increment and decrement on a buffer every other line shares too (the
    /// form for `flat_map(Text::into_words)`, where each line is used once).
    ///
    /// # Examples
    /// ```
    /// use ember::Text;
    ///
    /// let line = Text::from("a line long enough to share its buffer");
    /// assert_eq!(line.into_words().count(), 8);
    /// ```
    pub fn into_words(self) -> Words {
        Words::new(self)
    }

    /// The sub-text `bytes[start..end]` of a text whose range is known to fall on UTF-8
    /// character boundaries. Shares the buffer when long, copies inline when short.
    fn slice_valid(&self, start: usize, end: usize) -> Text {
        match &self.0 {
            _ if end - start <= INLINE_CAPACITY => Text::inline(&self.as_bytes()[start..end]),
            Repr::Shared { buf, start: base, .. } => Text::shared(buf, *base as usize + start, *base as usize + end),
            Repr::Inline(_) => unreachable!("an inline text has no slice longer than INLINE_CAPACITY"),
        }
    }
}

impl Default for Text {
    fn default() -> Self {
        Text::new()
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Sound because `Hash`, `Eq` and `Ord` of `Text` are those of the same `str`.
impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    /// Copies: inline when short, into a new shared buffer when long.
    fn from(s: &str) -> Self {
        if s.len() <= INLINE_CAPACITY {
            Text::inline(s.as_bytes())
        } else {
            Text::from_valid(Bytes::copy_from_slice(s.as_bytes()))
        }
    }
}

impl From<String> for Text {
    /// Takes over the string's buffer when long (no copy); copies it inline when short.
    fn from(s: String) -> Self {
        Text::from_valid(Bytes::from(s))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text::from(s.as_str())
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.as_str().to_owned()
    }
}

impl std::str::FromStr for Text {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Text::from(s))
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Text {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            // The zero padding makes whole-array comparison exact, with no length-dependent
            // loop: the common case for words in a hash table.
            (Repr::Inline(a), Repr::Inline(b)) => a == b,
            // Lengths differ (one is at most INLINE_CAPACITY, the other longer).
            (Repr::Inline(_), _) | (_, Repr::Inline(_)) => false,
            _ => self.as_bytes() == other.as_bytes(),
        }
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    /// Byte-wise, which is `str`'s order.
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Text {
    /// Exactly what `str`'s `Hash` writes, so a `&str` finds its `Text` in a hash map and
    /// a `Text` key is placed by a partitioner as the same `String` key would be.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

/// Comparisons with string types, both ways round, so `text == "word"` and
/// `assert_eq!(texts, ["a", "b"])` read naturally.
macro_rules! eq_with_str {
    ($($other:ty),*) => {
        $(
            impl PartialEq<$other> for Text {
                fn eq(&self, other: &$other) -> bool {
                    self.as_bytes() == AsRef::<[u8]>::as_ref(other)
                }
            }

            impl PartialEq<Text> for $other {
                fn eq(&self, other: &Text) -> bool {
                    AsRef::<[u8]>::as_ref(self) == other.as_bytes()
                }
            }
        )*
    };
}

eq_with_str!(str, &str, String);

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::hash::BuildHasher;

    use super::*;

    fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
        foldhash::fast::FixedState::with_seed(7).hash_one(value)
    }

    /// Strings around the inline boundary, non-ASCII ones, and the empty string.
    fn samples() -> Vec<String> {
        let mut out = vec![String::new(), "a".into(), "é".into(), "ab".into(), "b".into(), "日本語".into()];
        for n in [INLINE_CAPACITY - 1, INLINE_CAPACITY, INLINE_CAPACITY + 1, 100] {
            out.push("x".repeat(n));
            out.push(format!("{}y", "x".repeat(n - 1)));
        }
        out.push(format!("{}é", "x".repeat(INLINE_CAPACITY - 2))); // 2-byte char ends at the boundary
        out
    }

    #[test]
    fn stays_24_bytes_so_table_entries_stay_small() {
        assert_eq!(std::mem::size_of::<Text>(), 24);
        assert_eq!(std::mem::size_of::<(Text, u64)>(), 32);
    }

    #[test]
    fn texts_cut_from_one_buffer_share_it() {
        let line = "short and a-word-longer-than-twenty-two-bytes end";
        let buf = Arc::new(Bytes::from(format!("{line}\nrest")));
        let text = Text::from_utf8_lossy_in(&buf, 0, line.len());
        assert_eq!(text, line);
        assert_eq!(text.as_bytes().as_ptr(), buf.as_ptr(), "no copy");
        let short = Text::from_utf8_lossy_in(&buf, 6, 9);
        assert!(short.is_inline() && short == "and");
        let long_word = text.words().nth(2).unwrap();
        assert_eq!(long_word, "a-word-longer-than-twenty-two-bytes");
        assert_eq!(long_word.as_bytes().as_ptr(), buf[10..].as_ptr(), "a long word shares the buffer too");
        let bad = Arc::new(Bytes::from_static(b"x\xffy and then enough bytes to be long"));
        assert_eq!(Text::from_utf8_lossy_in(&bad, 0, 3), "x\u{fffd}y");
        assert_eq!(Text::from_utf8_lossy_in(&bad, 0, bad.len()), "x\u{fffd}y and then enough bytes to be long");
    }

    #[test]
    fn representation_switches_exactly_at_the_inline_capacity() {
        let at = "x".repeat(INLINE_CAPACITY);
        let past = "x".repeat(INLINE_CAPACITY + 1);
        assert!(Text::from(at.as_str()).is_inline());
        assert!(!Text::from(past.as_str()).is_inline());
        assert!(Text::from(at.clone()).is_inline(), "a short String is copied inline");
        assert!(!Text::from(past.clone()).is_inline());
        assert!(Text::from_utf8(Bytes::from(at)).unwrap().is_inline());
        assert!(!Text::from_utf8(Bytes::from(past)).unwrap().is_inline());
    }

    #[test]
    fn eq_ord_and_hash_agree_with_str() {
        let samples = samples();
        for a in &samples {
            let ta = Text::from(a.as_str());
            assert_eq!(ta.as_str(), a);
            assert_eq!(ta.len(), a.len());
            assert_eq!(hash_of(&ta), hash_of(a.as_str()), "hash of {a:?}");
            assert_eq!(crate::partitioner::stable_hash(&ta), crate::partitioner::stable_hash(a), "placement of {a:?}");
            for b in &samples {
                let tb = Text::from(b.clone());
                assert_eq!(ta == tb, a == b, "{a:?} == {b:?}");
                assert_eq!(ta.cmp(&tb), a.as_str().cmp(b.as_str()), "{a:?} cmp {b:?}");
                assert_eq!(ta == b.as_str(), a == b);
            }
        }
    }

    #[test]
    fn a_str_finds_its_text_in_a_map() {
        let mut counts: HashMap<Text, u32> = HashMap::new();
        counts.insert(Text::from("word"), 1);
        counts.insert(Text::from("x".repeat(40)), 2);
        assert_eq!(counts.get("word"), Some(&1));
        assert_eq!(counts.get("x".repeat(40).as_str()), Some(&2));
        assert_eq!(counts.get("nope"), None);
    }

    #[test]
    fn invalid_utf8_is_refused_or_replaced() {
        let bad = Bytes::from_static(b"ok\xc3");
        let err = Text::from_utf8(bad.clone()).unwrap_err();
        assert_eq!(err.utf8_error().valid_up_to(), 2);
        assert!(err.to_string().starts_with("not valid UTF-8"), "{err}");
        assert_eq!(err.into_bytes(), bad, "the buffer comes back unchanged");
        assert_eq!(Text::from_utf8_lossy(bad), "ok\u{fffd}");
        let long_bad = Bytes::from([&[b'x'; 30][..], b"\xff"].concat());
        assert_eq!(Text::from_utf8_lossy(long_bad), format!("{}\u{fffd}", "x".repeat(30)));
    }

    #[test]
    fn long_text_shares_its_buffer_until_compacted() {
        let buffer = Bytes::from("y".repeat(64));
        let text = Text::from_utf8(buffer.clone()).unwrap();
        assert_eq!(text.as_bytes().as_ptr(), buffer.as_ptr(), "no copy");
        let own = text.compact();
        assert_eq!(own, text);
        assert_ne!(own.as_bytes().as_ptr(), buffer.as_ptr());
    }

    #[test]
    fn string_conversions_round_trip() {
        for s in samples() {
            assert_eq!(String::from(Text::from(s.clone())), s);
            assert_eq!(Text::from(&s).to_string(), s);
            assert_eq!(format!("{:?}", Text::from(s.as_str())), format!("{s:?}"));
            assert_eq!(s.parse::<Text>().unwrap(), s);
        }
        assert_eq!(Text::default(), "");
    }
}
