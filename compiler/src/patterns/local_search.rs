//! Cost-aware local search: improves a pattern set by directly lowering the operation count
//! `Σ count · cost(x)` (see [`super::cost`]).
//!
//! State: the candidate vectors (popcount ≥ 2; zero and one-hot vectors cost the same whatever
//! the patterns), and for each its nearest pattern (lowest index on ties), that distance and
//! the distance to the nearest *other* pattern, so that the effect of replacing one pattern is
//! computed exactly in one pass over the vectors. Moves never create a pattern of popcount < 2
//! or a duplicate, and a move is accepted only when the objective strictly decreases — so the
//! result is never worse than the start (the `KMeans` result).
//!
//! A *pass* makes, in this order:
//!
//! 1. **fill**: while there are fewer than `q` patterns, add the most profitable vector (below)
//!    if it strictly lowers the objective;
//! 2. **per pattern** `j = 0, 1, …`: evaluate (a) replacing `p_j` by the per-bit weighted
//!    majority (`2 · Σ w·x[b] ≥ Σ w`, the k-means rule) of the vectors that currently use
//!    `p_j` (nearest is `p_j` and the lossless rule holds) and (b) every single-bit flip of
//!    `p_j`; apply the move of largest decrease (ties: majority, then the lowest bit) if any;
//! 3. **swap**: the [`SWAP_CANDIDATES`] vectors with the largest own potential
//!    `count · (cost(x) − 1)` that are not patterns are tried in that order (ties: smaller
//!    vector first): each replaces the pattern whose removal costs least (ties: lowest index),
//!    if that strictly lowers the objective.
//!
//! Passes repeat until one changes nothing (`converged`) or `max_passes` passes were made.
//! Everything is sequential integer arithmetic, hence deterministic.

/// Vectors tried per swap phase and per fill step.
pub const SWAP_CANDIDATES: usize = 8;

/// Distance meaning "no such pattern".
const NONE: u32 = u32::MAX / 2;

/// What [`local_search`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SearchResult {
    /// The improved patterns (distinct, popcount ≥ 2).
    pub patterns: Vec<u32>,
    /// Passes made.
    pub passes: usize,
    /// Whether the last pass changed nothing.
    pub converged: bool,
}

/// The search state over the candidate vectors.
struct State<'a> {
    vectors: &'a [u32],
    weights: &'a [u64],
    patterns: Vec<u32>,
    best: Vec<u32>,
    best_d: Vec<u32>,
    second_d: Vec<u32>,
    /// `Σ w · cost` over the candidates.
    objective: u128,
}

impl<'a> State<'a> {
    fn new(vectors: &'a [u32], weights: &'a [u64], patterns: Vec<u32>) -> Self {
        let n = vectors.len();
        let mut s = State {
            vectors,
            weights,
            patterns,
            best: vec![0; n],
            best_d: vec![NONE; n],
            second_d: vec![NONE; n],
            objective: 0,
        };
        for i in 0..n {
            s.recompute(i);
        }
        s.objective = (0..n).map(|i| u128::from(weights[i]) * u128::from(s.cost(i))).sum();
        s
    }

    /// Nearest and second-nearest distances of vector `i` from scratch.
    fn recompute(&mut self, i: usize) {
        let x = self.vectors[i];
        let (mut best, mut best_d, mut second_d) = (0u32, NONE, NONE);
        for (j, &p) in self.patterns.iter().enumerate() {
            let d = (x ^ p).count_ones();
            if d < best_d {
                second_d = best_d;
                best = j as u32;
                best_d = d;
            } else if d < second_d {
                second_d = d;
            }
        }
        self.best[i] = best;
        self.best_d[i] = best_d;
        self.second_d[i] = second_d;
    }

    fn cost(&self, i: usize) -> u32 {
        self.vectors[i].count_ones().min(1 + self.best_d[i])
    }

    /// Distance of vector `i` to the nearest pattern other than slot `j` (`None` = no slot).
    fn other(&self, i: usize, j: Option<usize>) -> u32 {
        if j == Some(self.best[i] as usize) { self.second_d[i] } else { self.best_d[i] }
    }

    /// Exact change of the objective when slot `j` becomes `p` (or `p` is added for `None`).
    fn delta(&self, j: Option<usize>, p: u32) -> i128 {
        let mut delta = 0i128;
        for (i, &x) in self.vectors.iter().enumerate() {
            let pop = x.count_ones();
            let new = pop.min(1 + self.other(i, j).min((x ^ p).count_ones()));
            let old = self.cost(i);
            if new != old {
                delta += i128::from(self.weights[i]) * (i128::from(new) - i128::from(old));
            }
        }
        delta
    }

    /// Whether `p` may become a pattern: popcount ≥ 2 and not already one.
    fn admissible(&self, p: u32) -> bool {
        p.count_ones() >= 2 && !self.patterns.contains(&p)
    }

    /// Makes slot `j` (or a new slot for `None`) hold `p`, whose delta is `delta`.
    fn apply(&mut self, j: Option<usize>, p: u32, delta: i128) {
        let (slot, old) = match j {
            Some(j) => {
                let old = self.patterns[j];
                self.patterns[j] = p;
                (j, Some(old))
            }
            None => {
                self.patterns.push(p);
                (self.patterns.len() - 1, None)
            }
        };
        for i in 0..self.vectors.len() {
            let x = self.vectors[i];
            let touched =
                old.is_some_and(|o| self.best[i] as usize == slot || (x ^ o).count_ones() == self.second_d[i]);
            if touched {
                self.recompute(i);
                continue;
            }
            let d = (x ^ p).count_ones();
            if d < self.best_d[i] || (d == self.best_d[i] && slot < self.best[i] as usize) {
                self.second_d[i] = self.best_d[i];
                self.best[i] = slot as u32;
                self.best_d[i] = d;
            } else if d < self.second_d[i] {
                self.second_d[i] = d;
            }
        }
        self.objective = self.objective.checked_add_signed(delta).expect("objective stays non-negative");
        // Debug builds check the incremental bookkeeping on small problems.
        #[cfg(debug_assertions)]
        if self.vectors.len() * self.patterns.len() <= 1 << 16 {
            let fresh = State::new(self.vectors, self.weights, self.patterns.clone());
            debug_assert_eq!(fresh.objective, self.objective, "incremental objective drifted");
            debug_assert_eq!(fresh.best_d, self.best_d);
            debug_assert_eq!(fresh.second_d, self.second_d);
        }
    }

    /// The per-bit weighted majority of the vectors that use slot `j`, if any use it.
    fn majority(&self, j: usize) -> Option<u32> {
        let mut ones = [0u64; 32];
        let mut total = 0u64;
        for (i, &x) in self.vectors.iter().enumerate() {
            if self.best[i] as usize == j && 1 + self.best_d[i] < x.count_ones() {
                total += self.weights[i];
                let mut bits = x;
                while bits != 0 {
                    ones[bits.trailing_zeros() as usize] += self.weights[i];
                    bits &= bits - 1;
                }
            }
        }
        (total > 0).then(|| {
            ones.iter()
                .enumerate()
                .fold(0u32, |v, (b, &o)| v | (u32::from(2 * u128::from(o) >= u128::from(total)) << b))
        })
    }

    /// Exact deltas of flipping each bit `b < width` of slot `j`, in one pass: a flip moves the
    /// distance to `p_j` by ±1, which only matters for vectors whose cost depends on `p_j`.
    fn flip_deltas(&self, j: usize, width: u32) -> [i128; 32] {
        let pj = self.patterns[j];
        let mut raise_all = 0i128;
        let mut per_bit = [0i128; 32];
        for (i, &x) in self.vectors.iter().enumerate() {
            let base = (x ^ pj).count_ones();
            let rest = x.count_ones().min(1 + self.other(i, Some(j)));
            if rest <= base {
                continue; // cost is min(rest, 1 + base ± 1) = rest for every flip
            }
            // Here cost = base + 1. Flipping a differing bit gives base (−w); flipping an
            // agreeing bit gives min(rest, base + 2), i.e. +w when rest ≥ base + 2.
            let w = i128::from(self.weights[i]);
            let raise = if rest >= base + 2 { w } else { 0 };
            raise_all += raise;
            let mut differ = x ^ pj;
            while differ != 0 {
                per_bit[differ.trailing_zeros() as usize] -= w + raise;
                differ &= differ - 1;
            }
        }
        let mut deltas = [0i128; 32];
        for b in 0..width as usize {
            deltas[b] = raise_all + per_bit[b];
        }
        deltas
    }

    /// Indices of up to [`SWAP_CANDIDATES`] non-pattern vectors of largest `w · (cost − 1)`.
    fn profitable(&self) -> Vec<usize> {
        let mut scored: Vec<(u128, usize)> = (0..self.vectors.len())
            .filter(|&i| self.cost(i) > 1 && !self.patterns.contains(&self.vectors[i]))
            .map(|i| (u128::from(self.weights[i]) * u128::from(self.cost(i) - 1), i))
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().take(SWAP_CANDIDATES).map(|(_, i)| i).collect()
    }

    /// The slot whose removal raises the objective least (ties: lowest index).
    fn cheapest_slot(&self) -> Option<usize> {
        let mut loss = vec![0u128; self.patterns.len()];
        for i in 0..self.vectors.len() {
            if self.best_d[i] < NONE {
                let without = self.vectors[i].count_ones().min(1 + self.second_d[i]);
                loss[self.best[i] as usize] += u128::from(self.weights[i]) * u128::from(without - self.cost(i));
            }
        }
        (0..loss.len()).min_by_key(|&j| (loss[j], j))
    }
}

/// Improves `patterns` (distinct, popcount ≥ 2, at most `q`) for the candidate vectors
/// (`vectors` with `weights`, every popcount ≥ 2) of a partition of `width` bits.
pub(crate) fn local_search(
    vectors: &[u32],
    weights: &[u64],
    patterns: Vec<u32>,
    q: usize,
    width: u32,
    max_passes: usize,
) -> SearchResult {
    let mut s = State::new(vectors, weights, patterns);
    let start = s.objective;
    let mut passes = 0;
    let mut converged = false;
    while passes < max_passes {
        passes += 1;
        let mut improved = false;
        // 1. Fill free slots.
        while s.patterns.len() < q {
            let best = s
                .profitable()
                .into_iter()
                .map(|i| (s.delta(None, vectors[i]), i))
                .min_by_key(|&(d, i)| (d, i))
                .filter(|&(d, _)| d < 0);
            let Some((d, i)) = best else { break };
            s.apply(None, vectors[i], d);
            improved = true;
        }
        // 2. Majority and single-bit moves per pattern.
        for j in 0..s.patterns.len() {
            let mut best: Option<(i128, u32)> = None;
            if let Some(m) = s.majority(j).filter(|&m| s.admissible(m)) {
                best = Some((s.delta(Some(j), m), m));
            }
            let flips = s.flip_deltas(j, width);
            for (b, &d) in flips.iter().enumerate().take(width as usize) {
                let p = s.patterns[j] ^ (1 << b);
                if best.is_none_or(|(bd, _)| d < bd) && s.admissible(p) {
                    best = Some((d, p));
                }
            }
            if let Some((d, p)) = best.filter(|&(d, _)| d < 0) {
                s.apply(Some(j), p, d);
                improved = true;
            }
        }
        // 3. Swap the most profitable vectors in for the cheapest patterns.
        if !s.patterns.is_empty() {
            for i in s.profitable() {
                let x = vectors[i];
                let Some(j) = s.cheapest_slot() else { break };
                if !s.admissible(x) {
                    continue;
                }
                let d = s.delta(Some(j), x);
                if d < 0 {
                    s.apply(Some(j), x, d);
                    improved = true;
                }
            }
        }
        if !improved {
            converged = true;
            break;
        }
    }
    debug_assert!(s.objective <= start);
    SearchResult { patterns: s.patterns, passes, converged }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flip_deltas_are_exact() {
        let vectors: Vec<u32> = (0..256u32).filter(|x| x.count_ones() >= 2).collect();
        let weights: Vec<u64> = vectors.iter().map(|&x| u64::from(x % 7 + 1)).collect();
        let s = State::new(&vectors, &weights, vec![0b0000_0111, 0b1111_0000, 0b1010_1010]);
        for j in 0..3 {
            let fast = s.flip_deltas(j, 8);
            for (b, &delta) in fast.iter().enumerate().take(8) {
                assert_eq!(delta, s.delta(Some(j), s.patterns[j] ^ (1 << b)), "slot {j} bit {b}");
            }
        }
    }

    #[test]
    fn search_improves_and_tracks_the_objective() {
        let vectors: Vec<u32> = (0..1024u32).filter(|x| x.count_ones() >= 2).collect();
        let weights: Vec<u64> = vectors.iter().map(|&x| if x.count_ones() >= 5 { 40 } else { 1 }).collect();
        let start = vec![0b11u32, 0b110];
        let before = State::new(&vectors, &weights, start.clone()).objective;
        let result = local_search(&vectors, &weights, start, 6, 10, 20);
        let after = State::new(&vectors, &weights, result.patterns.clone());
        assert!(after.objective < before);
        assert!(result.patterns.len() <= 6);
        assert!(result.patterns.iter().all(|p| p.count_ones() >= 2));
        let mut sorted = result.patterns.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), result.patterns.len());
    }
}
