//! Compression by file extension: `.gz` (gzip) and `.zst`/`.zstd` (Zstandard), decoded in pure Rust.
//!
//! A compressed file cannot be cut into byte ranges, so it is always read
//! whole, as one split ([`crate::plan_splits`] knows this), and decoded in
//! memory. Decoding uses `flate2`'s Rust backend (multi-member gzip, as
//! `cat a.gz b.gz` produces) and `ruzstd`.

use std::io::Read;

use bytes::Bytes;

use crate::error::{Result, StorageError};

/// How a file's bytes are compressed, judged by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip (`.gz`).
    Gzip,
    /// Zstandard (`.zst`, `.zstd`).
    Zstd,
}

impl Compression {
    /// The compression named by the extension of `name` (a file name,
    /// path or URL). Cost: O(1).
    ///
    /// # Examples
    /// ```
    /// use ember_storage::compression::Compression;
    /// assert_eq!(Compression::from_name("s3://b/logs/a.txt.gz"), Compression::Gzip);
    /// assert_eq!(Compression::from_name("part-00000.zst"), Compression::Zstd);
    /// assert_eq!(Compression::from_name("a.txt"), Compression::None);
    /// ```
    pub fn from_name(name: &str) -> Self {
        if name.ends_with(".gz") {
            Self::Gzip
        } else if name.ends_with(".zst") || name.ends_with(".zstd") {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// Whether byte ranges of the file can be read on their own.
    pub fn is_splittable(self) -> bool {
        self == Self::None
    }

    /// Decodes `bytes` (the whole file at `url`, for errors). Cost: one
    /// pass; the decoded bytes in memory.
    ///
    /// # Errors
    /// [`StorageError::Format`] naming `url` if the bytes are not valid
    /// gzip or Zstandard (truncated, corrupt, or misnamed).
    pub fn decode(self, bytes: Bytes, url: &str) -> Result<Bytes> {
        let mut out = Vec::with_capacity(bytes.len().saturating_mul(4));
        match self {
            Self::None => return Ok(bytes),
            Self::Gzip => {
                flate2::read::MultiGzDecoder::new(&bytes[..])
                    .read_to_end(&mut out)
                    .map_err(|e| StorageError::format(url, "gzip", e))?;
            }
            Self::Zstd => {
                let mut decoder = ruzstd::decoding::StreamingDecoder::new(&bytes[..])
                    .map_err(|e| StorageError::format(url, "zstd", e))?;
                decoder.read_to_end(&mut out).map_err(|e| StorageError::format(url, "zstd", e))?;
            }
        }
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_round_trip_and_corruption_names_the_file() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"a\nb\n").unwrap();
        let gz = Bytes::from(enc.finish().unwrap());
        assert_eq!(Compression::Gzip.decode(gz.clone(), "x.gz").unwrap().as_ref(), b"a\nb\n");
        let err = Compression::Gzip.decode(gz.slice(..gz.len() - 6), "memory://t/x.gz").unwrap_err();
        assert!(err.to_string().contains("memory://t/x.gz"), "{err}");
        let err = Compression::Zstd.decode(Bytes::from_static(b"not zstd"), "y.zst").unwrap_err();
        assert!(err.to_string().contains("y.zst"), "{err}");
    }

    /// `printf 'hello\nworld\n' | zstd -c`.
    pub(crate) const HELLO_ZST: &[u8] = &[
        0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x61, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0x77, 0x6f, 0x72,
        0x6c, 0x64, 0x0a, 0xb5, 0x0e, 0x87, 0x17,
    ];

    #[test]
    fn zstd_frame_decodes() {
        let out = Compression::Zstd.decode(Bytes::from_static(HELLO_ZST), "h.zst").unwrap();
        assert_eq!(out.as_ref(), b"hello\nworld\n");
        assert!(!Compression::Zstd.is_splittable() && Compression::None.is_splittable());
    }
}
