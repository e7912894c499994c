//! Semantics of the `phi` dialect: partition vectors, run-time pattern matching, the Level-1
//! and Level-2 accumulations, and the compile-time pattern-weight products.
//!
//! These functions are the reference the interpreter runs and the emulator must agree with.
//! The rules are those of `phi_dialect::ops::phi`:
//!
//! - bit `j` of partition `p` of a row is column `p·k + j` (the last partition may be narrower);
//! - a vector `x` matches the pattern at minimum Hamming distance `d` (ties → lowest index) when
//!   `d + 1 < popcount(x)`; otherwise (and always for popcount ≤ 1) it falls back to bit
//!   sparsity (index −1);
//! - `r = x − p` for a matched partition, `r = x` otherwise;
//! - Level 1 adds `PWP[p][idx]`, Level 2 adds `r_k · W[k, :]`, all in wrapping i32.

/// The partition vector of `row` (0/1 bytes) for partition `part` of width `k`.
#[inline]
pub fn partition_vector(row: &[u8], part: usize, k: usize) -> u32 {
    let start = part * k;
    let end = (start + k).min(row.len());
    let mut v = 0u32;
    for (j, &b) in row[start..end].iter().enumerate() {
        v |= ((b != 0) as u32) << j;
    }
    v
}

/// The run-time matching rule: `Some((index, distance))` of the pattern used for `x`, or `None`
/// when bit sparsity is cheaper (or as cheap).
#[inline]
pub fn match_vector(x: u32, patterns: &[u32]) -> Option<(usize, u32)> {
    matching_rule(x, || nearest(x, patterns))
}

/// The matching rule on top of a nearest-pattern search: no pattern for popcount ≤ 1, else the
/// nearest one when `d + 1 < popcount`.
#[inline]
fn matching_rule(x: u32, nearest: impl FnOnce() -> Option<(usize, u32)>) -> Option<(usize, u32)> {
    let pop = x.count_ones();
    if pop <= 1 {
        return None;
    }
    let (index, d) = nearest()?;
    (d + 1 < pop).then_some((index, d))
}

/// The nearest pattern and its distance (lowest index on ties); `None` without patterns.
///
/// Patterns go in blocks of 64: the block's distances into bytes (a vectorisable loop), their
/// minimum, and the first position at it (a byte compare) — one pass over the patterns, with
/// no branch per pattern.
#[inline]
pub fn nearest(x: u32, patterns: &[u32]) -> Option<(usize, u32)> {
    const B: usize = 64;
    let mut best: Option<(usize, u32)> = None;
    let mut d = [0u8; B];
    for (c, block) in patterns.chunks(B).enumerate() {
        let d = &mut d[..block.len()];
        for (d, &p) in d.iter_mut().zip(block) {
            *d = (x ^ p).count_ones() as u8;
        }
        let m = d.iter().copied().min().unwrap_or(u8::MAX) as u32;
        if best.is_none_or(|(_, b)| m < b) {
            let i = d.iter().position(|&v| v as u32 == m).unwrap_or(0);
            best = Some((c * B + i, m));
        }
    }
    best
}

/// Carry-save adder: the sum and carry digits of three bit-sliced inputs.
#[inline(always)]
fn csa(a: u128, b: u128, c: u128) -> (u128, u128) {
    let u = a ^ b;
    (u ^ c, (a & b) | (u & c))
}

/// The bit-sliced sum of 16 one-bit inputs: digits of weight 1, 2, 4, 8, 16 (Harley–Seal).
#[inline(always)]
fn sum16(d: &[u128; 16]) -> [u128; 5] {
    let (ones, twos, fours, eights) = (0, 0, 0, 0);
    let (ones, twos_a) = csa(ones, d[0], d[1]);
    let (ones, twos_b) = csa(ones, d[2], d[3]);
    let (twos, fours_a) = csa(twos, twos_a, twos_b);
    let (ones, twos_a) = csa(ones, d[4], d[5]);
    let (ones, twos_b) = csa(ones, d[6], d[7]);
    let (twos, fours_b) = csa(twos, twos_a, twos_b);
    let (fours, eights_a) = csa(fours, fours_a, fours_b);
    let (ones, twos_a) = csa(ones, d[8], d[9]);
    let (ones, twos_b) = csa(ones, d[10], d[11]);
    let (twos, fours_a) = csa(twos, twos_a, twos_b);
    let (ones, twos_a) = csa(ones, d[12], d[13]);
    let (ones, twos_b) = csa(ones, d[14], d[15]);
    let (twos, fours_b) = csa(twos, twos_a, twos_b);
    let (fours, eights_b) = csa(fours, fours_a, fours_b);
    let (eights, sixteens) = csa(eights, eights_a, eights_b);
    [ones, twos, fours, eights, sixteens]
}

/// `digit += addend` on bit-sliced numbers (ripple carry; the counts stay below 64).
#[inline(always)]
fn add_digits(digit: &mut [u128; 6], addend: &[u128]) {
    let mut carry = 0u128;
    for (i, d) in digit.iter_mut().enumerate() {
        let a = addend.get(i).copied().unwrap_or(0);
        let (s, c) = csa(*d, a, carry);
        *d = s;
        carry = c;
    }
}

/// A pattern set in bit-sliced form, for fast nearest-pattern search: patterns go in blocks of
/// 128 (one 128-bit word per bit plane), and plane `b` of a block holds bit `b` of each of its
/// patterns. The distances of a vector to all 128 patterns of a block are then counted at once,
/// bit-sliced (a carry-save adder tree whose digits are 128-lane bit masks), and the minimum and
/// the first pattern at it are read off the digits from the top down: about 100 word
/// operations per block for k = 16, against 128 popcounts. Exact, and equal to [`nearest`] (a
/// property test checks it).
#[derive(Clone, Debug)]
pub struct PatternPlanes {
    k: usize,
    len: usize,
    /// `planes[block · k + b]`: bit `b` of the block's patterns, lane `l` = pattern `128·block + l`.
    planes: Vec<u128>,
    /// Lanes holding a pattern, per block.
    valid: Vec<u128>,
}

impl PatternPlanes {
    /// The planes of `patterns`, for vectors of `k` bits (`k ≤ 32`). Patterns with bits at or
    /// above `k` widen the planes to cover them, so the search stays exact.
    pub fn new(patterns: &[u32], k: usize) -> Self {
        let high = patterns.iter().fold(0, |a, &p| a | p);
        let k = k.max((u32::BITS - high.leading_zeros()) as usize).min(32);
        let blocks = patterns.len().div_ceil(128);
        let mut planes = vec![0u128; blocks * k];
        let mut valid = vec![0u128; blocks];
        for (i, &p) in patterns.iter().enumerate() {
            let (blk, lane) = (i / 128, i % 128);
            valid[blk] |= 1 << lane;
            for (b, plane) in planes[blk * k..(blk + 1) * k].iter_mut().enumerate() {
                *plane |= (((p >> b) & 1) as u128) << lane;
            }
        }
        PatternPlanes { k, len: patterns.len(), planes, valid }
    }

    /// Patterns in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// [`nearest`] of `x` (a `k`-bit vector) in this set.
    pub fn nearest(&self, x: u32) -> Option<(usize, u32)> {
        let k = self.k;
        let mut best: Option<(usize, u32)> = None;
        for (blk, valid) in self.valid.iter().enumerate() {
            let planes = &self.planes[blk * k..(blk + 1) * k];
            let mut digit = [0u128; 6];
            let mut inputs = planes.iter().enumerate().map(|(b, &p)| p ^ 0u128.wrapping_sub(((x >> b) & 1) as u128));
            // sixteen inputs at a time through a carry-save adder tree (Harley–Seal), then
            // added into the digits; the rest one at a time
            let mut rest = k;
            while rest >= 16 {
                let d: [u128; 16] = std::array::from_fn(|_| inputs.next().unwrap_or(0));
                let group = sum16(&d);
                add_digits(&mut digit, &group);
                rest -= 16;
            }
            for p in inputs {
                add_digits(&mut digit, &[p]);
            }
            // the minimum, digit by digit from the top: keep the lanes with a 0 where any has one
            let mut cand = *valid;
            let mut m = 0u32;
            for (i, &d) in digit.iter().enumerate().rev() {
                let zero = cand & !d;
                if zero != 0 {
                    cand = zero;
                } else {
                    m |= 1 << i;
                }
            }
            if best.is_none_or(|(_, b)| m < b) {
                best = Some((blk * 128 + cand.trailing_zeros() as usize, m));
            }
        }
        best
    }

    /// [`match_vector`] of `x` in this set.
    #[inline]
    pub fn match_vector(&self, x: u32) -> Option<(usize, u32)> {
        matching_rule(x, || self.nearest(x))
    }
}

/// `min_i popcount(x XOR p_i)`, `None` without patterns. A plain reduction, so the compiler can
/// vectorise it; [`nearest`] then finds the first index at that distance.
#[inline]
pub fn min_distance(x: u32, patterns: &[u32]) -> Option<u32> {
    patterns.iter().map(|&p| (x ^ p).count_ones()).min()
}

/// Operation cost of `x` under `patterns`: `1 + d` when a pattern is used, else `popcount(x)`.
#[inline]
pub fn cost(x: u32, patterns: &[u32]) -> u32 {
    match match_vector(x, patterns) {
        Some((_, d)) => 1 + d,
        None => x.count_ones(),
    }
}

/// Shape of one GEMM in the `phi` dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// Rows (all leading dimensions, batch included).
    pub rows: usize,
    /// Input columns.
    pub k_cols: usize,
    /// Partition width.
    pub k: usize,
    /// Patterns per partition.
    pub q: usize,
    /// Output columns.
    pub n: usize,
}

impl Gemm {
    /// Number of partitions, `⌈K / k⌉`.
    pub fn parts(&self) -> usize {
        self.k_cols.div_ceil(self.k.max(1))
    }
}

/// `phi.match`: `rows × K` spikes → `rows × P` pattern indices (−1 = none). `patterns` is
/// `P × q` (i32 bit vectors).
pub fn match_rows(g: Gemm, x: &[u8], patterns: &[i32]) -> Vec<i32> {
    let parts = g.parts();
    let pats: Vec<u32> = patterns.iter().map(|&p| p as u32).collect();
    let mut out = vec![-1i32; g.rows * parts];
    for r in 0..g.rows {
        let row = &x[r * g.k_cols..(r + 1) * g.k_cols];
        for p in 0..parts {
            let v = partition_vector(row, p, g.k);
            if let Some((i, _)) = match_vector(v, &pats[p * g.q..(p + 1) * g.q]) {
                out[r * parts + p] = i as i32;
            }
        }
    }
    out
}

/// `phi.residual`: `r = x − p` on matched partitions, `x` elsewhere (values −1, 0, +1).
pub fn residual(g: Gemm, x: &[u8], idx: &[i32], patterns: &[i32]) -> Vec<i32> {
    let parts = g.parts();
    let mut out: Vec<i32> = x.iter().map(|&b| b as i32).collect();
    for r in 0..g.rows {
        for p in 0..parts {
            let i = idx[r * parts + p];
            if i < 0 {
                continue;
            }
            let pat = patterns[p * g.q + i as usize] as u32;
            let start = p * g.k;
            let end = (start + g.k).min(g.k_cols);
            for (j, c) in (start..end).enumerate() {
                out[r * g.k_cols + c] -= ((pat >> j) & 1) as i32;
            }
        }
    }
    out
}

/// `phi.l1_accumulate`: `bias + Σ_p PWP[p][idx]` per row; `pwp` is `P × q × N`.
pub fn l1_accumulate(g: Gemm, idx: &[i32], pwp: &[i16], bias: Option<&[i32]>) -> Vec<i32> {
    let parts = g.parts();
    let mut out = vec![0i32; g.rows * g.n];
    for (r, acc) in out.chunks_exact_mut(g.n).enumerate() {
        if let Some(b) = bias {
            acc.copy_from_slice(b);
        }
        for p in 0..parts {
            let i = idx[r * parts + p];
            if i < 0 {
                continue;
            }
            let base = (p * g.q + i as usize) * g.n;
            acc.iter_mut().zip(&pwp[base..base + g.n]).for_each(|(a, &w)| *a = a.wrapping_add(w as i32));
        }
    }
    out
}

/// `phi.l2_accumulate`: `acc + Σ_k r_k · W[k, :]`.
pub fn l2_accumulate(g: Gemm, r: &[i32], acc: &[i32], weight: &[i8]) -> Vec<i32> {
    let mut out = acc.to_vec();
    for (row, o) in out.chunks_exact_mut(g.n).enumerate() {
        for k in 0..g.k_cols {
            let s = r[row * g.k_cols + k];
            if s == 0 {
                continue;
            }
            let w = &weight[k * g.n..(k + 1) * g.n];
            if s > 0 {
                o.iter_mut().zip(w).for_each(|(a, &v)| *a = a.wrapping_add(v as i32));
            } else {
                o.iter_mut().zip(w).for_each(|(a, &v)| *a = a.wrapping_sub(v as i32));
            }
        }
    }
    out
}

/// The pattern-weight products `PWP[p][i] = Σ_{j ∈ pattern} W[p·k + j, :]`, `P × q × N` (i16:
/// a sum of at most 32 i8 values fits).
pub fn pattern_weight_products(
    k_cols: usize,
    n: usize,
    k: usize,
    q: usize,
    patterns: &[i32],
    weight: &[i8],
) -> Vec<i16> {
    let parts = k_cols.div_ceil(k.max(1));
    let mut out = vec![0i16; parts * q * n];
    for p in 0..parts {
        for i in 0..q {
            let pat = patterns[p * q + i] as u32;
            let dst = &mut out[(p * q + i) * n..(p * q + i + 1) * n];
            for j in 0..k {
                let col = p * k + j;
                if (pat >> j) & 1 == 1 && col < k_cols {
                    let w = &weight[col * n..(col + 1) * n];
                    dst.iter_mut().zip(w).for_each(|(a, &v)| *a += v as i16);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The blocked search is the plain definition: first index at the minimum distance.
        #[test]
        fn nearest_is_first_minimum(x in any::<u32>(), pats in prop::collection::vec(any::<u32>(), 0..300), narrow in any::<bool>()) {
            // narrow patterns (few bits) make ties common
            let pats: Vec<u32> = if narrow { pats.iter().map(|p| p & 0xf).collect() } else { pats };
            let want = pats.iter().map(|&p| (x ^ p).count_ones()).min().map(|d| {
                (pats.iter().position(|&p| (x ^ p).count_ones() == d).expect("the minimum occurs"), d)
            });
            prop_assert_eq!(nearest(x, &pats), want);
        }

        /// The bit-sliced search agrees with the plain one, for every partition width.
        #[test]
        fn planes_agree(k in prop::sample::select(vec![1usize, 4, 8, 16, 32]), x in any::<u32>(), pats in prop::collection::vec(any::<u32>(), 0..300), sparse in any::<bool>()) {
            let mask = if k == 32 { u32::MAX } else { (1u32 << k) - 1 };
            let thin = |v: u32| if sparse { v & (v >> 3) & (v >> 7) } else { v };
            let pats: Vec<u32> = pats.iter().map(|&p| thin(p) & mask).collect();
            let x = thin(x) & mask;
            let planes = PatternPlanes::new(&pats, k);
            prop_assert_eq!(planes.nearest(x), nearest(x, &pats));
            prop_assert_eq!(planes.match_vector(x), match_vector(x, &pats));
        }
    }

    #[test]
    fn matching_rule() {
        let pats = [0b1111u32, 0b0111, 0];
        // popcount ≤ 1 never matches
        assert_eq!(match_vector(0b1000, &pats), None);
        assert_eq!(match_vector(0, &pats), None);
        // exact match: d = 0 < pop − 1
        assert_eq!(match_vector(0b0111, &pats), Some((1, 0)));
        // 0b0011: nearest 0b0111 (d = 1); 1 + 1 < 2 fails → bit sparsity
        assert_eq!(match_vector(0b0011, &pats), None);
        // ties → lowest index: 0b1110 is at distance 1 from 0b1111 and 2 from 0b0111
        assert_eq!(match_vector(0b1110, &pats), Some((0, 1)));
        assert_eq!(match_vector(0b1011, &[0b1111, 0b0011]), Some((0, 1)));
        assert_eq!(cost(0b1110, &pats), 2);
        assert_eq!(cost(0b0011, &pats), 2);
    }

    #[test]
    fn levels_are_lossless() {
        // 3 rows, K = 5 (partitions of 2: the last is 1 column wide), N = 2
        let g = Gemm { rows: 3, k_cols: 5, k: 2, q: 2, n: 2 };
        let x = [1, 1, 0, 1, 1, /**/ 1, 1, 1, 1, 0, /**/ 0, 0, 0, 0, 0];
        let patterns = [0b11, 0b01, 0b10, 0b11, 0b1, 0];
        let w: Vec<i8> = vec![3, -1, 2, 5, -7, 4, 1, 1, 127, -128];
        let idx = match_rows(g, &x, &patterns);
        // two-bit vectors match only exactly (d = 0); one-bit and empty vectors never
        assert_eq!(idx, [0, -1, -1, 0, 1, -1, -1, -1, -1]);
        let r = residual(g, &x, &idx, &patterns);
        let pwp = pattern_weight_products(5, 2, 2, 2, &patterns, &w);
        let acc = l1_accumulate(g, &idx, &pwp, Some(&[10, 20]));
        let out = l2_accumulate(g, &r, &acc, &w);
        // dense reference
        for row in 0..3 {
            for c in 0..2 {
                let dense: i32 = 10 * (c == 0) as i32
                    + 20 * (c == 1) as i32
                    + (0..5).map(|k| x[row * 5 + k] as i32 * w[k * 2 + c] as i32).sum::<i32>();
                assert_eq!(out[row * 2 + c], dense, "row {row} col {c}");
            }
        }
    }
}
