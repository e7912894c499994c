//! The reference interpreter of the `snn` dialect.
//!
//! Executes a verified module on batched inputs `[N, T, …]`, op by op in program order, each op
//! over the whole batch and all time steps at once (time-batched: a synaptic layer is one GEMM
//! over `N·T` rows, a neuron layer then scans `T`). The same interpreter runs the float32 model
//! (f32 weights; LIF as snnTorch) and the integer model (i8 weights, i32 currents and membranes,
//! fixed-point leak): each op's mode follows from its types. The integer mode is the golden
//! reference that compiled programs must match bit for bit.
//!
//! An observer may watch every op's operands and result (calibration uses this to collect the
//! spike inputs of synaptic layers). Values are freed after their last use. Inputs are processed
//! in chunks of samples so that memory stays bounded; an op whose activation would exceed the
//! element budget is an error, not an allocation.

use phi_dialect::ir::{Module, OpId, ValueId};
use phi_dialect::ops::snn::{Coef, Conv2d, Linear, NeuronParams, Pool};
use phi_dialect::ops::{OpKind, PhiOp, SnnOp};
use phi_dialect::weights::{Weight, WeightData, WeightId};
use phi_dialect::{DResult, Diagnostic, ElemType, TensorType};

use crate::kernels::{self, Bias, Geometry, PoolKind, Weights};
use crate::neuron::{FloatLif, Lif};
use crate::phi;
use crate::tensor::{Data, Tensor};

/// Interpreter options.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Samples executed together (the rest of the batch waits for the next chunk).
    pub chunk: usize,
    /// Largest number of elements one activation may hold.
    pub max_elements: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { chunk: 256, max_elements: 1 << 28 }
    }
}

/// Something that watches execution: called after each op with its operands and result.
pub type Observer<'a> = dyn FnMut(OpId, &[&Tensor], Option<&Tensor>) + 'a;

/// Runs `m` on `inputs` (one tensor per `snn.input`, by index), returning one tensor per
/// `snn.output`, by index.
pub fn run(m: &Module, inputs: &[Tensor]) -> DResult<Vec<Tensor>> {
    run_with(m, inputs, Options::default(), &mut |_, _, _| {})
}

/// [`run`] with options and an observer.
pub fn run_with(m: &Module, inputs: &[Tensor], opts: Options, observe: &mut Observer<'_>) -> DResult<Vec<Tensor>> {
    let ports = check_inputs(m, inputs)?;
    let n = inputs.first().map_or(0, |t| t.shape[0]);
    let chunk = opts.chunk.max(1);
    let mut outputs: Vec<Option<Tensor>> = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + chunk).min(n);
        let part: Vec<Tensor> = inputs.iter().map(|t| t.samples(start, end)).collect();
        let outs = run_chunk(m, &ports, &part, end - start, opts, observe)?;
        if outputs.is_empty() {
            outputs = outs.into_iter().map(Some).collect();
        } else {
            for (acc, o) in outputs.iter_mut().zip(outs) {
                if let Some(a) = acc {
                    a.append_samples(o);
                }
            }
        }
        start = end;
        if start >= n {
            break;
        }
    }
    Ok(outputs.into_iter().flatten().collect())
}

/// The `snn.input` and `snn.output` ops, by index.
struct Ports {
    inputs: Vec<(OpId, TensorType)>,
    outputs: usize,
}

fn check_inputs(m: &Module, inputs: &[Tensor]) -> DResult<Ports> {
    let mut ins = Vec::new();
    let mut outputs = 0;
    for &op in m.body() {
        match &m.op(op).kind {
            OpKind::Snn(SnnOp::Input(p)) => ins.push((p.index, op, m.ty(m.result(op)).clone())),
            OpKind::Snn(SnnOp::Output(_)) => outputs += 1,
            OpKind::Snn(_) | OpKind::Phi(_) => {}
        }
    }
    ins.sort_by_key(|(i, _, _)| *i);
    if ins.len() != inputs.len() {
        return Err(Diagnostic::error(format!("the model has {} input(s), {} given", ins.len(), inputs.len())));
    }
    let n = inputs.first().map_or(0, |t| t.shape.first().copied().unwrap_or(0));
    for ((_, op, ty), t) in ins.iter().zip(inputs) {
        let name = match &m.op(*op).kind {
            OpKind::Snn(SnnOp::Input(p)) => p.name.clone(),
            OpKind::Snn(_) | OpKind::Phi(_) => String::new(),
        };
        let want: Vec<usize> = std::iter::once(n).chain(ty.shape.iter().copied()).collect();
        if t.shape != want {
            return Err(Diagnostic::error(format!(
                "input `{name}` has shape {:?}, the model expects {:?} ([N, {}])",
                t.shape,
                want,
                ty.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            ))
            .with_loc(&m.op(*op).loc, "input declared here"));
        }
        if t.data.elem() != ty.elem {
            return Err(Diagnostic::error(format!(
                "input `{name}` holds {} elements, the model expects {}",
                t.data.elem(),
                ty.elem
            ))
            .with_loc(&m.op(*op).loc, "input declared here"));
        }
    }
    Ok(Ports { inputs: ins.into_iter().map(|(_, op, ty)| (op, ty)).collect(), outputs })
}

fn constant(w: &Weight, loc: &phi_dialect::Location) -> DResult<Tensor> {
    let data = match &w.data {
        WeightData::I1(v) => Data::Spikes(v.clone()),
        WeightData::I8(v) => Data::I32(v.iter().map(|&x| x as i32).collect()),
        WeightData::I16(v) => Data::I32(v.iter().map(|&x| x as i32).collect()),
        WeightData::I32(v) => Data::I32(v.clone()),
        WeightData::F32(v) => Data::F32(v.clone()),
        WeightData::Elided => return Err(elided(w, loc)),
    };
    Ok(Tensor::new(w.ty.shape.clone(), data))
}

fn elided(w: &Weight, loc: &phi_dialect::Location) -> Diagnostic {
    Diagnostic::error(format!("weight `{}` was elided from the IR text and cannot be executed", w.name))
        .with_loc(loc, "used here")
        .with_help("print the IR without --elide-weights, or run the original model")
}

fn weights<'w>(m: &'w Module, id: WeightId, loc: &phi_dialect::Location) -> DResult<Weights<'w>> {
    let w = m.weights.get(id);
    match &w.data {
        WeightData::F32(v) => Ok(Weights::F32(v)),
        WeightData::I8(v) => Ok(Weights::I8(v)),
        WeightData::Elided => Err(elided(w, loc)),
        WeightData::I1(_) | WeightData::I16(_) | WeightData::I32(_) => {
            Err(Diagnostic::error(format!("weight `{}` must be f32 or i8", w.name)).with_loc(loc, ""))
        }
    }
}

fn bias<'w>(m: &'w Module, id: Option<WeightId>, loc: &phi_dialect::Location) -> DResult<Bias<'w>> {
    let Some(id) = id else { return Ok(Bias::None) };
    let w = m.weights.get(id);
    match &w.data {
        WeightData::F32(v) => Ok(Bias::F32(v)),
        WeightData::I32(v) => Ok(Bias::I32(v)),
        WeightData::Elided => Err(elided(w, loc)),
        WeightData::I1(_) | WeightData::I8(_) | WeightData::I16(_) => {
            Err(Diagnostic::error(format!("bias `{}` must be f32 or i32", w.name)).with_loc(loc, ""))
        }
    }
}

fn geometry(
    x: &[usize],
    out: &[usize],
    kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
    dil: [usize; 2],
) -> Geometry {
    // x and out are [N, T, C, H, W]
    Geometry { c: x[2], h: x[3], w: x[4], oh: out[3], ow: out[4], kernel, strides, pads, dilations: dil }
}

fn run_chunk(
    m: &Module,
    ports: &Ports,
    inputs: &[Tensor],
    n: usize,
    opts: Options,
    observe: &mut Observer<'_>,
) -> DResult<Vec<Tensor>> {
    // Last use of every value, to free it early.
    let mut last_use = vec![usize::MAX; m.num_value_slots()];
    for (pos, &op) in m.body().iter().enumerate() {
        for &v in &m.op(op).operands {
            last_use[v.0 as usize] = pos;
        }
    }
    let mut vals: Vec<Option<Tensor>> = vec![None; m.num_value_slots()];
    let mut outputs: Vec<Option<Tensor>> = vec![None; ports.outputs];
    for (pos, &op) in m.body().iter().enumerate() {
        let data = m.op(op);
        let loc = &data.loc;
        let get = |v: ValueId| -> &Tensor { vals[v.0 as usize].as_ref().expect("verified: operands are defined") };
        let result_ty = data.results.first().map(|&r| m.ty(r));
        if let Some(ty) = result_ty {
            let elems = ty.num_elements().saturating_mul(n);
            if elems > opts.max_elements {
                return Err(Diagnostic::error(format!(
                    "`{}` would produce {elems} elements for {n} samples, above the interpreter's budget of {}",
                    data.kind.name(),
                    opts.max_elements
                ))
                .with_loc(loc, "")
                .with_help("run fewer samples at a time"));
            }
        }
        let shape = |ty: &TensorType| -> Vec<usize> { std::iter::once(n).chain(ty.shape.iter().copied()).collect() };
        let result: Option<Tensor> = match &data.kind {
            OpKind::Snn(op_kind) => match op_kind {
                SnnOp::Input(_) => {
                    let idx = ports.inputs.iter().position(|(o, _)| *o == op).expect("input op is a port");
                    Some(inputs[idx].clone())
                }
                SnnOp::Output(p) => {
                    outputs[p.index as usize] = Some(get(data.operands[0]).clone());
                    None
                }
                SnnOp::Constant { value } => Some(constant(m.weights.get(*value), loc)?),
                SnnOp::Linear(Linear { weight, bias: b }) => {
                    let x = get(data.operands[0]);
                    let ty = result_ty.expect("one result");
                    let k = *x.shape.last().expect("rank ≥ 2");
                    let nout = *ty.shape.last().expect("rank ≥ 2");
                    let rows = x.data.len() / k.max(1);
                    let out = kernels::linear(&x.data, rows, k, weights(m, *weight, loc)?, bias(m, *b, loc)?, nout);
                    Some(Tensor::new(shape(ty), out))
                }
                SnnOp::Conv2d(Conv2d { weight, bias: b, strides, pads, dilations, groups }) => {
                    let x = get(data.operands[0]);
                    let ty = result_ty.expect("one result");
                    let ws = &m.weights.get(*weight).ty.shape;
                    let out_shape = shape(ty);
                    let g = geometry(&x.shape, &out_shape, [ws[2], ws[3]], *strides, *pads, *dilations);
                    let images = x.shape[0] * x.shape[1];
                    let out = kernels::conv2d(
                        &x.data,
                        images,
                        g,
                        ty.shape[1],
                        *groups,
                        weights(m, *weight, loc)?,
                        bias(m, *b, loc)?,
                    );
                    Some(Tensor::new(out_shape, out))
                }
                SnnOp::Lif(neuron) | SnnOp::If(neuron) => {
                    let x = get(data.operands[0]);
                    let spikes = match (Lif::from_params(neuron.params, neuron.reset), neuron.params) {
                        (Some(lif), _) => scan(&x.data, x.shape[0], x.shape[1], lif),
                        (None, NeuronParams::FloatPerNeuron { beta, threshold }) => {
                            let thr = floats(m, threshold, loc)?;
                            let betas = match beta {
                                Some(b) => floats(m, b, loc)?,
                                None => vec![1.0; thr.len()],
                            };
                            let neurons: Vec<FloatLif> = betas
                                .iter()
                                .zip(&thr)
                                .map(|(&beta, &threshold)| FloatLif { beta, threshold, reset: neuron.reset })
                                .collect();
                            scan_per_neuron(&x.data, x.shape[0], x.shape[1], &neurons)
                        }
                        (None, NeuronParams::Float { .. } | NeuronParams::Fixed { .. }) => {
                            unreachable!("scalar parameters make one neuron")
                        }
                    };
                    Some(Tensor::new(x.shape.clone(), Data::Spikes(spikes)))
                }
                SnnOp::Li { beta } => {
                    let x = get(data.operands[0]);
                    let f = x.data.len() / (x.shape[0] * x.shape[1]).max(1);
                    let betas = match *beta {
                        Coef::Scalar(b) => vec![b; f],
                        Coef::PerNeuron(w) => floats(m, w, loc)?,
                    };
                    Some(Tensor::new(x.shape.clone(), Data::F32(integrate(&x.data, x.shape[0], x.shape[1], &betas))))
                }
                SnnOp::Mul => {
                    let (a, b) = (get(data.operands[0]), get(data.operands[1]));
                    let ty = result_ty.expect("one result");
                    Some(Tensor::new(shape(ty), kernels::mul(&a.data, &b.data, ty.elem == ElemType::F32)))
                }
                SnnOp::Flatten | SnnOp::Reshape => {
                    let x = get(data.operands[0]);
                    Some(Tensor::new(shape(result_ty.expect("one result")), x.data.clone()))
                }
                SnnOp::SumPool(pool) => {
                    Some(pool_op(get(data.operands[0]), pool, shape(result_ty.expect("one result")), PoolKind::Sum))
                }
                SnnOp::AvgPool { pool, count_include_pad } => {
                    let kind = PoolKind::Avg { count_include_pad: *count_include_pad };
                    Some(pool_op(get(data.operands[0]), pool, shape(result_ty.expect("one result")), kind))
                }
                SnnOp::Add => {
                    let (a, b) = (get(data.operands[0]), get(data.operands[1]));
                    let ty = result_ty.expect("one result");
                    Some(Tensor::new(shape(ty), kernels::add(&a.data, &b.data, ty.elem == ElemType::F32)))
                }
                SnnOp::Im2col(c) => {
                    let x = get(data.operands[0]);
                    let out_shape = shape(result_ty.expect("one result"));
                    let g = Geometry::im2col(&x.shape[2..], c);
                    let out = kernels::im2col(&x.data, x.shape[0] * x.shape[1], g, c.channels);
                    Some(Tensor::new(out_shape, out))
                }
                SnnOp::Transpose { perm } => {
                    let x = get(data.operands[0]);
                    // the batch dimension stays in front
                    let full: Vec<usize> = std::iter::once(0).chain(perm.iter().map(|p| p + 1)).collect();
                    Some(Tensor::new(
                        shape(result_ty.expect("one result")),
                        kernels::transpose(&x.data, &x.shape, &full),
                    ))
                }
                SnnOp::Concat { axis } => {
                    let parts: Vec<&Tensor> = data.operands.iter().map(|&v| get(v)).collect();
                    let out_shape = shape(result_ty.expect("one result"));
                    Some(Tensor::new(out_shape.clone(), kernels::concat(&parts, axis + 1, &out_shape)))
                }
            },
            OpKind::Phi(phi_op) => {
                Some(run_phi(m, phi_op, &data.operands, &|v| get(v), shape(result_ty.expect("one result")), loc)?)
            }
        };
        {
            let operands: Vec<&Tensor> = data.operands.iter().map(|&v| get(v)).collect();
            observe(op, &operands, result.as_ref());
        }
        if let (Some(t), Some(&r)) = (result, data.results.first()) {
            vals[r.0 as usize] = Some(t);
        }
        for &v in &data.operands {
            if last_use[v.0 as usize] == pos {
                vals[v.0 as usize] = None;
            }
        }
    }
    Ok(outputs.into_iter().map(|o| o.expect("verified: every output index is set")).collect())
}

fn pool_op(x: &Tensor, p: &Pool, out_shape: Vec<usize>, kind: PoolKind) -> Tensor {
    let g = geometry(&x.shape, &out_shape, p.kernel, p.strides, p.pads, [1, 1]);
    let out = kernels::pool(&x.data, x.shape[0] * x.shape[1], g, kind);
    Tensor::new(out_shape, out)
}

fn ints(m: &Module, id: WeightId, loc: &phi_dialect::Location) -> DResult<Vec<i32>> {
    let w = m.weights.get(id);
    match &w.data {
        WeightData::I1(v) => Ok(v.iter().map(|&x| x as i32).collect()),
        WeightData::I8(v) => Ok(v.iter().map(|&x| x as i32).collect()),
        WeightData::I16(v) => Ok(v.iter().map(|&x| x as i32).collect()),
        WeightData::I32(v) => Ok(v.clone()),
        WeightData::F32(_) => Err(Diagnostic::error(format!("weight `{}` must be integer", w.name)).with_loc(loc, "")),
        WeightData::Elided => Err(elided(w, loc)),
    }
}

fn as_ints(d: &Data) -> Vec<i32> {
    match d {
        Data::Spikes(v) => v.iter().map(|&x| x as i32).collect(),
        Data::I32(v) => v.clone(),
        Data::F32(v) => v.iter().map(|&x| x as i32).collect(),
    }
}

/// Executes one `phi` op (see `phi_dialect::ops::phi` and [`crate::phi`]).
fn run_phi<'t>(
    m: &Module,
    op: &PhiOp,
    operands: &[ValueId],
    get: &dyn Fn(ValueId) -> &'t Tensor,
    out_shape: Vec<usize>,
    loc: &phi_dialect::Location,
) -> DResult<Tensor> {
    let last = |t: &Tensor| *t.shape.last().expect("rank ≥ 2");
    let data = match op {
        PhiOp::Match(p) | PhiOp::Residual(p) => {
            let x = get(operands[0]);
            let spikes = x.as_spikes().expect("verified: phi.match reads spikes");
            let pats = ints(m, p.patterns, loc)?;
            let q = m.weights.get(p.patterns).ty.shape[1];
            let k_cols = last(x);
            let g = phi::Gemm { rows: spikes.len() / k_cols.max(1), k_cols, k: p.k as usize, q, n: 0 };
            match op {
                PhiOp::Match(_) => phi::match_rows(g, spikes, &pats),
                PhiOp::Residual(_) | PhiOp::L1Accumulate { .. } | PhiOp::L2Accumulate { .. } => {
                    let idx = as_ints(&get(operands[1]).data);
                    phi::residual(g, spikes, &idx, &pats)
                }
            }
        }
        PhiOp::L1Accumulate { pwp, bias } => {
            let idx = as_ints(&get(operands[0]).data);
            let pt = &m.weights.get(*pwp).ty;
            let (parts, q, n) = (pt.shape[0], pt.shape[1], pt.shape[2]);
            let table: Vec<i16> = ints(m, *pwp, loc)?.iter().map(|&v| v as i16).collect();
            let b = bias.map(|b| ints(m, b, loc)).transpose()?;
            let g = phi::Gemm { rows: idx.len() / parts.max(1), k_cols: parts, k: 1, q, n };
            phi::l1_accumulate(g, &idx, &table, b.as_deref())
        }
        PhiOp::L2Accumulate { weight } => {
            let r = as_ints(&get(operands[0]).data);
            let acc = as_ints(&get(operands[1]).data);
            let wt = &m.weights.get(*weight).ty;
            let (k_cols, n) = (wt.shape[0], wt.shape[1]);
            let w: Vec<i8> = ints(m, *weight, loc)?.iter().map(|&v| v as i8).collect();
            let g = phi::Gemm { rows: r.len() / k_cols.max(1), k_cols, k: 1, q: 0, n };
            phi::l2_accumulate(g, &r, &acc, &w)
        }
    };
    Ok(Tensor::new(out_shape, Data::I32(data)))
}

/// The f32 values of a weight (per-neuron coefficients; the verifier checked the type).
fn floats(m: &Module, id: WeightId, loc: &phi_dialect::Location) -> DResult<Vec<f32>> {
    let w = m.weights.get(id);
    match &w.data {
        WeightData::F32(v) => Ok(v.clone()),
        WeightData::Elided => Err(elided(w, loc)),
        WeightData::I1(_) | WeightData::I8(_) | WeightData::I16(_) | WeightData::I32(_) => {
            Err(Diagnostic::error(format!("per-neuron coefficient `{}` must be f32", w.name)).with_loc(loc, ""))
        }
    }
}

/// The scan of [`scan`] with one float neuron per feature (`neurons.len()` = features).
fn scan_per_neuron(x: &Data, n: usize, t: usize, neurons: &[FloatLif]) -> Vec<u8> {
    let f = neurons.len();
    let mut out = vec![0u8; x.len()];
    let Data::F32(cur) = x else { unreachable!("the verifier gives per-neuron float parameters an f32 current") };
    for s in 0..n {
        let mut v = vec![0f32; f];
        for step in 0..t {
            let base = (s * t + step) * f;
            for (j, p) in neurons.iter().enumerate() {
                out[base + j] = p.step(&mut v[j], cur[base + j]) as u8;
            }
        }
    }
    out
}

/// The leaky integrator over time: `v ← beta·v + x` per feature, returning every `v`.
fn integrate(x: &Data, n: usize, t: usize, betas: &[f32]) -> Vec<f32> {
    let f = betas.len();
    let Data::F32(cur) = x else { unreachable!("the verifier gives snn.li an f32 input") };
    let mut out = vec![0f32; cur.len()];
    for s in 0..n {
        let mut v = vec![0f32; f];
        for step in 0..t {
            let base = (s * t + step) * f;
            for j in 0..f {
                v[j] = betas[j] * v[j] + cur[base + j];
                out[base + j] = v[j];
            }
        }
    }
    out
}

/// The neuron scan over time: currents `[N, T, F…]` → spikes of the same shape.
fn scan(x: &Data, n: usize, t: usize, lif: Lif) -> Vec<u8> {
    let f = x.len() / (n * t).max(1);
    let mut out = vec![0u8; x.len()];
    match (lif, x) {
        (Lif::Float(p), Data::F32(cur)) => {
            for s in 0..n {
                let mut v = vec![0f32; f];
                for step in 0..t {
                    let base = (s * t + step) * f;
                    for j in 0..f {
                        out[base + j] = p.step(&mut v[j], cur[base + j]) as u8;
                    }
                }
            }
        }
        (Lif::Fixed(p), Data::I32(cur)) => {
            for s in 0..n {
                let mut v = vec![0i32; f];
                for step in 0..t {
                    let base = (s * t + step) * f;
                    for j in 0..f {
                        out[base + j] = p.step(&mut v[j], cur[base + j]) as u8;
                    }
                }
            }
        }
        (Lif::Float(_) | Lif::Fixed(_), Data::Spikes(_) | Data::I32(_) | Data::F32(_)) => {
            unreachable!("the verifier matches neuron parameters with current types")
        }
    }
    out
}
