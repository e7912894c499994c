//! `quantize`: the float `snn` model → the integer `snn` model.
//!
//! Per-layer symmetric int8 quantisation, as the Phi datapath computes:
//!
//! - each synaptic op (`snn.linear`, `snn.conv2d`) gets a scale `s = max|W| / 127`; weights
//!   become `round(W / s)` (i8), the bias `round(b / s)` (i32), so the integer current is
//!   `I / s`;
//! - currents that meet — joined by `snn.add` or `snn.concat`, or passing through shape-only ops
//!   (`snn.flatten`, `snn.reshape`, `snn.transpose`) — form one group with one scale, the
//!   largest of its layers, so sums stay in one unit; a constant added to a current is quantised
//!   with the current's scale;
//! - each neuron fed by a current of scale `s` gets the threshold `round(threshold / s)` and the
//!   leak `round(beta · 2^15)` with 15 fraction bits (IF: no leak);
//! - `snn.avg_pool` (with `count_include_pad`, or without padding) becomes `snn.sum_pool`, and
//!   its `1 / (kh·kw)` divisor is folded into the weights of the synaptic op it feeds;
//! - a float constant multiplying a linear layer's current (`snn.mul`: an NIR `Scale`, or an
//!   input gain after an `Affine`) is folded into that layer's weights and bias first;
//! - the scale is recorded on each synaptic op as the discardable attribute `phi.scale` and
//!   reported as a remark.
//!
//! Spikes are exactly 0/1, so no scale crosses a neuron: every layer's input is spikes or
//! integer counts — except a real-valued (direct-encoded) model input. That one is quantised
//! to 8-bit codes at an input scale `s_in = max |x| / 127` measured on the calibration data
//! (`--calib`, or the model's `phi.calibration`), recorded on the input as `phi.input_scale`
//! (the interpreter and the emulator convert real inputs with `phi_runtime::input`); the
//! layers it feeds then carry currents in units of `s_in · s`, and their biases and the
//! thresholds of their neurons are quantised in those units. Layers that are already integer
//! are left alone, so the pass is idempotent.

use std::collections::HashMap;

use phi_dialect::ir::{Module, OpData, OpId, ValueId};
use phi_dialect::ops::snn::{Conv2d, Linear, NeuronParams};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::phi_attrs;
use phi_dialect::weights::{WeightData, WeightId};
use phi_dialect::{DResult, Diagnostic, ElemType};
use phi_runtime::tensor::Data;

use super::{OptDefault, OptionSpec, Pass, PassContext, PassInfo, PassOptions};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "quantize",
    summary: "float model → integer model: per-layer symmetric int8 weights, integer thresholds, fixed-point leak",
    options: &[OptionSpec {
        name: "leak-bits",
        default: OptDefault::Value("15"),
        help: "fraction bits of the fixed-point leak",
    }],
    create: |o: &PassOptions, _: &phi_dialect::target::Target| {
        Ok(Box::new(Quantize { leak_bits: o.uint("leak-bits", 1..=30)? as u32 }))
    },
};

/// The pass.
pub struct Quantize {
    /// Fraction bits of the leak.
    pub leak_bits: u32,
}

impl Pass for Quantize {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        if let Some(s) = quantize_real_input(m, cx)? {
            cx.remark(INFO.name, format!("real-valued input: scale {s:e} (one input code), 8-bit codes"));
        }
        let report = quantize_with(m, self.leak_bits)?;
        for l in &report.layers {
            cx.remark(INFO.name, format!("{}: scale {:e} (one integer unit of current)", l.weight, l.scale));
        }
        Ok(())
    }
}

/// A real-valued (f32) model input becomes an i32 input of 8-bit codes, its scale measured on
/// the calibration data and recorded as `phi.input_scale`. Returns the scale, if there was such
/// an input.
fn quantize_real_input(m: &mut Module, cx: &PassContext<'_>) -> DResult<Option<f32>> {
    let real: Vec<OpId> = m.ops_where(|k| matches!(k, OpKind::Snn(SnnOp::Input(_))));
    let real: Vec<OpId> = real.into_iter().filter(|&op| m.ty(m.result(op)).elem == ElemType::F32).collect();
    let [input] = real[..] else {
        return Ok(None);
    };
    let path = crate::data::calibration_path(m, &cx.model_dir, cx.calib.as_deref()).map_err(|d| {
        d.with_loc(&m.op(input).loc, "this input holds real values")
            .with_help(format!("a real-valued input is quantised at a scale measured on calibration data: give --calib X.npy, or name a file in the model's {}", phi_attrs::DataFile::Calibration.example()))
    })?;
    let x = crate::data::read_inputs(m, &path, usize::MAX)?;
    let Data::F32(v) = &x.data else {
        return Err(Diagnostic::error(format!(
            "{}: calibration data for a real-valued input must be floats",
            path.display()
        )));
    };
    let max = v.iter().fold(0f32, |a, &x| if x.is_finite() { a.max(x.abs()) } else { a });
    let s = phi_runtime::input::scale_for(max);
    phi_attrs::set_input_scale(m, input, s);
    let r = m.result(input);
    let ty = m.ty(r).with_elem(ElemType::I32);
    m.set_ty(r, ty);
    Ok(Some(s))
}

/// The real value of one unit of `v`, a synaptic op's input: the input scale when `v` is (a
/// reshaping of) a quantised real-valued model input, else 1 (spikes, counts).
fn input_unit(m: &Module, mut v: ValueId) -> f32 {
    loop {
        let d = m.op(m.value(v).def);
        match &d.kind {
            OpKind::Snn(SnnOp::Input(_)) => {
                return phi_attrs::input_scale(m, m.value(v).def).unwrap_or(1.0);
            }
            OpKind::Snn(SnnOp::Flatten | SnnOp::Reshape | SnnOp::Transpose { .. }) => v = d.operands[0],
            OpKind::Snn(_) | OpKind::Phi(_) => return 1.0,
        }
    }
}

/// Fraction bits of the fixed-point leak by default.
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
    /// One entry per newly quantised synaptic op, in program order.
    pub layers: Vec<LayerScale>,
}

/// Quantises a verified float module in place with the default leak precision.
pub fn quantize(m: &mut Module) -> DResult<QuantReport> {
    quantize_with(m, LEAK_SHIFT)
}

fn synapse(kind: &OpKind) -> Option<(WeightId, Option<WeightId>)> {
    match kind {
        OpKind::Snn(SnnOp::Linear(Linear { weight, bias }) | SnnOp::Conv2d(Conv2d { weight, bias, .. })) => {
            Some((*weight, *bias))
        }
        OpKind::Snn(_) | OpKind::Phi(_) => None,
    }
}

fn find(parent: &mut HashMap<ValueId, ValueId>, v: ValueId) -> ValueId {
    let up = *parent.get(&v).unwrap_or(&v);
    if up == v {
        return v;
    }
    let root = find(parent, up);
    parent.insert(v, root);
    root
}

fn union(parent: &mut HashMap<ValueId, ValueId>, a: ValueId, b: ValueId) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent.insert(ra, rb);
    }
}

/// Spikes added to (or concatenated with) currents in units of a layer's scale `s`: a spike is
/// `1/s` such units, not an integer, so the integer model cannot add them exactly. Spikes meet
/// spikes, counts (unit 1) or currents of their own scale group only.
fn reject_spikes_in_currents(m: &Module, d: &OpData, s: Option<f32>) -> DResult<()> {
    match s {
        Some(s) if s != 1.0 && d.operands.iter().any(|&o| m.ty(o).elem == ElemType::I1) => {
            Err(Diagnostic::error(format!(
                "`{}` joins spikes with currents in units of {s}: in the integer model a spike would be {} units, not an integer",
                d.kind.name(),
                1.0 / s
            ))
            .with_loc(&d.loc, "this op")
            .with_help(
                "add spikes to spikes (SEW-ResNet) or currents to currents (MS-ResNet's membrane shortcut); run the float model with --interpret",
            ))
        }
        Some(_) | None => Ok(()),
    }
}

/// Quantises with `leak_bits` fraction bits for the leak.
pub fn quantize_with(m: &mut Module, leak_bits: u32) -> DResult<QuantReport> {
    reject_float_inputs(m)?;
    fold_avg_pools(m)?;
    fold_scales(m);
    let synapses: Vec<OpId> = m
        .body()
        .iter()
        .copied()
        .filter(|&op| synapse(&m.op(op).kind).is_some_and(|(w, _)| m.weights.get(w).ty.elem == ElemType::F32))
        .collect();

    // Scale groups: values whose currents meet.
    let mut parent: HashMap<ValueId, ValueId> = HashMap::new();
    for &op in m.body() {
        let d = m.op(op);
        let joins = matches!(
            d.kind,
            OpKind::Snn(SnnOp::Add | SnnOp::Concat { .. } | SnnOp::Flatten | SnnOp::Reshape | SnnOp::Transpose { .. })
        );
        if joins && let Some(&r) = d.results.first() {
            for &o in &d.operands {
                if m.ty(o).elem != ElemType::I1 {
                    union(&mut parent, o, r);
                }
            }
        }
    }
    let mut group_max: HashMap<ValueId, f32> = HashMap::new();
    for &op in &synapses {
        let root = find(&mut parent, m.result(op));
        let (w, _) = synapse(&m.op(op).kind).expect("synaptic op");
        let mx = m.weights.get(w).as_f32().unwrap_or(&[]).iter().fold(0f32, |a, &x| a.max(x.abs()));
        let e = group_max.entry(root).or_insert(0.0);
        *e = e.max(mx);
    }
    let scale_of = |mx: f32| if mx > 0.0 && mx.is_finite() { mx / 127.0 } else { 1.0 };

    // The unit of a group's currents: its weight scale times its layers' input unit (which
    // must agree: currents in different units cannot be added).
    let mut group_unit: HashMap<ValueId, f32> = HashMap::new();
    for &op in &synapses {
        let root = find(&mut parent, m.result(op));
        let unit = scale_of(group_max[&root]) * input_unit(m, m.op(op).operands[0]);
        if let Some(&u) = group_unit.get(&root)
            && u != unit
        {
            return Err(Diagnostic::error(
                "currents that meet come from layers with different inputs (real-valued and spikes)",
            )
            .with_loc(&m.op(op).loc, "this layer")
            .with_help("add the currents of layers fed by the real-valued input only to each other"));
        }
        group_unit.insert(root, unit);
    }

    let mut report = QuantReport::default();
    for &op in &synapses {
        let root = find(&mut parent, m.result(op));
        let s = scale_of(group_max[&root]);
        let unit = group_unit[&root];
        let (wid, bias) = synapse(&m.op(op).kind).expect("synaptic op");
        quantize_weight_i8(m, wid, s);
        if let Some(b) = bias {
            quantize_weight_i32(m, b, unit, m.op(op).loc.clone())?;
        }
        let r = m.result(op);
        let ty = m.ty(r).with_elem(ElemType::I32);
        m.set_ty(r, ty);
        phi_attrs::set_scale(m, op, unit);
        report.layers.push(LayerScale { op, weight: m.weights.get(wid).name.clone(), scale: unit });
    }
    let group_scale = |parent: &mut HashMap<ValueId, ValueId>, v: ValueId| -> Option<f32> {
        let root = find(parent, v);
        group_unit.get(&root).copied()
    };

    // Retype in program order: additions, shape-only ops, neurons (inputs are retyped first).
    for op in m.body().to_vec() {
        let d = m.op(op).clone();
        match &d.kind {
            OpKind::Snn(SnnOp::Add) => {
                let r = m.result(op);
                let s = group_scale(&mut parent, r);
                reject_spikes_in_currents(m, &d, s)?;
                for &o in &d.operands {
                    if let (Some(s), Some(w)) = (s, constant_weight(m, o))
                        && m.weights.get(w).ty.elem == ElemType::F32
                    {
                        quantize_weight_i32(m, w, s, d.loc.clone())?;
                        let cty = m.ty(o).with_elem(ElemType::I32);
                        m.set_ty(o, cty);
                    }
                }
                if d.operands.iter().any(|&o| m.ty(o).elem == ElemType::F32) {
                    return Err(Diagnostic::error("cannot quantise an addition of float values")
                        .with_loc(&d.loc, "this snn.add")
                        .with_help(
                            "additions are quantised when they add currents of synaptic layers, spikes or constants",
                        ));
                }
                let ty = m.ty(r).with_elem(ElemType::I32);
                m.set_ty(r, ty);
            }
            OpKind::Snn(
                SnnOp::Flatten | SnnOp::Reshape | SnnOp::Transpose { .. } | SnnOp::Concat { .. } | SnnOp::Im2col(_),
            ) => {
                if matches!(d.kind, OpKind::Snn(SnnOp::Concat { .. })) {
                    let s = group_scale(&mut parent, m.result(op));
                    reject_spikes_in_currents(m, &d, s)?;
                }
                let e = m.ty(d.operands[0]).elem;
                let r = m.result(op);
                let ty = m.ty(r).with_elem(e);
                m.set_ty(r, ty);
            }
            OpKind::Snn(SnnOp::Lif(n) | SnnOp::If(n)) => {
                let (beta, threshold) = match n.params {
                    NeuronParams::Float { beta, threshold } => (beta, threshold),
                    NeuronParams::Fixed { .. } => continue,
                    NeuronParams::FloatPerNeuron { .. } => {
                        return Err(Diagnostic::error(format!(
                            "`{}` has a decay and threshold per neuron, which the integer datapath does not support",
                            d.kind.name()
                        ))
                        .with_loc(&d.loc, "this neuron")
                        .with_help(
                            "the integer model has one leak and one threshold per layer; a NIR graph exported with uniform tau and v_threshold per layer imports with scalar parameters",
                        ));
                    }
                };
                let x = d.operands[0];
                let s = group_scale(&mut parent, x).unwrap_or_else(|| input_unit(m, x));
                let thr = (threshold / s).round();
                if !(0.0..=i32::MAX as f32).contains(&thr) {
                    return Err(Diagnostic::error(format!(
                        "threshold {threshold} is {thr} in units of the layer's scale {s}, outside 0..=i32::MAX"
                    ))
                    .with_loc(&d.loc, "this neuron"));
                }
                let is_if = matches!(d.kind, OpKind::Snn(SnnOp::If(_)));
                let (leak, shift) =
                    if is_if { (1, 0) } else { ((beta * (1u32 << leak_bits) as f32).round() as i32, leak_bits) };
                let mut n = *n;
                n.params = NeuronParams::Fixed { leak, shift, threshold: thr as i32 };
                m.op_mut(op).kind = OpKind::Snn(if is_if { SnnOp::If(n) } else { SnnOp::Lif(n) });
            }
            OpKind::Snn(SnnOp::Li { .. } | SnnOp::Mul) => {
                return Err(Diagnostic::error(format!("`{}` has no integer form", d.kind.name()))
                    .with_loc(&d.loc, "this op")
                    .with_help(
                        "the integer datapath has synaptic layers, spiking neurons, pools and shape ops; run the float model with --interpret",
                    ));
            }
            OpKind::Snn(_) | OpKind::Phi(_) => {}
        }
    }
    phi_dialect::verify(m)?;
    Ok(report)
}

fn constant_weight(m: &Module, v: ValueId) -> Option<WeightId> {
    match m.op(m.value(v).def).kind {
        OpKind::Snn(SnnOp::Constant { value }) => Some(value),
        OpKind::Snn(_) | OpKind::Phi(_) => None,
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
            return Err(Diagnostic::error(format!(
                "input `{}` is f32 (direct encoding); the integer model takes spikes or integer counts",
                p.name
            ))
            .with_loc(&m.op(op).loc, "declared here")
            .with_help("run the `quantize` pass with calibration data (it quantises a real-valued input), or declare the input as bool/uint8 spikes or as integers"));
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
        // The synaptic ops it feeds, possibly through shape-only ops.
        let mut targets = Vec::new();
        let mut frontier = vec![m.result(op)];
        while let Some(v) = frontier.pop() {
            for (user, _) in m.uses(v) {
                match &m.op(user).kind {
                    OpKind::Snn(SnnOp::Linear(_) | SnnOp::Conv2d(_)) => targets.push(user),
                    // data movement only (im2col: a convolution after conv-to-gemm; its zero
                    // padding stays zero after the weights are scaled)
                    OpKind::Snn(SnnOp::Flatten | SnnOp::Reshape | SnnOp::Transpose { .. } | SnnOp::Im2col(_)) => {
                        frontier.push(m.result(user));
                    }
                    OpKind::Snn(_) | OpKind::Phi(_) => return Err(avg_pool_error(&loc)),
                }
            }
        }
        let area = (pool.kernel[0] * pool.kernel[1]) as f32;
        for t in targets {
            let (w, _) = synapse(&m.op(t).kind).expect("synaptic op");
            if m.uses_of_weight(w) > 1 {
                return Err(Diagnostic::error("a weight shared by several layers cannot absorb an average pool")
                    .with_loc(&loc, ""));
            }
            let wt = m.weights.get(w);
            let scaled: Vec<f32> = wt.as_f32().unwrap_or(&[]).iter().map(|&x| x / area).collect();
            let ty = wt.ty.clone();
            m.weights.set_data(w, ty, WeightData::F32(scaled));
        }
        m.op_mut(op).kind = OpKind::Snn(SnnOp::SumPool(pool));
        let input_elem = m.ty(m.op(op).operands[0]).elem;
        let r = m.result(op);
        let out = m.ty(r).with_elem(if input_elem == ElemType::F32 { ElemType::F32 } else { ElemType::I32 });
        m.set_ty(r, out);
    }
    Ok(())
}

/// Rewrites `snn.mul(snn.linear(x), c)` — a per-output (`[N]`) or scalar (`[1]`) float constant
/// `c`, the linear's float result used only by the multiplication (an NIR `Scale` or input gain
/// after an `Affine`) — into `snn.linear(x)` with `W[:, n]·c[n]` and `b[n]·c[n]`, before the
/// weights are quantised: the integer model then has no multiplication left to refuse.
fn fold_scales(m: &mut Module) {
    for op in m.body().to_vec() {
        if !matches!(m.op(op).kind, OpKind::Snn(SnnOp::Mul)) {
            continue;
        }
        let (a, c) = (m.op(op).operands[0], m.op(op).operands[1]);
        let lin = m.value(a).def;
        let OpKind::Snn(SnnOp::Linear(Linear { weight, bias })) = m.op(lin).kind else { continue };
        let Some(cw) = constant_weight(m, c) else { continue };
        let (k, n) = (m.weights.get(weight).ty.shape[0], m.weights.get(weight).ty.shape[1]);
        let scale: Vec<f32> = match m.weights.get(cw).as_f32() {
            Some(v) if v.len() == n && m.weights.get(cw).ty.shape == [n] => v.to_vec(),
            Some(&[s]) => vec![s; n],
            Some(_) | None => continue,
        };
        let shared = |w: WeightId| m.uses_of_weight(w) > 1;
        if m.uses(a).len() != 1 || shared(weight) || bias.is_some_and(shared) {
            continue;
        }
        let Some(w) = m.weights.get(weight).as_f32().map(<[f32]>::to_vec) else { continue };
        let scaled: Vec<f32> = (0..k * n).map(|i| w[i] * scale[i % n]).collect();
        let ty = m.weights.get(weight).ty.clone();
        m.weights.set_data(weight, ty, WeightData::F32(scaled));
        if let Some(b) = bias
            && let Some(bv) = m.weights.get(b).as_f32().map(<[f32]>::to_vec)
        {
            let ty = m.weights.get(b).ty.clone();
            m.weights.set_data(b, ty, WeightData::F32(bv.iter().zip(&scale).map(|(x, s)| x * s).collect()));
        }
        let r = m.result(op);
        m.replace_all_uses(r, a);
        m.remove(op);
        let cst = m.value(c).def;
        if m.uses(c).is_empty() {
            m.remove(cst);
        }
    }
}

fn avg_pool_error(loc: &phi_dialect::Location) -> Diagnostic {
    Diagnostic::error("an average pool must feed synaptic layers to be quantised")
        .with_loc(loc, "this snn.avg_pool")
        .with_help("its divisor is folded into the weights of the next snn.linear / snn.conv2d")
}
