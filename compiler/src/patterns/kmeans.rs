//! Weighted k-means in Hamming space (the paper's pattern selection), over distinct vectors.
//!
//! Input: `n` distinct candidate vectors `x_i` of `width` bits with weights `w_i ≥ 1` (their
//! frequencies) and a number of clusters `q < n`. Rules:
//!
//! - **Initialisation** ([`Init`]):
//!   - `KMeansPlusPlus`: a `ChaCha8Rng` seeded with `seed` draws the first centroid with
//!     probability `w_i / Σ w`, then each further one with probability
//!     `w_i · D_i² / Σ_j w_j · D_j²`, where `D_i` is the Hamming distance from `x_i` to its
//!     nearest chosen centroid. Draws are exact integer arithmetic: a uniform integer
//!     `r ∈ [0, total)` by rejection sampling on `next_u64` (two words when the total exceeds
//!     64 bits), and the chosen vector is the first whose running sum exceeds `r` (vectors in
//!     increasing order). Chosen vectors have `D = 0`, so the `q` centroids are distinct.
//!   - `Frequency`: the `q` heaviest vectors (ties: the smaller vector first).
//! - **Assignment**: each vector joins its nearest centroid, ties to the lowest index.
//! - **Update**: a non-empty cluster's centroid bit `b` is 1 iff
//!   `2 · Σ_{members} w_i · x_i[b] ≥ Σ_{members} w_i` — the weighted mean rounded at 0.5, a
//!   mean of exactly 0.5 rounding to 1 (exact integer comparison, no floats).
//! - **Empty clusters** are re-seeded, in index order, with the vector whose weighted distance
//!   `w_i · d(x_i, its centroid before the update)` is largest (ties: the smaller vector),
//!   skipping vectors already chosen for re-seeding in this round or equal to a current
//!   centroid; when no vector has a positive contribution the centroid stays as it is.
//! - **Stopping**: rounds of update + assignment run until an assignment equals the previous one
//!   (`converged`) or `max_iters` updates were made. `iterations` counts the updates.
//!
//! Everything is sequential and integer, so the result is a function of the input and the seed.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::Init;
use super::matching::min_distance;

/// What [`kmeans`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KMeansResult {
    /// The `q` centroids (possibly with duplicates or popcount < 2; the caller filters).
    pub centroids: Vec<u32>,
    /// Update rounds made.
    pub iterations: usize,
    /// Whether the last update left the assignment unchanged.
    pub converged: bool,
}

/// Weighted Hamming k-means of `vectors` (distinct, sorted) with `weights`, `1 ≤ q < n`.
pub(crate) fn kmeans(
    vectors: &[u32],
    weights: &[u64],
    q: usize,
    seed: u64,
    max_iters: usize,
    init: Init,
) -> KMeansResult {
    debug_assert!(q >= 1 && q < vectors.len() && vectors.len() == weights.len());
    let mut centroids = match init {
        Init::KMeansPlusPlus => init_plus_plus(vectors, weights, q, seed),
        Init::Frequency => init_frequency(vectors, weights, q),
    };
    let mut assignment = vec![0u32; vectors.len()];
    let mut distance = vec![0u32; vectors.len()];
    assign(vectors, &centroids, &mut assignment, &mut distance);
    let mut next_assignment = assignment.clone();
    let mut iterations = 0;
    let mut converged = false;
    while iterations < max_iters {
        update(vectors, weights, &assignment, &distance, &mut centroids);
        iterations += 1;
        assign(vectors, &centroids, &mut next_assignment, &mut distance);
        if next_assignment == assignment {
            converged = true;
            break;
        }
        std::mem::swap(&mut assignment, &mut next_assignment);
    }
    KMeansResult { centroids, iterations, converged }
}

/// Nearest centroid (ties: lowest index) and its distance, for every vector.
fn assign(vectors: &[u32], centroids: &[u32], assignment: &mut [u32], distance: &mut [u32]) {
    for ((&x, a), d) in vectors.iter().zip(assignment.iter_mut()).zip(distance.iter_mut()) {
        let best = min_distance(x, centroids).unwrap_or(0);
        *a = centroids.iter().position(|&c| (x ^ c).count_ones() == best).unwrap_or(0) as u32;
        *d = best;
    }
}

/// Weighted majority per bit for every non-empty cluster; re-seeds empty ones.
fn update(vectors: &[u32], weights: &[u64], assignment: &[u32], distance: &[u32], centroids: &mut [u32]) {
    let q = centroids.len();
    let mut bit_weight = vec![0u64; q * 32];
    let mut total = vec![0u64; q];
    for ((&x, &w), &a) in vectors.iter().zip(weights).zip(assignment) {
        let a = a as usize;
        total[a] += w;
        let mut bits = x;
        while bits != 0 {
            bit_weight[a * 32 + bits.trailing_zeros() as usize] += w;
            bits &= bits - 1;
        }
    }
    let mut empty = Vec::new();
    for (c, centroid) in centroids.iter_mut().enumerate() {
        if total[c] == 0 {
            empty.push(c);
            continue;
        }
        *centroid = (0..32).fold(0u32, |v, b| {
            let ones = u128::from(bit_weight[c * 32 + b]);
            v | (u32::from(2 * ones >= u128::from(total[c])) << b)
        });
    }
    if empty.is_empty() {
        return;
    }
    let mut contribution: Vec<u128> =
        weights.iter().zip(distance).map(|(&w, &d)| u128::from(w) * u128::from(d)).collect();
    for c in empty {
        loop {
            // Largest contribution, the first (smallest vector) on ties.
            let (best, &value) =
                contribution.iter().enumerate().rev().max_by_key(|&(_, v)| *v).expect("k-means needs vectors");
            if value == 0 {
                break;
            }
            contribution[best] = 0;
            if !centroids.contains(&vectors[best]) {
                centroids[c] = vectors[best];
                break;
            }
        }
    }
}

/// Seeded weighted k-means++ (D² sampling), see the module doc.
fn init_plus_plus(vectors: &[u32], weights: &[u64], q: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let first = sample(&mut rng, weights.iter().map(|&w| u128::from(w)));
    let mut centroids = vec![vectors[first]];
    let mut nearest: Vec<u32> = vectors.iter().map(|&x| (x ^ vectors[first]).count_ones()).collect();
    while centroids.len() < q {
        let scores = weights.iter().zip(&nearest).map(|(&w, &d)| u128::from(w) * u128::from(d * d));
        let chosen = vectors[sample(&mut rng, scores)];
        centroids.push(chosen);
        for (d, &x) in nearest.iter_mut().zip(vectors) {
            *d = (*d).min((x ^ chosen).count_ones());
        }
    }
    centroids
}

/// The `q` heaviest vectors, ties to the smaller vector.
fn init_frequency(vectors: &[u32], weights: &[u64], q: usize) -> Vec<u32> {
    let mut order: Vec<usize> = (0..vectors.len()).collect();
    order.sort_by(|&a, &b| weights[b].cmp(&weights[a]).then(vectors[a].cmp(&vectors[b])));
    order[..q].iter().map(|&i| vectors[i]).collect()
}

/// Index drawn with probability proportional to `scores` (their sum must be positive): the
/// first index whose running sum exceeds a uniform `r ∈ [0, Σ scores)`.
fn sample(rng: &mut ChaCha8Rng, scores: impl Iterator<Item = u128> + Clone) -> usize {
    let total: u128 = scores.clone().sum();
    assert!(total > 0, "k-means++ sampling needs a positive total weight");
    let r = uniform_below_u128(rng, total);
    let mut running = 0u128;
    for (i, s) in scores.enumerate() {
        running += s;
        if running > r {
            return i;
        }
    }
    unreachable!("r < total")
}

/// A uniform integer in `0..n` (`n ≥ 1`) by rejection sampling: one `next_u64` per draw when
/// `n` fits in 64 bits, two (high word first) otherwise.
pub(crate) fn uniform_below_u128(rng: &mut ChaCha8Rng, n: u128) -> u128 {
    if let Ok(n) = u64::try_from(n) {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = rng.next_u64();
            if v < zone {
                return u128::from(v % n);
            }
        }
    }
    let zone = u128::MAX - u128::MAX % n;
    loop {
        let hi = u128::from(rng.next_u64());
        let v = (hi << 64) | u128::from(rng.next_u64());
        if v < zone {
            return v % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_rounds_half_up() {
        // One cluster, members 0b011 (w 1) and 0b110 (w 1): bit 0 and bit 2 have mean 0.5 → 1.
        let vectors = [0b011u32, 0b110];
        let mut centroids = [0u32];
        update(&vectors, &[1, 1], &[0, 0], &[2, 2], &mut centroids);
        assert_eq!(centroids, [0b111]);
        // Weighted: 0b011 ×3 and 0b110 ×1 → bit 2 has mean 0.25 → 0.
        update(&vectors, &[3, 1], &[0, 0], &[2, 2], &mut centroids);
        assert_eq!(centroids, [0b011]);
    }

    #[test]
    fn empty_cluster_takes_the_worst_served_vector() {
        let vectors = [0b0011u32, 0b0111, 0b1100_0000];
        // All in cluster 0, cluster 1 empty. Contributions w·d: 5·0, 5·1, 1·4 → the second.
        let mut centroids = [0b0011u32, 0b0011];
        update(&vectors, &[5, 5, 1], &[0, 0, 0], &[0, 1, 4], &mut centroids);
        assert_eq!(centroids, [0b0011, 0b0111]);
        // Contributions 1·0, 1·1, 5·4: the last vector is the worst served, but the update
        // already moved centroid 0 onto it, so the next one is taken.
        let mut centroids = [0b0011u32, 0b0011];
        update(&vectors, &[1, 1, 5], &[0, 0, 0], &[0, 1, 4], &mut centroids);
        assert_eq!(centroids, [0b1100_0000, 0b0111]);
    }

    #[test]
    fn frequency_init_and_sampling() {
        assert_eq!(init_frequency(&[1, 2, 3, 4], &[5, 9, 5, 1], 3), vec![2, 1, 3]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            // Zero scores are never drawn.
            let i = sample(&mut rng, [0u128, 4, 0, 1].into_iter());
            assert!(i == 1 || i == 3);
        }
        let big = u128::from(u64::MAX) * 3;
        assert!((0..100).all(|_| uniform_below_u128(&mut rng, big) < big));
        assert_eq!(uniform_below_u128(&mut rng, 1), 0);
    }

    #[test]
    fn plus_plus_gives_distinct_seeds() {
        let vectors: Vec<u32> = (0..300u32).map(|i| i * 7 + 3).collect();
        let weights: Vec<u64> = (0..300u64).map(|i| 1 + i % 13).collect();
        let c = init_plus_plus(&vectors, &weights, 64, 1);
        let mut sorted = c.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 64);
        assert_eq!(c, init_plus_plus(&vectors, &weights, 64, 1));
        assert_ne!(c, init_plus_plus(&vectors, &weights, 64, 2));
    }
}
