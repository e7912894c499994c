//! [`BitMatrix`]: a binary activation matrix packed 64 columns to a `u64` word.
//!
//! Layout (row-major, least significant bit first):
//!
//! - every row occupies `words_per_row = ceil(cols / 64)` consecutive words;
//! - column `c` of row `r` is bit `c % 64` of word `r · words_per_row + c / 64`;
//! - the bits of the last word of a row beyond `cols` are always zero (every constructor and
//!   mutator keeps this invariant, so words can be compared and counted directly).
//!
//! A *partition vector* of width `w` starting at column `s` ([`BitMatrix::extract`]) is the
//! `u32` whose bit `i` is column `s + i` (the partition's first column is the least
//! significant bit). It may straddle two words; it never reads past the row.

use std::fmt;

/// Why a [`BitMatrix`] could not be built or grown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BitMatrixError {
    /// The data does not have the length the shape asks for.
    Length {
        /// The length required by the shape (bytes or words).
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A byte other than 0 or 1.
    NotBinary {
        /// Its position in the given slice.
        index: usize,
        /// Its value.
        value: u8,
    },
}

impl fmt::Display for BitMatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BitMatrixError::Length { expected, got } => {
                write!(f, "activation data has length {got}, the shape needs {expected}")
            }
            BitMatrixError::NotBinary { index, value } => {
                write!(f, "activation byte {index} is {value}; spikes must be 0 or 1")
            }
        }
    }
}

impl std::error::Error for BitMatrixError {}

/// A `rows × cols` binary matrix packed in `u64` words (see the module doc for the layout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitMatrix {
    rows: usize,
    cols: usize,
    words_per_row: usize,
    words: Vec<u64>,
}

impl BitMatrix {
    /// An empty matrix (no rows) of `cols` columns, to be grown with the `push_*` methods.
    pub fn new(cols: usize) -> Self {
        BitMatrix { rows: 0, cols, words_per_row: cols.div_ceil(64), words: Vec::new() }
    }

    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        let words_per_row = cols.div_ceil(64);
        BitMatrix { rows, cols, words_per_row, words: vec![0; rows * words_per_row] }
    }

    /// A matrix from `rows · cols` bytes, each 0 or 1, in row-major order.
    pub fn from_bytes(rows: usize, cols: usize, bytes: &[u8]) -> Result<Self, BitMatrixError> {
        let expected = rows * cols;
        if bytes.len() != expected {
            return Err(BitMatrixError::Length { expected, got: bytes.len() });
        }
        if cols == 0 {
            return Ok(BitMatrix::zeros(rows, 0));
        }
        let mut m = BitMatrix::new(cols);
        m.push_rows(bytes)?;
        Ok(m)
    }

    /// Appends one row given as `cols` bytes, each 0 or 1. On error nothing is appended.
    pub fn push_row(&mut self, row: &[u8]) -> Result<(), BitMatrixError> {
        if row.len() != self.cols {
            return Err(BitMatrixError::Length { expected: self.cols, got: row.len() });
        }
        self.push_rows(row).map(|_| ())
    }

    /// Appends whole rows given as concatenated 0/1 bytes (the length must be a multiple of
    /// `cols`); returns the number of rows appended. On error nothing is appended.
    ///
    /// With `cols = 0` there is no way to tell how many rows the bytes hold: nothing is
    /// appended and `Ok(0)` is returned for an empty slice.
    pub fn push_rows(&mut self, bytes: &[u8]) -> Result<usize, BitMatrixError> {
        if self.cols == 0 {
            return if bytes.is_empty() {
                Ok(0)
            } else {
                Err(BitMatrixError::Length { expected: 0, got: bytes.len() })
            };
        }
        if !bytes.len().is_multiple_of(self.cols) {
            let expected = bytes.len().div_ceil(self.cols) * self.cols;
            return Err(BitMatrixError::Length { expected, got: bytes.len() });
        }
        if let Some(index) = bytes.iter().position(|&b| b > 1) {
            return Err(BitMatrixError::NotBinary { index, value: bytes[index] });
        }
        let n = bytes.len() / self.cols;
        self.words.reserve(n * self.words_per_row);
        for row in bytes.chunks_exact(self.cols) {
            for chunk in row.chunks(64) {
                let word = chunk.iter().enumerate().fold(0u64, |w, (i, &b)| w | (u64::from(b) << i));
                self.words.push(word);
            }
        }
        self.rows += n;
        Ok(n)
    }

    /// Appends one row given already packed (`words_per_row` words, the layout of the module
    /// doc). Bits beyond `cols` in the last word are cleared.
    pub fn push_packed_row(&mut self, words: &[u64]) -> Result<(), BitMatrixError> {
        if words.len() != self.words_per_row {
            return Err(BitMatrixError::Length { expected: self.words_per_row, got: words.len() });
        }
        self.words.extend_from_slice(words);
        if let Some(last) = self.words.last_mut().filter(|_| self.words_per_row > 0) {
            *last &= tail_mask(self.cols);
        }
        self.rows += 1;
        Ok(())
    }

    /// Reserves room for `additional` more rows.
    pub fn reserve_rows(&mut self, additional: usize) {
        self.words.reserve(additional * self.words_per_row);
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Words per row (`ceil(cols / 64)`).
    pub fn words_per_row(&self) -> usize {
        self.words_per_row
    }

    /// All words, row after row.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The packed words of row `r`.
    pub fn row_words(&self, r: usize) -> &[u64] {
        &self.words[r * self.words_per_row..(r + 1) * self.words_per_row]
    }

    /// The bit at row `r`, column `c` (panics when out of range).
    pub fn get(&self, r: usize, c: usize) -> bool {
        assert!(r < self.rows && c < self.cols, "bit ({r}, {c}) outside a {}×{} matrix", self.rows, self.cols);
        self.words[r * self.words_per_row + c / 64] >> (c % 64) & 1 == 1
    }

    /// Sets the bit at row `r`, column `c` (panics when out of range).
    pub fn set(&mut self, r: usize, c: usize, value: bool) {
        assert!(r < self.rows && c < self.cols, "bit ({r}, {c}) outside a {}×{} matrix", self.rows, self.cols);
        let word = &mut self.words[r * self.words_per_row + c / 64];
        let bit = 1u64 << (c % 64);
        if value {
            *word |= bit;
        } else {
            *word &= !bit;
        }
    }

    /// The partition vector of row `r` of width `width` (1..=32) starting at column `start`:
    /// bit `i` of the result is column `start + i`. Panics when the columns leave the row.
    pub fn extract(&self, r: usize, start: usize, width: u32) -> u32 {
        assert!((1..=32).contains(&width), "partition width {width} outside 1..=32");
        assert!(r < self.rows && start + width as usize <= self.cols, "partition outside the matrix");
        extract_from_row(self.row_words(r), start, width)
    }
}

/// Mask of the valid bits of a row's last word.
fn tail_mask(cols: usize) -> u64 {
    match cols % 64 {
        0 => u64::MAX,
        rest => (1u64 << rest) - 1,
    }
}

/// `width` (1..=32) bits of a packed row from column `start`, first column least significant.
/// The caller guarantees `start + width ≤ 64 · row.len()`.
#[inline(always)]
pub(crate) fn extract_from_row(row: &[u64], start: usize, width: u32) -> u32 {
    let word = start / 64;
    let offset = (start % 64) as u32;
    let mask = (1u64 << width) - 1;
    let low = row[word] >> offset;
    let bits = if offset + width > 64 { low | (row[word + 1] << (64 - offset)) } else { low };
    (bits & mask) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    fn random_bytes(rows: usize, cols: usize, seed: u64) -> Vec<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..rows * cols).map(|_| u8::from(rng.next_u32().is_multiple_of(5))).collect()
    }

    #[test]
    fn packing_matches_bytes() {
        for cols in [0usize, 1, 63, 64, 65, 130, 200] {
            let bytes = random_bytes(9, cols, cols as u64);
            let m = BitMatrix::from_bytes(9, cols, &bytes).unwrap();
            assert_eq!(m.rows(), 9);
            assert_eq!(m.words().len(), 9 * cols.div_ceil(64));
            for r in 0..9 {
                for c in 0..cols {
                    assert_eq!(m.get(r, c), bytes[r * cols + c] == 1);
                }
                if let Some(&last) = m.row_words(r).last() {
                    assert_eq!(last & !tail_mask(cols), 0, "padding bits must be zero");
                }
            }
        }
    }

    #[test]
    fn extraction_matches_naive_bits() {
        let cols = 200;
        let bytes = random_bytes(7, cols, 3);
        let m = BitMatrix::from_bytes(7, cols, &bytes).unwrap();
        for r in 0..7 {
            for width in 1..=32u32 {
                for start in 0..=cols - width as usize {
                    let naive =
                        (0..width as usize).fold(0u32, |v, i| v | (u32::from(bytes[r * cols + start + i]) << i));
                    assert_eq!(m.extract(r, start, width), naive, "r={r} start={start} width={width}");
                }
            }
        }
    }

    #[test]
    fn incremental_rows_equal_bulk() {
        let cols = 97;
        let bytes = random_bytes(12, cols, 11);
        let bulk = BitMatrix::from_bytes(12, cols, &bytes).unwrap();
        let mut grown = BitMatrix::new(cols);
        grown.push_rows(&bytes[..5 * cols]).unwrap();
        grown.push_row(&bytes[5 * cols..6 * cols]).unwrap();
        for r in 6..12 {
            grown.push_packed_row(bulk.row_words(r)).unwrap();
        }
        assert_eq!(grown, bulk);
        let mut set = BitMatrix::zeros(12, cols);
        for (i, &b) in bytes.iter().enumerate() {
            set.set(i / cols, i % cols, b == 1);
        }
        assert_eq!(set, bulk);
    }

    #[test]
    fn rejects_bad_data() {
        assert_eq!(BitMatrix::from_bytes(2, 3, &[0; 5]), Err(BitMatrixError::Length { expected: 6, got: 5 }));
        assert_eq!(BitMatrix::from_bytes(1, 3, &[0, 2, 1]), Err(BitMatrixError::NotBinary { index: 1, value: 2 }));
        let mut m = BitMatrix::new(4);
        assert!(m.push_rows(&[1, 0, 1]).is_err());
        assert!(m.push_packed_row(&[1, 2]).is_err());
        assert_eq!(m.rows(), 0);
        // Padding bits given in a packed row are dropped.
        m.push_packed_row(&[u64::MAX]).unwrap();
        assert_eq!(m.row_words(0), &[0b1111]);
        assert!(BitMatrixError::NotBinary { index: 1, value: 2 }.to_string().contains("0 or 1"));
    }
}
