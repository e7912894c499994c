//! Pattern selection: the offline core of Phi's pattern-based sparsity, as pure algorithms.
//!
//! A spiking GEMM multiplies a binary activation matrix `A` (`M × K`, `M` = time steps ×
//! positions) by weights `W` (`K × N`). This module chooses, from calibration activations, the
//! patterns that Level 1 of Phi precomputes. It knows nothing of the IR; passes call it.
//!
//! # Rules
//!
//! **Activations** ([`BitMatrix`]): `A` packed 64 columns per `u64` word, row-major, column
//! `c` of a row in bit `c % 64` of the row's word `c / 64`; padding bits are zero.
//!
//! **Partitions** ([`count_partitions`]): `K` is cut into partitions of `k` columns
//! (`1 ≤ k ≤ 32`; the paper uses 16, the toolchain 8, 16 or 32): partition `p` holds columns
//! `p·k .. min((p+1)·k, K)`, only the last may be narrower. A row of a partition is a vector
//! `x: u32` whose bit `i` is column `p·k + i`. [`PartitionStats`] lists every distinct vector
//! (zero included) with its count, sorted by vector; counts sum to the number of rows.
//! [`merge_stats`] adds up the statistics of several chunks of rows.
//!
//! **Matching** ([`match_vector`], [`cost`]): at run time `x` goes to the pattern at minimum
//! Hamming distance `d = popcount(x XOR p)`, ties to the lowest pattern index, and uses it only
//! if `d + 1 < popcount(x)` (lossless rule); otherwise it falls back to bit sparsity. Hence
//! `cost(x) = min(popcount(x), 1 + min_p d(x, p))` operations, against `popcount(x)` for bit
//! sparsity. A pattern of popcount < 2 can never be used (for it `d ≥ popcount(x) − 1`).
//!
//! **Selection** ([`select`], [`select_all`], options in [`SelectOptions`]):
//!
//! 1. *Candidates*: the partition's distinct vectors of popcount ≥ 2 (all-zero and one-hot
//!    vectors dropped), weighted by their counts.
//! 2. With `q = 0` or no candidates there are no patterns. With at most `q` candidates the
//!    patterns are exactly the candidates (in increasing order). Otherwise weighted k-means in
//!    Hamming space runs (rules in [`kmeans`]: k-means++ or frequency
//!    initialisation, nearest centroid with ties to the lowest index, per-bit weighted mean
//!    rounded at 0.5 with exactly 0.5 → 1, deterministic re-seeding of empty clusters, at most
//!    `max_iters` updates).
//! 3. The final k-means set drops centroids of popcount < 2 and later duplicates (keeping the
//!    first), so it holds at most `q` distinct patterns of popcount ≥ 2.
//! 4. [`Algorithm::CostAware`] then runs a deterministic local search (rules in
//!    [`local_search`]) from that set, accepting only moves that strictly
//!    lower `ops_objective`, so it is never worse than [`Algorithm::KMeans`] with the same
//!    options (asserted in debug builds and tested).
//!
//! **Objectives** ([`Selection`]): `hamming_objective = Σ count · min_p d(x, p)` over the
//! candidates (`popcount(x)` when there is no pattern), `ops_objective = Σ count · cost(x)`
//! over all vectors, `bit_sparse_ops = Σ count · popcount(x)`; always
//! `ops_objective ≤ bit_sparse_ops`.
//!
//! **Determinism**: counting is exact and per partition; selection is sequential integer
//! arithmetic driven by a `ChaCha8Rng` seeded from [`SelectOptions::seed`] (with rejection
//! sampling, no floats), and the parallel entry points only distribute whole partitions over
//! rayon's threads, so results do not depend on the number of threads.

mod bits;
pub mod kmeans;
pub mod local_search;
mod matching;
mod select;
mod stats;

pub use bits::{BitMatrix, BitMatrixError};
pub use matching::{cost, match_vector, nearest};
pub use select::{Algorithm, Init, SelectOptions, Selection, select, select_all};
pub use stats::{DENSE_MAX_WIDTH, PartitionStats, ROW_BLOCK, count_partitions, merge_stats};
