//! Seeded, portable randomness: the same seed gives the same numbers on every machine and
//! every version of this crate (ChaCha8 streams, rejection sampling without modulo bias).
//! Used wherever the toolchain must be deterministic: data preparation, weight
//! initialisation, shuffling, and (later) k-means seeding.

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

/// A uniform integer in `0..n` (`n ≥ 1`), by rejection sampling on `next_u64`.
pub fn uniform_below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let n = n.max(1) as u64;
    // Largest multiple of n that fits; draws at or above it are rejected.
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = rng.next_u64();
        if v < zone {
            return (v % n) as usize;
        }
    }
}

/// Fisher–Yates shuffle: for `i` from `len − 1` down to 1, swap `i` with `uniform_below(i + 1)`.
pub fn shuffle<T>(rng: &mut ChaCha8Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = uniform_below(rng, i + 1);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn seeded_permutation() {
        let mut a: Vec<usize> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&mut ChaCha8Rng::seed_from_u64(7), &mut a);
        shuffle(&mut ChaCha8Rng::seed_from_u64(7), &mut b);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(a, sorted);
        let mut r = ChaCha8Rng::seed_from_u64(1);
        assert!((0..1000).all(|_| uniform_below(&mut r, 3) < 3));
    }
}
