//! Pattern selection for one partition ([`select`]) or many in parallel ([`select_all`]).
//!
//! The rules are those of the [module overview](super); this file ties the pieces together:
//! candidates → k-means ([`super::kmeans`]) → final pattern set → optional cost-aware local
//! search ([`super::local_search`]) → objectives.

use rayon::prelude::*;

use super::kmeans::kmeans;
use super::local_search::local_search;
use super::matching::min_distance;
use super::stats::PartitionStats;

/// How k-means picks its initial centroids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Seeded weighted k-means++ (D² sampling on `count · distance²`).
    KMeansPlusPlus,
    /// The `q` most frequent candidate vectors (ties: the smaller vector).
    Frequency,
}

/// Which selection algorithm runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The paper's weighted Hamming k-means.
    KMeans,
    /// `KMeans`, then a local search that strictly lowers the operation count.
    CostAware,
}

/// Options of [`select`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelectOptions {
    /// Maximum number of patterns per partition (the paper: 128).
    pub q: usize,
    /// Seed of the k-means++ initialisation.
    pub seed: u64,
    /// Cap on k-means update rounds, and on local-search passes for `CostAware`.
    pub max_iters: usize,
    /// Initialisation of k-means.
    pub init: Init,
    /// The selection algorithm.
    pub algorithm: Algorithm,
}

impl Default for SelectOptions {
    /// `q = 128`, seed 0, 50 iterations, k-means++ initialisation, the paper's k-means.
    fn default() -> Self {
        SelectOptions { q: 128, seed: 0, max_iters: 50, init: Init::KMeansPlusPlus, algorithm: Algorithm::KMeans }
    }
}

/// The patterns chosen for one partition and how good they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// At most `q` distinct patterns, each of popcount ≥ 2, in centroid order (the index is
    /// the one [`match_vector`](super::match_vector) returns).
    pub patterns: Vec<u32>,
    /// `Σ count · min_p d(x, p)` over the candidates (vectors of popcount ≥ 2, the k-means
    /// input); with no pattern, `min_p d(x, p)` is taken as `popcount(x)` (the distance to the
    /// zero vector, i.e. to bit sparsity).
    pub hamming_objective: u64,
    /// `Σ count · cost(x)` over all vectors of the partition, zero and one-hot included.
    pub ops_objective: u64,
    /// `Σ count · popcount(x)`: the operations of plain bit sparsity.
    pub bit_sparse_ops: u64,
    /// `KMeans`: k-means update rounds (0 when the candidates themselves are the patterns);
    /// `CostAware`: local-search passes.
    pub iterations: usize,
    /// `KMeans`: the assignment reached a fixed point (always true when the candidates
    /// themselves are the patterns); `CostAware`: the last pass changed nothing.
    pub converged: bool,
}

/// Chooses the patterns of one partition (see the module overview for every rule).
pub fn select(stats: &PartitionStats, opts: &SelectOptions) -> Selection {
    let (vectors, weights): (Vec<u32>, Vec<u64>) =
        stats.vectors.iter().copied().filter(|&(v, c)| v.count_ones() >= 2 && c > 0).unzip();
    let (mut patterns, mut iterations, mut converged) = if opts.q == 0 || vectors.is_empty() {
        (Vec::new(), 0, true)
    } else if vectors.len() <= opts.q {
        (vectors.clone(), 0, true)
    } else {
        let result = kmeans(&vectors, &weights, opts.q, opts.seed, opts.max_iters, opts.init);
        (result.centroids, result.iterations, result.converged)
    };
    // Only patterns of popcount ≥ 2 can ever be used; keep the first of duplicates.
    let mut seen = std::collections::HashSet::new();
    patterns.retain(|&p| p.count_ones() >= 2 && seen.insert(p));
    match opts.algorithm {
        Algorithm::KMeans => {}
        Algorithm::CostAware => {
            let start = ops_objective(stats, &patterns);
            let result = local_search(&vectors, &weights, patterns, opts.q, stats.width, opts.max_iters);
            patterns = result.patterns;
            iterations = result.passes;
            converged = result.converged;
            debug_assert!(ops_objective(stats, &patterns) <= start, "cost-aware search made things worse");
        }
    }
    Selection {
        hamming_objective: vectors
            .iter()
            .zip(&weights)
            .map(|(&x, &w)| w * u64::from(min_distance(x, &patterns).unwrap_or(x.count_ones())))
            .sum(),
        ops_objective: ops_objective(stats, &patterns),
        bit_sparse_ops: stats.bit_sparse_ops(),
        patterns,
        iterations,
        converged,
    }
}

/// [`select`] for every partition, in parallel with rayon; the result equals the sequential
/// `stats.iter().map(|s| select(s, opts))`.
pub fn select_all(stats: &[PartitionStats], opts: &SelectOptions) -> Vec<Selection> {
    stats.par_iter().map(|s| select(s, opts)).collect()
}

/// `Σ count · cost(x)` over all vectors of the partition.
fn ops_objective(stats: &PartitionStats, patterns: &[u32]) -> u64 {
    stats.vectors.iter().map(|&(x, c)| c * u64::from(super::matching::cost(x, patterns))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patterns::{BitMatrix, cost, count_partitions, match_vector};
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};
    use std::collections::BTreeMap;

    fn stats_from(width: u32, counts: BTreeMap<u32, u64>) -> PartitionStats {
        PartitionStats { partition: 0, width, rows: counts.values().sum(), vectors: counts.into_iter().collect() }
    }

    /// A random partition with skewed (roughly Zipf-like) frequencies.
    fn random_stats(rng: &mut ChaCha8Rng) -> PartitionStats {
        let width = [8u32, 12, 16][(rng.next_u32() % 3) as usize];
        let distinct = 20 + (rng.next_u32() % 300) as usize;
        let density = 2 + rng.next_u32() % 5; // one bit in `density` set
        let mut counts = BTreeMap::new();
        for rank in 0..distinct {
            let v = (0..width).fold(0u32, |v, b| v | (u32::from(rng.next_u32().is_multiple_of(density)) << b));
            let count = 1 + (5000 / (rank as u64 + 1)) * u64::from(1 + rng.next_u32() % 3);
            *counts.entry(v).or_insert(0) += count;
        }
        stats_from(width, counts)
    }

    fn check_invariants(stats: &PartitionStats, opts: &SelectOptions, s: &Selection) {
        assert!(s.patterns.len() <= opts.q);
        assert!(s.patterns.iter().all(|p| p.count_ones() >= 2 && p >> stats.width == 0));
        let mut sorted = s.patterns.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), s.patterns.len(), "patterns must be distinct");
        let ops: u64 = stats.vectors.iter().map(|&(x, c)| c * u64::from(cost(x, &s.patterns))).sum();
        let bits: u64 = stats.vectors.iter().map(|&(x, c)| c * u64::from(x.count_ones())).sum();
        let hamming: u64 = stats
            .vectors
            .iter()
            .filter(|&&(x, _)| x.count_ones() >= 2)
            .map(|&(x, c)| {
                c * u64::from(s.patterns.iter().map(|&p| (x ^ p).count_ones()).min().unwrap_or(x.count_ones()))
            })
            .sum();
        assert_eq!(s.ops_objective, ops);
        assert_eq!(s.bit_sparse_ops, bits);
        assert_eq!(s.hamming_objective, hamming);
        assert!(s.ops_objective <= s.bit_sparse_ops);
    }

    #[test]
    fn cost_aware_never_worse_than_kmeans() {
        let mut rng = ChaCha8Rng::seed_from_u64(2025);
        let (mut km_total, mut ca_total, mut strictly_better) = (0u64, 0u64, 0);
        for case in 0..200 {
            let stats = random_stats(&mut rng);
            let q = [2usize, 4, 8, 16, 32][case % 5];
            let init = if case % 2 == 0 { Init::KMeansPlusPlus } else { Init::Frequency };
            let km_opts =
                SelectOptions { q, seed: case as u64, init, algorithm: Algorithm::KMeans, ..Default::default() };
            let ca_opts = SelectOptions { algorithm: Algorithm::CostAware, ..km_opts };
            let km = select(&stats, &km_opts);
            let ca = select(&stats, &ca_opts);
            check_invariants(&stats, &km_opts, &km);
            check_invariants(&stats, &ca_opts, &ca);
            assert!(ca.ops_objective <= km.ops_objective, "case {case}: {} > {}", ca.ops_objective, km.ops_objective);
            km_total += km.ops_objective;
            ca_total += ca.ops_objective;
            strictly_better += usize::from(ca.ops_objective < km.ops_objective);
        }
        // The search is not a no-op: it wins on most of these partitions.
        assert!(strictly_better > 100, "cost-aware improved only {strictly_better} of 200");
        assert!(ca_total < km_total);
    }

    #[test]
    fn kmeans_recovers_planted_patterns() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // Eight 16-bit patterns of popcount 6, pairwise at distance ≥ 6.
        let mut planted: Vec<u32> = Vec::new();
        while planted.len() < 8 {
            let v = rng.next_u32() & 0xFFFF;
            if v.count_ones() == 6 && planted.iter().all(|&p| (p ^ v).count_ones() >= 6) {
                planted.push(v);
            }
        }
        // 20 000 rows: a planted pattern, with one random bit flipped in 10% of the rows.
        let mut counts = BTreeMap::new();
        for _ in 0..20_000 {
            let mut v = planted[(rng.next_u32() % 8) as usize];
            if rng.next_u32().is_multiple_of(10) {
                v ^= 1 << (rng.next_u32() % 16);
            }
            *counts.entry(v).or_insert(0u64) += 1;
        }
        let stats = stats_from(16, counts);
        let mut expected = planted.clone();
        expected.sort_unstable();
        for init in [Init::KMeansPlusPlus, Init::Frequency] {
            for seed in 0..4 {
                let opts = SelectOptions { q: 8, seed, init, ..Default::default() };
                let s = select(&stats, &opts);
                let mut got = s.patterns.clone();
                got.sort_unstable();
                assert_eq!(got, expected, "init {init:?} seed {seed}");
                assert!(s.converged);
                check_invariants(&stats, &opts, &s);
            }
        }
    }

    #[test]
    fn enough_patterns_match_every_candidate_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        for _ in 0..20 {
            let stats = random_stats(&mut rng);
            let candidates = stats.vectors.iter().filter(|&&(v, _)| v.count_ones() >= 2).count();
            for algorithm in [Algorithm::KMeans, Algorithm::CostAware] {
                let opts =
                    SelectOptions { q: candidates + (rng.next_u32() % 3) as usize, algorithm, ..Default::default() };
                let s = select(&stats, &opts);
                assert_eq!(s.patterns.len(), candidates);
                for &(x, _) in &stats.vectors {
                    match match_vector(x, &s.patterns) {
                        Some((_, d)) => assert_eq!(d, 0),
                        None => assert!(x.count_ones() <= 1),
                    }
                }
                assert_eq!(s.hamming_objective, 0);
                let ones: u64 = stats.vectors.iter().map(|&(x, c)| c * u64::from(x.count_ones().min(1))).sum();
                assert_eq!(s.ops_objective, ones);
                check_invariants(&stats, &opts, &s);
            }
        }
    }

    #[test]
    fn degenerate_inputs() {
        let empty = stats_from(16, BTreeMap::new());
        let s = select(&empty, &SelectOptions::default());
        assert!(s.patterns.is_empty() && s.ops_objective == 0 && s.bit_sparse_ops == 0 && s.converged);
        // Only zero and one-hot vectors: nothing to choose.
        let trivial = stats_from(8, BTreeMap::from([(0, 10), (1, 3), (0b1000, 4)]));
        let s = select(&trivial, &SelectOptions { algorithm: Algorithm::CostAware, ..Default::default() });
        assert!(s.patterns.is_empty());
        assert_eq!((s.ops_objective, s.bit_sparse_ops, s.hamming_objective), (7, 7, 0));
        // q = 0: bit sparsity, and the Hamming objective is measured against zero.
        let some = stats_from(8, BTreeMap::from([(0b111, 2), (0b1111_0000, 1)]));
        let s = select(&some, &SelectOptions { q: 0, ..Default::default() });
        assert!(s.patterns.is_empty());
        assert_eq!((s.ops_objective, s.bit_sparse_ops, s.hamming_objective), (10, 10, 10));
        // max_iters = 0: the initial centroids are the result.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let stats = random_stats(&mut rng);
        let opts = SelectOptions { q: 4, max_iters: 0, init: Init::Frequency, ..Default::default() };
        let s = select(&stats, &opts);
        assert_eq!((s.iterations, s.converged), (0, false));
        check_invariants(&stats, &opts, &s);
    }

    #[test]
    fn deterministic_for_seed_and_threads() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let all: Vec<PartitionStats> =
            (0..12).map(|p| PartitionStats { partition: p, ..random_stats(&mut rng) }).collect();
        for algorithm in [Algorithm::KMeans, Algorithm::CostAware] {
            let opts = SelectOptions { q: 16, seed: 11, algorithm, ..Default::default() };
            let sequential: Vec<Selection> = all.iter().map(|s| select(s, &opts)).collect();
            for threads in [1, 2, 5] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                assert_eq!(pool.install(|| select_all(&all, &opts)), sequential, "{threads} threads");
            }
            assert_eq!(select_all(&all, &opts), sequential);
        }
        // Another seed gives another k-means++ start (and here other patterns somewhere).
        let a = select_all(&all, &SelectOptions { q: 16, seed: 1, ..Default::default() });
        let b = select_all(&all, &SelectOptions { q: 16, seed: 2, ..Default::default() });
        assert_ne!(a, b);
    }

    /// The paper's worst case per partition: every 16-bit vector occurs (65 536 distinct),
    /// q = 128. Slow in debug builds: `cargo test --release -p phi-compiler -- --ignored`.
    #[test]
    #[ignore = "seconds in release, minutes in debug"]
    fn paper_scale_partition() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let counts: BTreeMap<u32, u64> = (0..1u32 << 16).map(|v| (v, 1 + u64::from(rng.next_u32() % 50))).collect();
        let stats = stats_from(16, counts);
        for algorithm in [Algorithm::KMeans, Algorithm::CostAware] {
            let opts = SelectOptions { algorithm, ..Default::default() };
            let t = std::time::Instant::now();
            let s = select(&stats, &opts);
            eprintln!(
                "{algorithm:?}: {} iterations, ops {} / bit-sparse {}, {:.2} s",
                s.iterations,
                s.ops_objective,
                s.bit_sparse_ops,
                t.elapsed().as_secs_f64()
            );
            check_invariants(&stats, &opts, &s);
        }
    }

    #[test]
    fn end_to_end_from_a_bit_matrix() {
        // Rows drawn from 4 prototypes over 64 columns; k = 16 gives 4 partitions.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let protos: Vec<u64> = (0..4).map(|_| rng.next_u64() & rng.next_u64()).collect();
        let mut m = BitMatrix::new(64);
        for _ in 0..500 {
            m.push_packed_row(&[protos[(rng.next_u32() % 4) as usize]]).unwrap();
        }
        let stats = count_partitions(&m, 16);
        let sel = select_all(&stats, &SelectOptions { q: 4, ..Default::default() });
        for (s, sel) in stats.iter().zip(&sel) {
            // At most 4 distinct vectors per partition, all reproduced exactly.
            assert!(s.vectors.len() <= 4);
            assert_eq!(
                sel.ops_objective,
                s.vectors.iter().map(|&(x, c)| c * u64::from(x.count_ones().min(1))).sum::<u64>()
            );
        }
    }
}
