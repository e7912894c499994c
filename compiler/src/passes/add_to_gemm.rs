//! `add-to-gemm`: every integer `snn.add` of two same-shape computed values becomes a GEMM over
//! their concatenation, so that the accelerator runs residual connections on the units it has.
//!
//! The accelerator has no element-wise adder between layers, but a sum of two tensors is a GEMM
//! with stacked identity weights over their concatenation: `a + b = [a | b] · [I; I]`. On the
//! integer model (after `quantize`) the add is exact wrapping `i32` arithmetic, and so is the
//! GEMM (each output is `a·1 + b·1`, nothing else: the zeros of `[I; I]` add nothing), so the
//! rewritten module computes bit for bit what the add computed. The shapes the pass writes:
//!
//! ```text
//! // T×C×H×W (a feature map): one row per time step and position, one column per channel
//! ra  = snn.im2col(a) {kernel = [1, 1], channels = [0, C]}        : T×(H·W)×C
//! rb  = snn.im2col(b) {kernel = [1, 1], channels = [0, C]}        : T×(H·W)×C
//! cat = snn.concat(ra, rb) {axis = 2}                              : T×(H·W)×2C
//! y   = snn.linear(cat) {weight = [I; I] : 2C×C i8}                : T×(H·W)×C (i32)
//! // then snn.transpose {perm = [0, 2, 1]} and snn.reshape back to T×C×H×W
//!
//! // any other rank: concatenated along the last dimension
//! y   = snn.linear(snn.concat(a, b) {axis = r−1}) {weight = [I; I]}
//! ```
//!
//! Both residual forms of spiking ResNets become one such layer:
//!
//! - **spike add** (SEW-ResNet, `add(spikes, spikes)`): an identity GEMM on spike inputs whose
//!   current (the counts 0, 1, 2) the next layer reads on the dense path;
//! - **membrane shortcut** (MS-ResNet, `lif(add(current, current or spikes))`): the neuron
//!   after the add fuses into the identity GEMM as it fuses into any layer, and the gather reads
//!   the two stored tensors through one index table with two sources
//!   ([`InputMap::Table`](phi_dialect::program::InputMap::Table)); a spike source read into the
//!   integer tile is 0 or 1, as the add reads it.
//!
//! A neuron the backend cannot fuse into the layer before it — its input is not the current of
//! a GEMM that nothing else reads: MS-ResNet's block input `u`, read by the block's neuron and
//! by the shortcut `c + u`, or a model input — gets a one-operand identity GEMM (`[I]`) before
//! it, the same construction with one part, so that every neuron sits on a layer.
//!
//! The identity GEMM reads both operands once more than the add would (`2C` columns per row):
//! it is exact, not free. Folding the add into a neighbouring layer's weights (`[W; W]` over
//! `[a | b]` for a layer that reads the sum) would save that layer and is left for later.
//!
//! Adds with a constant operand (a bias) or a broadcast operand are left alone (`quantize`
//! folds biases into the layer before them), as are float models (their adds are the
//! interpreter's).

use phi_dialect::ir::{Module, OpId, ValueId};
use phi_dialect::ops::phi::PhiOp;
use phi_dialect::ops::snn::{Im2col, Linear, NeuronParams};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::weights::WeightData;
use phi_dialect::{DResult, Diagnostic, ElemType, TensorType};

use super::{Pass, PassContext, PassInfo};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "add-to-gemm",
    summary: "lower an integer snn.add of two computed values to a GEMM over their concatenation with [I; I] weights (residual connections on the accelerator)",
    options: &[],
    create: |_, _| Ok(Box::new(AddToGemm)),
};

/// The pass.
pub struct AddToGemm;

impl Pass for AddToGemm {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        let (mut adds, mut copies) = (0, 0);
        for op in m.body().to_vec() {
            if lowerable(m, op) {
                adds += 1;
                let parts = m.op(op).operands.clone();
                let sum = sum_gemm(m, op, &parts, &format!("residual_add{adds}"))?;
                m.replace_all_uses(m.result(op), sum);
                m.remove(op);
            }
        }
        for op in m.body().to_vec() {
            let integer_neuron = match &m.op(op).kind {
                OpKind::Snn(SnnOp::Lif(n) | SnnOp::If(n)) => matches!(n.params, NeuronParams::Fixed { .. }),
                OpKind::Snn(_) | OpKind::Phi(_) => false,
            };
            if integer_neuron && !fusable_neuron(m, op) {
                copies += 1;
                let x = m.op(op).operands[0];
                let copy = sum_gemm(m, op, &[x], &format!("neuron_input{copies}"))?;
                m.op_mut(op).operands[0] = copy;
            }
        }
        if adds + copies > 0 {
            cx.remark(
                INFO.name,
                format!("lowered {adds} add(s) of computed values to GEMMs; {copies} neuron(s) given an identity GEMM"),
            );
        }
        Ok(())
    }
}

/// Whether `op` is an integer `snn.add` of two same-shape values that are not constants.
fn lowerable(m: &Module, op: OpId) -> bool {
    let d = m.op(op);
    if !matches!(d.kind, OpKind::Snn(SnnOp::Add)) {
        return false;
    }
    let (a, b) = (d.operands[0], d.operands[1]);
    let constant = |v: ValueId| matches!(m.op(m.value(v).def).kind, OpKind::Snn(SnnOp::Constant { .. }));
    let integer = |v: ValueId| m.ty(v).elem != ElemType::F32;
    m.ty(a).shape == m.ty(b).shape && integer(a) && integer(b) && !constant(a) && !constant(b)
}

/// Whether the integer neuron `op` reads a GEMM's current that nothing else reads, through
/// single-user layout ops only (what the backend fuses, `analysis::layers`).
fn fusable_neuron(m: &Module, op: OpId) -> bool {
    let mut v = m.op(op).operands[0];
    loop {
        if m.uses(v).len() != 1 {
            return false;
        }
        let def = m.value(v).def;
        match &m.op(def).kind {
            OpKind::Snn(SnnOp::Transpose { .. } | SnnOp::Reshape | SnnOp::Flatten) => v = m.op(def).operands[0],
            OpKind::Snn(SnnOp::Linear(_)) | OpKind::Phi(PhiOp::L2Accumulate { .. }) => return true,
            OpKind::Snn(_) | OpKind::Phi(PhiOp::Match(_) | PhiOp::Residual(_) | PhiOp::L1Accumulate { .. }) => {
                return false;
            }
        }
    }
}

/// The `(copies·C) × C` weights `[I; …; I]`: row `r` has a 1 in column `r mod C`.
fn stacked_identity(copies: usize, c: usize) -> Vec<i8> {
    (0..copies * c).flat_map(|row| (0..c).map(move |o| i8::from(row % c == o))).collect()
}

/// Inserts before `anchor` a GEMM computing the sum of `parts` (same shape), named `name`;
/// returns the sum in the parts' logical shape (with `i32` elements).
fn sum_gemm(m: &mut Module, anchor: OpId, parts: &[ValueId], name: &str) -> DResult<ValueId> {
    let loc = m.op(anchor).loc.clone();
    let fail = |e: String| Diagnostic::error(e).with_loc(&loc, "lowering this op to a GEMM");
    let shape = m.ty(parts[0]).shape.clone();
    let feature_map = shape.len() == 4;
    let mut rows = Vec::with_capacity(parts.len());
    for &v in parts {
        rows.push(if feature_map {
            let im =
                Im2col { kernel: [1, 1], strides: [1, 1], pads: [0; 4], dilations: [1, 1], channels: [0, shape[1]] };
            let r =
                m.insert_before_inferred(anchor, OpKind::Snn(SnnOp::Im2col(im)), vec![v], loc.clone()).map_err(fail)?;
            m.result(r)
        } else {
            v
        });
    }
    let c = *m.ty(rows[0]).shape.last().expect("GEMM inputs have rank ≥ 2");
    let input = if rows.len() == 1 {
        rows[0]
    } else {
        let axis = m.ty(rows[0]).rank() - 1;
        let cat =
            m.insert_before_inferred(anchor, OpKind::Snn(SnnOp::Concat { axis }), rows, loc.clone()).map_err(fail)?;
        m.result(cat)
    };
    let copies = parts.len();
    let w = m.weights.add(
        name,
        TensorType::new(vec![copies * c, c], ElemType::I8),
        WeightData::I8(stacked_identity(copies, c)),
    );
    let lin = m
        .insert_before_inferred(
            anchor,
            OpKind::Snn(SnnOp::Linear(Linear { weight: w, bias: None })),
            vec![input],
            loc.clone(),
        )
        .map_err(fail)?;
    let y = m.result(lin);
    if !feature_map {
        return Ok(y);
    }
    let tr = m
        .insert_before_inferred(anchor, OpKind::Snn(SnnOp::Transpose { perm: vec![0, 2, 1] }), vec![y], loc.clone())
        .map_err(fail)?;
    let out_ty = TensorType::new(shape, ElemType::I32);
    let reshape = m.insert_before(anchor, OpKind::Snn(SnnOp::Reshape), vec![m.result(tr)], vec![out_ty], loc);
    Ok(m.result(reshape))
}

#[cfg(test)]
mod tests {
    use super::stacked_identity;

    #[test]
    fn stacked_identity_sums_the_two_halves() {
        // C = 2: rows a0, a1, b0, b1; columns o0, o1
        assert_eq!(stacked_identity(2, 2), vec![1, 0, 0, 1, 1, 0, 0, 1]);
        // one copy is the identity
        assert_eq!(stacked_identity(1, 2), vec![1, 0, 0, 1]);
    }
}
