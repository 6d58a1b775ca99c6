//! The one place that turns serde values into bytes and back (bincode 2).
//!
//! Everything that crosses a task, block or process boundary is encoded
//! here, so replacing bincode (unmaintained, RUSTSEC-2025-0141) with another
//! serde codec is a change to this file only.
//!
//! Format: bincode 2 `config::standard()` (little endian, varint integers).
//! Records are concatenated back to back with no framing: the encoding of a
//! value is self-delimiting, so [`Records`] can walk a buffer of them.
//! Decoding always runs under a size limit ([`DECODE_LIMIT`]) so a corrupt
//! length prefix cannot make the decoder allocate without bound.

use std::io::{BufRead, Write};
use std::marker::PhantomData;

use bincode::config::{self, Configuration, Limit};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{CodecError, Result};

/// The most bytes one decoded value may claim (1 GiB). A buffer that asks
/// for more (usually a corrupt length prefix) is a decode error.
pub const DECODE_LIMIT: usize = 1 << 30;

/// The encoding configuration: `config::standard()`.
fn encode_config() -> Configuration {
    config::standard()
}

/// The decoding configuration: `config::standard()` limited to [`DECODE_LIMIT`].
fn decode_config() -> Configuration<config::LittleEndian, config::Varint, Limit<DECODE_LIMIT>> {
    config::standard().with_limit::<DECODE_LIMIT>()
}

/// Appends the encoding of `value` to `buf` and returns the number of bytes
/// appended.
///
/// Cost: one pass over the value; `buf` grows as a `Vec` does, so reusing
/// one buffer for many records amortises allocation to nothing.
///
/// # Errors
/// [`CodecError::Encode`] if the value's `Serialize` fails. On error, `buf`
/// may hold a partial record after its previous end; truncate it to its
/// previous length before reusing it.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut Vec<u8>) -> Result<usize> {
    let written = bincode::serde::encode_into_std_write(value, buf, encode_config()).map_err(CodecError::Encode)?;
    Ok(written)
}

/// Writes the encoding of `value` to `writer` and returns the number of bytes written. Give
/// it a buffered writer: the encoder writes field by field.
///
/// # Errors
/// [`CodecError::Encode`] if the value's `Serialize` fails or the writer does.
pub fn encode_to_writer<T: Serialize + ?Sized, W: Write>(value: &T, writer: &mut W) -> Result<usize> {
    let written = bincode::serde::encode_into_std_write(value, writer, encode_config()).map_err(CodecError::Encode)?;
    Ok(written)
}

/// Encodes `value` into a new buffer.
///
/// Cost: one allocation (plus growth) and one pass over the value.
///
/// # Errors
/// [`CodecError::Encode`] if the value's `Serialize` fails.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    encode_into(value, &mut buf)?;
    Ok(buf)
}

/// Decodes exactly one value that fills the whole of `bytes`.
///
/// Cost: one pass; allocates only what `T` itself owns.
///
/// # Errors
/// [`CodecError::Decode`] if the bytes are truncated, corrupt, of another
/// type or over [`DECODE_LIMIT`]; [`CodecError::TrailingBytes`] if a value
/// ends before the buffer does.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (value, consumed) = decode_prefix(bytes)?;
    if consumed != bytes.len() {
        return Err(CodecError::TrailingBytes { consumed, trailing: bytes.len() - consumed }.into());
    }
    Ok(value)
}

/// Decodes one value from the start of `bytes`; returns it and the number of
/// bytes it used.
fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize)> {
    let decoded = bincode::serde::decode_from_slice(bytes, decode_config()).map_err(CodecError::Decode)?;
    Ok(decoded)
}

/// An iterator over values encoded back to back in one buffer, as produced
/// by repeated [`encode_into`] calls (a shuffle bucket, a spilled block).
///
/// Each value is decoded straight from the shared buffer: no copy of the
/// bytes, no allocation beyond what `T` owns. Iteration yields
/// `Err` once, at the first undecodable value (including a value cut short
/// by the end of the buffer), and then stops.
pub struct Records<T> {
    bytes: Bytes,
    pos: usize,
    failed: bool,
    _values: PhantomData<fn() -> T>,
}

impl<T> Records<T> {
    /// Starts iterating at the beginning of `bytes`. Cost: O(1), no copy.
    pub fn new(bytes: Bytes) -> Self {
        Self { bytes, pos: 0, failed: false, _values: PhantomData }
    }

    /// Bytes not yet decoded. Cost: O(1).
    pub fn remaining_bytes(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

impl<T: DeserializeOwned> Iterator for Records<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.failed || self.pos >= self.bytes.len() {
            return None;
        }
        match decode_prefix::<T>(&self.bytes[self.pos..]) {
            Ok((value, consumed)) => {
                self.pos += consumed;
                Some(Ok(value))
            }
            Err(err) => {
                self.failed = true;
                Some(Err(err))
            }
        }
    }
}

/// Like [`Records`], over a buffered reader instead of one buffer in memory: values encoded
/// back to back in a file (a spilled run, a shuffle output on disk) stream through a buffer of
/// the reader's size. Yields `Err` once, at the first unreadable or undecodable value, then
/// stops.
pub struct StreamRecords<T, R> {
    reader: R,
    failed: bool,
    _values: PhantomData<fn() -> T>,
}

impl<T, R: BufRead> StreamRecords<T, R> {
    /// Starts reading values at the reader's position.
    pub fn new(reader: R) -> Self {
        StreamRecords { reader, failed: false, _values: PhantomData }
    }
}

impl<T: DeserializeOwned, R: BufRead> Iterator for StreamRecords<T, R> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.failed {
            return None;
        }
        let decoded = match self.reader.fill_buf() {
            Ok([]) => return None,
            Ok(_) => {
                bincode::serde::decode_from_std_read(&mut self.reader, decode_config()).map_err(CodecError::Decode)
            }
            Err(err) => Err(CodecError::Read(err)),
        };
        if decoded.is_err() {
            self.failed = true;
        }
        Some(decoded.map_err(Into::into))
    }
}

impl<T> std::fmt::Debug for Records<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("len", &self.bytes.len())
            .field("pos", &self.pos)
            .field("failed", &self.failed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StorageError;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Row {
        word: String,
        count: u64,
        tags: Vec<(i32, Option<bool>)>,
    }

    fn row(i: u64) -> Row {
        Row { word: format!("w{i}"), count: i * 1000, tags: vec![(i as i32 - 3, Some(i.is_multiple_of(2))), (7, None)] }
    }

    #[test]
    fn round_trip_struct_and_unsized() {
        let value = row(42);
        assert_eq!(decode::<Row>(&encode(&value).unwrap()).unwrap(), value);
        // `?Sized`: a str slice encodes like a String.
        let bytes = encode("héllo").unwrap();
        assert_eq!(decode::<String>(&bytes).unwrap(), "héllo");
    }

    #[test]
    fn encode_into_appends_and_reports_length() {
        let mut buf = vec![0xAA];
        let n = encode_into(&row(1), &mut buf).unwrap();
        assert_eq!(buf.len(), 1 + n);
        assert_eq!(buf[0], 0xAA);
        assert_eq!(decode::<Row>(&buf[1..]).unwrap(), row(1));
    }

    #[test]
    fn records_walk_concatenated_values() {
        let mut buf = Vec::new();
        for i in 0..1000 {
            encode_into(&row(i), &mut buf).unwrap();
        }
        let got: Vec<Row> = Records::new(Bytes::from(buf)).collect::<Result<_>>().unwrap();
        assert_eq!(got, (0..1000).map(row).collect::<Vec<_>>());
    }

    #[test]
    fn stream_records_read_what_encode_to_writer_wrote() {
        let mut buf = Vec::new();
        for i in 0..1000 {
            encode_to_writer(&row(i), &mut buf).unwrap();
        }
        // A reader buffer smaller than a record: values straddle refills.
        let reader = std::io::BufReader::with_capacity(7, &buf[..]);
        let got: Vec<Row> = StreamRecords::new(reader).collect::<Result<_>>().unwrap();
        assert_eq!(got, (0..1000).map(row).collect::<Vec<_>>());
        buf.truncate(buf.len() - 2);
        let mut cut = StreamRecords::<Row, _>::new(&buf[..]).skip(999);
        assert!(cut.next().unwrap().is_err(), "a truncated last value is an error");
        assert!(cut.next().is_none());
    }

    #[test]
    fn records_of_empty_buffer_yield_nothing() {
        assert_eq!(Records::<u64>::new(Bytes::new()).count(), 0);
    }

    #[test]
    fn truncated_buffer_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        encode_into(&row(1), &mut buf).unwrap();
        encode_into(&row(2), &mut buf).unwrap();
        buf.truncate(buf.len() - 3);
        let mut records = Records::<Row>::new(Bytes::from(buf.clone()));
        assert_eq!(records.next().unwrap().unwrap(), row(1));
        let err = records.next().unwrap().unwrap_err();
        assert!(matches!(err, StorageError::Codec { source: CodecError::Decode(_) }));
        assert!(records.next().is_none(), "stops after the first error");
        // Every prefix of a single record fails cleanly too.
        let one = encode(&row(3)).unwrap();
        for cut in 0..one.len() {
            assert!(decode::<Row>(&one[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut buf = encode(&7u32).unwrap();
        buf.push(0);
        let err = decode::<u32>(&buf).unwrap_err();
        assert!(
            matches!(err, StorageError::Codec { source: CodecError::TrailingBytes { consumed: 1, trailing: 1 } }),
            "{err:?}"
        );
    }

    #[test]
    fn corrupt_length_over_limit_is_refused() {
        // A Vec<u8> whose varint length claims u64::MAX elements.
        let mut buf = vec![253u8];
        buf.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode::<Vec<u8>>(&buf).is_err());
        assert!(decode::<String>(&buf).is_err());
    }

    proptest! {
        #[test]
        fn records_round_trip_any_values(values in proptest::collection::vec(
            (any::<String>(), any::<i64>(), proptest::option::of(any::<f64>())), 0..50)) {
            let mut buf = Vec::new();
            for v in &values {
                encode_into(v, &mut buf).unwrap();
            }
            let got = Records::<(String, i64, Option<f64>)>::new(Bytes::from(buf))
                .collect::<Result<Vec<_>>>()
                .unwrap();
            prop_assert_eq!(got.len(), values.len());
            for (g, v) in got.iter().zip(&values) {
                prop_assert_eq!(&g.0, &v.0);
                prop_assert_eq!(g.1, v.1);
                prop_assert_eq!(g.2.map(f64::to_bits), v.2.map(f64::to_bits));
            }
        }
    }
}
