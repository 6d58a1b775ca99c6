//! One map task's shuffle output, in memory or in a local file, and the buffer that builds it
//! under the task's memory share.
//!
//! ```text
//!  records ─encode─▶ bucket buffers (execution memory)
//!                      │ denied more memory: append every buffer to the task's file
//!                      ▼
//!  finish: nothing spilled and storage memory free ─▶ MapOutput in memory (Bytes per bucket)
//!          otherwise                                ─▶ MapOutput in one file (ranges per bucket)
//! ```
//!
//! A bucket is the concatenation of its records' encodings, so the ranges a bucket gathered
//! over several spills read back, in order, as one stream.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use super::BucketSizes;
use crate::disk::SpillFile;
use crate::memory::{MemoryReservation, StorageReservation};
use crate::task::TaskContext;

/// Bytes appended between two checks of the task's memory share.
const CHECK_EVERY: usize = 256 << 10;

/// Buffers smaller than this are not worth a spill: they stay in memory even when the task's
/// share is used up (a bounded overshoot, so a task squeezed by its other structures does not
/// write a stream of tiny segments).
const MIN_SPILL: u64 = 1 << 20;

/// A byte range of a file: `(offset, length)`.
type Range = (u64, u64);

/// One map task's buckets, one per reduce partition. Only the non-empty buckets take room
/// (a wide shuffle over few records is almost all empty buckets): `O(non-empty)` memory.
#[derive(Debug)]
pub struct MapOutput {
    /// How many buckets there are (reduce partitions), empty ones included.
    buckets: usize,
    place: Place,
}

/// The non-empty buckets, ascending by reduce partition.
#[derive(Debug)]
enum Place {
    Memory { buckets: Box<[(u32, Bytes)]>, _reservation: Option<StorageReservation> },
    File { file: Arc<SpillFile>, ranges: Box<[(u32, Box<[Range]>)]> },
}

impl MapOutput {
    /// Buckets held in memory, not counted against any budget (for tests and tools).
    pub fn in_memory(buckets: Vec<Bytes>) -> Self {
        let count = buckets.len();
        MapOutput { buckets: count, place: Place::Memory { buckets: non_empty(buckets, |b| b), _reservation: None } }
    }

    /// The size in bytes of each bucket.
    pub fn bucket_sizes(&self) -> BucketSizes {
        match &self.place {
            Place::Memory { buckets, .. } => {
                BucketSizes::from_non_empty(self.buckets, buckets.iter().map(|(r, b)| (*r as usize, b.len() as u64)))
            }
            Place::File { ranges, .. } => BucketSizes::from_non_empty(
                self.buckets,
                ranges.iter().map(|(r, ranges)| (*r as usize, ranges.iter().map(|(_, len)| len).sum())),
            ),
        }
    }

    /// Whether the output lives in a local file rather than in memory.
    pub fn is_on_disk(&self) -> bool {
        matches!(self.place, Place::File { .. })
    }

    /// The bucket for reduce partition `reduce`, if there is one (an empty one for an empty
    /// bucket). Cost: no copy, `O(log)` to find it.
    pub fn bucket(&self, reduce: usize) -> Option<Bucket> {
        if reduce >= self.buckets {
            return None;
        }
        let key = u32::try_from(reduce).ok()?;
        Some(match &self.place {
            Place::Memory { buckets, .. } => match buckets.binary_search_by_key(&key, |(r, _)| *r) {
                Ok(i) => Bucket::Memory(buckets[i].1.clone()),
                Err(_) => Bucket::Memory(Bytes::new()),
            },
            Place::File { file, ranges } => match ranges.binary_search_by_key(&key, |(r, _)| *r) {
                Ok(i) => Bucket::File { file: Arc::clone(file), ranges: ranges[i].1.to_vec() },
                Err(_) => Bucket::Memory(Bytes::new()),
            },
        })
    }
}

/// The non-empty entries of `buckets`, each with its index, converted by `into` (which only
/// the non-empty ones pay for).
fn non_empty<T: AsRef<[u8]>>(buckets: Vec<T>, into: impl Fn(T) -> Bytes) -> Box<[(u32, Bytes)]> {
    buckets.into_iter().zip(0u32..).filter(|(b, _)| !b.as_ref().is_empty()).map(|(b, r)| (r, into(b))).collect()
}

/// One fetched bucket: the encoded records one map task sent to one reduce partition.
#[derive(Clone, Debug)]
pub enum Bucket {
    /// In memory (a fetch copies nothing).
    Memory(Bytes),
    /// Ranges of a local file, read in order.
    File {
        /// The map output's file (kept alive while the bucket is).
        file: Arc<SpillFile>,
        /// The bucket's byte ranges in the file.
        ranges: Vec<(u64, u64)>,
    },
}

impl Bucket {
    /// The bucket's size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Bucket::Memory(bytes) => bytes.len() as u64,
            Bucket::File { ranges, .. } => ranges.iter().map(|(_, len)| len).sum(),
        }
    }

    /// Whether the bucket holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads byte ranges of one file, in order, as one stream (positioned reads: no seeking).
#[derive(Debug)]
pub struct RangesReader {
    file: File,
    ranges: std::vec::IntoIter<Range>,
    current: Range,
}

impl RangesReader {
    /// A reader over `ranges` of `file`.
    pub fn new(file: File, ranges: Vec<Range>) -> Self {
        RangesReader { file, ranges: ranges.into_iter(), current: (0, 0) }
    }
}

impl Read for RangesReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.1 == 0 {
            match self.ranges.next() {
                Some(range) => self.current = range,
                None => return Ok(0),
            }
        }
        let (offset, len) = self.current;
        let want = buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], offset)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "shuffle file shorter than its index"));
        }
        self.current = (offset + n as u64, len - n as u64);
        Ok(n)
    }
}

/// Builds one map task's output: bucket buffers held under the task's execution memory,
/// appended to a local file when the task is denied more.
pub struct MapOutputBuffer {
    ctx: TaskContext,
    buckets: Vec<Vec<u8>>,
    reservation: MemoryReservation,
    unchecked: usize,
    file: Option<OutputFile>,
}

struct OutputFile {
    file: Arc<SpillFile>,
    writer: BufWriter<File>,
    offset: u64,
    ranges: Vec<Vec<Range>>,
}

impl MapOutputBuffer {
    /// An empty buffer with `partitions` buckets for the running task.
    pub fn new(ctx: &TaskContext, partitions: usize) -> Self {
        MapOutputBuffer {
            ctx: ctx.clone(),
            buckets: vec![Vec::new(); partitions],
            reservation: ctx.memory_reservation(),
            unchecked: 0,
            file: None,
        }
    }

    /// The buffer of bucket `reduce`, to append encoded records to. Call
    /// [`MapOutputBuffer::appended`] after each append.
    pub fn bucket(&mut self, reduce: usize) -> &mut Vec<u8> {
        &mut self.buckets[reduce]
    }

    /// Notes that `bytes` were appended; every 256 KiB, checks the task's memory share and
    /// spills the buffers to the task's file when it is used up.
    ///
    /// # Errors
    /// The OS error when the file cannot be created or written.
    pub fn appended(&mut self, bytes: usize) -> io::Result<()> {
        self.unchecked += bytes;
        if self.unchecked < CHECK_EVERY {
            return Ok(());
        }
        self.unchecked = 0;
        let held = self.held();
        if !self.reservation.try_resize(held) && held >= MIN_SPILL {
            self.spill()?;
        }
        Ok(())
    }

    /// The finished output: in memory when nothing was spilled and the storage half of the
    /// budget has room for it, otherwise entirely in the task's file.
    ///
    /// # Errors
    /// The OS error when the file cannot be created or written.
    pub fn finish(mut self) -> io::Result<MapOutput> {
        if self.file.is_none() {
            let total: u64 = self.buckets.iter().map(|b| b.len() as u64).sum();
            let manager = self.ctx.blocks().memory_manager();
            if let Some(reservation) = StorageReservation::try_new(manager, total) {
                let count = self.buckets.len();
                let buckets = non_empty(std::mem::take(&mut self.buckets), Bytes::from);
                return Ok(MapOutput {
                    buckets: count,
                    place: Place::Memory { buckets, _reservation: Some(reservation) },
                });
            }
        }
        self.spill()?;
        let Some(out) = self.file.take() else { unreachable!("spill() opened the file") };
        let OutputFile { file, writer, ranges, .. } = out;
        writer.into_inner().map_err(io::IntoInnerError::into_error)?;
        let count = ranges.len();
        let ranges = ranges
            .into_iter()
            .zip(0u32..)
            .filter(|(r, _)| !r.is_empty())
            .map(|(ranges, reduce)| (reduce, ranges.into_boxed_slice()))
            .collect();
        Ok(MapOutput { buckets: count, place: Place::File { file, ranges } })
    }

    fn held(&self) -> u64 {
        self.buckets.iter().map(|b| b.capacity() as u64).sum()
    }

    /// Appends every non-empty buffer to the task's file and frees the buffers.
    fn spill(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            let kind = format!("shuffle-map-{}", self.ctx.partition());
            let (file, handle) = self.ctx.blocks().local_disk().create(&kind)?;
            let ranges = vec![Vec::new(); self.buckets.len()];
            let writer = BufWriter::with_capacity(64 << 10, handle);
            self.file = Some(OutputFile { file: Arc::new(file), writer, offset: 0, ranges });
        }
        let Some(out) = self.file.as_mut() else { unreachable!("opened above") };
        let mut written = 0;
        for (reduce, bucket) in self.buckets.iter_mut().enumerate() {
            if bucket.is_empty() {
                continue;
            }
            out.writer.write_all(bucket)?;
            out.ranges[reduce].push((out.offset, bucket.len() as u64));
            out.offset += bucket.len() as u64;
            written += bucket.len() as u64;
            *bucket = Vec::new();
        }
        out.writer.flush()?;
        self.reservation.free();
        self.ctx.add_spill(written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ids::PartitionId;

    fn task(budget: u64) -> TaskContext {
        TaskContext::standalone(PartitionId(3), budget)
    }

    /// Appends `n` chunks of 1 KiB to 3 buckets in turn; returns what each bucket should hold.
    fn fill(buffer: &mut MapOutputBuffer, n: usize) -> Vec<Vec<u8>> {
        let mut expected = vec![Vec::new(); 3];
        for i in 0..n {
            let chunk = vec![(i % 251) as u8; 1024];
            buffer.bucket(i % 3).extend_from_slice(&chunk);
            expected[i % 3].extend_from_slice(&chunk);
            buffer.appended(chunk.len()).expect("append");
        }
        expected
    }

    fn read_back(output: &MapOutput, reduce: usize) -> Vec<u8> {
        match output.bucket(reduce).expect("bucket") {
            Bucket::Memory(bytes) => bytes.to_vec(),
            Bucket::File { file, ranges } => {
                let mut bytes = Vec::new();
                RangesReader::new(file.open().expect("open"), ranges).read_to_end(&mut bytes).expect("read");
                bytes
            }
        }
    }

    #[test]
    fn an_output_that_fits_stays_in_memory_and_holds_storage_memory() {
        let ctx = task(64 << 20);
        let mut buffer = MapOutputBuffer::new(&ctx, 3);
        let expected = fill(&mut buffer, 300);
        let output = buffer.finish().expect("finish");
        assert!(!output.is_on_disk());
        assert_eq!(ctx.blocks().memory_manager().storage_used(), 300 * 1024);
        for (reduce, bytes) in expected.iter().enumerate() {
            assert_eq!(&read_back(&output, reduce), bytes);
        }
        drop(output);
        assert_eq!(ctx.blocks().memory_manager().storage_used(), 0, "dropping the output frees it");
        assert_eq!(ctx.metrics(Duration::ZERO).spills, 0);
    }

    #[test]
    fn an_output_over_the_task_share_spills_to_one_file_in_order() {
        // 2 MiB of execution memory for the one slot; 6 MiB of records.
        let ctx = task(4 << 20);
        let mut buffer = MapOutputBuffer::new(&ctx, 3);
        let expected = fill(&mut buffer, 6 * 1024);
        let output = buffer.finish().expect("finish");
        assert!(output.is_on_disk());
        assert_eq!(output.bucket_sizes().to_vec(), expected.iter().map(|b| b.len() as u64).collect::<Vec<_>>());
        for (reduce, bytes) in expected.iter().enumerate() {
            assert!(read_back(&output, reduce) == *bytes, "bucket {reduce} reads back in append order");
        }
        let metrics = ctx.metrics(Duration::ZERO);
        assert!(metrics.spills >= 3 && metrics.bytes_spilled == 6 << 20, "{metrics:?}");
        assert!(metrics.peak_execution_memory <= 2 << 20, "{metrics:?}");
    }

    #[test]
    fn an_output_that_storage_cannot_hold_goes_to_disk() {
        let ctx = task(64 << 20);
        assert!(ctx.blocks().memory_manager().try_acquire_storage(32 << 20), "storage is full");
        let mut buffer = MapOutputBuffer::new(&ctx, 3);
        let expected = fill(&mut buffer, 30);
        let output = buffer.finish().expect("finish");
        assert!(output.is_on_disk());
        assert_eq!(read_back(&output, 1), expected[1]);
    }

    #[test]
    fn ranges_reader_reads_ranges_in_order() {
        let disk = crate::disk::LocalDisk::default();
        let (file, handle) = disk.create("t").expect("create");
        handle.write_all_at(b"0123456789", 0).expect("write");
        let mut reader = RangesReader::new(file.open().expect("open"), vec![(7, 3), (0, 0), (1, 2)]);
        let mut out = String::new();
        reader.read_to_string(&mut out).expect("read");
        assert_eq!(out, "78912");
        let mut short = RangesReader::new(file.open().expect("open"), vec![(8, 5)]);
        assert!(short.read_to_end(&mut Vec::new()).is_err(), "a range past the end is an error");
    }
}
