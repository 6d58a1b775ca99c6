//! Ember's storage layer: bytes at rest.
//!
//! This crate turns URLs into object-store locations, lists input files,
//! plans byte-range splits, reads the lines of a split, encodes records,
//! and commits outputs atomically. It knows nothing of RDDs, partitions as
//! datasets, or scheduling: the engine hands it URLs, byte ranges and
//! bytes, and gets back files, lines, bytes and typed errors.
//!
//! # Tour
//!
//! * [`Storage`] is the handle: cheap to clone, `Send + Sync`, every method
//!   blocking (it owns a small private I/O runtime). URLs are bare paths
//!   (relative to the current directory), `file:///…`, `memory://…` (an
//!   in-memory store private to that `Storage`), `s3://bucket/…`,
//!   `gs://…`, `az://…` or `http(s)://…`. Remote clients are built on
//!   first use, one per scheme and bucket or host, from the environment
//!   and the [`StorageOptions`] (which also set the retry policy).
//! * [`Storage::list_inputs`] gives the [`InputFile`]s at a URL: the file
//!   itself, a directory's visible files (no `_` or `.` names), or the
//!   files matching a glob, sorted.
//! * [`compression`] decodes `.gz` and `.zst` inputs (read whole, one split
//!   each); [`object_file`] is the versioned, framed record file format.
//! * [`plan_splits`] cuts files into [`FileSplit`]s with Hadoop's
//!   arithmetic; [`Storage::read_split`] gives a split's lines as a
//!   [`SplitLines`] iterator of `Result`s (it reads as it goes). Each line
//!   of a file belongs to exactly one split, wherever the boundaries fall.
//! * [`codec`] is the one place values become bytes (bincode 2, decoding
//!   always under a size limit); [`codec::RecordEncoder`] writes length-framed
//!   records and checks that a type round-trips, [`codec::Records`] walks a
//!   buffer of them without copying, refusing a record that does not fill its
//!   frame with an error naming the type.
//! * [`Storage::create_output`] starts an [`OutputJob`]: task attempts
//!   write parts under `_temporary` (a [`PartWriter`] streams large parts as
//!   multipart uploads), [`OutputJob::commit`] moves one attempt per
//!   partition into place and writes `_SUCCESS` last.
//! * [`testing::FailFirst`] wraps a store to inject transient or
//!   permission failures.
//! * Every failure is a [`StorageError`] naming the URL and keeping its cause, with any
//!   credentials in a URL (`s3://key:secret@bucket`) shown as `***` ([`redact`]).
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use ember_storage::{Storage, plan_splits};
//!
//! # fn main() -> ember_storage::Result<()> {
//! let storage = Storage::new()?;
//! storage.put("memory://demo/in/a.txt", Bytes::from("to be\nor not\r\nto be"))?;
//! storage.put("memory://demo/in/_SUCCESS", Bytes::new())?; // hidden: skipped
//!
//! let files = storage.list_inputs("memory://demo/in")?;
//! assert_eq!(files.len(), 1);
//! let mut lines = Vec::new();
//! for split in plan_splits(&files, 3) {
//!     for line in storage.read_split(&split)? {
//!         lines.push(line?);
//!     }
//! }
//! assert_eq!(lines, ["to be", "or not", "to be"]);
//!
//! let job = storage.create_output("memory://demo/out", false)?;
//! let part = job.write_part(0, 0, Bytes::from(lines.join("\n")))?; // in a task
//! job.commit(1, &[part])?; // on the driver, with the accepted attempts' messages
//! assert_eq!(storage.get("memory://demo/out/part-00000")?.len(), 18);
//! # Ok(())
//! # }
//! ```

mod buffers;
pub mod codec;
pub mod commit;
pub mod compression;
pub mod error;
pub mod io;
pub mod lines;
pub mod listing;
pub mod object_file;
pub mod options;
pub mod split;
mod stores;
pub mod testing;
mod url;

pub use commit::{OutputJob, PartCommit, PartWriter};
pub use error::{CodecError, NOT_ROUND_TRIP_HINT, Result, StorageError};
pub use io::Storage;
pub use lines::SplitLines;
pub use listing::InputFile;
pub use object_store;
pub use options::StorageOptions;
pub use split::{FileSplit, LOCAL_BLOCK_SIZE, plan_splits};
pub use url::redact;
