//! `pool-to-gemm`: every integer `snn.sum_pool` becomes a GEMM over its im2col view, so that
//! the accelerator runs it on the units it has.
//!
//! The accelerator has no pooling unit; a sum pool is linear, and on the integer model (after
//! `quantize`, which also turns average pools into sum pools) it is exactly a GEMM with 0/1
//! weights:
//!
//! ```text
//! cols = snn.im2col(x) {kernel, strides, pads, dilations = [1, 1], channels = [0, C]} : T×P×(C·kh·kw)
//! y    = snn.linear(cols) {weight = I : (C·kh·kw)×C i8}                             : T×P×C  (i32)
//! ```
//!
//! with `I[(c, ky, kx), o] = [c = o]`, then `snn.transpose {perm = [0, 2, 1]}` and `snn.reshape`
//! back to `T×C×H'×W'`, as `conv-to-gemm` lowers a convolution. Each output is the sum of its
//! window's integers (spikes or counts) times 1, in the same wrapping `i32` arithmetic, so the
//! rewritten module computes bit for bit what the sum pool computed. The pooled counts are a
//! current without a neuron: the layer that reads them takes integer inputs (the dense path).
//!
//! Float models are left alone (their pools are the interpreter's; the backend needs the
//! integer model anyway).

use phi_dialect::ir::{Module, OpId};
use phi_dialect::ops::snn::{Im2col, Linear, Pool};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::weights::WeightData;
use phi_dialect::{DResult, Diagnostic, ElemType, TensorType};

use super::{Pass, PassContext, PassInfo};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "pool-to-gemm",
    summary: "lower integer snn.sum_pool to im2col + a 0/1-weight snn.linear (the accelerator has no pooling unit)",
    options: &[],
    create: |_, _| Ok(Box::new(PoolToGemm)),
};

/// The pass.
pub struct PoolToGemm;

impl Pass for PoolToGemm {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        let mut n = 0;
        for op in m.body().to_vec() {
            let OpKind::Snn(SnnOp::SumPool(p)) = m.op(op).kind.clone() else { continue };
            if m.ty(m.op(op).operands[0]).elem == ElemType::F32 {
                continue;
            }
            n += 1;
            lower_pool(m, op, &p, n)?;
        }
        if n > 0 {
            cx.remark(INFO.name, format!("lowered {n} sum pool(s) to GEMMs"));
        }
        Ok(())
    }
}

/// The `(C·kh·kw) × C` selection weights: row `(c, ky, kx)` has a 1 in column `c`.
fn selection(c: usize, window: usize) -> Vec<i8> {
    let k = c * window;
    (0..k).flat_map(|row| (0..c).map(move |o| i8::from(row / window == o))).collect()
}

/// Lowers the `n`-th sum pool (its GEMM's weights are named `sum_pool{n}`, the layer's name).
fn lower_pool(m: &mut Module, op: OpId, p: &Pool, n: usize) -> DResult<()> {
    let loc = m.op(op).loc.clone();
    let x = m.op(op).operands[0];
    let c = m.ty(x).shape[1];
    let window = p.kernel[0] * p.kernel[1];
    let fail = |e: String| Diagnostic::error(e).with_loc(&loc, "lowering this sum pool");
    let cols = m
        .insert_before_inferred(
            op,
            OpKind::Snn(SnnOp::Im2col(Im2col {
                kernel: p.kernel,
                strides: p.strides,
                pads: p.pads,
                dilations: [1, 1],
                channels: [0, c],
            })),
            vec![x],
            loc.clone(),
        )
        .map_err(fail)?;
    let w = m.weights.add(
        &format!("sum_pool{n}"),
        TensorType::new(vec![c * window, c], ElemType::I8),
        WeightData::I8(selection(c, window)),
    );
    let lin = m
        .insert_before_inferred(
            op,
            OpKind::Snn(SnnOp::Linear(Linear { weight: w, bias: None })),
            vec![m.result(cols)],
            loc.clone(),
        )
        .map_err(fail)?;
    super::conv_to_gemm::replace_with_rows(m, op, m.result(lin))
}

#[cfg(test)]
mod tests {
    use super::selection;

    #[test]
    fn each_window_row_selects_its_own_channel() {
        // 2 channels, 2×1 windows: rows (c0, y0), (c0, y1), (c1, y0), (c1, y1)
        assert_eq!(selection(2, 2), vec![1, 0, 1, 0, 0, 1, 0, 1]);
    }
}
