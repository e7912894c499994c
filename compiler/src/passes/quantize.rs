//! `quantize`: the float `snn` model → the integer `snn` model.
//!
//! Per-layer symmetric int8 quantisation, as the Phi datapath computes:
//!
//! - each synaptic op (`snn.linear`, `snn.conv2d`) gets a scale `s = max|W| / 127`; weights
//!   become `round(W / s)` (i8), the bias `round(b / s)` (i32), so the integer current is
//!   `I / s`;
//! - currents joined by `snn.add` share one scale (the largest of the group), so residual sums
//!   stay in one unit; a constant added to a current is quantised with the current's scale;
//! - each neuron fed by a current of scale `s` gets the threshold `round(threshold / s)` and the
//!   leak `round(beta · 2^15)` with 15 fraction bits (IF: no leak);
//! - `snn.avg_pool` (with `count_include_pad`, or without padding) becomes `snn.sum_pool`, and
//!   its `1 / (kh·kw)` divisor is folded into the weights of the synaptic op it feeds;
//! - the scale is recorded on each synaptic op as the discardable attribute `phi.scale`.
//!
//! Spikes are exactly 0/1, so no scale crosses a neuron: every layer's input is spikes or
//! integer counts. A float (direct-encoded) model input has no integer form here and is
//! reported.

use std::collections::HashMap;

use phi_dialect::attr::Attr;
use phi_dialect::ir::{Module, OpId, ValueId};
use phi_dialect::ops::snn::{Conv2d, Linear, NeuronParams};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::weights::{WeightData, WeightId};
use phi_dialect::{DResult, Diagnostic, ElemType, TensorType};

/// Fraction bits of the fixed-point leak.
pub const LEAK_SHIFT: u32 = 15;

/// What quantisation did, per synaptic layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerScale {
    /// The synaptic op.
    pub op: OpId,
    /// Its weight resource name.
    pub weight: String,
    /// Real value of one integer unit of its current.
    pub scale: f32,
}

/// Per-layer scales chosen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantReport {
    /// One entry per synaptic op, in program order.
    pub layers: Vec<LayerScale>,
}

/// Quantises a verified float module in place.
pub fn quantize(m: &mut Module) -> DResult<QuantReport> {
    reject_float_inputs(m)?;
    fold_avg_pools(m)?;
    let synapses = m.ops_where(|k| matches!(k, OpKind::Snn(SnnOp::Linear(_) | SnnOp::Conv2d(_))));
    if synapses.iter().any(|&op| weight_of(m, op).1 != ElemType::F32) {
        return Err(Diagnostic::error("the module is already quantised").with_help("run `quantize` on a float model"));
    }

    // Group currents joined by additions (union-find over value ids) and pick one scale per group.
    let mut parent: HashMap<ValueId, ValueId> = HashMap::new();
    fn find(p: &mut HashMap<ValueId, ValueId>, v: ValueId) -> ValueId {
        let up = *p.get(&v).unwrap_or(&v);
        if up == v {
            return v;
        }
        let root = find(p, up);
        p.insert(v, root);
        root
    }
    for &op in m.body() {
        if let OpKind::Snn(SnnOp::Add) = m.op(op).kind {
            let r = m.result(op);
            for &o in &m.op(op).operands {
                let (a, b) = (find(&mut parent, o), find(&mut parent, r));
                if a != b {
                    parent.insert(a, b);
                }
            }
        }
    }
    let mut group_max: HashMap<ValueId, f32> = HashMap::new();
    for &op in &synapses {
        let root = find(&mut parent, m.result(op));
        let w = m.weights.get(weight_of(m, op).0).as_f32().unwrap_or(&[]);
        let mx = w.iter().fold(0f32, |a, &x| a.max(x.abs()));
        let e = group_max.entry(root).or_insert(0.0);
        *e = e.max(mx);
    }
    let scale_of = |mx: f32| if mx > 0.0 && mx.is_finite() { mx / 127.0 } else { 1.0 };

    let mut report = QuantReport::default();
    let mut value_scale: HashMap<ValueId, f32> = HashMap::new();
    for &op in &synapses.clone() {
        let root = find(&mut parent, m.result(op));
        let s = scale_of(group_max[&root]);
        let (wid, _) = weight_of(m, op);
        let bias = match &m.op(op).kind {
            OpKind::Snn(SnnOp::Linear(Linear { bias, .. }) | SnnOp::Conv2d(Conv2d { bias, .. })) => *bias,
            OpKind::Snn(_) => None,
        };
        quantize_weight_i8(m, wid, s);
        if let Some(b) = bias {
            quantize_weight_i32(m, b, s, m.op(op).loc.clone())?;
        }
        let r = m.result(op);
        let ty = m.ty(r).with_elem(ElemType::I32);
        m.set_ty(r, ty);
        m.op_mut(op).attrs.insert("phi.scale".into(), Attr::F32(s));
        value_scale.insert(r, s);
        report.layers.push(LayerScale { op, weight: m.weights.get(wid).name.clone(), scale: s });
    }

    // Additions and neurons, in program order (their inputs are already retyped).
    for op in m.body().to_vec() {
        match m.op(op).kind.clone() {
            OpKind::Snn(SnnOp::Add) => {
                let r = m.result(op);
                let ops = m.op(op).operands.clone();
                let s = ops.iter().find_map(|v| value_scale.get(v).copied());
                for &o in &ops {
                    if let (Some(s), Some(w)) = (s, constant_weight(m, o)) {
                        quantize_weight_i32(m, w, s, m.op(op).loc.clone())?;
                        let cty = m.ty(o).with_elem(ElemType::I32);
                        m.set_ty(o, cty);
                    }
                }
                let elems: Vec<ElemType> = ops.iter().map(|&o| m.ty(o).elem).collect();
                if elems.contains(&ElemType::F32) {
                    return Err(Diagnostic::error("cannot quantise an addition of float values")
                        .with_loc(&m.op(op).loc, "this snn.add")
                        .with_help(
                            "additions are quantised when they add currents of synaptic layers, spikes or constants",
                        ));
                }
                let ty = m.ty(r).with_elem(ElemType::I32);
                m.set_ty(r, ty);
                if let Some(s) = s {
                    value_scale.insert(r, s);
                }
            }
            OpKind::Snn(SnnOp::Lif(mut n) | SnnOp::If(mut n)) => {
                let x = m.op(op).operands[0];
                let s = value_scale.get(&x).copied().unwrap_or(1.0);
                let NeuronParams::Float { beta, threshold } = n.params else { continue };
                let thr = (threshold / s).round();
                if !(0.0..=i32::MAX as f32).contains(&thr) {
                    return Err(Diagnostic::error(format!(
                        "threshold {threshold} is {thr} in units of the layer's scale {s}, outside 0..=i32::MAX"
                    ))
                    .with_loc(&m.op(op).loc, "this neuron"));
                }
                let is_if = matches!(m.op(op).kind, OpKind::Snn(SnnOp::If(_)));
                let (leak, shift) =
                    if is_if { (1, 0) } else { ((beta * (1u32 << LEAK_SHIFT) as f32).round() as i32, LEAK_SHIFT) };
                n.params = NeuronParams::Fixed { leak, shift, threshold: thr as i32 };
                m.op_mut(op).kind = OpKind::Snn(if is_if { SnnOp::If(n) } else { SnnOp::Lif(n) });
            }
            OpKind::Snn(
                SnnOp::Input(_)
                | SnnOp::Output(_)
                | SnnOp::Constant { .. }
                | SnnOp::Linear(_)
                | SnnOp::Conv2d(_)
                | SnnOp::Flatten
                | SnnOp::Reshape
                | SnnOp::SumPool(_)
                | SnnOp::AvgPool { .. },
            ) => {}
        }
    }
    // Shape-only ops carry their operand's element type.
    for op in m.body().to_vec() {
        if let OpKind::Snn(SnnOp::Flatten | SnnOp::Reshape) = m.op(op).kind {
            let e = m.ty(m.op(op).operands[0]).elem;
            let r = m.result(op);
            let ty = m.ty(r).with_elem(e);
            m.set_ty(r, ty);
        }
    }
    phi_dialect::verify(m)?;
    Ok(report)
}

fn weight_of(m: &Module, op: OpId) -> (WeightId, ElemType) {
    match &m.op(op).kind {
        OpKind::Snn(SnnOp::Linear(Linear { weight, .. }) | SnnOp::Conv2d(Conv2d { weight, .. })) => {
            (*weight, m.weights.get(*weight).ty.elem)
        }
        OpKind::Snn(_) => unreachable!("called on synaptic ops"),
    }
}

fn constant_weight(m: &Module, v: ValueId) -> Option<WeightId> {
    match m.op(m.value(v).def).kind {
        OpKind::Snn(SnnOp::Constant { value }) => Some(value),
        OpKind::Snn(_) => None,
    }
}

fn quantize_weight_i8(m: &mut Module, w: WeightId, s: f32) {
    let wt = m.weights.get(w);
    let q: Vec<i8> = wt.as_f32().unwrap_or(&[]).iter().map(|&x| (x / s).round().clamp(-127.0, 127.0) as i8).collect();
    let ty = wt.ty.with_elem(ElemType::I8);
    m.weights.set_data(w, ty, WeightData::I8(q));
}

fn quantize_weight_i32(m: &mut Module, w: WeightId, s: f32, loc: phi_dialect::Location) -> DResult<()> {
    let wt = m.weights.get(w);
    let Some(vals) = wt.as_f32() else { return Ok(()) };
    let mut q = Vec::with_capacity(vals.len());
    for &x in vals {
        let v = (x / s).round();
        if !(i32::MIN as f32..=i32::MAX as f32).contains(&v) {
            return Err(Diagnostic::error(format!("`{}` holds {x}, which is out of i32 range at scale {s}", wt.name))
                .with_loc(&loc, ""));
        }
        q.push(v as i32);
    }
    let ty = wt.ty.with_elem(ElemType::I32);
    m.weights.set_data(w, ty, WeightData::I32(q));
    Ok(())
}

fn reject_float_inputs(m: &Module) -> DResult<()> {
    for &op in m.body() {
        if let OpKind::Snn(SnnOp::Input(p)) = &m.op(op).kind
            && m.ty(m.result(op)).elem == ElemType::F32
        {
            {
                return Err(Diagnostic::error(format!(
                    "input `{}` is f32 (direct encoding); the integer model takes spikes or integer counts",
                    p.name
                ))
                .with_loc(&m.op(op).loc, "declared here")
                .with_help("declare the input as bool/uint8 spikes (rate coding) or as integers"));
            }
        }
    }
    Ok(())
}

/// Rewrites `avg_pool → synapse` into `sum_pool → synapse` with the divisor folded into the
/// synapse's (still float) weights.
fn fold_avg_pools(m: &mut Module) -> DResult<()> {
    for op in m.body().to_vec() {
        let OpKind::Snn(SnnOp::AvgPool { pool, count_include_pad }) = m.op(op).kind else { continue };
        let loc = m.op(op).loc.clone();
        if !count_include_pad && pool.pads != [0; 4] {
            return Err(Diagnostic::error("an average pool that excludes padding has a varying divisor")
                .with_loc(&loc, "this snn.avg_pool")
                .with_help("use count_include_pad = true or no padding for the integer model"));
        }
        let r = m.result(op);
        let uses = m.uses(r);
        let mut targets = Vec::new();
        for (user, _) in &uses {
            match &m.op(*user).kind {
                OpKind::Snn(SnnOp::Linear(_) | SnnOp::Conv2d(_)) => targets.push(*user),
                OpKind::Snn(SnnOp::Flatten | SnnOp::Reshape) => {
                    // follow one shape-only op
                    let r2 = m.result(*user);
                    for (u2, _) in m.uses(r2) {
                        match &m.op(u2).kind {
                            OpKind::Snn(SnnOp::Linear(_) | SnnOp::Conv2d(_)) => targets.push(u2),
                            OpKind::Snn(_) => return Err(avg_pool_error(&loc)),
                        }
                    }
                }
                OpKind::Snn(_) => return Err(avg_pool_error(&loc)),
            }
        }
        let area = (pool.kernel[0] * pool.kernel[1]) as f32;
        for t in targets {
            let (w, _) = weight_of(m, t);
            let wt = m.weights.get(w);
            let scaled: Vec<f32> = wt.as_f32().unwrap_or(&[]).iter().map(|&x| x / area).collect();
            let ty = wt.ty.clone();
            if m.uses_of_weight(w) > 1 {
                return Err(Diagnostic::error("a weight shared by several layers cannot absorb an average pool")
                    .with_loc(&loc, ""));
            }
            m.weights.set_data(w, ty, WeightData::F32(scaled));
        }
        m.op_mut(op).kind = OpKind::Snn(SnnOp::SumPool(pool));
        let ty: TensorType = m.ty(m.op(op).operands[0]).clone();
        let out = m.ty(r).with_elem(if ty.elem == ElemType::F32 { ElemType::F32 } else { ElemType::I32 });
        m.set_ty(r, out);
    }
    Ok(())
}

fn avg_pool_error(loc: &phi_dialect::Location) -> Diagnostic {
    Diagnostic::error("an average pool must feed synaptic layers to be quantised")
        .with_loc(loc, "this snn.avg_pool")
        .with_help("its divisor is folded into the weights of the next snn.linear / snn.conv2d")
}
