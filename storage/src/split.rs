//! Plans byte-range splits of input files, with Hadoop `FileInputFormat.getSplits` arithmetic.
//!
//! The split size is `max(1, min(total / min_partitions, block))`, where
//! `block` is the local file system's block size (32 MiB, as Hadoop's
//! `fs.local.block.size`). Each file is cut into splits of that size; the
//! last one may be up to 10 % larger (Hadoop's `SPLIT_SLOP` of 1.1), so no
//! tiny tail split is made. Splits cut lines anywhere; the line reader
//! ([`crate::SplitLines`]) gives each line to exactly one split.

use crate::compression::Compression;
use crate::listing::InputFile;

/// Block size used to cap split size: 32 MiB (Hadoop's local file system default).
pub const LOCAL_BLOCK_SIZE: u64 = 32 << 20;

/// A split's last piece may be this much larger than the split size (Hadoop's `SPLIT_SLOP`).
const SPLIT_SLOP: f64 = 1.1;

/// One byte range `[start, end)` of one input file: the unit of one input
/// partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSplit {
    /// The file this split reads.
    pub file: InputFile,
    /// First byte of the range (inclusive).
    pub start: u64,
    /// End of the range (exclusive); `start <= end`.
    pub end: u64,
}

impl FileSplit {
    /// The split `[start, end)` of `file`. Cost: O(1).
    ///
    /// Ranges reaching past the file's size are allowed; reads stop at the
    /// file's end. `start > end` is treated as an empty range.
    pub fn new(file: InputFile, start: u64, end: u64) -> Self {
        Self { file, start, end }
    }

    /// Bytes in the range. Cost: O(1).
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range is empty (a zero-length file's only split). Cost: O(1).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Cuts `files` into splits, in file order and then offset order, with the
/// arithmetic of Hadoop's `FileInputFormat.getSplits`:
///
/// * `goal = total_size / max(min_partitions, 1)`,
///   `split_size = max(1, min(goal, LOCAL_BLOCK_SIZE))`;
/// * per file, splits of `split_size` while the remaining bytes are more
///   than 1.1 × `split_size`, then one split with the rest;
/// * a zero-length file gives one empty split `[0, 0)`;
/// * a compressed file (`.gz`, `.zst`) gives one split of the whole file.
///
/// Cost: O(number of splits); no I/O.
pub fn plan_splits(files: &[InputFile], min_partitions: usize) -> Vec<FileSplit> {
    let total: u64 = files.iter().map(|f| f.size).sum();
    let goal = total / min_partitions.max(1) as u64;
    let split_size = goal.clamp(1, LOCAL_BLOCK_SIZE);
    let mut splits = Vec::new();
    for file in files {
        if file.size == 0 {
            splits.push(FileSplit::new(file.clone(), 0, 0));
            continue;
        }
        if !Compression::from_name(&file.url).is_splittable() {
            splits.push(FileSplit::new(file.clone(), 0, file.size));
            continue;
        }
        let mut remaining = file.size;
        while remaining as f64 / split_size as f64 > SPLIT_SLOP {
            let start = file.size - remaining;
            splits.push(FileSplit::new(file.clone(), start, start + split_size));
            remaining -= split_size;
        }
        if remaining != 0 {
            splits.push(FileSplit::new(file.clone(), file.size - remaining, file.size));
        }
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::Location;

    fn file(name: &str, size: u64) -> InputFile {
        let location = Location::parse(&format!("memory://t/{name}")).unwrap();
        InputFile { url: location.url(), size, location }
    }

    fn ranges(splits: &[FileSplit]) -> Vec<(String, u64, u64)> {
        splits.iter().map(|s| (s.file.name().unwrap().to_owned(), s.start, s.end)).collect()
    }

    #[test]
    fn big_file_is_cut_at_the_block_size() {
        let splits = plan_splits(&[file("a", 256 << 20)], 2);
        assert_eq!(splits.len(), 8);
        for (i, s) in splits.iter().enumerate() {
            assert_eq!((s.start, s.end), (i as u64 * (32 << 20), (i as u64 + 1) * (32 << 20)));
        }
    }

    #[test]
    fn slop_merges_a_small_tail() {
        // goal 33; 34 / 33 <= 1.1, so the last split takes 34 bytes.
        let splits = plan_splits(&[file("a", 100)], 3);
        assert_eq!(splits.iter().map(FileSplit::len).collect::<Vec<_>>(), [33, 33, 34]);
        assert_eq!((splits[2].start, splits[2].end), (66, 100));
        // 110 bytes, min 3 -> goal 36; 38 / 36 <= 1.1 merges again.
        let splits = plan_splits(&[file("a", 110)], 3);
        assert_eq!(splits.iter().map(FileSplit::len).collect::<Vec<_>>(), [36, 36, 38]);
        // total 100, min 10 -> split size 10; in the 25-byte file 15 / 10 > 1.1,
        // so the 5-byte tail is a split of its own.
        let splits = plan_splits(&[file("a", 25), file("b", 75)], 10);
        assert_eq!(splits.iter().map(FileSplit::len).collect::<Vec<_>>()[..4], [10, 10, 5, 10]);
        let splits = plan_splits(&[file("a", 40)], 4);
        assert_eq!(splits.iter().map(FileSplit::len).collect::<Vec<_>>(), [10, 10, 10, 10]);
    }

    #[test]
    fn compressed_files_are_one_split_each() {
        let splits = plan_splits(&[file("a.gz", 1000), file("b.txt", 1000), file("c.zst", 10)], 20);
        let gz: Vec<_> = ranges(&splits).into_iter().filter(|(n, ..)| n != "b.txt").collect();
        assert_eq!(gz, [("a.gz".to_owned(), 0, 1000), ("c.zst".to_owned(), 0, 10)]);
    }

    #[test]
    fn zero_length_file_gives_one_empty_split() {
        let splits = plan_splits(&[file("e", 0)], 4);
        assert_eq!(ranges(&splits), [("e".to_owned(), 0, 0)]);
        assert!(splits[0].is_empty());
        assert!(plan_splits(&[], 4).is_empty());
    }

    #[test]
    fn several_files_use_one_split_size_from_the_total() {
        // total 300, min 3 -> split size 100; a's 105-byte rest is within the slop.
        let files = [file("a", 205), file("b", 0), file("c", 95)];
        let splits = plan_splits(&files, 3);
        assert_eq!(
            ranges(&splits),
            [("a".to_owned(), 0, 100), ("a".to_owned(), 100, 205), ("b".to_owned(), 0, 0), ("c".to_owned(), 0, 95),]
        );
    }

    #[test]
    fn min_partitions_zero_or_larger_than_bytes() {
        // min 0 behaves as 1: one split per small file.
        assert_eq!(plan_splits(&[file("a", 10)], 0).len(), 1);
        // More partitions than bytes: split size clamps to 1 byte.
        let splits = plan_splits(&[file("a", 5)], 100);
        assert_eq!(splits.len(), 5);
        assert!(splits.iter().all(|s| s.len() == 1));
    }

    #[test]
    fn splits_tile_each_file_exactly() {
        for size in [1u64, 2, 7, 100, 1000, 4097] {
            for min in 1..12 {
                let splits = plan_splits(&[file("a", size)], min);
                let mut at = 0;
                for s in &splits {
                    assert_eq!(s.start, at);
                    assert!(s.end > s.start);
                    at = s.end;
                }
                assert_eq!(at, size, "size {size} min {min}");
            }
        }
    }
}
