//! DRAM placement: the constant sections, the activation region, the ports and the layer table.
//!
//! Constants (weights and biases, gather tables, PWP tables, patterns) go to the sections
//! `.phi.weights`, `.phi.pwp` and `.phi.patterns` at fixed DRAM addresses from `0x1000`, each
//! 4 KiB-aligned and every item line-aligned; then the activation region: the inputs, each
//! layer's output (spikes packed as bits, or i32 currents) and its membranes, in program order,
//! each line-aligned and sized for the batch.

use std::collections::HashMap;

use phi_dialect::ir::{Module, ValueId};
use phi_dialect::isa::LINE;
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::phibin::{PATTERNS_SECTION, PWP_SECTION, WEIGHTS_SECTION};
use phi_dialect::program::{
    InputKind, InputMap, LayerDesc, LayerInput, LayerMode, Port, PortElem, Region, TableSource, TargetKind,
};
use phi_dialect::weights::WeightData;
use phi_dialect::{DResult, Diagnostic, ElemType, phi_attrs};

use super::Layouts;
use crate::analysis::layers::Gemm;

/// First DRAM address of the constants.
const BASE: u64 = 0x1000;

fn err(loc: &phi_dialect::Location, msg: impl Into<String>) -> Diagnostic {
    Diagnostic::error(msg).with_loc(loc, "")
}

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

fn le_bytes<const N: usize, T: Copy>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
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

/// Where one layer's constants are, as offsets into their sections.
struct Consts {
    w: usize,
    b: Option<usize>,
    pwp: Option<usize>,
    pat: Option<usize>,
    q: u32,
    k: u32,
    table: Option<usize>,
}

/// The DRAM map being built.
pub struct Dram {
    weights: Vec<u8>,
    pwp: Vec<u8>,
    patterns: Vec<u8>,
    consts: Vec<Consts>,
    pwp_base: u64,
    pat_base: u64,
    /// First byte of the activation region.
    pub activations: u64,
    next: u64,
    tensors: HashMap<ValueId, DramTensor>,
}

/// Appends `bytes` to a section, line-aligned; returns its offset.
fn push(sec: &mut Vec<u8>, bytes: &[u8]) -> usize {
    let at = sec.len();
    sec.extend_from_slice(bytes);
    sec.resize(align(sec.len() as u64, LINE as u64) as usize, 0);
    at
}

impl Dram {
    /// Places every layer's constants; `k` is the partition width of layers without patterns.
    pub fn place_constants(m: &Module, found: &[Gemm], layouts: &Layouts, k: u32) -> DResult<Dram> {
        let (mut weights, mut pwp, mut patterns) = (Vec::new(), Vec::new(), Vec::new());
        let mut consts = Vec::new();
        for (g, table) in found.iter().zip(&layouts.tables) {
            let w = m.weights.get(g.weight);
            let wb: Vec<u8> = w
                .as_i8()
                .ok_or_else(|| err(&g.loc, format!("weight `{}` must be i8 and present", w.name)))?
                .iter()
                .map(|&x| x as u8)
                .collect();
            let wo = push(&mut weights, &wb);
            let bo = match g.bias {
                Some(b) => {
                    let bt = m.weights.get(b);
                    let v = bt.as_i32().ok_or_else(|| err(&g.loc, format!("bias `{}` must be i32", bt.name)))?;
                    Some(push(&mut weights, &le_bytes(v, i32::to_le_bytes)))
                }
                None => None,
            };
            let (po, pto, q, k) = match (g.pwp, g.patterns) {
                (Some(pw), Some((pt, k))) => {
                    let table = match &m.weights.get(pw).data {
                        WeightData::I16(v) => le_bytes(v, i16::to_le_bytes),
                        WeightData::I1(_)
                        | WeightData::I8(_)
                        | WeightData::I32(_)
                        | WeightData::F32(_)
                        | WeightData::Elided => {
                            return Err(err(&g.loc, "the PWP table must be present i16 data"));
                        }
                    };
                    let pats = m.weights.get(pt);
                    let pv = pats.as_i32().ok_or_else(|| err(&g.loc, "patterns must be i32"))?;
                    let q = pats.ty.shape[1] as u32;
                    (Some(push(&mut pwp, &table)), Some(push(&mut patterns, &le_bytes(pv, i32::to_le_bytes))), q, k)
                }
                (_, _) => (None, None, 0, k),
            };
            let table = table.as_ref().map(|(_, t)| push(&mut weights, &le_bytes(t, u32::to_le_bytes)));
            consts.push(Consts { w: wo, b: bo, pwp: po, pat: pto, q, k, table });
        }
        let pwp_base = align(BASE + weights.len() as u64, 4096);
        let pat_base = align(pwp_base + pwp.len() as u64, 4096);
        let activations = align(pat_base + patterns.len() as u64, 4096);
        Ok(Dram {
            weights,
            pwp,
            patterns,
            consts,
            pwp_base,
            pat_base,
            activations,
            next: activations,
            tensors: HashMap::new(),
        })
    }

    /// Allocates `bytes` (at least one line) in the activation region.
    fn alloc(&mut self, bytes: u64) -> u64 {
        let at = self.next;
        self.next = align(self.next + bytes.max(1), LINE as u64);
        at
    }

    /// The model's inputs, in signature order, placed for `batch` samples; also the number of
    /// time steps.
    pub fn inputs(&mut self, m: &Module, batch: usize) -> DResult<(Vec<Port>, u32)> {
        let mut inputs = Vec::new();
        let mut time_steps = 0u32;
        for &op in m.body() {
            let OpKind::Snn(SnnOp::Input(p)) = &m.op(op).kind else { continue };
            let v = m.result(op);
            let ty = m.ty(v);
            time_steps = ty.shape[0] as u32;
            let width = *ty.shape.last().expect("rank ≥ 2");
            let rows = ty.num_elements() / width;
            let (kind, elem, row_bytes) = match ty.elem {
                ElemType::I1 => (InputKind::Spikes, PortElem::I1, width.div_ceil(8)),
                ElemType::I8 | ElemType::I16 | ElemType::I32 => (InputKind::Int, PortElem::I32, width * 4),
                ElemType::F32 => {
                    return Err(err(&m.op(op).loc, format!("input `{}` is f32", p.name))
                        .with_help("the accelerator takes spikes or integers: quantise the model"));
                }
            };
            let addr = self.alloc((batch * rows * row_bytes) as u64);
            let step_rows = (ty.num_elements() / ty.shape[0].max(1) / width.max(1)) as u32;
            self.tensors.insert(
                v,
                DramTensor { addr: addr as u32, kind, row_bytes: row_bytes as u32, cols: width as u32, step_rows },
            );
            inputs.push((
                p.index,
                Port {
                    name: p.name.clone(),
                    shape: ty.shape.clone(),
                    elem,
                    dram: addr as u32,
                    row_bytes: row_bytes as u32,
                    scale: phi_attrs::input_scale(m, op),
                },
            ));
        }
        inputs.sort_by_key(|(i, _)| *i);
        Ok((inputs.into_iter().map(|(_, p)| p).collect(), time_steps))
    }

    /// The layer table: each layer's input (through its gather table), constants, mode, and
    /// its output and membranes placed for `batch` samples.
    pub fn layers(
        &mut self,
        m: &Module,
        found: &[Gemm],
        layouts: &Layouts,
        kind: TargetKind,
        batch: usize,
    ) -> DResult<Vec<LayerDesc>> {
        let mut layers = Vec::new();
        for (i, (g, table)) in found.iter().zip(&layouts.tables).enumerate() {
            let srcs = table.as_ref().map_or_else(|| vec![g.x], |(srcs, _)| srcs.clone());
            let mut sources = Vec::with_capacity(srcs.len());
            for src in srcs {
                let x = *self.tensors.get(&src).ok_or_else(|| {
                    err(&g.loc, "the GEMM's input is neither a model input nor the output of an earlier GEMM layer")
                })?;
                sources.push(TableSource {
                    kind: x.kind,
                    dram: x.addr,
                    row_bytes: x.row_bytes,
                    rows: x.step_rows,
                    cols: x.cols,
                });
            }
            let x = sources[0];
            let xt = m.ty(g.x);
            let k_cols = g.k_cols(m) as u32;
            let per_sample = g.rows_per_sample(m) as u32;
            let positions = per_sample / xt.shape[0].max(1) as u32;
            let rows = u32::try_from(batch as u64 * per_sample as u64)
                .ok()
                .filter(|&r| r <= u16::MAX as u32)
                .ok_or_else(|| {
                    err(
                        &g.loc,
                        format!("{batch} samples × {per_sample} rows exceed the 16-bit row fields; lower --batch"),
                    )
                })?;
            let n = g.n(m) as u32;
            let mode = g.mode(m, kind);
            let (out_kind, out_row_bytes) = match g.neuron {
                Some(_) => (InputKind::Spikes, n.div_ceil(8)),
                None => (InputKind::Int, n * 4),
            };
            let output = self.alloc(rows as u64 * out_row_bytes as u64) as u32;
            let membrane = self.alloc(batch as u64 * positions as u64 * n as u64 * 4) as u32;
            self.tensors.insert(
                g.out,
                DramTensor { addr: output, kind: out_kind, row_bytes: out_row_bytes, cols: n, step_rows: positions },
            );
            let c = &self.consts[i];
            let map = match c.table {
                Some(off) => {
                    InputMap::Table { table: (BASE as usize + off) as u32, steps: xt.shape[0] as u32, sources }
                }
                None => InputMap::Rows,
            };
            layers.push(LayerDesc {
                name: g.name.clone(),
                rows,
                rows_per_sample: per_sample,
                positions,
                k_cols,
                n,
                k: c.k,
                q: if mode == LayerMode::Phi { c.q } else { 0 },
                mode,
                input: LayerInput { kind: g.input_kind(m), dram: x.dram, row_bytes: x.row_bytes, map },
                weights: (BASE as usize + c.w) as u32,
                bias: c.b.map(|b| (BASE as usize + b) as u32),
                patterns: c.pat.filter(|_| mode == LayerMode::Phi).map(|p| (self.pat_base as usize + p) as u32),
                pwp: c.pwp.filter(|_| mode == LayerMode::Phi).map(|p| (self.pwp_base as usize + p) as u32),
                neuron: g.neuron,
                output,
                membrane,
            });
        }
        Ok(layers)
    }

    /// The model's outputs, in signature order: each must be what a layer stores in row order.
    pub fn outputs(&self, m: &Module, layouts: &Layouts) -> DResult<Vec<Port>> {
        let mut outputs = Vec::new();
        for &op in m.body() {
            let OpKind::Snn(SnnOp::Output(p)) = &m.op(op).kind else { continue };
            let v = m.op(op).operands[0];
            let t = self.tensors.get(&v).ok_or_else(|| {
                err(&m.op(op).loc, format!("output `{}` is not computed by a layer the backend lowers", p.name))
            })?;
            if layouts.stored.get(&v).is_some_and(Option::is_some) {
                return Err(err(
                    &m.op(op).loc,
                    format!("output `{}` is a feature map stored in the GEMM's row layout", p.name),
                )
                .with_help("flatten it into a linear layer, or output the currents of a layer without layout ops"));
            }
            let elem = match t.kind {
                InputKind::Spikes => PortElem::I1,
                InputKind::Int => PortElem::I32,
            };
            outputs.push((
                p.index,
                Port {
                    name: p.name.clone(),
                    shape: m.ty(v).shape.clone(),
                    elem,
                    dram: t.addr,
                    row_bytes: t.row_bytes,
                    scale: None,
                },
            ));
        }
        outputs.sort_by_key(|(i, _)| *i);
        Ok(outputs.into_iter().map(|(_, p)| p).collect())
    }

    /// DRAM bytes in all, 4 KiB-aligned.
    pub fn bytes(&self) -> DResult<u32> {
        let total = align(self.next, 4096);
        u32::try_from(total)
            .map_err(|_| Diagnostic::error(format!("the program needs {total} bytes of DRAM; addresses are 32-bit")))
    }

    /// The constant regions and their sections, in DRAM order.
    pub fn sections(self) -> (Vec<Region>, Vec<(String, Vec<u8>)>) {
        let regions = vec![
            Region { section: WEIGHTS_SECTION.into(), dram: BASE as u32, bytes: self.weights.len() as u32 },
            Region { section: PWP_SECTION.into(), dram: self.pwp_base as u32, bytes: self.pwp.len() as u32 },
            Region { section: PATTERNS_SECTION.into(), dram: self.pat_base as u32, bytes: self.patterns.len() as u32 },
        ];
        let sections = vec![
            (WEIGHTS_SECTION.into(), self.weights),
            (PWP_SECTION.into(), self.pwp),
            (PATTERNS_SECTION.into(), self.patterns),
        ];
        (regions, sections)
    }
}
