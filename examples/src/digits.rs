//! The 8×8 optical digits data set → seeded splits of rate-coded spikes.
//!
//! Input: `digits.csv.gz`, 1797 rows of 64 pixel intensities `0..=16`
//! followed by the label `0..=9` (no header), the UCI optical recognition of
//! handwritten digits test set as bundled with scikit-learn.
//!
//! # Splitting
//!
//! A permutation of the row indices is drawn by a Fisher–Yates shuffle (for
//! `i` from `n-1` down to 1, swap `i` with a uniform `j ∈ 0..=i`, drawn by
//! rejection sampling on `next_u64` to avoid modulo bias) driven by
//! `ChaCha8Rng::seed_from_u64(seed)`. The first 1197 permuted rows are the
//! train split, the next 200 the calibration split, the last 400 the test
//! split. Each split keeps the permuted order.
//!
//! # Rate coding
//!
//! Pixel `p ∈ 0..=16` has firing probability `p/16`. At each time step `t`
//! and pixel `f` one `u32` is drawn and the pixel spikes iff
//! `u < p·2³²/16 = p·2²⁸` (exact integer comparison in `u64`; so `p = 0`
//! never and `p = 16` always spikes). Draw order: sample by sample in split
//! order, then `t`, then `f`. The train/calib/test splits use independent
//! generators `ChaCha8Rng::seed_from_u64(seed)` with `set_stream(1)`,
//! `set_stream(2)`, `set_stream(3)` respectively (stream 0 is the split
//! permutation).
//!
//! # Output
//!
//! `train.npy`, `calib.npy`, `test.npy` (`[N, T, 64]` uint8 spikes) and
//! `train_labels.npy`, `calib_labels.npy`, `test_labels.npy` (`[N]` uint8),
//! each written atomically (temporary file in the same directory, then
//! renamed).

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, ArrayView2};
use ndarray_npy::WriteNpyExt;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Pixels per image (8×8).
pub const PIXELS: usize = 64;
/// Largest pixel intensity.
pub const MAX_PIXEL: u8 = 16;
/// Number of classes.
pub const CLASSES: u8 = 10;
/// Rows in the bundled data set.
pub const ROWS: usize = 1797;
/// Default number of time steps.
pub const DEFAULT_TIME_STEPS: usize = 8;

/// Errors of the digits preparation.
#[derive(Debug)]
pub enum DigitsError {
    /// A file could not be read or written.
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The CSV is malformed (1-based line number).
    Parse {
        /// Line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The split sizes do not add up to the number of rows.
    Split(String),
    /// An `.npy` file could not be encoded.
    Npy(String),
}

impl fmt::Display for DigitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigitsError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            DigitsError::Parse { line, message } => write!(f, "line {line}: {message}"),
            DigitsError::Split(m) => write!(f, "bad split: {m}"),
            DigitsError::Npy(m) => write!(f, "npy: {m}"),
        }
    }
}

impl std::error::Error for DigitsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DigitsError::Io { source, .. } => Some(source),
            DigitsError::Parse { .. } | DigitsError::Split(_) | DigitsError::Npy(_) => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DigitsError + '_ {
    move |source| DigitsError::Io { path: path.to_path_buf(), source }
}

/// The raw images: `pixels[[i, f]] ∈ 0..=16`, `labels[i] ∈ 0..=9`.
#[derive(Clone, Debug, PartialEq)]
pub struct Digits {
    /// `[N, 64]` pixel intensities.
    pub pixels: Array2<u8>,
    /// `N` labels.
    pub labels: Vec<u8>,
}

/// Parses the CSV text (64 pixels then the label per line; blank lines skipped).
pub fn parse_digits_csv(reader: impl BufRead) -> Result<Digits, DigitsError> {
    let mut flat = Vec::new();
    let mut labels = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let line = line.map_err(|e| DigitsError::Parse { line: line_no, message: e.to_string() })?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != PIXELS + 1 {
            return Err(DigitsError::Parse {
                line: line_no,
                message: format!("expected {} fields, found {}", PIXELS + 1, fields.len()),
            });
        }
        for (j, field) in fields.iter().enumerate() {
            let v: u8 = field.trim().parse().map_err(|_| DigitsError::Parse {
                line: line_no,
                message: format!("field {} is not a small integer: {field:?}", j + 1),
            })?;
            if j < PIXELS {
                if v > MAX_PIXEL {
                    return Err(DigitsError::Parse {
                        line: line_no,
                        message: format!("pixel {} is {v}, above {MAX_PIXEL}", j + 1),
                    });
                }
                flat.push(v);
            } else {
                if v >= CLASSES {
                    return Err(DigitsError::Parse {
                        line: line_no,
                        message: format!("label {v} is not in 0..{CLASSES}"),
                    });
                }
                labels.push(v);
            }
        }
    }
    let n = labels.len();
    let pixels = Array2::from_shape_vec((n, PIXELS), flat)
        .map_err(|e| DigitsError::Parse { line: 0, message: e.to_string() })?;
    Ok(Digits { pixels, labels })
}

/// Reads a gzip-compressed digits CSV.
pub fn read_digits_csv_gz(path: &Path) -> Result<Digits, DigitsError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    parse_digits_csv(BufReader::new(flate2::read::GzDecoder::new(file)))
}

/// Sizes of the three splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitSizes {
    /// Training samples.
    pub train: usize,
    /// Calibration samples.
    pub calib: usize,
    /// Test samples.
    pub test: usize,
}

impl Default for SplitSizes {
    /// 1197 / 200 / 400, which covers the 1797 bundled rows.
    fn default() -> Self {
        SplitSizes { train: 1197, calib: 200, test: 400 }
    }
}

/// Row indices of the three splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitIndices {
    /// Training rows.
    pub train: Vec<usize>,
    /// Calibration rows.
    pub calib: Vec<usize>,
    /// Test rows.
    pub test: Vec<usize>,
}

/// Splits `0..n` by a seeded permutation (see the module docs); the sizes
/// must add up to `n`.
pub fn split_indices(n: usize, sizes: SplitSizes, seed: u64) -> Result<SplitIndices, DigitsError> {
    let total = sizes.train + sizes.calib + sizes.test;
    if total != n {
        return Err(DigitsError::Split(format!(
            "{} + {} + {} = {total} but there are {n} rows",
            sizes.train, sizes.calib, sizes.test
        )));
    }
    let mut perm: Vec<usize> = (0..n).collect();
    phi_runtime::rng::shuffle(&mut ChaCha8Rng::seed_from_u64(seed), &mut perm);
    let test = perm.split_off(sizes.train + sizes.calib);
    let calib = perm.split_off(sizes.train);
    Ok(SplitIndices { train: perm, calib, test })
}

/// Rate-codes `pixels` (`[N, 64]`, values `0..=16`) into `[N, T, 64]` spikes:
/// spike iff `rng.next_u32() < p·2²⁸` (draw order `n`, `t`, `f`).
pub fn rate_encode(pixels: ArrayView2<u8>, time_steps: usize, rng: &mut ChaCha8Rng) -> Array3<u8> {
    let (n, f) = pixels.dim();
    let mut out = Array3::<u8>::zeros((n, time_steps, f));
    for i in 0..n {
        for t in 0..time_steps {
            for j in 0..f {
                let threshold = u64::from(pixels[[i, j]]) << 28;
                out[[i, t, j]] = u8::from(u64::from(rng.next_u32()) < threshold);
            }
        }
    }
    out
}

/// Options of [`prepare_digits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrepareOptions {
    /// Seed of the split permutation and of the rate coding.
    pub seed: u64,
    /// Number of time steps T.
    pub time_steps: usize,
    /// Split sizes.
    pub sizes: SplitSizes,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions { seed: 0, time_steps: DEFAULT_TIME_STEPS, sizes: SplitSizes::default() }
    }
}

/// One encoded split.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// `"train"`, `"calib"` or `"test"`.
    pub name: &'static str,
    /// Source rows of the samples, in order.
    pub rows: Vec<usize>,
    /// `[N, T, 64]` spikes.
    pub spikes: Array3<u8>,
    /// `[N]` labels.
    pub labels: Array1<u8>,
}

/// Splits and rate-codes `digits`; returns the train, calib and test splits.
pub fn prepare_digits(digits: &Digits, opts: &PrepareOptions) -> Result<[Split; 3], DigitsError> {
    let idx = split_indices(digits.labels.len(), opts.sizes, opts.seed)?;
    let make = |name: &'static str, rows: Vec<usize>, stream: u64| {
        let pixels = digits.pixels.select(ndarray::Axis(0), &rows);
        let labels: Array1<u8> = rows.iter().map(|&r| digits.labels[r]).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
        rng.set_stream(stream);
        let spikes = rate_encode(pixels.view(), opts.time_steps, &mut rng);
        Split { name, rows, spikes, labels }
    };
    Ok([make("train", idx.train, 1), make("calib", idx.calib, 2), make("test", idx.test, 3)])
}

/// Encodes an array as `.npy` bytes.
fn npy_bytes<A: WriteNpyExt>(array: &A) -> Result<Vec<u8>, DigitsError> {
    let mut buf = Vec::new();
    array.write_npy(&mut buf).map_err(|e| DigitsError::Npy(e.to_string()))?;
    Ok(buf)
}

/// Writes `bytes` to `path` atomically (see [`phi_runtime::npy::write_atomic`]).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DigitsError> {
    phi_runtime::npy::write_atomic(path, bytes).map_err(io_err(path))
}

/// Writes `<name>.npy` and `<name>_labels.npy` for every split into
/// `out_dir` (created if missing); returns the written paths.
pub fn write_splits(splits: &[Split], out_dir: &Path) -> Result<Vec<PathBuf>, DigitsError> {
    write_splits_as(splits, out_dir, false)
}

/// [`write_splits`], with the spikes shaped `[N, T, 1, 8, 8]` (one-channel images, for
/// convolutional models) when `images` is set; the values are the same.
pub fn write_splits_as(splits: &[Split], out_dir: &Path, images: bool) -> Result<Vec<PathBuf>, DigitsError> {
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let mut written = Vec::new();
    for s in splits {
        let x_path = out_dir.join(format!("{}.npy", s.name));
        let bytes = if images {
            let (n, t, _) = s.spikes.dim();
            let img =
                s.spikes.to_shape(ndarray::IxDyn(&[n, t, 1, 8, 8])).map_err(|e| DigitsError::Npy(e.to_string()))?;
            npy_bytes(&img.to_owned())?
        } else {
            npy_bytes(&s.spikes)?
        };
        write_atomically(&x_path, &bytes)?;
        written.push(x_path);
        let y_path = out_dir.join(format!("{}_labels.npy", s.name));
        write_atomically(&y_path, &npy_bytes(&s.labels)?)?;
        written.push(y_path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> Digits {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("digits_mlp/data/digits.csv.gz");
        read_digits_csv_gz(&path).unwrap()
    }

    #[test]
    fn reads_bundled_csv() {
        let d = bundled();
        assert_eq!(d.labels.len(), ROWS);
        assert_eq!(d.pixels.dim(), (ROWS, PIXELS));
        assert_eq!(d.labels[0], 0);
        assert_eq!(d.pixels[[0, 2]], 5);
        for c in 0..CLASSES {
            assert!(d.labels.iter().filter(|&&l| l == c).count() > 150);
        }
    }

    #[test]
    fn parse_rejects_bad_rows() {
        assert!(parse_digits_csv("1,2,3\n".as_bytes()).is_err());
        let mut row = vec!["0"; PIXELS];
        row.push("10");
        assert!(parse_digits_csv(row.join(",").as_bytes()).is_err());
        row[PIXELS] = "3";
        row[0] = "17";
        assert!(parse_digits_csv(row.join(",").as_bytes()).is_err());
        row[0] = "16";
        let d = parse_digits_csv(format!("{}\n\n", row.join(",")).as_bytes()).unwrap();
        assert_eq!(d.labels, vec![3]);
    }

    #[test]
    fn splits_are_disjoint_and_cover() {
        let s = split_indices(ROWS, SplitSizes::default(), 0).unwrap();
        assert_eq!((s.train.len(), s.calib.len(), s.test.len()), (1197, 200, 400));
        let mut all: Vec<usize> = s.train.iter().chain(&s.calib).chain(&s.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..ROWS).collect::<Vec<_>>());
        assert_ne!(s.train[..10], (0..10).collect::<Vec<_>>()[..]);
        assert_eq!(s, split_indices(ROWS, SplitSizes::default(), 0).unwrap());
        assert_ne!(s, split_indices(ROWS, SplitSizes::default(), 1).unwrap());
        assert!(split_indices(10, SplitSizes::default(), 0).is_err());
    }

    #[test]
    fn spike_rates_match_intensities() {
        // 17 intensities, 4000 samples of each, T = 4.
        let per = 4000;
        let mut pixels = Array2::<u8>::zeros((per, 17));
        for mut row in pixels.rows_mut() {
            for (p, v) in row.iter_mut().enumerate() {
                *v = p as u8;
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let spikes = rate_encode(pixels.view(), 4, &mut rng);
        let trials = (per * 4) as f64;
        for p in 0..=16usize {
            let count: u64 = spikes.index_axis(ndarray::Axis(2), p).iter().map(|&s| u64::from(s)).sum();
            let rate = count as f64 / trials;
            let want = p as f64 / 16.0;
            let sigma = (want * (1.0 - want) / trials).sqrt();
            assert!((rate - want).abs() <= 5.0 * sigma + 1e-12, "p={p}: rate {rate} want {want}");
            if p == 0 {
                assert_eq!(count, 0);
            }
            if p == 16 {
                assert_eq!(count as f64, trials);
            }
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let d = bundled();
        let dir_a = tempfile::tempdir().unwrap();
        let dir_b = tempfile::tempdir().unwrap();
        let opts = PrepareOptions::default();
        let a = write_splits(&prepare_digits(&d, &opts).unwrap(), dir_a.path()).unwrap();
        let b = write_splits(&prepare_digits(&d, &opts).unwrap(), dir_b.path()).unwrap();
        assert_eq!(a.len(), 6);
        for (pa, pb) in a.iter().zip(&b) {
            assert_eq!(pa.file_name(), pb.file_name());
            assert_eq!(std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
        }
        // Shapes and contents read back.
        let x: Array3<u8> = ndarray_npy::read_npy(dir_a.path().join("train.npy")).unwrap();
        assert_eq!(x.dim(), (1197, DEFAULT_TIME_STEPS, PIXELS));
        assert!(x.iter().all(|&v| v <= 1));
        let y: Array1<u8> = ndarray_npy::read_npy(dir_a.path().join("test_labels.npy")).unwrap();
        assert_eq!(y.len(), 400);
        // A different seed changes the data.
        let other = prepare_digits(&d, &PrepareOptions { seed: 1, ..opts }).unwrap();
        let first = prepare_digits(&d, &opts).unwrap();
        assert_ne!(other[0].spikes, first[0].spikes);
        // Labels follow the rows.
        for s in &first {
            for (k, &r) in s.rows.iter().enumerate() {
                assert_eq!(s.labels[k], d.labels[r]);
            }
        }
    }
}
