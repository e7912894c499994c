//! The run-time matching rule and the operation cost it implies.
//!
//! For a partition vector `x` and the partition's patterns `p_0 … p_{q−1}`:
//!
//! 1. the *nearest* pattern is the one at minimum Hamming distance
//!    `d = popcount(x XOR p_i)`; among equally near patterns the lowest index wins;
//! 2. the pattern is *used* only when `d + 1 < popcount(x)` (the lossless rule: one
//!    pattern-weight-product add plus `d` ±1 weight-row corrections must be cheaper than the
//!    `popcount(x)` row adds of plain bit sparsity); otherwise the row falls back to bit
//!    sparsity. A vector with `popcount(x) ≤ 1` is therefore never matched, and neither is any
//!    vector when there are no patterns.
//!
//! The operation cost of `x` is `cost(x) = min(popcount(x), 1 + min_i d(x, p_i))` (just
//! `popcount(x)` without patterns); bit sparsity costs `popcount(x)`.

//!
//! The functions are those of the runtime (`phi_runtime::phi`), which the interpreter and the
//! emulator execute: selection scores patterns with exactly the rule the hardware applies.

pub use phi_runtime::phi::{cost, match_vector, min_distance, nearest};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossless_rule() {
        let patterns = [0b1111_0000u32, 0b0000_1111];
        // Exact hit on a popcount-4 vector: d = 0, 0 + 1 < 4.
        assert_eq!(match_vector(0b1111_0000, &patterns), Some((0, 0)));
        assert_eq!(cost(0b1111_0000, &patterns), 1);
        // d = 1, popcount 3: 2 < 3 → used.
        assert_eq!(match_vector(0b0111_0000, &patterns), Some((0, 1)));
        // d = 2, popcount 3: 3 < 3 fails → bit sparsity.
        assert_eq!(match_vector(0b0011_0001, &patterns), None);
        assert_eq!(cost(0b0011_0001, &patterns), 3);
        // Popcount 2 needs d = 0.
        assert_eq!(match_vector(0b11, &[0b11]), Some((0, 0)));
        assert_eq!(match_vector(0b11, &[0b111]), None);
        // Zero and one-hot vectors never match, even exactly.
        assert_eq!(match_vector(0, &[0]), None);
        assert_eq!(match_vector(0b100, &[0b100]), None);
        assert_eq!(cost(0b100, &[0b100]), 1);
        assert_eq!(cost(0, &patterns), 0);
        // No patterns: bit sparsity.
        assert_eq!(match_vector(0b1111, &[]), None);
        assert_eq!(cost(0b1111, &[]), 4);
        assert_eq!(nearest(0b1111, &[]), None);
    }

    #[test]
    fn ties_go_to_the_lowest_index() {
        let x = 0b1111_1111u32;
        // Both at distance 2 from x.
        let patterns = [0b0011_1111u32, 0b1111_1100, 0b1111_1111_0000_0000];
        assert_eq!(match_vector(x, &patterns), Some((0, 2)));
        let swapped = [patterns[1], patterns[0], patterns[2]];
        assert_eq!(match_vector(x, &swapped), Some((0, 2)));
        // A nearer pattern later wins.
        assert_eq!(match_vector(x, &[0b0011_1111, 0b0111_1111]), Some((1, 1)));
    }

    #[test]
    fn cost_is_never_above_bit_sparsity() {
        let patterns = [0b1011_0110u32, 0b1, 0, 0b1111_1111_1111_1111];
        for x in 0..1u32 << 12 {
            let c = cost(x, &patterns);
            assert!(c <= x.count_ones());
            let best = patterns.iter().map(|&p| (x ^ p).count_ones()).min().unwrap();
            assert_eq!(c, x.count_ones().min(best + 1));
        }
    }
}
