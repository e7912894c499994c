//! The backend: `lower-isa` (integer `snn`/`phi` module → Phi ISA program) and emission.
//!
//! 1. **Layers.** Each GEMM of the module becomes a layer of the program's layer table: a
//!    split GEMM (`phi.match → phi.residual → phi.l1_accumulate → phi.l2_accumulate`) runs in
//!    Phi mode; an integer `snn.linear` runs bit-sparse (spike input) or dense (integer input,
//!    or `--target dense`). A neuron (`snn.lif`/`snn.if`) that is the GEMM's only user is fused
//!    into the layer; otherwise the layer outputs its i32 current.
//! 2. **DRAM.** Constants (weights and biases, PWP tables, patterns) go to the sections
//!    `.phi.weights`, `.phi.pwp`, `.phi.patterns` at fixed DRAM addresses; then the activation
//!    region: inputs, each layer's output (spikes packed as bits, or i32 currents) and
//!    membranes.
//! 3. **Tiles and buffers.** Per layer, rows are cut into tiles of at most `m` rows and
//!    columns into tiles of `n`; K is streamed in groups of partitions (Phi) or columns
//!    (baselines), K-first: for a group of row tiles whose partial sums fit the partial-sum
//!    buffer (the whole batch when it fits), each column tile streams K once for all of them.
//!    A sample longer than `m` rows (a convolution) is cut at time-step boundaries into parts
//!    sharing its membrane slots; layout ops between layers fold into gathers ([`layout`]).
//!    Tile sizes are the largest that fit the configured buffers: the loaded regions
//!    (spikes, patterns, weights) are double-buffered, the PWP buffer alternates between column
//!    tiles, bias and membranes alternate between layers. A layer that cannot fit is an error
//!    naming the buffer.
//! 4. **Instructions** are emitted per tile with dependency tokens ([`emit`]), so that loads of
//!    the next group overlap the current computation and stores overlap the next tile.

pub mod emit;
pub mod layout;

use std::collections::HashMap;

use phi_dialect::hw::HwConfig;
use phi_dialect::ir::{Module, OpId, ValueId};
use phi_dialect::isa::{Buffer, Dma, Inst, LINE};
use phi_dialect::ops::phi::PhiOp;
use phi_dialect::ops::snn::{Linear, NeuronParams, Reset};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::program::{
    FORMAT_VERSION, InputKind, InputMap, LayerDesc, LayerInput, LayerMode, Neuron, Port, Program, ProgramMeta, Region,
    Target,
};
use phi_dialect::weights::WeightId;
use phi_dialect::{DResult, Diagnostic, ElemType};

use emit::{Batch, Emitter, StoreId};

/// Backend options.
#[derive(Clone, Debug)]
pub struct Options {
    /// The accelerator.
    pub target: Target,
    /// Its configuration.
    pub hw: HwConfig,
    /// Samples per run of the program (`None`: as many as one column tile of partial sums holds
    /// for every layer, at most what the 16-bit row fields allow, at least 1; a larger batch
    /// runs row tiles in groups).
    pub batch: Option<u32>,
}

/// A GEMM found in the module, with everything the layer needs.
struct Gemm {
    name: String,
    x: ValueId,
    out: ValueId,
    weight: WeightId,
    bias: Option<WeightId>,
    patterns: Option<(WeightId, u32)>,
    pwp: Option<WeightId>,
    neuron: Option<Neuron>,
    /// Layout ops between the GEMM and its fused neuron (see [`layout`]).
    out_chain: Vec<OpId>,
    loc: phi_dialect::Location,
}

/// A tensor in DRAM.
#[derive(Clone, Copy, Debug)]
struct DramTensor {
    addr: u32,
    kind: InputKind,
    row_bytes: u32,
    /// Elements per stored row.
    cols: u32,
    /// Stored rows per time step.
    step_rows: u32,
}

fn err(loc: &phi_dialect::Location, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::error(msg).with_loc(loc, "")
}

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
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

/// Finds the GEMMs of a module, in program order.
fn gemms(m: &Module) -> DResult<Vec<Gemm>> {
    let mut out = Vec::new();
    let mut fused_neurons: Vec<ValueId> = Vec::new();
    let mut chain_ops: Vec<OpId> = Vec::new();
    for &op in m.body() {
        let data = m.op(op);
        let loc = &data.loc;
        match &data.kind {
            OpKind::Phi(PhiOp::L2Accumulate { weight }) => {
                let (r, acc) = (data.operands[0], data.operands[1]);
                let l1 = m.value(acc).def;
                let res = m.value(r).def;
                let (OpKind::Phi(PhiOp::L1Accumulate { pwp, bias }), OpKind::Phi(PhiOp::Residual(p))) =
                    (&m.op(l1).kind, &m.op(res).kind)
                else {
                    return Err(err(loc, "phi.l2_accumulate must read a phi.residual and a phi.l1_accumulate"));
                };
                let matched = m.value(m.op(l1).operands[0]).def;
                let OpKind::Phi(PhiOp::Match(mp)) = &m.op(matched).kind else {
                    return Err(err(loc, "phi.l1_accumulate must read a phi.match"));
                };
                if mp != p {
                    return Err(err(loc, "phi.match and phi.residual of one GEMM use different patterns"));
                }
                let x = m.op(matched).operands[0];
                chain_ops.extend([l1, res, matched]);
                let gemm_out = m.result(op);
                let neuron = neuron_of(m, gemm_out);
                if let Some((_, v, _)) = &neuron {
                    fused_neurons.push(*v);
                }
                out.push(Gemm {
                    name: m.weights.get(*weight).name.clone(),
                    x,
                    out: neuron.as_ref().map_or(gemm_out, |(_, v, _)| *v),
                    weight: *weight,
                    bias: *bias,
                    patterns: Some((p.patterns, p.k)),
                    pwp: Some(*pwp),
                    neuron: neuron.as_ref().map(|(n, _, _)| *n),
                    out_chain: neuron.map(|(_, _, c)| c).unwrap_or_default(),
                    loc: loc.clone(),
                });
            }
            OpKind::Snn(SnnOp::Linear(Linear { weight, bias })) => {
                if m.weights.get(*weight).ty.elem != ElemType::I8 {
                    return Err(err(loc, "the backend needs the integer model")
                        .with_help("run quantize first (the default pipeline does)"));
                }
                let gemm_out = m.result(op);
                let neuron = neuron_of(m, gemm_out);
                if let Some((_, v, _)) = &neuron {
                    fused_neurons.push(*v);
                }
                out.push(Gemm {
                    name: m.weights.get(*weight).name.clone(),
                    x: data.operands[0],
                    out: neuron.as_ref().map_or(gemm_out, |(_, v, _)| *v),
                    weight: *weight,
                    bias: *bias,
                    patterns: None,
                    pwp: None,
                    neuron: neuron.as_ref().map(|(n, _, _)| *n),
                    out_chain: neuron.map(|(_, _, c)| c).unwrap_or_default(),
                    loc: loc.clone(),
                });
            }
            OpKind::Phi(PhiOp::Match(_) | PhiOp::Residual(_) | PhiOp::L1Accumulate { .. })
            | OpKind::Snn(SnnOp::Input(_) | SnnOp::Output(_)) => {}
            OpKind::Snn(SnnOp::Lif(_) | SnnOp::If(_)) => {}
            // folded into addressing (see `layout`); a value no layer can read is reported
            // where it is used
            OpKind::Snn(SnnOp::Flatten | SnnOp::Reshape | SnnOp::Im2col(_) | SnnOp::Transpose { .. }) => {}
            OpKind::Snn(
                other @ (SnnOp::Constant { .. }
                | SnnOp::Conv2d(_)
                | SnnOp::SumPool(_)
                | SnnOp::AvgPool { .. }
                | SnnOp::Add
                | SnnOp::Mul
                | SnnOp::Li { .. }
                | SnnOp::Concat { .. }),
            ) => {
                return Err(err(loc, format!("the backend cannot lower `{}` yet", other.name())).with_help(
                    "the ISA backend lowers GEMM layers (linear, or convolutions after conv-to-gemm) with LIF/IF neurons and the layout ops between them",
                ));
            }
        }
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

/// Bytes of a buffer half, line-aligned.
fn half(size: u32) -> usize {
    (size as usize / 2) / LINE * LINE
}

fn lines(bytes: usize) -> usize {
    bytes.div_ceil(LINE)
}

/// The tiling of one layer.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Rows per tile.
    mr: usize,
    /// Columns per tile.
    nt: usize,
    /// Column tiles.
    ct: usize,
    /// Partitions per group (Phi) or columns per group (baselines).
    group: usize,
}

fn plan(l: &LayerDesc, hw: &HwConfig) -> Result<Plan, String> {
    let b = &hw.buffers;
    let nt = (hw.n as usize).min(l.n as usize).max(1);
    let ct = (l.n as usize).div_ceil(nt);
    let (k, q, parts) = (l.k as usize, l.q as usize, l.parts() as usize);
    let fits = |what: &str, need: usize, have: usize| {
        if need <= have { Ok(()) } else { Err(format!("{what} needs {need} bytes, the buffer has {have}")) }
    };
    fits("the bias of a layer (in a buffer half)", l.n as usize * 4, half(b.bias))?;
    // Row tiles are processed in groups whose partial sums (one column tile each, from a line
    // boundary) fit the partial-sum buffer together; at least one row tile must fit (below).
    // Row tiles hold whole samples when one fits a tile, so that a sample's time steps meet in
    // one tile and its membranes live only in the tile (scratch). A sample longer than a tile
    // (a convolution's T × positions rows) is cut at time-step boundaries into equal parts that
    // run in order: every part of a sample uses the same membrane slots (`p0` = the sample's
    // first), so the membranes carry over from one part to the next. Candidate row tiles, largest
    // first: whole samples (halving their count), then parts of t' steps (t' dividing T).
    let per = l.rows_per_sample.max(1) as usize;
    let positions = l.positions.max(1) as usize;
    let steps = (per / positions).max(1);
    let out_row = nt.div_ceil(8);
    if l.neuron.is_some() {
        fits("the membranes of one sample's positions", positions * nt * 4, b.memb as usize)?;
    }
    let mut candidates = Vec::new();
    let mut samples = (hw.m as usize / per).min(l.rows as usize / per).min(half(b.out) / (out_row * per));
    if l.neuron.is_some() {
        samples = samples.min(b.memb as usize / (positions * nt * 4));
    }
    while samples > 0 {
        candidates.push(samples * per);
        samples /= 2;
    }
    for t in (1..steps).rev().filter(|&t| steps.is_multiple_of(t)) {
        let rows = t * positions;
        if rows <= hw.m as usize && rows * out_row <= half(b.out) {
            candidates.push(rows);
        }
    }
    let Some(&first) = candidates.first() else {
        return Err(format!(
            "one time step of a sample ({positions} rows × {nt} columns) does not fit a row tile of m = {} rows and the output buffer",
            hw.m
        ));
    };
    let mut mr = first;
    // Phi: partitions per group that each buffer half allows, and the bytes one partition needs
    let phi_limits = |mr: usize| {
        [
            ("spk", half(b.spk), (mr * k / 8).max(1)),
            ("pat", half(b.pat), (q * 4).max(1)),
            ("pwp", half(b.pwp), (q * nt * 2).max(1)),
            ("wgt", half(b.wgt), k * nt),
            ("idx", half(b.idx), mr * 2),
            ("res", half(b.res), mr * 8),
        ]
    };
    loop {
        let group = match l.mode {
            LayerMode::Phi => {
                phi_limits(mr).iter().map(|&(_, have, need)| have / need).min().unwrap_or(0).min(parts).min(255)
            }
            LayerMode::BitSparse | LayerMode::Dense => {
                let per_row = match l.input.kind {
                    // whole bytes per row: a row of c columns takes ⌈c/8⌉ bytes
                    InputKind::Spikes => half(b.spk) / mr * 8,
                    InputKind::Int => half(b.act) / (mr * 4),
                };
                let cols = per_row.min(half(b.wgt) / nt).min(u16::MAX as usize);
                // a whole K, or a multiple of 8 columns so that every group starts on a byte
                if cols >= l.k_cols as usize { l.k_cols as usize } else { cols / 8 * 8 }
            }
        };
        let psum_fits = lines(mr * nt * 4) * LINE <= b.psum as usize;
        if group > 0 && psum_fits {
            return Ok(Plan { mr, nt, ct, group });
        }
        if let Some(&next) = candidates.iter().find(|&&c| c < mr) {
            mr = next;
            continue;
        }
        if !psum_fits {
            return Err(format!(
                "one row tile of partial sums ({mr} rows × {nt} columns) needs {} bytes, the buffer has {}",
                lines(mr * nt * 4) * LINE,
                b.psum
            ));
        }
        {
            return Err(match l.mode {
                LayerMode::Phi => {
                    let short: Vec<String> = phi_limits(mr)
                        .iter()
                        .filter(|&&(_, have, need)| have < need)
                        .map(|&(name, have, need)| {
                            format!("{name} needs {need} bytes per partition, its half has {have}")
                        })
                        .collect();
                    format!("one partition of {k} columns × {nt} outputs does not fit: {}", short.join("; "))
                }
                LayerMode::BitSparse | LayerMode::Dense => "one input column does not fit the buffers".to_string(),
            });
        }
    }
}

/// Lowers a verified integer module to a program.
pub fn lower(m: &Module, opts: &Options, sample: Option<Vec<u8>>) -> DResult<Program> {
    opts.hw.validate().map_err(|e| Diagnostic::error(format!("invalid hardware configuration: {e}")))?;
    let hw = &opts.hw;
    let found = gemms(m)?;
    if found.len() > 255 {
        return Err(Diagnostic::error(format!("{} layers; the ISA addresses at most 255", found.len())));
    }

    // ---- layouts: stored values (model inputs, layer outputs) and their step maps, and the
    // gather table of every layer whose input is reached through layout ops
    let mut stored: HashMap<ValueId, Option<Vec<u32>>> = HashMap::new();
    for &op in m.body() {
        if let OpKind::Snn(SnnOp::Input(_)) = m.op(op).kind {
            stored.insert(m.result(op), None);
        }
    }
    let step_elems = |v: ValueId| -> usize {
        let t = m.ty(v);
        t.num_elements() / t.shape[0].max(1)
    };
    let mut tables: Vec<Option<(ValueId, Vec<u32>)>> = Vec::new();
    for g in &found {
        let input = match stored.get(&g.x) {
            Some(None) => None,
            Some(Some(_)) | None => {
                let (src, chain) = layout::source_chain(m, g.x, &|v| stored.contains_key(&v)).ok_or_else(|| {
                    err(
                        &g.loc,
                        "the GEMM's input is neither a model input nor reached from a layer's output by layout ops",
                    )
                    .with_help("between layers the backend lowers im2col, transpose, reshape and flatten")
                })?;
                let ids = layout::eval(m, &chain, layout::ids(stored[&src].as_deref(), step_elems(src)));
                Some((src, layout::table(&ids)))
            }
        };
        tables.push(input);
        let map = match g.out_chain.first() {
            Some(&first) => {
                let gemm_value = m.op(first).operands[0];
                layout::step_map(&layout::eval(m, &g.out_chain, layout::ids(None, step_elems(gemm_value))))
            }
            None => None,
        };
        stored.insert(g.out, map);
    }

    // ---- constants
    let mut weights_sec: Vec<u8> = Vec::new();
    let mut pwp_sec: Vec<u8> = Vec::new();
    let mut pat_sec: Vec<u8> = Vec::new();
    struct Consts {
        w: usize,
        b: Option<usize>,
        pwp: Option<usize>,
        pat: Option<usize>,
        q: u32,
        k: u32,
        table: Option<usize>,
    }
    let push = |sec: &mut Vec<u8>, bytes: &[u8]| -> usize {
        let at = sec.len();
        sec.extend_from_slice(bytes);
        sec.resize(align(sec.len() as u64, LINE as u64) as usize, 0);
        at
    };
    let mut consts = Vec::new();
    for g in &found {
        let w = m.weights.get(g.weight);
        let wb: Vec<u8> = w
            .as_i8()
            .ok_or_else(|| err(&g.loc, format!("weight `{}` must be i8 and present", w.name)))?
            .iter()
            .map(|&x| x as u8)
            .collect();
        let wo = push(&mut weights_sec, &wb);
        let bo = match g.bias {
            Some(b) => {
                let bt = m.weights.get(b);
                let v = bt.as_i32().ok_or_else(|| err(&g.loc, format!("bias `{}` must be i32", bt.name)))?;
                Some(push(&mut weights_sec, &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()))
            }
            None => None,
        };
        let (po, pto, q, k) = match (g.pwp, g.patterns) {
            (Some(pw), Some((pt, k))) => {
                let table = match &m.weights.get(pw).data {
                    phi_dialect::weights::WeightData::I16(v) => {
                        v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()
                    }
                    phi_dialect::weights::WeightData::I1(_)
                    | phi_dialect::weights::WeightData::I8(_)
                    | phi_dialect::weights::WeightData::I32(_)
                    | phi_dialect::weights::WeightData::F32(_)
                    | phi_dialect::weights::WeightData::Elided => {
                        return Err(err(&g.loc, "the PWP table must be present i16 data"));
                    }
                };
                let pats = m.weights.get(pt);
                let pv = pats.as_i32().ok_or_else(|| err(&g.loc, "patterns must be i32"))?;
                let q = pats.ty.shape[1] as u32;
                (
                    Some(push(&mut pwp_sec, &table)),
                    Some(push(&mut pat_sec, &pv.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>())),
                    q,
                    k,
                )
            }
            (_, _) => (None, None, 0, hw.k),
        };
        let table = tables[consts.len()]
            .as_ref()
            .map(|(_, t)| push(&mut weights_sec, &t.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()));
        consts.push(Consts { w: wo, b: bo, pwp: po, pat: pto, q, k, table });
    }
    let base = 0x1000u64;
    let w_base = base;
    let pwp_base = align(w_base + weights_sec.len() as u64, 4096);
    let pat_base = align(pwp_base + pwp_sec.len() as u64, 4096);
    let mut next = align(pat_base + pat_sec.len() as u64, 4096);
    let activations = next;
    let mut alloc = |bytes: u64| -> u64 {
        let at = next;
        next = align(next + bytes.max(1), LINE as u64);
        at
    };

    // ---- batch: as many samples as one column tile of partial sums holds
    let max_per_sample = found
        .iter()
        .map(|g| {
            let t = m.ty(g.x);
            t.num_elements() / *t.shape.last().expect("rank ≥ 2")
        })
        .max()
        .unwrap_or(1)
        .max(1);
    // Auto: as many samples as one column tile of partial sums holds for every layer (a row
    // tile starts on a line: at most LINE − 4 bytes of padding per tile; a tile holds at least
    // one sample, or — a sample longer than m rows — at least one time step of it). A larger
    // `--batch` is fine: row tiles then run in groups that fit the buffer, each group loading
    // the layer's weights (and PWP rows) again; a smaller one pads fewer samples.
    let auto = found
        .iter()
        .map(|g| {
            let t = m.ty(g.x);
            let per = t.num_elements() / *t.shape.last().expect("rank ≥ 2");
            let tiles = if per > hw.m as usize { t.shape[0].max(1) } else { 1 };
            let n = m.weights.get(g.weight).ty.shape[1].min(hw.n as usize).max(1);
            hw.buffers.psum as usize / (n * 4 * per.max(1) + (LINE - 4) * tiles)
        })
        .min()
        .unwrap_or(1)
        .clamp(1, (u16::MAX as usize / max_per_sample).max(1));
    let batch = match opts.batch {
        Some(b) if b >= 1 => b as usize,
        Some(_) | None => auto,
    };

    // ---- tensors and ports
    let mut tensors: HashMap<ValueId, DramTensor> = HashMap::new();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut time_steps = 0u32;
    for &op in m.body() {
        if let OpKind::Snn(SnnOp::Input(p)) = &m.op(op).kind {
            let v = m.result(op);
            let ty = m.ty(v);
            time_steps = ty.shape[0] as u32;
            let width = *ty.shape.last().expect("rank ≥ 2");
            let rows = ty.num_elements() / width;
            let (kind, elem, row_bytes) = match ty.elem {
                ElemType::I1 => (InputKind::Spikes, "i1", width.div_ceil(8)),
                ElemType::I8 | ElemType::I16 | ElemType::I32 => (InputKind::Int, "i32", width * 4),
                ElemType::F32 => {
                    return Err(err(&m.op(op).loc, format!("input `{}` is f32", p.name))
                        .with_help("the accelerator takes spikes or integers: quantise the model"));
                }
            };
            let addr = alloc((batch * rows * row_bytes) as u64);
            let step_rows = (ty.num_elements() / ty.shape[0].max(1) / width.max(1)) as u32;
            tensors.insert(
                v,
                DramTensor { addr: addr as u32, kind, row_bytes: row_bytes as u32, cols: width as u32, step_rows },
            );
            inputs.push((
                p.index,
                Port {
                    name: p.name.clone(),
                    shape: ty.shape.clone(),
                    elem: elem.into(),
                    dram: addr as u32,
                    row_bytes: row_bytes as u32,
                    scale: crate::passes::calibrate::input_scale(m, op),
                },
            ));
        }
    }
    inputs.sort_by_key(|(i, _)| *i);

    // ---- layers
    let mut layers = Vec::new();
    for ((g, c), table) in found.iter().zip(&consts).zip(&tables) {
        let src = table.as_ref().map_or(g.x, |(src, _)| *src);
        let x = *tensors.get(&src).ok_or_else(|| {
            err(&g.loc, "the GEMM's input is neither a model input nor the output of an earlier GEMM layer")
        })?;
        let xt = m.ty(g.x);
        let k_cols = *xt.shape.last().expect("rank ≥ 2") as u32;
        let per_sample = (xt.num_elements() / k_cols as usize) as u32;
        let positions = per_sample / xt.shape[0].max(1) as u32;
        let rows = u32::try_from(batch as u64 * per_sample as u64).ok().filter(|&r| r <= u16::MAX as u32).ok_or_else(
            || err(&g.loc, format!("{batch} samples × {per_sample} rows exceed the 16-bit row fields; lower --batch")),
        )?;
        let n = m.weights.get(g.weight).ty.shape[1] as u32;
        let mode = match (opts.target, x.kind, g.patterns.is_some()) {
            (_, InputKind::Int, _) | (Target::Dense, _, _) => LayerMode::Dense,
            (Target::Phi, InputKind::Spikes, true) => LayerMode::Phi,
            (Target::Phi | Target::BitSparse, InputKind::Spikes, _) => LayerMode::BitSparse,
        };
        let (out_kind, out_row_bytes) = match g.neuron {
            Some(_) => (InputKind::Spikes, n.div_ceil(8)),
            None => (InputKind::Int, n * 4),
        };
        let output = alloc(rows as u64 * out_row_bytes as u64) as u32;
        let membrane = alloc(batch as u64 * positions as u64 * n as u64 * 4) as u32;
        tensors.insert(
            g.out,
            DramTensor { addr: output, kind: out_kind, row_bytes: out_row_bytes, cols: n, step_rows: positions },
        );
        let map = match c.table {
            Some(off) => InputMap::Table {
                table: (w_base as usize + off) as u32,
                steps: xt.shape[0] as u32,
                src_rows: x.step_rows,
                src_cols: x.cols,
            },
            None => InputMap::Rows,
        };
        let desc = LayerDesc {
            name: g.name.clone(),
            rows,
            rows_per_sample: per_sample,
            positions,
            k_cols,
            n,
            k: c.k,
            q: if mode == LayerMode::Phi { c.q } else { 0 },
            mode,
            input: LayerInput { kind: x.kind, dram: x.addr, row_bytes: x.row_bytes, map },
            weights: (w_base as usize + c.w) as u32,
            bias: c.b.map(|b| (w_base as usize + b) as u32),
            patterns: c.pat.filter(|_| mode == LayerMode::Phi).map(|p| (pat_base as usize + p) as u32),
            pwp: c.pwp.filter(|_| mode == LayerMode::Phi).map(|p| (pwp_base as usize + p) as u32),
            neuron: g.neuron,
            output,
            membrane,
        };
        layers.push(desc);
    }
    for &op in m.body() {
        if let OpKind::Snn(SnnOp::Output(p)) = &m.op(op).kind {
            let v = m.op(op).operands[0];
            let t = tensors.get(&v).ok_or_else(|| {
                err(&m.op(op).loc, format!("output `{}` is not computed by a layer the backend lowers", p.name))
            })?;
            if stored.get(&v).is_some_and(Option::is_some) {
                return Err(err(
                    &m.op(op).loc,
                    format!("output `{}` is a feature map stored in the GEMM's row layout", p.name),
                )
                .with_help("flatten it into a linear layer, or output the currents of a layer without layout ops"));
            }
            let ty = m.ty(v);
            let elem = match t.kind {
                InputKind::Spikes => "i1",
                InputKind::Int => "i32",
            };
            outputs.push((
                p.index,
                Port {
                    name: p.name.clone(),
                    shape: ty.shape.clone(),
                    elem: elem.into(),
                    dram: t.addr,
                    row_bytes: t.row_bytes,
                    scale: None,
                },
            ));
        }
    }
    outputs.sort_by_key(|(i, _)| *i);
    let dram_bytes = align(next, 4096);
    if dram_bytes > u32::MAX as u64 {
        return Err(Diagnostic::error(format!("the program needs {dram_bytes} bytes of DRAM; addresses are 32-bit")));
    }

    // ---- instructions
    let mut e = Emitter::new();
    let mut state = EmitState::default();
    for (li, (l, g)) in layers.iter().zip(&found).enumerate() {
        let p = plan(l, hw)
            .map_err(|msg| err(&g.loc, format!("layer `{}` does not fit the accelerator: {msg}", l.name)))?;
        emit_layer(&mut e, &mut state, li as u8, l, p, hw).map_err(|msg| err(&g.loc, msg))?;
    }
    let code = e.halt();
    for (i, inst) in code.iter().enumerate() {
        inst.validate().map_err(|msg| Diagnostic::error(format!("internal error: instruction {i}: {msg}")))?;
    }

    let regions = vec![
        Region { section: ".phi.weights".into(), dram: w_base as u32, bytes: weights_sec.len() as u32 },
        Region { section: ".phi.pwp".into(), dram: pwp_base as u32, bytes: pwp_sec.len() as u32 },
        Region { section: ".phi.patterns".into(), dram: pat_base as u32, bytes: pat_sec.len() as u32 },
    ];
    let meta = ProgramMeta {
        format_version: FORMAT_VERSION,
        model: m.name.clone(),
        target: opts.target,
        time_steps,
        batch: batch as u32,
        inputs: inputs.into_iter().map(|(_, p)| p).collect(),
        outputs: outputs.into_iter().map(|(_, p)| p).collect(),
        layers,
        regions,
        activations: activations as u32,
        dram_bytes: dram_bytes as u32,
        hw: hw.clone(),
    };
    Ok(Program {
        meta,
        code,
        sections: vec![
            (".phi.weights".into(), weights_sec),
            (".phi.pwp".into(), pwp_sec),
            (".phi.patterns".into(), pat_sec),
        ],
        sample,
    })
}

/// A region of a buffer: `(buffer, first byte, bytes)`.
type Area = (Buffer, usize, usize);

/// Which batch last wrote each loaded region, across layers, and pending stores.
#[derive(Default)]
struct EmitState {
    /// Regions written by load batches, most recent last.
    owner: Vec<(Area, Batch)>,
    /// Round-robin counters of the rings.
    turn: HashMap<Buffer, usize>,
    /// Last store of each output half.
    out_store: [Option<StoreId>; 2],
    outputs: usize,
    /// Pending stores of partial-sum tiles (by row tile), for layers that output currents.
    psum_store: HashMap<usize, StoreId>,
}

/// A ring of equal slots in a buffer: as many slots of `need` bytes as fit, up to four (deeper
/// prefetch hides more DRAM latency), at least one.
fn ring(size: u32, need: usize) -> (usize, usize) {
    let slot = lines(need.max(1)) * LINE;
    let slots = (size as usize / slot).clamp(1, 4);
    (slots, slot)
}

impl EmitState {
    /// The next slot of a ring in buffer `b`: its byte offset.
    fn next_slot(&mut self, b: Buffer, (slots, slot): (usize, usize)) -> usize {
        let t = self.turn.entry(b).or_insert(0);
        let i = *t % slots;
        *t += 1;
        i * slot
    }

    /// The batches that last wrote anything overlapping `regions`.
    fn writes(&self, regions: &[Area]) -> Vec<Batch> {
        self.owner
            .iter()
            .filter(|((b, at, len), _)| {
                regions.iter().any(|(rb, rat, rlen)| rb == b && at < &(rat + rlen) && rat < &(at + len))
            })
            .map(|(_, id)| *id)
            .collect()
    }

    /// Records that batch `id` wrote `regions` (forgetting regions it covers entirely).
    fn own(&mut self, regions: &[Area], id: Batch) {
        self.owner.retain(|((b, at, len), _)| {
            !regions.iter().any(|(rb, rat, rlen)| rb == b && rat <= at && at + len <= rat + rlen)
        });
        for r in regions {
            self.owner.push((*r, id));
        }
    }
}

fn u16_of(v: usize, what: &str) -> Result<u16, String> {
    u16::try_from(v).map_err(|_| format!("{what} = {v} does not fit the 16-bit instruction field"))
}

fn line_of(bytes: usize, what: &str) -> Result<u16, String> {
    u16_of(bytes / LINE, what)
}

fn dma(buf: Buffer, sram_bytes: usize, dram: u32, rows: usize, row_bytes: usize, stride: usize) -> Result<Dma, String> {
    Ok(Dma {
        buf,
        sram: line_of(sram_bytes, "SRAM offset")?,
        dram,
        rows: u16_of(rows, "DMA rows")?,
        row_bytes: u16_of(row_bytes, "DMA row bytes")?,
        stride: if stride < 1 << 24 {
            stride as u32
        } else {
            return Err(format!("DMA stride {stride} exceeds 24 bits"));
        },
    })
}

fn emit_layer(
    e: &mut Emitter,
    st: &mut EmitState,
    li: u8,
    l: &LayerDesc,
    p: Plan,
    hw: &HwConfig,
) -> Result<(), String> {
    let b = &hw.buffers;
    let parity = li as usize % 2;
    let (nt, ct, mr) = (p.nt, p.ct, p.mr);
    let (k, q) = (l.k as usize, l.q as usize);
    let deps = phi_dialect::isa::Deps::default();
    let per = l.rows_per_sample.max(1) as usize;
    let slots = l.positions.max(1) as usize;

    // Prologue: the bias of this layer, in the bias half of its parity.
    let bias_at = parity * half(b.bias);
    let prologue = match l.bias {
        Some(addr) => {
            let region = [(Buffer::Bias, bias_at, l.n as usize * 4)];
            let over = st.writes(&region);
            let id = e.load_batch(
                vec![Inst::Load { deps, dma: dma(Buffer::Bias, bias_at, addr, 1, l.n as usize * 4, 0)? }],
                &over,
            );
            st.own(&region, id);
            Some(id)
        }
        None => None,
    };
    if let Some(pro) = prologue {
        e.acquire(pro);
    }

    let all_row_tiles: Vec<(usize, usize)> =
        (0..l.rows as usize).step_by(mr).map(|r0| (r0, mr.min(l.rows as usize - r0))).collect();
    let psum_tile = lines(mr * nt * 4) * LINE;
    // consecutive row tiles whose partial sums (one column tile each; every tile but the last
    // of a group padded to a line) fit the buffer together
    let mut row_groups: Vec<&[(usize, usize)]> = Vec::new();
    let mut start = 0;
    while start < all_row_tiles.len() {
        let mut end = start + 1;
        while end < all_row_tiles.len() && (end - start) * psum_tile + all_row_tiles[end].1 * nt * 4 <= b.psum as usize
        {
            end += 1;
        }
        row_groups.push(&all_row_tiles[start..end]);
        start = end;
    }
    // K groups: (first column, columns, first partition, partitions)
    let groups: Vec<(usize, usize, usize, usize)> = match l.mode {
        LayerMode::Phi => {
            let parts = l.parts() as usize;
            (0..parts)
                .step_by(p.group)
                .map(|p0| {
                    let gp = p.group.min(parts - p0);
                    (p0 * k, (gp * k).min(l.k_cols as usize - p0 * k), p0, gp)
                })
                .collect()
        }
        LayerMode::BitSparse | LayerMode::Dense => {
            (0..l.k_cols as usize).step_by(p.group).map(|k0| (k0, p.group.min(l.k_cols as usize - k0), 0, 0)).collect()
        }
    };
    // rings of the loaded regions, sized for this layer's largest tile
    let (in_buf, in_size, in_row) = match (l.mode, l.input.kind) {
        (LayerMode::Phi, _) => (Buffer::Spk, b.spk, p.group * k / 8),
        (LayerMode::BitSparse | LayerMode::Dense, InputKind::Spikes) => (Buffer::Spk, b.spk, p.group.div_ceil(8)),
        (LayerMode::BitSparse | LayerMode::Dense, InputKind::Int) => (Buffer::Act, b.act, p.group * 4),
    };
    let in_ring = ring(in_size, mr * in_row);
    let w_rows = match l.mode {
        LayerMode::Phi => p.group * k,
        LayerMode::BitSparse | LayerMode::Dense => p.group,
    };
    let w_ring = ring(b.wgt, w_rows * nt).0.min(ring(b.pat, p.group * q * 4).0.max(1));
    let idx_ring = ring(b.idx, mr * p.group * 2);
    let res_ring = ring(b.res, mr * p.group * 8);
    let w_slot = (lines(w_rows * nt) * LINE, lines(p.group * q * 4) * LINE);

    for row_tiles in row_groups {
        for c in 0..ct {
            let col0 = c * nt;
            let cols = nt.min(l.n as usize - col0);
            // partial sums of every row tile of the batch for this column tile
            for (ri, &(_, rows)) in row_tiles.iter().enumerate() {
                if let Some(s) = st.psum_store.remove(&ri) {
                    e.wait_store(s);
                }
                e.compute(Inst::PsumInit {
                    deps,
                    layer: li,
                    rows: u16_of(rows, "rows")?,
                    cols: cols as u16,
                    bias: line_of(bias_at + col0 * 4, "BIAS offset")?,
                    psum: line_of(ri * psum_tile, "PSUM offset")?,
                });
            }
            for &(k0, kcols, part0, gp) in &groups {
                // weights (and patterns) of this group and column tile: loaded once for the batch
                let wi = st.next_slot(Buffer::Wgt, (w_ring, 1));
                let (wgt_at, pat_at) = (wi * w_slot.0, wi * w_slot.1);
                let mut loads = vec![Inst::Load {
                    deps,
                    dma: dma(
                        Buffer::Wgt,
                        wgt_at,
                        l.weights + (k0 * l.n as usize + col0) as u32,
                        kcols,
                        cols,
                        l.n as usize,
                    )?,
                }];
                let mut regions = vec![(Buffer::Wgt, wgt_at, w_slot.0)];
                if l.mode == LayerMode::Phi {
                    loads.push(Inst::Load {
                        deps,
                        dma: dma(
                            Buffer::Pat,
                            pat_at,
                            l.patterns.ok_or("Phi layer without patterns")? + (part0 * q * 4) as u32,
                            1,
                            gp * q * 4,
                            0,
                        )?,
                    });
                    regions.push((Buffer::Pat, pat_at, w_slot.1));
                }
                let over = st.writes(&regions);
                let wb = e.load_batch(loads, &over);
                st.own(&regions, wb);
                let wgt = line_of(wgt_at, "WGT offset")?;

                // the PWP rows of this (group, column tile) accumulate in one PWP half across row tiles
                let ph = st.next_slot(Buffer::Pwp, (2, half(b.pwp)));
                let pwp_region = [(Buffer::Pwp, ph, half(b.pwp))];
                let pwp_owner = st.writes(&pwp_region);
                let pwp = line_of(ph, "PWP offset")?;
                let mut last_pf = None;

                // the input tiles, gathered one row tile ahead (prefetch)
                let gather =
                    |st: &mut EmitState, e: &mut Emitter, r0: usize, rows: usize| -> Result<(Batch, u16), String> {
                        let at = st.next_slot(in_buf, in_ring);
                        let region = [(in_buf, at, in_ring.1)];
                        let over = st.writes(&region);
                        let row_bytes = match l.mode {
                            LayerMode::Phi => gp * k / 8,
                            LayerMode::BitSparse | LayerMode::Dense => match l.input.kind {
                                InputKind::Spikes => kcols.div_ceil(8),
                                InputKind::Int => kcols * 4,
                            },
                        };
                        let a = e.load_batch(
                            vec![Inst::Gather {
                                deps,
                                layer: li,
                                row0: u16_of(r0, "row")?,
                                rows: u16_of(rows, "rows")?,
                                k0: u16_of(k0, "column")?,
                                kcols: u16_of(kcols, "columns")?,
                                sram: line_of(at, "input offset")?,
                                row_bytes: u16_of(row_bytes, "row bytes")?,
                            }],
                            &over,
                        );
                        st.own(&region, a);
                        Ok((a, line_of(at, "input offset")?))
                    };
                // input tiles are gathered ahead, as deep as the input ring allows
                let ahead = in_ring.0.saturating_sub(1).max(1);
                let mut gathered = std::collections::VecDeque::new();
                for &(r1, rows1) in row_tiles.iter().take(ahead) {
                    gathered.push_back(gather(st, e, r1, rows1)?);
                }
                // Phi: software-pipelined — the match (and PWP prefetch) of row tile r runs before the
                // Level-1/Level-2 work of row tiles r−d … (d as deep as the index/residual rings allow),
                // so matcher, prefetch and adders overlap.
                let depth = idx_ring.0.min(res_ring.0).saturating_sub(1);
                let mut pending: std::collections::VecDeque<(u16, u16, u16, Batch, u16)> =
                    std::collections::VecDeque::new();
                for (ri, &(_, rows)) in row_tiles.iter().enumerate() {
                    let (a, src) = gathered.pop_front().expect("gathered ahead");
                    if let Some(&(r1, rows1)) = row_tiles.get(ri + ahead) {
                        gathered.push_back(gather(st, e, r1, rows1)?);
                    }
                    let psum = line_of(ri * psum_tile, "PSUM offset")?;
                    let rows16 = u16_of(rows, "rows")?;
                    match l.mode {
                        LayerMode::Phi => {
                            let slot = st.next_slot(Buffer::Idx, (idx_ring.0.min(res_ring.0), 1));
                            let idx = line_of(slot * idx_ring.1, "IDX offset")?;
                            let res = line_of(slot * res_ring.1, "RES offset")?;
                            e.acquire(wb);
                            e.acquire(a);
                            e.compute(Inst::Match {
                                deps,
                                layer: li,
                                rows: rows16,
                                part0: u16_of(part0, "partition")?,
                                parts: gp as u8,
                                spk: src,
                                pat: line_of(pat_at, "PAT offset")?,
                                idx,
                                res,
                            });
                            e.release(a);
                            // the prefetch waits for this match (through A's release) and, the
                            // first time, for the previous user of the PWP half
                            let mut over = vec![a];
                            if ri == 0 {
                                over.extend(pwp_owner.iter().copied());
                            }
                            let pf = e.load_batch(
                                vec![Inst::PwpFetch {
                                    deps,
                                    layer: li,
                                    rows: rows16,
                                    part0: u16_of(part0, "partition")?,
                                    parts: gp as u8,
                                    col0: u16_of(col0, "column")?,
                                    cols: cols as u16,
                                    idx,
                                    pwp,
                                }],
                                &over,
                            );
                            pending.push_back((rows16, idx, res, pf, psum));
                            while pending.len() > depth {
                                let (prows, pidx, pres, ppf, ppsum) = pending.pop_front().expect("pending");
                                level_ops(e, li, prows, pidx, pres, ppf, ppsum, part0, gp, cols, pwp, wgt)?;
                                last_pf = Some(ppf);
                            }
                        }
                        LayerMode::BitSparse | LayerMode::Dense => {
                            e.acquire(wb);
                            e.acquire(a);
                            let kc = u16_of(kcols, "columns")?;
                            e.compute(match l.mode {
                                LayerMode::BitSparse => Inst::BsAcc {
                                    deps,
                                    layer: li,
                                    rows: rows16,
                                    kcols: kc,
                                    cols: cols as u16,
                                    spk: src,
                                    wgt,
                                    psum,
                                },
                                LayerMode::Dense | LayerMode::Phi => Inst::DenseMac {
                                    deps,
                                    layer: li,
                                    rows: rows16,
                                    kcols: kc,
                                    cols: cols as u16,
                                    src,
                                    wgt,
                                    psum,
                                },
                            });
                            e.release(a);
                        }
                    }
                }
                while let Some((prows, pidx, pres, ppf, ppsum)) = pending.pop_front() {
                    level_ops(e, li, prows, pidx, pres, ppf, ppsum, part0, gp, cols, pwp, wgt)?;
                    last_pf = Some(ppf);
                }
                e.release(wb);
                if let Some(pf) = last_pf {
                    st.own(&pwp_region, pf);
                }
            }
            // neuron (or current) and store, per row tile
            for (ri, &(r0, rows)) in row_tiles.iter().enumerate() {
                let psum = line_of(ri * psum_tile, "PSUM offset")?;
                match l.neuron {
                    Some(_) => {
                        let hidx = st.outputs % 2;
                        st.outputs += 1;
                        if let Some(s) = st.out_store[hidx] {
                            e.wait_store(s);
                        }
                        let out_at = hidx * half(b.out);
                        e.compute(Inst::Lif {
                            deps,
                            layer: li,
                            row0: u16_of(r0, "row")?,
                            rows: u16_of(rows, "rows")?,
                            p0: u16_of(r0 / per * slots, "membrane slot")?,
                            cols: cols as u16,
                            psum,
                            memb: 0,
                            out: line_of(out_at, "OUT offset")?,
                        });
                        let ob = l.n.div_ceil(8) as usize;
                        let s = e.store(dma(
                            Buffer::Out,
                            out_at,
                            l.output + (r0 * ob + col0 / 8) as u32,
                            rows,
                            cols.div_ceil(8),
                            ob,
                        )?);
                        st.out_store[hidx] = Some(s);
                    }
                    None => {
                        let s = e.store(dma(
                            Buffer::Psum,
                            ri * psum_tile,
                            l.output + ((r0 * l.n as usize + col0) * 4) as u32,
                            rows,
                            cols * 4,
                            l.n as usize * 4,
                        )?);
                        // the next column tile re-initialises this partial-sum tile after the store
                        st.psum_store.insert(ri, s);
                    }
                }
            }
        }
    }
    // later layers reuse the partial sums: their initialisations wait for pending stores
    for (_, s) in std::mem::take(&mut st.psum_store) {
        e.wait_store(s);
    }
    if let Some(pro) = prologue {
        e.release(pro);
    }
    Ok(())
}

/// Level 1 then Level 2 of one Phi row tile (the prefetched PWP rows are acquired first).
#[allow(clippy::too_many_arguments)]
fn level_ops(
    e: &mut Emitter,
    li: u8,
    rows: u16,
    idx: u16,
    res: u16,
    pf: Batch,
    psum: u16,
    part0: usize,
    gp: usize,
    cols: usize,
    pwp: u16,
    wgt: u16,
) -> Result<(), String> {
    let deps = phi_dialect::isa::Deps::default();
    e.acquire(pf);
    e.compute(Inst::L1Acc { deps, layer: li, rows, parts: gp as u8, cols: cols as u16, idx, pwp, psum });
    e.release(pf);
    e.compute(Inst::L2Acc {
        deps,
        layer: li,
        rows,
        part0: u16_of(part0, "partition")?,
        parts: gp as u8,
        cols: cols as u16,
        res,
        wgt,
        psum,
    });
    Ok(())
}
