//! Sparsity analysis of a `phi` program on real inputs (`phic --report-sparsity`).
//!
//! The program is run by the reference interpreter; for every split GEMM the analysis watches
//! `phi.match` (its spike input and the matched indices) and `phi.residual` (the ±1 entries).
//! Definitions, per layer, over all `M` rows (samples × time steps × positions), `K` columns and
//! `N` outputs:
//!
//! | quantity | definition |
//! |---|---|
//! | bit density | `nnz(A) / (M·K)` |
//! | L1 hit rate | matched partition vectors / non-zero partition vectors |
//! | L1 density | bits covered by matched patterns / `(M·K)` (Σ popcount(p) over matches) |
//! | L2 density (+1, −1) | `+1` and `−1` entries of the residual / `(M·K)` |
//! | ops dense | `M·K·N` (one multiply-accumulate per weight) |
//! | ops bit-sparse | `nnz(A)·N` (each spike adds a weight row of `N`) |
//! | ops Phi | `(L1 hits + nnz(R))·N` (each match adds a PWP row, each ±1 a weight row) |
//!
//! Operations are counted per output element, so `bit-sparse / Phi` is the operation reduction
//! Phi achieves over a bit-sparse accelerator, and `dense / Phi` over a dense one.

use std::collections::BTreeMap;
use std::fmt::Write;

use phi_dialect::ir::{Module, OpId};
use phi_dialect::ops::{OpKind, PhiOp};
use phi_dialect::{DResult, Diagnostic};
use phi_runtime::phi::partition_vector;
use phi_runtime::{Data, Options, Tensor};

/// Counts of one split GEMM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerSparsity {
    /// Layer name (its weight's).
    pub name: String,
    /// Rows seen.
    pub rows: u64,
    /// Input columns.
    pub k_cols: u64,
    /// Output columns.
    pub n: u64,
    /// Partition width.
    pub k: u64,
    /// Ones in the input.
    pub ones: u64,
    /// Non-zero partition vectors.
    pub nonzero_vectors: u64,
    /// Partition vectors served by a pattern.
    pub l1_hits: u64,
    /// Bits covered by the matched patterns.
    pub l1_bits: u64,
    /// `+1` residual entries.
    pub plus: u64,
    /// `−1` residual entries.
    pub minus: u64,
}

impl LayerSparsity {
    fn cells(&self) -> f64 {
        (self.rows * self.k_cols).max(1) as f64
    }
    /// `nnz(A) / (M·K)`.
    pub fn bit_density(&self) -> f64 {
        self.ones as f64 / self.cells()
    }
    /// Matched / non-zero partition vectors.
    pub fn l1_hit_rate(&self) -> f64 {
        self.l1_hits as f64 / self.nonzero_vectors.max(1) as f64
    }
    /// Covered bits / `(M·K)`.
    pub fn l1_density(&self) -> f64 {
        self.l1_bits as f64 / self.cells()
    }
    /// `+1` entries / `(M·K)`.
    pub fn l2_plus_density(&self) -> f64 {
        self.plus as f64 / self.cells()
    }
    /// `−1` entries / `(M·K)`.
    pub fn l2_minus_density(&self) -> f64 {
        self.minus as f64 / self.cells()
    }
    /// `M·K·N`.
    pub fn ops_dense(&self) -> u64 {
        self.rows * self.k_cols * self.n
    }
    /// `nnz(A)·N`.
    pub fn ops_bit_sparse(&self) -> u64 {
        self.ones * self.n
    }
    /// Level-1 operations: `hits·N`.
    pub fn ops_l1(&self) -> u64 {
        self.l1_hits * self.n
    }
    /// Level-2 operations: `nnz(R)·N`.
    pub fn ops_l2(&self) -> u64 {
        (self.plus + self.minus) * self.n
    }
    /// `ops_l1 + ops_l2`.
    pub fn ops_phi(&self) -> u64 {
        self.ops_l1() + self.ops_l2()
    }

    fn add(&mut self, o: &LayerSparsity) {
        self.rows += o.rows;
        self.ones += o.ones;
        self.nonzero_vectors += o.nonzero_vectors;
        self.l1_hits += o.l1_hits;
        self.l1_bits += o.l1_bits;
        self.plus += o.plus;
        self.minus += o.minus;
    }
}

fn layer_name(m: &Module, op: OpId) -> String {
    let w = match &m.op(op).kind {
        OpKind::Phi(PhiOp::Match(p) | PhiOp::Residual(p)) => m.weights.get(p.patterns).name.clone(),
        OpKind::Phi(_) | OpKind::Snn(_) => String::from("gemm"),
    };
    w.strip_suffix(".patterns").map_or(w.clone(), str::to_string)
}

/// Runs the program on `x` and measures every split GEMM, in program order.
pub fn measure(m: &Module, x: &Tensor) -> DResult<Vec<LayerSparsity>> {
    let matches: Vec<OpId> = m.ops_where(|k| matches!(k, OpKind::Phi(PhiOp::Match(_))));
    if matches.is_empty() {
        return Err(Diagnostic::error("the program has no phi.match: nothing to measure")
            .with_help("run the Phi pipeline first (it is the default with --report-sparsity)"));
    }
    let mut acc: BTreeMap<OpId, LayerSparsity> = BTreeMap::new();
    let mut observe = |op: OpId, operands: &[&Tensor], result: Option<&Tensor>| {
        let OpKind::Phi(phi) = &m.op(op).kind else { return };
        match phi {
            PhiOp::Match(p) => {
                let (Some(spikes), Some(idx)) = (operands[0].as_spikes(), result) else { return };
                let Data::I32(idx) = &idx.data else { return };
                let k_cols = *operands[0].shape.last().expect("rank ≥ 2");
                let pats = m.weights.get(p.patterns);
                let q = pats.ty.shape[1];
                let pv = pats.as_i32().unwrap_or(&[]);
                let k = p.k as usize;
                let parts = k_cols.div_ceil(k);
                let rows = spikes.len() / k_cols.max(1);
                let mut s = LayerSparsity { rows: rows as u64, ..LayerSparsity::default() };
                for r in 0..rows {
                    let row = &spikes[r * k_cols..(r + 1) * k_cols];
                    for part in 0..parts {
                        let v = partition_vector(row, part, k);
                        s.ones += v.count_ones() as u64;
                        s.nonzero_vectors += (v != 0) as u64;
                        let i = idx[r * parts + part];
                        if i >= 0 {
                            s.l1_hits += 1;
                            s.l1_bits += (pv[part * q + i as usize] as u32).count_ones() as u64;
                        }
                    }
                }
                acc.entry(op).or_default().add(&s);
            }
            PhiOp::Residual(_) => {
                let Some(Data::I32(r)) = result.map(|t| &t.data) else { return };
                let matched = m.value(m.op(op).operands[1]).def;
                let e = acc.entry(matched).or_default();
                for &v in r {
                    e.plus += (v > 0) as u64;
                    e.minus += (v < 0) as u64;
                }
            }
            PhiOp::L1Accumulate { .. } | PhiOp::L2Accumulate { .. } => {}
        }
    };
    phi_runtime::run_with(m, std::slice::from_ref(x), Options::default(), &mut observe)?;
    let mut out = Vec::new();
    for op in matches {
        let mut s = acc.remove(&op).unwrap_or_default();
        let x = m.ty(m.op(op).operands[0]);
        s.name = layer_name(m, op);
        s.k_cols = *x.shape.last().expect("rank ≥ 2") as u64;
        if let OpKind::Phi(PhiOp::Match(p)) = &m.op(op).kind {
            s.k = p.k as u64;
        }
        // N from the Level-1 op reading these indices
        let idx = m.result(op);
        for (user, _) in m.uses(idx) {
            if let OpKind::Phi(PhiOp::L1Accumulate { pwp, .. }) = m.op(user).kind {
                s.n = m.weights.get(pwp).ty.shape[2] as u64;
            }
        }
        out.push(s);
    }
    Ok(out)
}

/// The totals over all layers (a row named `total`).
pub fn total(layers: &[LayerSparsity]) -> LayerSparsity {
    // Densities of the total are weighted by each layer's cells; operations simply add up.
    let mut t = LayerSparsity { name: "total".into(), ..LayerSparsity::default() };
    for l in layers {
        t.rows += l.rows * l.k_cols;
        t.ones += l.ones;
        t.nonzero_vectors += l.nonzero_vectors;
        t.l1_hits += l.l1_hits;
        t.l1_bits += l.l1_bits;
        t.plus += l.plus;
        t.minus += l.minus;
    }
    t.k_cols = 1;
    t
}

/// A Markdown table of the layers and their total.
pub fn render(title: &str, layers: &[LayerSparsity]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{title}\n");
    out.push_str("| layer | M×K×N | bit density | L1 hit rate | L1 density | L2 density +1 | L2 density −1 | ops dense | ops bit-sparse | ops Phi (L1+L2) | vs bit-sparse | vs dense |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let (mut dense, mut bits, mut phi) = (0u64, 0u64, 0u64);
    for l in layers {
        dense += l.ops_dense();
        bits += l.ops_bit_sparse();
        phi += l.ops_phi();
        let _ = writeln!(
            out,
            "| {} | {}×{}×{} | {:.2}% | {:.2}% | {:.2}% | {:.2}% | {:.2}% | {} | {} | {} ({}+{}) | {:.2}× | {:.2}× |",
            l.name,
            l.rows,
            l.k_cols,
            l.n,
            100.0 * l.bit_density(),
            100.0 * l.l1_hit_rate(),
            100.0 * l.l1_density(),
            100.0 * l.l2_plus_density(),
            100.0 * l.l2_minus_density(),
            l.ops_dense(),
            l.ops_bit_sparse(),
            l.ops_phi(),
            l.ops_l1(),
            l.ops_l2(),
            l.ops_bit_sparse() as f64 / l.ops_phi().max(1) as f64,
            l.ops_dense() as f64 / l.ops_phi().max(1) as f64,
        );
    }
    let t = total(layers);
    let _ = writeln!(
        out,
        "| **total** | | {:.2}% | {:.2}% | {:.2}% | {:.2}% | {:.2}% | {dense} | {bits} | {phi} | **{:.2}×** | **{:.2}×** |",
        100.0 * t.bit_density(),
        100.0 * t.l1_hit_rate(),
        100.0 * t.l1_density(),
        100.0 * t.l2_plus_density(),
        100.0 * t.l2_minus_density(),
        bits as f64 / phi.max(1) as f64,
        dense as f64 / phi.max(1) as f64,
    );
    out
}
