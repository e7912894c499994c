//! Partition statistics: how often each distinct k-bit vector occurs in each partition.
//!
//! The columns of a [`BitMatrix`] are cut into partitions of `k` columns (`1 ≤ k ≤ 32`):
//! partition `p` holds columns `p·k .. min((p+1)·k, cols)`, so there are `ceil(cols / k)`
//! partitions and only the last may be narrower (its `width = cols − p·k`). Each row of a
//! partition is one vector `x` (bit `i` = column `p·k + i`, see [`BitMatrix::extract`]).
//! [`count_partitions`] returns, per partition, every distinct vector that occurs (the all-zero
//! vector included) with its number of occurrences, sorted by vector value, so
//! `Σ counts = rows` for every partition.
//!
//! Counting method (the result does not depend on it, nor on the number of threads):
//!
//! - partitions are processed in parallel with rayon, in groups of neighbouring partitions
//!   that share words, and every group reads the rows in blocks of [`ROW_BLOCK`]: a block's
//!   vectors are first extracted for all partitions of the group (one sequential read of the
//!   rows' words), then counted partition by partition;
//! - a partition of width ≤ [`DENSE_MAX_WIDTH`] (16) counts in dense arrays of `2^width`
//!   `u32` counters (for widths ≤ 12, four copies used in turn, so runs of one vector do not
//!   serialise on one counter), flushed into `u64` totals every `u32::MAX` rows (counts never overflow), and
//!   read out in increasing vector order;
//! - a wider partition counts in a hash map (multiply–shift hashing of the vector) behind a
//!   direct-mapped cache of 4096 `(vector, count)` slots that absorbs the frequent vectors;
//!   the entries are sorted at the end.
//!
//! [`merge_stats`] adds the statistics of another chunk of rows, so calibration can run over
//! data that never sits in memory at once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

use super::bits::{BitMatrix, extract_from_row};

/// Widest partition counted in a dense array (`2^16` counters).
pub const DENSE_MAX_WIDTH: u32 = 16;

/// Rows extracted at a time per group of partitions.
pub const ROW_BLOCK: usize = 2048;

/// Distance between two partitions' rows in the block buffer: one cache line more than a
/// block, so that the lines written for one row do not all fall into the same cache set.
const BUFFER_STRIDE: usize = ROW_BLOCK + 16;

/// Group partitions so that a group spans at most this many columns (4 words).
const GROUP_COLUMNS: usize = 256;

/// The distinct vectors of one partition and their counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionStats {
    /// Partition index `p` (columns `p·k ..`).
    pub partition: usize,
    /// Its width in columns (`k`, or less for the last partition).
    pub width: u32,
    /// Number of rows counted (the sum of the counts).
    pub rows: u64,
    /// Every distinct vector that occurs (the zero vector included) with its count, sorted by
    /// vector; counts are ≥ 1.
    pub vectors: Vec<(u32, u64)>,
}

impl PartitionStats {
    /// Number of distinct vectors.
    pub fn distinct(&self) -> usize {
        self.vectors.len()
    }

    /// Bit-sparse operations of this partition: `Σ count · popcount(x)`.
    pub fn bit_sparse_ops(&self) -> u64 {
        self.vectors.iter().map(|&(v, c)| c * u64::from(v.count_ones())).sum()
    }
}

/// Counts the distinct `k`-bit vectors of every partition of `m` (see the module doc).
///
/// Panics unless `1 ≤ k ≤ 32`. A matrix without columns has no partitions; one without rows
/// has partitions whose vector lists are empty.
pub fn count_partitions(m: &BitMatrix, k: u32) -> Vec<PartitionStats> {
    count_partitions_with(m, k, u32::MAX as usize)
}

/// [`count_partitions`] with the dense counters flushed every `flush_rows` rows (tests use a
/// small value to exercise the flush).
fn count_partitions_with(m: &BitMatrix, k: u32, flush_rows: usize) -> Vec<PartitionStats> {
    assert!((1..=32).contains(&k), "partition width k = {k} outside 1..=32");
    let parts = m.cols().div_ceil(k as usize);
    // Group size: neighbouring partitions within GROUP_COLUMNS columns, but small enough to
    // give every thread several groups.
    let by_columns = (GROUP_COLUMNS / k as usize).max(1);
    let by_threads = parts.div_ceil(4 * rayon::current_num_threads()).max(1);
    let group = by_columns.min(by_threads);
    let groups: Vec<std::ops::Range<usize>> =
        (0..parts).step_by(group).map(|start| start..(start + group).min(parts)).collect();
    groups.into_par_iter().flat_map_iter(|range| count_group(m, k, range, flush_rows)).collect()
}

/// Counts partitions `range` of `m` over all rows.
fn count_group(m: &BitMatrix, k: u32, range: std::ops::Range<usize>, flush_rows: usize) -> Vec<PartitionStats> {
    let cols = m.cols();
    let layout: Vec<(usize, u32)> = range
        .clone()
        .map(|p| {
            let start = p * k as usize;
            (start, (cols - start).min(k as usize) as u32)
        })
        .collect();
    let mut counters: Vec<Counter> = layout.iter().map(|&(_, w)| Counter::new(w)).collect();
    let wpr = m.words_per_row();
    let words = m.words();
    let mut buffer = vec![0u32; layout.len() * BUFFER_STRIDE];
    let mut since_flush = 0usize;
    let mut row = 0;
    while row < m.rows() {
        let n = ROW_BLOCK.min(m.rows() - row).min(flush_rows - since_flush);
        // Extract the block: one pass over the rows' words, all partitions of the group.
        for i in 0..n {
            let r = row + i;
            let row_words = &words[r * wpr..(r + 1) * wpr];
            for (j, &(start, width)) in layout.iter().enumerate() {
                buffer[j * BUFFER_STRIDE + i] = extract_from_row(row_words, start, width);
            }
        }
        for (j, counter) in counters.iter_mut().enumerate() {
            counter.add(&buffer[j * BUFFER_STRIDE..j * BUFFER_STRIDE + n]);
        }
        row += n;
        since_flush += n;
        if since_flush == flush_rows {
            counters.iter_mut().for_each(Counter::flush);
            since_flush = 0;
        }
    }
    counters
        .into_iter()
        .zip(range)
        .zip(&layout)
        .map(|((counter, partition), &(_, width))| PartitionStats {
            partition,
            width,
            rows: m.rows() as u64,
            vectors: counter.finish(),
        })
        .collect()
}

/// Multiply–shift hashing of a `u32` key (Knuth's multiplicative constant, widened).
#[derive(Default)]
struct VectorHasher(u64);

impl Hasher for VectorHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, v: u32) {
        // The high bits of the product are the well-mixed ones; hashbrown uses the top 7 bits
        // and the low bits, so fold the high half down.
        let h = u64::from(v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
}

/// Sub-histograms of a narrow dense counter (width ≤ [`LANED_MAX_WIDTH`]): consecutive
/// vectors go to different copies, so repeated vectors (the zero vector above all) do not
/// serialise on one memory location. Wider counters use one copy (four would not fit in cache).
const DENSE_LANES: usize = 4;

/// Widest dense counter with [`DENSE_LANES`] copies.
const LANED_MAX_WIDTH: u32 = 12;

/// Copies of the dense counters of a partition of `width` bits.
fn lanes(width: u32) -> usize {
    if width <= LANED_MAX_WIDTH { DENSE_LANES } else { 1 }
}

/// Slots (a power of two) of the direct-mapped cache in front of a sparse counter's map.
const CACHE_SLOTS: usize = 4096;

/// Per-partition counting state.
enum Counter {
    /// [`lanes`]`(width)` copies of `2^width` `u32` counters and, once flushed, `u64` totals.
    Dense { width: u32, narrow: Vec<u32>, wide: Vec<u64> },
    /// For widths above [`DENSE_MAX_WIDTH`]: a direct-mapped cache of `(vector, count)` slots
    /// (count 0 = free) that spills into a hash map when another vector takes the slot.
    Sparse { cache: Vec<(u32, u64)>, map: HashMap<u32, u64, BuildHasherDefault<VectorHasher>> },
}

impl Counter {
    fn new(width: u32) -> Self {
        if width <= DENSE_MAX_WIDTH {
            Counter::Dense { width, narrow: vec![0; lanes(width) << width], wide: Vec::new() }
        } else {
            Counter::Sparse { cache: vec![(0, 0); CACHE_SLOTS], map: HashMap::default() }
        }
    }

    /// Counts a block of vectors (the caller flushes before `u32` counters can overflow).
    fn add(&mut self, block: &[u32]) {
        match self {
            Counter::Dense { width, narrow, .. } => {
                let size = 1usize << *width;
                if lanes(*width) == 1 {
                    for &v in block {
                        narrow[v as usize] += 1;
                    }
                    return;
                }
                let (l0, rest) = narrow.split_at_mut(size);
                let (l1, rest) = rest.split_at_mut(size);
                let (l2, l3) = rest.split_at_mut(size);
                let mut chunks = block.chunks_exact(DENSE_LANES);
                for c in &mut chunks {
                    l0[c[0] as usize] += 1;
                    l1[c[1] as usize] += 1;
                    l2[c[2] as usize] += 1;
                    l3[c[3] as usize] += 1;
                }
                for &v in chunks.remainder() {
                    l0[v as usize] += 1;
                }
            }
            Counter::Sparse { cache, map } => {
                let shift = 32 - CACHE_SLOTS.trailing_zeros();
                for &v in block {
                    let slot = &mut cache[(v.wrapping_mul(0x9E37_79B1) >> shift) as usize];
                    if slot.0 == v && slot.1 > 0 {
                        slot.1 += 1;
                    } else {
                        if slot.1 > 0 {
                            *map.entry(slot.0).or_insert(0) += slot.1;
                        }
                        *slot = (v, 1);
                    }
                }
            }
        }
    }

    /// Moves the `u32` counters into the `u64` totals.
    fn flush(&mut self) {
        match self {
            Counter::Dense { width, narrow, wide } => {
                let size = 1usize << *width;
                if wide.is_empty() {
                    wide.resize(size, 0);
                }
                for lane in narrow.chunks_exact_mut(size) {
                    for (w, n) in wide.iter_mut().zip(lane.iter_mut()) {
                        *w += u64::from(*n);
                        *n = 0;
                    }
                }
            }
            Counter::Sparse { .. } => {}
        }
    }

    /// The distinct vectors with their counts, sorted by vector.
    fn finish(self) -> Vec<(u32, u64)> {
        match self {
            Counter::Dense { width, narrow, wide } => {
                let size = 1usize << width;
                (0..size)
                    .filter_map(|v| {
                        let lanes: u64 = narrow[v..].iter().step_by(size).map(|&c| u64::from(c)).sum();
                        let total = lanes + wide.get(v).copied().unwrap_or(0);
                        (total > 0).then_some((v as u32, total))
                    })
                    .collect()
            }
            Counter::Sparse { cache, mut map } => {
                for (v, c) in cache.into_iter().filter(|&(_, c)| c > 0) {
                    *map.entry(v).or_insert(0) += c;
                }
                let mut vectors: Vec<(u32, u64)> = map.into_iter().collect();
                vectors.sort_unstable_by_key(|&(v, _)| v);
                vectors
            }
        }
    }
}

/// Adds the statistics `from` (another chunk of rows of the same layer, counted with the same
/// `k`) into `into`. An empty `into` takes `from` as it is.
///
/// Panics when the two lists do not describe the same partitions (number, indices, widths).
pub fn merge_stats(into: &mut Vec<PartitionStats>, from: Vec<PartitionStats>) {
    if into.is_empty() {
        *into = from;
        return;
    }
    assert_eq!(into.len(), from.len(), "merging statistics of different numbers of partitions");
    for (a, b) in into.iter_mut().zip(from) {
        assert!(
            a.partition == b.partition && a.width == b.width,
            "merging statistics of partition {} (width {}) with partition {} (width {})",
            a.partition,
            a.width,
            b.partition,
            b.width
        );
        a.rows += b.rows;
        let left = std::mem::take(&mut a.vectors);
        a.vectors = merge_sorted(left, b.vectors);
    }
}

/// Merge-join of two lists sorted by vector, adding the counts of equal vectors.
fn merge_sorted(a: Vec<(u32, u64)>, b: Vec<(u32, u64)>) -> Vec<(u32, u64)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().peekable();
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(&(va, ca)), Some(&(vb, cb))) => match va.cmp(&vb) {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Greater => b.next(),
                std::cmp::Ordering::Equal => {
                    a.next();
                    b.next();
                    Some((va, ca + cb))
                }
            },
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => None,
        };
        match next {
            Some(entry) => out.push(entry),
            None => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    /// A random matrix with correlated rows (so vectors repeat) and ~`1/density` ones.
    fn random_matrix(rows: usize, cols: usize, seed: u64) -> (BitMatrix, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let protos: Vec<Vec<u8>> =
            (0..6).map(|_| (0..cols).map(|_| u8::from(rng.next_u32().is_multiple_of(4))).collect()).collect();
        let mut bytes = Vec::with_capacity(rows * cols);
        for _ in 0..rows {
            let p = &protos[(rng.next_u32() % 6) as usize];
            bytes.extend(p.iter().map(|&b| if rng.next_u32().is_multiple_of(16) { 1 - b } else { b }));
        }
        (BitMatrix::from_bytes(rows, cols, &bytes).unwrap(), bytes)
    }

    /// Reference: bit-by-bit extraction from the bytes and a BTreeMap.
    fn naive(bytes: &[u8], rows: usize, cols: usize, k: usize) -> Vec<PartitionStats> {
        (0..cols.div_ceil(k))
            .map(|p| {
                let width = k.min(cols - p * k);
                let mut map = std::collections::BTreeMap::new();
                for r in 0..rows {
                    let v = (0..width).fold(0u32, |v, i| v | (u32::from(bytes[r * cols + p * k + i]) << i));
                    *map.entry(v).or_insert(0u64) += 1;
                }
                PartitionStats {
                    partition: p,
                    width: width as u32,
                    rows: rows as u64,
                    vectors: map.into_iter().collect(),
                }
            })
            .collect()
    }

    #[test]
    fn counts_match_naive_reference() {
        // Widths that straddle words (12, 20, 24, 28), narrow last partitions, dense and sparse.
        for (cols, k) in [(200, 16), (200, 12), (197, 8), (130, 32), (190, 20), (300, 24), (100, 28), (70, 32), (5, 16)]
        {
            let rows = 301;
            let (m, bytes) = random_matrix(rows, cols, (cols * 100 + k) as u64);
            let stats = count_partitions(&m, k as u32);
            assert_eq!(stats, naive(&bytes, rows, cols, k), "cols={cols} k={k}");
            for s in &stats {
                assert_eq!(s.vectors.iter().map(|&(_, c)| c).sum::<u64>(), rows as u64);
                assert!(s.vectors.windows(2).all(|w| w[0].0 < w[1].0));
            }
        }
    }

    #[test]
    fn empty_shapes() {
        assert!(count_partitions(&BitMatrix::new(0), 16).is_empty());
        let stats = count_partitions(&BitMatrix::new(40), 16);
        assert_eq!(stats.len(), 3);
        assert!(stats.iter().all(|s| s.rows == 0 && s.vectors.is_empty()));
        assert_eq!(stats[2].width, 8);
    }

    #[test]
    fn dense_flush_keeps_counts() {
        let (m, _) = random_matrix(5000, 100, 9);
        for k in [16, 8] {
            let reference = count_partitions(&m, k);
            assert_eq!(count_partitions_with(&m, k, 777), reference);
            assert_eq!(count_partitions_with(&m, k, 1), reference);
        }
    }

    #[test]
    fn merge_equals_counting_at_once() {
        let (m, bytes) = random_matrix(1000, 150, 5);
        let cols = 150;
        for k in [8u32, 16, 32] {
            let whole = count_partitions(&m, k);
            let mut merged = Vec::new();
            for chunk in bytes.chunks(cols * 137) {
                let part = BitMatrix::from_bytes(chunk.len() / cols, cols, chunk).unwrap();
                merge_stats(&mut merged, count_partitions(&part, k));
            }
            assert_eq!(merged, whole);
        }
    }

    #[test]
    #[should_panic(expected = "merging statistics")]
    fn merge_rejects_other_layouts() {
        let mut a = count_partitions(&BitMatrix::zeros(3, 32), 16);
        merge_stats(&mut a, count_partitions(&BitMatrix::zeros(3, 32), 8));
    }

    #[test]
    fn same_result_on_any_thread_count() {
        let (m, _) = random_matrix(3000, 333, 21);
        for k in [8u32, 16, 32, 12] {
            let one =
                rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| count_partitions(&m, k));
            let three =
                rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(|| count_partitions(&m, k));
            assert_eq!(one, three);
            assert_eq!(one, count_partitions(&m, k));
        }
    }
}
