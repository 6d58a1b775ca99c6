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

use std::io::Write;

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

/// Writes one object file, record by record, into any `std::io::Write` (a `Vec<u8>`, or a
/// [`crate::PartWriter`] streaming to a store).
///
/// # Examples
/// ```
/// use ember_storage::object_file::{ObjectFileWriter, read_object_file};
///
/// let mut w = ObjectFileWriter::new(Vec::new())?;
/// w.write(&("a".to_owned(), 1u32))?;
/// w.write(&("b".to_owned(), 2u32))?;
/// let bytes = w.finish()?;
/// let back: Vec<(String, u32)> = read_object_file(&bytes, "memory://x/part-00000")?;
/// assert_eq!(back, [("a".to_owned(), 1), ("b".to_owned(), 2)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ObjectFileWriter<W: Write> {
    out: W,
    scratch: Vec<u8>,
    count: u64,
}

impl<W: Write> ObjectFileWriter<W> {
    /// Starts a file in `out` by writing the header.
    ///
    /// # Errors
    /// The writer's error.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        Ok(Self { out, scratch: Vec::new(), count: 0 })
    }

    /// Appends one record. Cost: one encoding pass into a reused buffer, one write; the
    /// first [`codec::ROUND_TRIP_CHECKS`] records of a file are also decoded and encoded
    /// again ([`codec::check_round_trip`]), so a type that cannot round-trip is refused before
    /// its bytes are written.
    ///
    /// # Errors
    /// The writer's error, or an error wrapping [`StorageError::Codec`] if the value cannot
    /// be encoded or fails the round-trip check (nothing is written then), or a record of
    /// 4 GiB or more.
    pub fn write<T: Serialize + DeserializeOwned>(&mut self, value: &T) -> std::io::Result<()> {
        self.scratch.clear();
        let len = codec::encode_into(value, &mut self.scratch).map_err(std::io::Error::other)?;
        if self.count < u64::from(codec::ROUND_TRIP_CHECKS) {
            codec::check_round_trip::<T>(&self.scratch).map_err(std::io::Error::other)?;
        }
        let len = u32::try_from(len)
            .ok()
            .filter(|&l| l != END)
            .ok_or_else(|| std::io::Error::other(format!("a record of {len} bytes is too large for an object file")))?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&self.scratch)?;
        self.count += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends the end marker and returns the writer.
    ///
    /// # Errors
    /// The writer's error.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(&END.to_le_bytes())?;
        self.out.write_all(&self.count.to_le_bytes())?;
        Ok(self.out)
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

    fn file(n: u32) -> Vec<u8> {
        let mut w = ObjectFileWriter::new(Vec::new()).unwrap();
        for i in 0..n {
            w.write(&(i, format!("v{i}"))).unwrap();
        }
        assert_eq!(w.count(), u64::from(n));
        w.finish().unwrap()
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
        let mut bytes = file(2);
        bytes[8] = 9;
        let err = read_object_file::<(u32, String)>(&bytes, "f").unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        let err = read_object_file::<u32>(b"hello world, plain text\n", "f.txt").unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
        let err = read_object_file::<(String, String)>(&file(2), "f").unwrap_err();
        assert!(err.to_string().contains("record "), "{err}");
    }

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Sparse {
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<u8>,
        id: u32,
    }

    #[test]
    fn a_type_that_cannot_round_trip_is_refused_before_it_is_written() {
        let mut w = ObjectFileWriter::new(Vec::new()).unwrap();
        w.write(&Sparse { note: Some(1), id: 2 }).unwrap();
        let err = w.write(&Sparse { note: None, id: 2 }).unwrap_err().to_string();
        assert!(err.contains("object_file::tests::Sparse") && err.contains("skip_serializing_if"), "{err}");
        assert_eq!(w.count(), 1);
        // Read back as such a type, a frame it does not fill is refused, naming the type.
        let bytes = file(3);
        let err = read_object_file::<Sparse>(&bytes, "memory://o/part-00000").unwrap_err().to_string();
        assert!(err.contains("memory://o/part-00000") && err.contains("object_file::tests::Sparse"), "{err}");
    }
}
