//! A synthetic text corpus with the statistics of real text, for examples and benchmarks.
//!
//! It follows the benchmark corpus spec Ember is measured with: a vocabulary of 500,000
//! distinct lowercase ASCII words of 2 to 12 letters; word frequencies Zipf-distributed,
//! `p(rank r) ∝ 1 / r^1.1`; lines of 8 to 20 words separated by single spaces and ended by
//! `\n`; whole lines until the target size is reached. A fixed seed makes it reproducible:
//! the same spec and size always give the same bytes, whatever the machine's core count.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Lines generated per chunk; each chunk has its own seed so chunks can be made in parallel
/// and the output does not depend on the thread count.
const LINES_PER_CHUNK: usize = 32_768;

/// The corpus parameters. [`CorpusSpec::default`] is the benchmark corpus.
#[derive(Clone, Debug, PartialEq)]
pub struct CorpusSpec {
    /// Distinct words in the vocabulary.
    pub vocabulary: usize,
    /// The Zipf exponent `s` in `p(rank r) ∝ 1 / r^s`.
    pub zipf_exponent: f64,
    /// Fewest words on a line.
    pub min_words_per_line: usize,
    /// Most words on a line.
    pub max_words_per_line: usize,
    /// The random seed.
    pub seed: u64,
}

impl Default for CorpusSpec {
    fn default() -> Self {
        CorpusSpec { vocabulary: 500_000, zipf_exponent: 1.1, min_words_per_line: 8, max_words_per_line: 20, seed: 42 }
    }
}

/// A vocabulary in Zipf rank order and the cumulative distribution to draw from it.
struct Vocabulary {
    words: Vec<Box<[u8]>>,
    cdf: Vec<f64>,
}

impl Vocabulary {
    fn new(spec: &CorpusSpec) -> Self {
        let mut rng = Pcg64Mcg::seed_from_u64(spec.seed);
        let mut seen: HashSet<Box<[u8]>> = HashSet::with_capacity(spec.vocabulary);
        let mut words = Vec::with_capacity(spec.vocabulary);
        while words.len() < spec.vocabulary {
            let len = rng.random_range(2..=12usize);
            let word: Box<[u8]> = (0..len).map(|_| rng.random_range(b'a'..=b'z')).collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut cdf = Vec::with_capacity(spec.vocabulary);
        let mut total = 0.0;
        for rank in 1..=spec.vocabulary {
            total += (rank as f64).powf(-spec.zipf_exponent);
            cdf.push(total);
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        Vocabulary { words, cdf }
    }

    fn draw(&self, rng: &mut Pcg64Mcg) -> &[u8] {
        let u: f64 = rng.random();
        let rank = self.cdf.partition_point(|&c| c < u).min(self.words.len() - 1);
        &self.words[rank]
    }

    /// Chunk `index`: `LINES_PER_CHUNK` lines from their own seed.
    fn chunk(&self, spec: &CorpusSpec, index: u64) -> Vec<u8> {
        let mut rng = Pcg64Mcg::seed_from_u64(spec.seed ^ (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut out = Vec::with_capacity(LINES_PER_CHUNK * 120);
        for _ in 0..LINES_PER_CHUNK {
            let words = rng.random_range(spec.min_words_per_line..=spec.max_words_per_line);
            for w in 0..words {
                if w > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(self.draw(&mut rng));
            }
            out.push(b'\n');
        }
        out
    }
}

/// Writes a corpus of at least `size_bytes` bytes (whole lines: it stops after the line
/// that reaches the size) to `path`, using all cores. The file appears only when complete
/// (it is written beside `path` and renamed). Returns the bytes written.
///
/// # Errors
/// Any I/O error creating or writing the file.
///
/// # Examples
/// ```
/// use ember_examples::corpus::{CorpusSpec, generate};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("small.txt");
/// let spec = CorpusSpec { vocabulary: 1_000, ..CorpusSpec::default() };
/// let written = generate(&path, 10_000, &spec)?;
/// let text = std::fs::read_to_string(&path)?;
/// assert_eq!(text.len() as u64, written);
/// assert!(written >= 10_000 && text.ends_with('\n'));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn generate(path: &Path, size_bytes: u64, spec: &CorpusSpec) -> io::Result<u64> {
    let vocabulary = Vocabulary::new(spec);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let partial = path.with_extension("partial");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&partial)?);
    let mut written = 0u64;
    let mut next_chunk = 0u64;
    'outer: while written < size_bytes {
        let chunks: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads as u64)
                .map(|k| {
                    let vocabulary = &vocabulary;
                    s.spawn(move || vocabulary.chunk(spec, next_chunk + k))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("corpus generation does not panic")).collect()
        });
        next_chunk += threads as u64;
        for chunk in chunks {
            let need = size_bytes - written;
            if (chunk.len() as u64) < need {
                out.write_all(&chunk)?;
                written += chunk.len() as u64;
                continue;
            }
            // Cut after the first line end at or past the target size.
            let from = (need as usize).saturating_sub(1);
            let cut = chunk[from..].iter().position(|&b| b == b'\n').map_or(chunk.len(), |i| from + i + 1);
            out.write_all(&chunk[..cut])?;
            written += cut as u64;
            break 'outer;
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial, path)?;
    Ok(written)
}

/// Returns `path` after making sure it holds the default corpus of `size_bytes` (generated
/// once; reused when a file of at least that size is already there).
///
/// # Errors
/// Any I/O error while generating.
pub fn ensure(path: &Path, size_bytes: u64) -> io::Result<&Path> {
    let fresh = std::fs::metadata(path).map(|m| m.len() >= size_bytes).unwrap_or(false);
    if !fresh {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        generate(path, size_bytes, &CorpusSpec::default())?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped_like_text() {
        let dir = tempfile::tempdir().unwrap();
        let spec = CorpusSpec { vocabulary: 2_000, ..CorpusSpec::default() };
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        generate(&a, 200_000, &spec).unwrap();
        generate(&b, 200_000, &spec).unwrap();
        let text = std::fs::read(&a).unwrap();
        assert_eq!(text, std::fs::read(&b).unwrap());
        let text = String::from_utf8(text).unwrap();
        let mut counts = std::collections::HashMap::new();
        for line in text.lines() {
            let n = line.split(' ').count();
            assert!((8..=20).contains(&n), "line of {n} words");
            for w in line.split(' ') {
                assert!((2..=12).contains(&w.len()) && w.bytes().all(|c| c.is_ascii_lowercase()));
                *counts.entry(w).or_insert(0u64) += 1;
            }
        }
        // Zipf: the most frequent word is far more common than the 100th.
        let mut freq: Vec<u64> = counts.into_values().collect();
        freq.sort_unstable_by(|x, y| y.cmp(x));
        assert!(freq[0] > 20 * freq[99], "top {} vs 100th {}", freq[0], freq[99]);
    }
}
