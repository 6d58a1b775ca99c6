//! Ember object files: serde records as length-framed bincode with a versioned header and an end marker.
//!
//! Layout of one file (one partition's records):
//!
//! ```text
//! "EMBEROBJ"  u16 LE version (1)  u16 LE flags (0)      12-byte header
//! u32 LE len  <len bytes: one record, bincode>          one frame per record
//! ...
//! u32 LE 0xFFFF_FFFF  u64 LE record count               end marker
//! ```
//!
//! A file that lacks the header (another format), names another version,
//! ends before its end marker (truncated), or whose frames do not decode as
//! the asked type is a [`StorageError::Format`] naming the file, never
//! garbage values.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::error::{Result, StorageError};

/// The first 8 bytes of every object file.
pub const MAGIC: &[u8; 8] = b"EMBEROBJ";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// The frame length that marks the end of the records.
const END: u32 = u32::MAX;
/// The name used in errors.
const FORMAT: &str = "Ember object";

/// Builds one object file in memory, record by record.
///
/// # Examples
/// ```
/// use ember_storage::object_file::{ObjectFileWriter, read_object_file};
///
/// let mut w = ObjectFileWriter::new();
/// w.write(&("a".to_owned(), 1u32))?;
/// w.write(&("b".to_owned(), 2u32))?;
/// let bytes = w.finish();
/// let back: Vec<(String, u32)> = read_object_file(&bytes, "memory://x/part-00000")?;
/// assert_eq!(back, [("a".to_owned(), 1), ("b".to_owned(), 2)]);
/// # Ok::<(), ember_storage::StorageError>(())
/// ```
#[derive(Debug)]
pub struct ObjectFileWriter {
    buf: Vec<u8>,
    count: u64,
}

impl Default for ObjectFileWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectFileWriter {
    /// An empty file: just the header.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
        Self { buf, count: 0 }
    }

    /// Appends one record. Cost: one encoding pass, amortised growth.
    ///
    /// # Errors
    /// [`StorageError::Codec`] if the value cannot be encoded (the file is
    /// left as it was), or a record of 4 GiB or more.
    pub fn write<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        let len = match codec::encode_into(value, &mut self.buf) {
            Ok(len) if len < END as usize => len as u32,
            Ok(len) => {
                self.buf.truncate(at);
                return Err(StorageError::format("(writing)", FORMAT, format!("a record of {len} bytes is too large")));
            }
            Err(e) => {
                self.buf.truncate(at);
                return Err(e);
            }
        };
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.count += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no record has been written.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends the end marker and returns the file's bytes.
    pub fn finish(mut self) -> Bytes {
        self.buf.extend_from_slice(&END.to_le_bytes());
        self.buf.extend_from_slice(&self.count.to_le_bytes());
        Bytes::from(self.buf)
    }
}

/// Decodes every record of the object file `bytes` read from `url`.
///
/// Cost: one pass; allocates the records.
///
/// # Errors
/// [`StorageError::Format`] naming `url` for a missing header, another
/// version, a truncated file, a record count that disagrees with the end
/// marker, or a frame that does not decode as exactly one `T`.
pub fn read_object_file<T: DeserializeOwned>(bytes: &[u8], url: &str) -> Result<Vec<T>> {
    let bad = |reason: String| StorageError::format(url, FORMAT, reason);
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(bad("no EMBEROBJ header: not written by save_as_object_file".to_owned()));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != VERSION {
        return Err(bad(format!("format version {version}; this build reads version {VERSION}")));
    }
    let mut pos = 12;
    let mut out = Vec::new();
    loop {
        let Some(len) = bytes.get(pos..pos + 4) else {
            return Err(bad(format!("truncated after {} records (no end marker)", out.len())));
        };
        let len = u32::from_le_bytes(len.try_into().expect("a 4-byte slice"));
        pos += 4;
        if len == END {
            let count = bytes.get(pos..pos + 8).ok_or_else(|| bad("truncated end marker".to_owned()))?;
            let count = u64::from_le_bytes(count.try_into().expect("an 8-byte slice"));
            if count != out.len() as u64 || pos + 8 != bytes.len() {
                return Err(bad(format!("end marker says {count} records, read {}", out.len())));
            }
            return Ok(out);
        }
        let frame =
            bytes.get(pos..pos + len as usize).ok_or_else(|| bad(format!("truncated inside record {}", out.len())))?;
        let value = codec::decode(frame).map_err(|e| bad(format!("record {}: {e}", out.len())))?;
        out.push(value);
        pos += len as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: u32) -> Bytes {
        let mut w = ObjectFileWriter::new();
        for i in 0..n {
            w.write(&(i, format!("v{i}"))).unwrap();
        }
        w.finish()
    }

    #[test]
    fn round_trip_including_empty() {
        let back: Vec<(u32, String)> = read_object_file(&file(100), "u").unwrap();
        assert_eq!(back.len(), 100);
        assert_eq!(back[7], (7, "v7".to_owned()));
        assert!(read_object_file::<u32>(&file(0), "u").unwrap().is_empty());
    }

    #[test]
    fn every_truncation_is_an_error_naming_the_file() {
        let bytes = file(5);
        for cut in 0..bytes.len() {
            let err = read_object_file::<(u32, String)>(&bytes[..cut], "memory://o/part-00003").unwrap_err();
            assert!(err.to_string().contains("memory://o/part-00003"), "cut {cut}: {err}");
        }
    }

    #[test]
    fn other_versions_formats_and_types_are_refused() {
        let mut bytes = file(2).to_vec();
        bytes[8] = 9;
        let err = read_object_file::<(u32, String)>(&bytes, "f").unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        let err = read_object_file::<u32>(b"hello world, plain text\n", "f.txt").unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
        let err = read_object_file::<(String, String)>(&file(2), "f").unwrap_err();
        assert!(err.to_string().contains("record "), "{err}");
    }
}
