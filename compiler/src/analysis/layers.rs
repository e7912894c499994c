//! Layer selection: which ops of an integer `snn`/`phi` module become the accelerator's layers.
//!
//! Each GEMM becomes one layer: a split GEMM (`phi.match → phi.residual → phi.l1_accumulate →
//! phi.l2_accumulate`) or an integer `snn.linear`. A neuron (`snn.lif`/`snn.if` with fixed-point
//! parameters) that is the GEMM's only user, possibly through a convolution's `transpose →
//! reshape` ([`layout::neuron_chain`]), is fused into the layer; otherwise the layer outputs its
//! i32 current. Layout ops and concatenations between layers fold into addressing ([`layout`]); any other op is an
//! error naming it.
//!
//! The `tile` pass plans the layers this finds and the backend lowers the same list, so the two
//! agree on what a layer is by construction.

use phi_dialect::ir::{Module, OpId, ValueId};
use phi_dialect::ops::phi::PhiOp;
use phi_dialect::ops::snn::{Linear, NeuronParams, Reset};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::program::{InputKind, LayerMode, Neuron, TargetKind};
use phi_dialect::weights::WeightId;
use phi_dialect::{DResult, Diagnostic, ElemType, Location};

use super::layout;

/// A GEMM of the module, with everything its layer needs.
#[derive(Clone, Debug)]
pub struct Gemm {
    /// The op the layer is named by and its tile plan recorded on: `phi.l2_accumulate` or
    /// `snn.linear`.
    pub op: OpId,
    /// The layer's name (its weight's).
    pub name: String,
    /// The GEMM's input (`rows × K`).
    pub x: ValueId,
    /// What the layer stores: the fused neuron's spikes, or the GEMM's current.
    pub out: ValueId,
    /// Weights `K × N` (i8).
    pub weight: WeightId,
    /// Bias (i32).
    pub bias: Option<WeightId>,
    /// Patterns and their partition width (Phi GEMMs).
    pub patterns: Option<(WeightId, u32)>,
    /// Pattern-weight products (Phi GEMMs).
    pub pwp: Option<WeightId>,
    /// The fused neuron.
    pub neuron: Option<Neuron>,
    /// Layout ops between the GEMM and its fused neuron (see [`layout`]).
    pub out_chain: Vec<OpId>,
    /// Where the GEMM came from.
    pub loc: Location,
}

impl Gemm {
    /// What the GEMM's input holds: spikes (`i1`) or integers.
    pub fn input_kind(&self, m: &Module) -> InputKind {
        match m.ty(self.x).elem {
            ElemType::I1 => InputKind::Spikes,
            ElemType::I8 | ElemType::I16 | ElemType::I32 | ElemType::F32 => InputKind::Int,
        }
    }

    /// How the layer computes on `kind`: integer inputs and the dense target multiply; Phi
    /// runs split GEMMs on spikes; everything else is bit-sparse.
    pub fn mode(&self, m: &Module, kind: TargetKind) -> LayerMode {
        match (kind, self.input_kind(m), self.patterns.is_some()) {
            (_, InputKind::Int, _) | (TargetKind::Dense, _, _) => LayerMode::Dense,
            (TargetKind::Phi, InputKind::Spikes, true) => LayerMode::Phi,
            (TargetKind::Phi | TargetKind::BitSparse, InputKind::Spikes, _) => LayerMode::BitSparse,
        }
    }

    /// Output columns `N`.
    pub fn n(&self, m: &Module) -> usize {
        m.weights.get(self.weight).ty.shape[1]
    }

    /// Input columns `K`.
    pub fn k_cols(&self, m: &Module) -> usize {
        *m.ty(self.x).shape.last().expect("GEMM inputs have rank ≥ 2")
    }

    /// Rows of one sample (`T × positions`).
    pub fn rows_per_sample(&self, m: &Module) -> usize {
        let t = m.ty(self.x);
        t.num_elements() / self.k_cols(m).max(1)
    }

    /// Time steps of one sample.
    pub fn time_steps(&self, m: &Module) -> usize {
        m.ty(self.x).shape[0]
    }
}

fn err(loc: &Location, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::error(msg).with_loc(loc, "")
}

/// The integer neuron a GEMM feeds as its only user, possibly through layout ops (a
/// convolution's `transpose → reshape`): its parameters, result, and the layout ops.
fn neuron_of(m: &Module, gemm_out: ValueId) -> Option<(Neuron, ValueId, Vec<OpId>)> {
    let (chain, user) = layout::neuron_chain(m, gemm_out);
    let user = user?;
    match &m.op(user).kind {
        OpKind::Snn(SnnOp::Lif(n) | SnnOp::If(n)) => match n.params {
            NeuronParams::Fixed { leak, shift, threshold } => {
                Some((Neuron { leak, shift, threshold, reset_zero: n.reset == Reset::Zero }, m.result(user), chain))
            }
            NeuronParams::Float { .. } | NeuronParams::FloatPerNeuron { .. } => None,
        },
        OpKind::Snn(_) | OpKind::Phi(_) => None,
    }
}

/// A GEMM whose output may fuse a neuron.
struct Found {
    op: OpId,
    x: ValueId,
    weight: WeightId,
    bias: Option<WeightId>,
    patterns: Option<(WeightId, u32)>,
    pwp: Option<WeightId>,
}

/// The split GEMM ending in the `phi.l2_accumulate` `op`.
fn split_gemm(m: &Module, op: OpId, weight: WeightId) -> DResult<Found> {
    let data = m.op(op);
    let loc = &data.loc;
    let (r, acc) = (data.operands[0], data.operands[1]);
    let l1 = m.value(acc).def;
    let res = m.value(r).def;
    let (OpKind::Phi(PhiOp::L1Accumulate { pwp, bias }), OpKind::Phi(PhiOp::Residual(p))) =
        (&m.op(l1).kind, &m.op(res).kind)
    else {
        return Err(err(loc, "`phi.l2_accumulate` must read a `phi.residual` and a `phi.l1_accumulate`"));
    };
    let matched = m.value(m.op(l1).operands[0]).def;
    let OpKind::Phi(PhiOp::Match(mp)) = &m.op(matched).kind else {
        return Err(err(loc, "`phi.l1_accumulate` must read a `phi.match`"));
    };
    if mp != p {
        return Err(err(loc, "`phi.match` and `phi.residual` of one GEMM use different patterns"));
    }
    Ok(Found {
        op,
        x: m.op(matched).operands[0],
        weight,
        bias: *bias,
        patterns: Some((p.patterns, p.k)),
        pwp: Some(*pwp),
    })
}

/// Finds the GEMMs of a module, in program order.
pub fn gemms(m: &Module) -> DResult<Vec<Gemm>> {
    let mut out = Vec::new();
    let mut fused_neurons: Vec<ValueId> = Vec::new();
    for &op in m.body() {
        let data = m.op(op);
        let loc = &data.loc;
        let found = match &data.kind {
            OpKind::Phi(PhiOp::L2Accumulate { weight }) => split_gemm(m, op, *weight)?,
            OpKind::Snn(SnnOp::Linear(Linear { weight, bias })) => {
                if m.weights.get(*weight).ty.elem != ElemType::I8 {
                    return Err(err(loc, "the backend needs the integer model")
                        .with_help("run quantize first (the default pipeline does)"));
                }
                Found { op, x: data.operands[0], weight: *weight, bias: *bias, patterns: None, pwp: None }
            }
            OpKind::Phi(PhiOp::Match(_) | PhiOp::Residual(_) | PhiOp::L1Accumulate { .. })
            | OpKind::Snn(SnnOp::Input(_) | SnnOp::Output(_)) => continue,
            OpKind::Snn(SnnOp::Lif(_) | SnnOp::If(_)) => continue,
            // folded into addressing (see `layout`); a value no layer can read is reported
            // where it is used
            OpKind::Snn(
                SnnOp::Flatten | SnnOp::Reshape | SnnOp::Im2col(_) | SnnOp::Transpose { .. } | SnnOp::Concat { .. },
            ) => continue,
            OpKind::Snn(
                other @ (SnnOp::Constant { .. }
                | SnnOp::Conv2d(_)
                | SnnOp::SumPool(_)
                | SnnOp::AvgPool { .. }
                | SnnOp::Add
                | SnnOp::Mul
                | SnnOp::Li { .. }),
            ) => {
                return Err(err(loc, format!("the backend cannot lower `{}` yet", other.name())).with_help(
                    "the ISA backend lowers GEMM layers (linear; convolutions, sum pools and adds of two same-shape values after conv-to-gemm, pool-to-gemm and add-to-gemm) with LIF/IF neurons and the layout ops between them",
                ));
            }
        };
        let gemm_out = m.result(op);
        let neuron = neuron_of(m, gemm_out);
        if let Some((_, v, _)) = &neuron {
            fused_neurons.push(*v);
        }
        out.push(Gemm {
            op: found.op,
            name: m.weights.get(found.weight).name.clone(),
            x: found.x,
            out: neuron.as_ref().map_or(gemm_out, |(_, v, _)| *v),
            weight: found.weight,
            bias: found.bias,
            patterns: found.patterns,
            pwp: found.pwp,
            neuron: neuron.as_ref().map(|(n, _, _)| *n),
            out_chain: neuron.map(|(_, _, c)| c).unwrap_or_default(),
            loc: loc.clone(),
        });
    }
    // every neuron must be fused into a GEMM layer
    for &op in m.body() {
        if let OpKind::Snn(SnnOp::Lif(_) | SnnOp::If(_)) = m.op(op).kind
            && !fused_neurons.contains(&m.result(op))
        {
            return Err(err(&m.op(op).loc, "a neuron must directly follow a GEMM whose only user it is")
                .with_help("the accelerator's LIF array reads the partial sums of the layer before it"));
        }
    }
    Ok(out)
}
