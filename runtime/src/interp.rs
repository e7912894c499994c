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
use phi_dialect::ops::snn::{Conv2d, Linear, Pool};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::weights::{Weight, WeightData, WeightId};
use phi_dialect::{DResult, Diagnostic, ElemType, TensorType};

use crate::kernels::{self, Bias, Geometry, PoolKind, Weights};
use crate::neuron::Lif;
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
        let part: Vec<Tensor> = inputs.iter().map(|t| slice_samples(t, start, end)).collect();
        let outs = run_chunk(m, &ports, &part, end - start, opts, observe)?;
        if outputs.is_empty() {
            outputs = outs.into_iter().map(Some).collect();
        } else {
            for (acc, o) in outputs.iter_mut().zip(outs) {
                if let Some(a) = acc {
                    append_samples(a, o);
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
            OpKind::Snn(_) => {}
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
            OpKind::Snn(_) => String::new(),
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

fn slice_samples(t: &Tensor, start: usize, end: usize) -> Tensor {
    let per: usize = t.shape[1..].iter().product();
    let (a, b) = (start * per, end * per);
    let data = match &t.data {
        Data::Spikes(v) => Data::Spikes(v[a..b].to_vec()),
        Data::I32(v) => Data::I32(v[a..b].to_vec()),
        Data::F32(v) => Data::F32(v[a..b].to_vec()),
    };
    let mut shape = t.shape.clone();
    shape[0] = end - start;
    Tensor::new(shape, data)
}

fn append_samples(acc: &mut Tensor, more: Tensor) {
    acc.shape[0] += more.shape[0];
    match (&mut acc.data, more.data) {
        (Data::Spikes(a), Data::Spikes(b)) => a.extend(b),
        (Data::I32(a), Data::I32(b)) => a.extend(b),
        (Data::F32(a), Data::F32(b)) => a.extend(b),
        (Data::Spikes(_) | Data::I32(_) | Data::F32(_), _) => unreachable!("chunks of one output share a type"),
    }
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
                    let (k, nout) = (x.shape[2], ty.shape[1]);
                    let rows = x.shape[0] * x.shape[1];
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
                    let lif = Lif::from_params(neuron.params, neuron.reset);
                    Some(Tensor::new(x.shape.clone(), Data::Spikes(scan(&x.data, x.shape[0], x.shape[1], lif))))
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
            },
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
