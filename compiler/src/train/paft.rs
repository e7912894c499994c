//! Pattern-aware fine-tuning (PAFT): the Level-2 cost of a layer as a differentiable loss.
//!
//! A spiking GEMM's binary input rows are cut into partitions of `k` columns (bit `j` of
//! partition `p` is column `p·k + j`; the last partition may be narrower). At run time each
//! partition vector `x` is matched to its nearest pattern `p*` by the hardware's rule
//! ([`phi_runtime::phi::match_rows`]: the nearest pattern, ties to the lowest index, used only
//! when `d + 1 < popcount(x)`); an unmatched vector uses the zero vector as `p*` (bit
//! sparsity). Level 2 then adds `Hamming(x, p*)` signed weight rows of `N_l` values each, so
//! the Level-2 work of layer `l` per sample is
//!
//! ```text
//! L2_l = N_l · Σ_rows Σ_partitions Hamming(x, p*) / B
//! ```
//!
//! With `P*` the 0/1 tensor of the effective patterns laid out like `x` (computed on the CPU,
//! detached: the choice of pattern is not differentiated), `Hamming(x, p*) = Σ_j x_j·(1 − 2p_j)
//! + Σ_j p_j`, so [`level2_cost`] returns
//!
//! ```text
//! N_l · (Σ x·(1 − 2P*) + Σ P*) / B
//! ```
//!
//! which equals `L2_l` exactly in value and whose gradient with respect to `x` is
//! `(1 − 2P*)·N_l/B`: every spike that the pattern lacks is pushed down, every missing spike
//! that the pattern has is pushed up. Through the surrogate gradients of the spikes this moves
//! the weights towards activations that the (fixed) patterns cover.
//!
//! [`measure`] runs a model over a dataset and reports accuracy and the Level-2 work per sample
//! under fixed patterns (with the bit-sparse work for comparison), for before/after summaries.

use candle_core::{DType, Tensor};
use phi_runtime::phi::{Gemm, match_rows};

use super::TrainError;
use super::data::Dataset;
use super::model::{ForwardOptions, Model};
use super::trainer::argmax_lowest;

/// The selected patterns of one synaptic layer (as `select-patterns` attaches them to an
/// `snn.linear`: `phi.patterns` `[parts, q]` i32 and `phi.k`) and its output width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerPatterns {
    /// Partition width `k` (1..=32).
    pub k: usize,
    /// Patterns per partition `q` (≥ 1).
    pub q: usize,
    /// `parts × q` bit vectors, row-major; bit `j` of a pattern of partition `p` is column
    /// `p·k + j`. Unused slots hold 0 (a zero pattern is never used).
    pub patterns: Vec<i32>,
    /// `N_l`: the GEMM's output width (a Linear layer's `out_features`, a convolution's
    /// `out_channels`); each Level-2 row costs `N_l` additions.
    pub outputs: usize,
}

impl LayerPatterns {
    /// Checked constructor: `1 ≤ k ≤ 32`, `q ≥ 1`, `q` divides the number of patterns.
    pub fn new(k: usize, q: usize, patterns: Vec<i32>, outputs: usize) -> Result<Self, TrainError> {
        if !(1..=32).contains(&k) {
            return Err(TrainError::InvalidConfig(format!("partition width k = {k}; it must be in 1..=32")));
        }
        if q == 0 || !patterns.len().is_multiple_of(q) {
            return Err(TrainError::InvalidConfig(format!(
                "{} patterns do not form partitions of q = {q} patterns",
                patterns.len()
            )));
        }
        Ok(LayerPatterns { k, q, patterns, outputs })
    }

    /// Number of partitions the patterns cover.
    pub fn parts(&self) -> usize {
        self.patterns.len() / self.q.max(1)
    }

    /// Checks that the patterns cover exactly `cols` columns (`⌈cols / k⌉` partitions).
    pub fn check_width(&self, cols: usize) -> Result<(), TrainError> {
        let want = cols.div_ceil(self.k.max(1));
        if self.parts() != want {
            return Err(TrainError::InvalidConfig(format!(
                "{} partitions of patterns for a GEMM input of {cols} columns, which needs {want} partitions of {}",
                self.parts(),
                self.k
            )));
        }
        Ok(())
    }

    fn gemm(&self, rows: usize, cols: usize) -> Gemm {
        Gemm { rows, k_cols: cols, k: self.k, q: self.q, n: self.outputs }
    }
}

/// The effective pattern of every row-partition of `x` (`rows × cols` bytes, each 0 or 1), laid
/// out like `x`: the bits of the pattern the hardware would use ([`match_rows`]), or zeros where
/// the vector is left to bit sparsity.
pub fn effective_patterns(x: &[u8], cols: usize, layer: &LayerPatterns) -> Result<Vec<u8>, TrainError> {
    layer.check_width(cols)?;
    if cols == 0 || !x.len().is_multiple_of(cols) {
        return Err(TrainError::InvalidData(format!("{} values do not form rows of {cols} columns", x.len())));
    }
    let rows = x.len() / cols;
    let g = layer.gemm(rows, cols);
    let parts = g.parts();
    let idx = match_rows(g, x, &layer.patterns);
    let mut out = vec![0u8; x.len()];
    for (r, row_idx) in idx.chunks_exact(parts.max(1)).enumerate() {
        for (p, &i) in row_idx.iter().enumerate() {
            let Ok(i) = usize::try_from(i) else { continue };
            let pat = layer.patterns[p * layer.q + i] as u32;
            let start = p * layer.k;
            let end = (start + layer.k).min(cols);
            for (j, c) in (start..end).enumerate() {
                out[r * cols + c] = ((pat >> j) & 1) as u8;
            }
        }
    }
    Ok(out)
}

/// `Σ_rows Σ_partitions Hamming(x, p*)` of `x` (`rows × cols` bytes, each 0 or 1): the number
/// of Level-2 weight rows the hardware adds (each of `N_l` values).
pub fn level2_rows(x: &[u8], cols: usize, layer: &LayerPatterns) -> Result<u64, TrainError> {
    let p = effective_patterns(x, cols, layer)?;
    Ok(x.iter().zip(&p).filter(|(a, b)| a != b).count() as u64)
}

/// The values of a binary tensor as bytes, with its last dimension (the GEMM's `K`).
fn binary_rows(x: &Tensor) -> Result<(Vec<u8>, usize), TrainError> {
    let cols = *x
        .dims()
        .last()
        .ok_or_else(|| TrainError::InvalidData("a GEMM input must have at least one dimension".into()))?;
    let values = x.detach().to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let bytes = values
        .iter()
        .map(|&v| {
            if v == 0.0 {
                Ok(0u8)
            } else if v == 1.0 {
                Ok(1u8)
            } else {
                Err(TrainError::InvalidData(format!(
                    "the GEMM input holds {v}; pattern matching needs binary spikes (0 or 1)"
                )))
            }
        })
        .collect::<Result<Vec<u8>, TrainError>>()?;
    Ok((bytes, cols))
}

/// The differentiable per-sample Level-2 cost of one layer (see the [module docs](self)):
/// `N_l · (Σ x·(1 − 2P*) + Σ P*) / B` for a GEMM input `x` of shape `[T, B, K]` or
/// `[T, B, P, K]` (exactly 0/1, e.g. from [`super::ForwardOutput::gemm_inputs`]), a scalar
/// `f32` tensor. Its value is `N_l · Σ Hamming(x, p*) / B`; its gradient with respect to `x`
/// is `(1 − 2P*)·N_l/B`.
pub fn level2_cost(x: &Tensor, layer: &LayerPatterns) -> Result<Tensor, TrainError> {
    let dims = x.dims();
    if dims.len() < 3 {
        return Err(TrainError::InvalidData(format!("a GEMM input is [T, B, …, K]; got shape {dims:?}")));
    }
    let batch = dims[1];
    if batch == 0 {
        return Err(TrainError::InvalidData("a GEMM input of an empty batch".into()));
    }
    let (bytes, cols) = binary_rows(x)?;
    let p = effective_patterns(&bytes, cols, layer)?;
    let ones = p.iter().filter(|&&b| b == 1).count();
    // 1 − 2P*: the coefficient of every bit, and the constant Σ P*.
    let coef: Vec<f32> = p.iter().map(|&b| if b == 1 { -1.0 } else { 1.0 }).collect();
    let coef = Tensor::from_vec(coef, dims, x.device())?;
    let scale = layer.outputs as f64 / batch as f64;
    Ok(x.to_dtype(DType::F32)?.mul(&coef)?.sum_all()?.affine(scale, ones as f64 * scale)?)
}

/// Accuracy and Level-2 work of a model on a dataset under fixed patterns (see [`measure`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Level2Report {
    /// Number of samples.
    pub samples: usize,
    /// Fraction classified correctly (spike-count read-out, ties to the lowest class).
    pub accuracy: f64,
    /// Per synaptic layer: Level-2 operations per sample, `N_l · Σ Hamming(x, p*) / samples`.
    pub level2: Vec<f64>,
    /// Per synaptic layer: bit-sparse operations per sample, `N_l · popcount(x) / samples`.
    pub bit_sparse: Vec<f64>,
}

impl Level2Report {
    /// Level-2 operations per sample over all layers.
    pub fn level2_total(&self) -> f64 {
        self.level2.iter().sum()
    }

    /// Bit-sparse operations per sample over all layers.
    pub fn bit_sparse_total(&self) -> f64 {
        self.bit_sparse.iter().sum()
    }
}

const EVAL_BATCH: usize = 256;

/// Runs `model` on `data` (no gradients) and measures its accuracy and, for every synaptic
/// layer with its `layers[i]` patterns, the Level-2 and bit-sparse operations per sample.
pub fn measure(model: &Model, data: &Dataset, layers: &[LayerPatterns]) -> Result<Level2Report, TrainError> {
    let spec = model.spec();
    data.check("evaluation", spec.time_steps, &spec.input_shape, spec.outputs())?;
    let opts = ForwardOptions { track_grad: false, ..ForwardOptions::default() };
    let n = data.len();
    let mut level2 = vec![0u64; layers.len()];
    let mut bits = vec![0u64; layers.len()];
    let mut correct = 0usize;
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        let (x, _) = data.batch(chunk, model.device())?;
        let out = model.forward(&x, &opts)?;
        if out.gemm_inputs.len() != layers.len() {
            return Err(TrainError::InvalidConfig(format!(
                "{} sets of patterns for {} synaptic layers",
                layers.len(),
                out.gemm_inputs.len()
            )));
        }
        for (i, (g, layer)) in out.gemm_inputs.iter().zip(layers).enumerate() {
            let (bytes, cols) = binary_rows(g)?;
            level2[i] += level2_rows(&bytes, cols, layer)?;
            bits[i] += bytes.iter().filter(|&&b| b == 1).count() as u64;
        }
        let rows = out.counts.to_vec2::<f32>()?;
        correct += rows.iter().zip(chunk).filter(|&(r, &i)| argmax_lowest(r) == usize::from(data.y()[i])).count();
    }
    let per_sample = |counts: &[u64]| -> Vec<f64> {
        counts.iter().zip(layers).map(|(&c, l)| c as f64 * l.outputs as f64 / n as f64).collect()
    };
    Ok(Level2Report {
        samples: n,
        accuracy: correct as f64 / n as f64,
        level2: per_sample(&level2),
        bit_sparse: per_sample(&bits),
    })
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    use super::*;

    /// Random 0/1 bytes with density about `p`.
    fn bits(rng: &mut ChaCha8Rng, n: usize, p: f64) -> Vec<u8> {
        (0..n).map(|_| u8::from(f64::from(rng.next_u32()) / 4_294_967_296.0 < p)).collect()
    }

    /// Patterns for `cols` columns in partitions of `k`: `q` per partition, within the
    /// partition's width, some of them dense (so that many vectors match) and one zero slot.
    fn random_patterns(rng: &mut ChaCha8Rng, cols: usize, k: usize, q: usize) -> LayerPatterns {
        let parts = cols.div_ceil(k);
        let mut pats = Vec::with_capacity(parts * q);
        for p in 0..parts {
            let width = (cols - p * k).min(k);
            let mask = if width == 32 { u32::MAX } else { (1u32 << width) - 1 };
            for i in 0..q {
                let v = if i + 1 == q { 0 } else { (rng.next_u32() | rng.next_u32()) & mask };
                pats.push(v as i32);
            }
        }
        LayerPatterns::new(k, q, pats, 7).unwrap()
    }

    /// The definition, without `match_rows`: nearest pattern (first on ties), used iff
    /// `d + 1 < popcount`, else the zero vector.
    fn brute_force_hamming(x: &[u8], cols: usize, l: &LayerPatterns) -> u64 {
        let mut total = 0u64;
        for row in x.chunks_exact(cols) {
            for p in 0..cols.div_ceil(l.k) {
                let cols_p: Vec<usize> = (p * l.k..((p + 1) * l.k).min(cols)).collect();
                let pop = cols_p.iter().filter(|&&c| row[c] == 1).count() as u64;
                let dist = |pat: u32| -> u64 {
                    cols_p.iter().enumerate().filter(|&(j, &c)| u32::from(row[c]) != (pat >> j) & 1).count() as u64
                };
                let pats = &l.patterns[p * l.q..(p + 1) * l.q];
                let best = pats.iter().map(|&v| dist(v as u32)).min().unwrap_or(u64::MAX);
                total += if pop > 1 && best + 1 < pop { best } else { pop };
            }
        }
        total
    }

    #[test]
    fn cost_equals_the_hamming_count_and_its_gradient_is_the_sign() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // (shape, k): K a multiple of k, K not a multiple of k, a conv-shaped input, a narrow K.
        let cases: [(&[usize], usize); 5] =
            [(&[3, 4, 32], 16), (&[2, 4, 37], 16), (&[2, 2, 5, 21], 8), (&[4, 2, 9], 16), (&[2, 8, 70], 32)];
        for (case, &(shape, k)) in cases.iter().enumerate() {
            let cols = *shape.last().unwrap();
            let n: usize = shape.iter().product();
            let batch = shape[1];
            for density in [0.1, 0.4, 0.8] {
                let x = bits(&mut rng, n, density);
                let layer = random_patterns(&mut rng, cols, k, 6);
                let want = brute_force_hamming(&x, cols, &layer);
                assert_eq!(level2_rows(&x, cols, &layer).unwrap(), want, "case {case}");

                let xf: Vec<f32> = x.iter().map(|&b| f32::from(b)).collect();
                let var = Var::from_vec(xf, shape, &Device::Cpu).unwrap();
                let cost = level2_cost(var.as_tensor(), &layer).unwrap();
                let value = f64::from(cost.to_scalar::<f32>().unwrap());
                let exact = want as f64 * layer.outputs as f64 / batch as f64;
                assert!((value - exact).abs() <= 1e-6 * exact.max(1.0), "case {case}: {value} vs {exact}");

                let grads = cost.backward().unwrap();
                let g = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let p = effective_patterns(&x, cols, &layer).unwrap();
                let scale = layer.outputs as f32 / batch as f32;
                for (i, (&gi, &pi)) in g.iter().zip(&p).enumerate() {
                    let want = (1.0 - 2.0 * f32::from(pi)) * scale;
                    assert!((gi - want).abs() <= 1e-6, "case {case}, element {i}: {gi} vs {want}");
                }
            }
        }
    }

    #[test]
    fn effective_patterns_follow_the_matching_rule() {
        // K = 5 in partitions of 2 (the last 1 wide); patterns per partition: q = 2.
        let layer = LayerPatterns::new(2, 2, vec![0b11, 0b01, 0b10, 0b11, 0b1, 0], 3).unwrap();
        let x = [1, 1, 0, 1, 1, /**/ 1, 1, 1, 1, 0, /**/ 0, 1, 0, 0, 0];
        let p = effective_patterns(&x, 5, &layer).unwrap();
        // row 0: [1,1] matches 0b11; [0,1] is one-hot (bit sparsity); [1] one-hot.
        // row 1: [1,1] → 0b11; [1,1] → 0b11 (index 1); [0] empty.  row 2: nothing matches.
        assert_eq!(p, [1, 1, 0, 0, 0, /**/ 1, 1, 1, 1, 0, /**/ 0, 0, 0, 0, 0]);
        assert_eq!(level2_rows(&x, 5, &layer).unwrap(), 3, "rows 0, 1, 2: 2, 0 and 1");
        // a layer whose patterns do not cover the width is refused
        assert!(effective_patterns(&x, 7, &layer).is_err());
        assert!(LayerPatterns::new(0, 2, vec![0, 0], 1).is_err());
        assert!(LayerPatterns::new(4, 3, vec![0, 0], 1).is_err());
    }

    #[test]
    fn non_binary_inputs_are_refused() {
        let layer = LayerPatterns::new(4, 1, vec![0b1111], 2).unwrap();
        let x = Tensor::from_vec(vec![0f32, 1.0, 0.5, 1.0], (1, 1, 4), &Device::Cpu).unwrap();
        let e = level2_cost(&x, &layer).unwrap_err();
        assert!(e.to_string().contains("binary"), "{e}");
        let x = Tensor::from_vec(vec![1f32, 1.0, 1.0, 1.0], (1, 4), &Device::Cpu).unwrap();
        assert!(level2_cost(&x, &layer).is_err(), "rank 2");
        // all ones match 0b1111 exactly: cost 0
        let x = Tensor::from_vec(vec![1f32, 1.0, 1.0, 1.0], (1, 1, 4), &Device::Cpu).unwrap();
        assert_eq!(level2_cost(&x, &layer).unwrap().to_scalar::<f32>().unwrap(), 0.0);
    }
}
