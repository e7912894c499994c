//! `phi-emu`: the instruction-level emulator of the Phi accelerator.
//!
//! - [`machine`]: the functional core — DRAM, buffers, one exhaustive [`machine::Machine::step`]
//!   with bounds checks (a bad program traps, it never panics);
//! - [`timing`]: cycles per instruction from the work it did, overlap of the load, compute and
//!   store queues through dependency tokens;
//! - [`energy`]: picojoules from DRAM traffic, SRAM accesses, operations and static power;
//! - [`report`]: the summary, `--stats` JSON, `--trace` timeline and baseline comparison;
//! - [`check`]: the checks of a program's metadata before anything is allocated by it;
//! - [`cli`]: the `phi-emu` command line.
//!
//! [`run`] executes a program on `N` samples, `batch` samples per run of the code (the program's
//! batch; the last run is padded with zero samples whose outputs are dropped), one run after
//! another on the accelerator, and reports outputs, cycles, energy and operation counts per
//! layer. Runs are independent, so the host emulates them in parallel; results do not depend on
//! the number of threads.

pub mod check;
pub mod cli;
pub mod energy;
pub mod machine;
pub mod report;
pub mod timing;

use std::fmt;

use phi_dialect::isa::Inst;
use phi_dialect::program::{InputKind, LayerMode, PortElem, Program, ProgramMeta, TargetKind};
use rayon::prelude::*;
use serde::Serialize;

pub use check::CheckError;
pub use machine::{DramFault, Machine, Reusable, Trap, TrapKind, Work};
pub use timing::Deadlock;

use crate::tensor::{Data, Tensor};

/// Operation counts, each a row accumulation counted per output element (so that
/// `bit_sparse / phi` is the operation reduction of Phi over bit sparsity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ops {
    /// `rows · K · N`: every weight multiplied.
    pub dense: u64,
    /// `spikes · N`: every input spike adds a weight row.
    pub bit_sparse: u64,
    /// Level-1 PWP row additions × columns.
    pub l1: u64,
    /// Level-2 ±1 weight row additions × columns.
    pub l2: u64,
    /// What the Phi accelerator does: `l1 + l2`, plus, in a Phi program, the dense
    /// multiply-accumulates (`dense`) of layers it runs on the dense path (non-binary inputs).
    pub phi: u64,
}

impl Ops {
    fn add(&mut self, o: &Ops) {
        self.dense += o.dense;
        self.bit_sparse += o.bit_sparse;
        self.l1 += o.l1;
        self.l2 += o.l2;
        self.phi += o.phi;
    }
}

/// Per-layer results over all samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LayerStats {
    /// Layer name.
    pub name: String,
    /// How the GEMM ran (`phi`, `bit-sparse`, `dense`).
    pub mode: String,
    /// Input kind (`spikes` or `int`).
    pub input: String,
    /// Cycles from the layer's first instruction start to its last instruction end, summed
    /// over samples.
    pub cycles: u64,
    /// Energy attributed to the layer's instructions (without static power), in pJ.
    pub energy_pj: f64,
    /// Operation counts.
    pub ops: Ops,
    /// Non-zero partition vectors matched, over the real samples (each column tile's match
    /// counted: `matched / vectors` is the L1 hit rate of the interpreter's sparsity report).
    pub vectors: u64,
    /// Those served by a pattern.
    pub matched: u64,
    /// DRAM bytes moved.
    pub dram_bytes: u64,
    /// Spikes emitted.
    pub spikes_out: u64,
}

/// One event of the timeline (Chrome trace format).
#[derive(Clone, Debug, Serialize)]
pub struct TraceEvent {
    /// Mnemonic.
    pub name: String,
    /// Layer name.
    pub cat: String,
    /// Phase (`X`: complete event).
    pub ph: &'static str,
    /// Start, µs.
    pub ts: f64,
    /// Duration, µs.
    pub dur: f64,
    /// Process (0).
    pub pid: u32,
    /// Thread: 0 load, 1 compute, 2 store.
    pub tid: u32,
}

/// What a run produced.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Samples run.
    pub samples: usize,
    /// Total cycles (samples one after another).
    pub cycles: u64,
    /// Wall time at the clock, seconds.
    pub seconds: f64,
    /// Total energy, pJ.
    pub energy_pj: f64,
    /// Energy breakdown, pJ.
    pub energy: energy::Breakdown,
    /// Operation counts over all layers.
    pub ops: Ops,
    /// Per layer.
    pub layers: Vec<LayerStats>,
    /// Busy cycles of the load, compute and store queues.
    pub busy: [u64; 3],
    /// Busy cycles per instruction kind (per unit), summed over runs.
    pub units: std::collections::BTreeMap<&'static str, u64>,
    /// Instructions executed.
    pub instructions: u64,
    /// The first sample's timeline, when asked for.
    #[serde(skip)]
    pub trace: Vec<TraceEvent>,
    /// Output tensors `[N, …]`, one per program output.
    #[serde(skip)]
    pub outputs: Vec<Tensor>,
}

/// Options of [`run`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Record the first sample's timeline.
    pub trace: bool,
}

/// An emulation failure: invalid metadata, bad inputs, a trap, or a deadlocked program.
#[derive(Clone, Debug, PartialEq)]
pub enum EmuError {
    /// The program trapped.
    Trap(Trap),
    /// The program's metadata is invalid ([`check::program`]).
    Program(CheckError),
    /// The inputs do not fit the program.
    Input(InputError),
    /// The timing simulation found no valid order.
    Deadlock(Deadlock),
    /// The host's own access to the DRAM image failed: mapping a constant region, writing an
    /// input or reading an output ([`check::program`] rules this out for a program it accepts).
    Dram {
        /// What the host accessed.
        access: HostAccess,
        /// Where, and the image's size.
        fault: DramFault,
    },
}

impl fmt::Display for EmuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmuError::Trap(t) => t.fmt(f),
            EmuError::Program(e) => write!(f, "invalid program: {e}"),
            EmuError::Input(e) => e.fmt(f),
            EmuError::Deadlock(e) => e.fmt(f),
            EmuError::Dram { access, fault } => write!(f, "{access}: {fault}"),
        }
    }
}

impl std::error::Error for EmuError {}

impl From<Trap> for EmuError {
    fn from(t: Trap) -> Self {
        EmuError::Trap(t)
    }
}

impl From<CheckError> for EmuError {
    fn from(e: CheckError) -> Self {
        EmuError::Program(e)
    }
}

impl From<InputError> for EmuError {
    fn from(e: InputError) -> Self {
        EmuError::Input(e)
    }
}

impl From<Deadlock> for EmuError {
    fn from(e: Deadlock) -> Self {
        EmuError::Deadlock(e)
    }
}

/// Inputs that do not fit the program's input ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputError {
    /// Not one tensor per input port.
    Count {
        /// Input ports of the program.
        expected: usize,
        /// Tensors given.
        given: usize,
    },
    /// A scalar tensor (no sample dimension).
    Scalar {
        /// The port's name.
        name: String,
        /// The port's per-sample shape.
        shape: Vec<usize>,
    },
    /// A tensor whose shape is not `[N, …]` with the port's per-sample shape (`N` is the first
    /// input's sample count).
    Shape {
        /// The port's name.
        name: String,
        /// The tensor's shape.
        found: Vec<usize>,
        /// The shape expected.
        expected: Vec<usize>,
    },
    /// A tensor whose elements are not the port's kind.
    Elem {
        /// The port's name.
        name: String,
        /// The port's element kind.
        elem: PortElem,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Count { expected, given } => write!(f, "the program has {expected} input(s), {given} given"),
            InputError::Scalar { name, shape } => write!(
                f,
                "input `{name}` is a scalar (shape []); the program expects [N, {}] for N samples",
                shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            ),
            InputError::Shape { name, found, expected } => {
                write!(f, "input `{name}` has shape {found:?}, the program expects {expected:?}")
            }
            InputError::Elem { name, elem } => write!(f, "input `{name}` must hold {elem} elements"),
        }
    }
}

impl std::error::Error for InputError {}

/// What the host accessed in DRAM ([`EmuError::Dram`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostAccess {
    /// Mapping a constant region.
    Region {
        /// Its section name.
        section: String,
    },
    /// Writing a row of an input.
    Input {
        /// The port's name.
        port: String,
    },
    /// Reading an output.
    Output {
        /// The port's name.
        port: String,
    },
}

impl fmt::Display for HostAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostAccess::Region { section } => write!(f, "constant region `{section}`"),
            HostAccess::Input { port } => write!(f, "input `{port}`"),
            HostAccess::Output { port } => write!(f, "output `{port}`"),
        }
    }
}

/// The layer each instruction belongs to: the layer named by the most recent layer-tagged
/// instruction in stream order (the backend starts every layer with one).
fn layer_of(code: &[Inst]) -> Vec<Option<usize>> {
    let mut cur = None;
    code.iter()
        .map(|i| {
            let tagged = match *i {
                Inst::Gather { layer, .. }
                | Inst::PwpFetch { layer, .. }
                | Inst::Match { layer, .. }
                | Inst::L1Acc { layer, .. }
                | Inst::L2Acc { layer, .. }
                | Inst::BsAcc { layer, .. }
                | Inst::DenseMac { layer, .. }
                | Inst::PsumInit { layer, .. }
                | Inst::Lif { layer, .. } => Some(layer as usize),
                Inst::Sync { .. } | Inst::Halt | Inst::Load { .. } | Inst::Store { .. } => None,
            };
            if tagged.is_some() {
                cur = tagged;
            }
            cur
        })
        .collect()
}

/// Checks the inputs against the program's ports: `[N, …]` with the port's per-sample shape.
fn check_inputs(meta: &ProgramMeta, inputs: &[Tensor]) -> Result<usize, InputError> {
    if inputs.len() != meta.inputs.len() {
        return Err(InputError::Count { expected: meta.inputs.len(), given: inputs.len() });
    }
    let n = inputs.first().map_or(0, |t| t.shape.first().copied().unwrap_or(0));
    for (p, t) in meta.inputs.iter().zip(inputs) {
        let want: Vec<usize> = std::iter::once(n).chain(p.shape.iter().copied()).collect();
        if t.shape.is_empty() {
            return Err(InputError::Scalar { name: p.name.clone(), shape: p.shape.clone() });
        }
        if t.shape != want {
            return Err(InputError::Shape { name: p.name.clone(), found: t.shape.clone(), expected: want });
        }
        let ok = match (p.elem, &t.data) {
            (PortElem::I1, Data::Spikes(_)) | (PortElem::I32, Data::I32(_)) => true,
            (PortElem::I1, Data::I32(_) | Data::F32(_)) | (PortElem::I32, Data::Spikes(_) | Data::F32(_)) => false,
        };
        if !ok {
            return Err(InputError::Elem { name: p.name.clone(), elem: p.elem });
        }
    }
    Ok(n)
}

/// Writes samples `s0 .. s0 + batch` of each input into DRAM (missing samples, past the end of
/// the inputs, are zeros). The inputs passed [`check_inputs`]: each holds its port's elements.
fn place_inputs(m: &mut Machine<'_>, meta: &ProgramMeta, inputs: &[Tensor], s0: usize) -> Result<(), EmuError> {
    let batch = meta.batch.max(1) as usize;
    for (p, t) in meta.inputs.iter().zip(inputs) {
        let width = *p.shape.last().unwrap_or(&1);
        let rows: usize = p.shape.iter().product::<usize>() / width.max(1);
        let per = rows * width;
        let n = t.shape.first().copied().unwrap_or(0);
        for b in 0..batch {
            let s = s0 + b;
            for r in 0..rows {
                let base = p.dram as u64 + ((b * rows + r) * p.row_bytes as usize) as u64;
                let row = m
                    .dram
                    .write(base, p.row_bytes as u64)
                    .map_err(|fault| EmuError::Dram { access: HostAccess::Input { port: p.name.clone() }, fault })?;
                row.fill(0);
                if s >= n {
                    continue;
                }
                match &t.data {
                    Data::Spikes(v) => {
                        for c in 0..width {
                            if v[s * per + r * width + c] != 0 {
                                row[c / 8] |= 1 << (c % 8);
                            }
                        }
                    }
                    Data::I32(v) => {
                        for c in 0..width {
                            row[c * 4..c * 4 + 4].copy_from_slice(&v[s * per + r * width + c].to_le_bytes());
                        }
                    }
                    Data::F32(_) => {
                        return Err(InputError::Elem { name: p.name.clone(), elem: p.elem }.into());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reads the first `count` samples of each output from DRAM.
fn read_outputs(m: &mut Machine<'_>, meta: &ProgramMeta, count: usize) -> Result<Vec<Data>, EmuError> {
    let mut out = Vec::with_capacity(meta.outputs.len());
    for p in &meta.outputs {
        let width = *p.shape.last().unwrap_or(&1);
        let rows: usize = count * p.shape.iter().product::<usize>() / width.max(1);
        let bytes = m
            .dram
            .read(p.dram as u64, rows as u64 * p.row_bytes as u64)
            .map_err(|fault| EmuError::Dram { access: HostAccess::Output { port: p.name.clone() }, fault })?;
        let row = |r: usize| &bytes[r * p.row_bytes as usize..];
        out.push(match p.elem {
            PortElem::I1 => Data::Spikes(
                (0..rows * width).map(|i| (row(i / width)[(i % width) / 8] >> ((i % width) % 8)) & 1).collect(),
            ),
            PortElem::I32 => Data::I32(
                (0..rows * width)
                    .map(|i| {
                        let b = &row(i / width)[(i % width) * 4..];
                        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    })
                    .collect(),
            ),
        });
    }
    Ok(out)
}

struct SampleResult {
    units: std::collections::BTreeMap<&'static str, u64>,
    outputs: Vec<Data>,
    cycles: u64,
    layers: Vec<LayerStats>,
    energy: energy::Breakdown,
    busy: [u64; 3],
    trace: Vec<TraceEvent>,
}

fn run_sample(
    program: &Program,
    code: &[Inst],
    owner: &[Option<usize>],
    inputs: &[Tensor],
    samples: std::ops::Range<usize>,
    trace: bool,
    reuse: &mut Reusable,
) -> Result<SampleResult, EmuError> {
    let meta = &program.meta;
    let (s0, count) = (samples.start, samples.len());
    let mut m = Machine::reusing(meta, std::mem::take(reuse));
    m.set_real_samples(count);
    for (region, (_, bytes)) in meta.regions.iter().zip(&program.sections) {
        m.dram.map(region.dram as usize, bytes).map_err(|fault| EmuError::Dram {
            access: HostAccess::Region { section: region.section.clone() },
            fault,
        })?;
    }
    place_inputs(&mut m, meta, inputs, s0)?;
    let mut works = Vec::with_capacity(code.len());
    for (pc, inst) in code.iter().enumerate() {
        if let Inst::Halt = inst {
            works.push(Work::default());
            break;
        }
        let w = m.step(inst).map_err(|kind| Trap { pc, kind })?;
        works.push(w);
    }
    let code = &code[..works.len()];
    let costs: Vec<timing::Cost> = code.iter().zip(&works).map(|(i, w)| timing::duration(&meta.hw, i, w)).collect();
    let sched = timing::schedule(code, &costs)?;
    let mut layers: Vec<LayerStats> = meta
        .layers
        .iter()
        .map(|l| LayerStats {
            name: l.name.clone(),
            mode: format!("{:?}", l.mode).to_lowercase().replace("bitsparse", "bit-sparse"),
            input: match l.input.kind {
                InputKind::Spikes => "spikes".into(),
                InputKind::Int => "int".into(),
            },
            ..LayerStats::default()
        })
        .collect();
    let mut span: Vec<(u64, u64)> = vec![(u64::MAX, 0); layers.len()];
    let mut match_spikes = vec![0u64; layers.len()];
    let mut energy = energy::Breakdown::default();
    for (i, (inst, w)) in code.iter().zip(&works).enumerate() {
        let e = energy::of(&meta.hw, inst, w);
        energy.add(&e);
        if let Some(li) = owner[i].filter(|&l| l < layers.len()) {
            let l = &mut layers[li];
            l.energy_pj += e.total();
            l.dram_bytes += w.dram_read + w.dram_write;
            l.vectors += w.real.vectors;
            l.matched += w.real.matched;
            l.spikes_out += w.real.fired;
            l.ops.l1 += w.real.l1_rows * w.cols;
            l.ops.l2 += w.real.l2_rows * w.cols;
            span[li].0 = span[li].0.min(sched.start[i]);
            span[li].1 = span[li].1.max(sched.end[i]);
            match *inst {
                // A match serves the column tile of the PWP fetch that follows it (the backend
                // re-matches per column tile): bit sparsity would add a row per spike there.
                Inst::Match { .. } => match_spikes[li] = w.real.spikes,
                Inst::PwpFetch { cols, .. } => {
                    l.ops.bit_sparse += std::mem::take(&mut match_spikes[li]) * cols as u64;
                }
                Inst::BsAcc { .. } => l.ops.bit_sparse += w.real.bs_rows * w.cols,
                Inst::DenseMac { .. } => l.ops.bit_sparse += w.real.spikes * w.cols,
                Inst::Sync { .. }
                | Inst::Halt
                | Inst::Load { .. }
                | Inst::Store { .. }
                | Inst::Gather { .. }
                | Inst::L1Acc { .. }
                | Inst::L2Acc { .. }
                | Inst::PsumInit { .. }
                | Inst::Lif { .. } => {}
            }
        }
    }
    for (li, l) in layers.iter_mut().enumerate() {
        let d = &meta.layers[li];
        l.ops.dense = count as u64 * d.rows_per_sample as u64 * d.k_cols as u64 * d.n as u64;
        // a layer a Phi program runs on the dense path (its input is not spikes) costs the Phi
        // accelerator every multiply-accumulate
        let dense_path = meta.target == TargetKind::Phi && d.mode == LayerMode::Dense;
        l.ops.phi = l.ops.l1 + l.ops.l2 + if dense_path { l.ops.dense } else { 0 };
        if span[li].0 != u64::MAX {
            l.cycles = span[li].1 - span[li].0;
        }
    }
    energy.static_pj = meta.hw.energy.static_mw * sched.total as f64 / meta.hw.clock_mhz * 1000.0;
    let mut events = Vec::new();
    if trace {
        let us = |c: u64| c as f64 / meta.hw.clock_mhz;
        for (i, inst) in code.iter().enumerate() {
            if costs[i].busy + costs[i].latency == 0 {
                continue;
            }
            events.push(TraceEvent {
                name: inst.mnemonic().to_string(),
                cat: owner[i].and_then(|l| meta.layers.get(l)).map_or_else(String::new, |l| l.name.clone()),
                ph: "X",
                ts: us(sched.start[i]),
                dur: us(costs[i].busy + costs[i].latency),
                pid: 0,
                tid: match inst.queue() {
                    phi_dialect::isa::Queue::Load => 0,
                    phi_dialect::isa::Queue::Compute => 1,
                    phi_dialect::isa::Queue::Store => 2,
                },
            });
        }
    }
    let mut units = std::collections::BTreeMap::new();
    for (inst, c) in code.iter().zip(&costs) {
        *units.entry(inst.mnemonic()).or_insert(0) += c.busy;
    }
    let outputs = read_outputs(&mut m, meta, count)?;
    *reuse = m.into_reusable();
    Ok(SampleResult { units, outputs, cycles: sched.total, layers, energy, busy: sched.busy, trace: events })
}

/// Runs `program` on `inputs` (`[N, …]` per program input).
pub fn run(program: &Program, inputs: &[Tensor], opts: RunOptions) -> Result<Report, EmuError> {
    let meta = &program.meta;
    check::program(program)?;
    let n = check_inputs(meta, inputs)?;
    let code = &program.code;
    let owner = layer_of(code);
    let batch = meta.batch.max(1) as usize;
    let chunks = n.div_ceil(batch);
    // one worker per thread takes the batches round robin, handing its machine's memory from
    // one batch to the next
    let workers = rayon::current_num_threads().clamp(1, chunks.max(1));
    let mut results: Vec<(usize, Result<SampleResult, EmuError>)> = (0..workers)
        .into_par_iter()
        .flat_map_iter(|t| {
            let mut reuse = Reusable::default();
            (t..chunks)
                .step_by(workers)
                .map(|c| {
                    let samples = c * batch..(c * batch + batch).min(n);
                    (c, run_sample(program, code, &owner, inputs, samples, opts.trace && c == 0, &mut reuse))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    results.sort_by_key(|&(c, _)| c);
    let results = results.into_iter().map(|(_, r)| r);
    let mut report = Report { samples: n, ..Report::default() };
    let mut outs: Vec<Vec<Data>> = vec![Vec::new(); meta.outputs.len()];
    for (s, r) in results.into_iter().enumerate() {
        let r = r?;
        report.cycles += r.cycles;
        report.energy.add(&r.energy);
        for q in 0..3 {
            report.busy[q] += r.busy[q];
        }
        for (k, v) in &r.units {
            *report.units.entry(k).or_insert(0) += v;
        }
        if s == 0 {
            report.layers = r.layers;
            report.trace = r.trace;
        } else {
            for (a, b) in report.layers.iter_mut().zip(&r.layers) {
                a.cycles += b.cycles;
                a.energy_pj += b.energy_pj;
                a.ops.add(&b.ops);
                a.vectors += b.vectors;
                a.matched += b.matched;
                a.dram_bytes += b.dram_bytes;
                a.spikes_out += b.spikes_out;
            }
        }
        for (o, d) in outs.iter_mut().zip(r.outputs) {
            o.push(d);
        }
    }
    for l in &report.layers {
        report.ops.add(&l.ops);
    }
    report.instructions = (code.len() * chunks) as u64;
    report.energy_pj = report.energy.total() + report.energy.static_pj;
    report.seconds = report.cycles as f64 / (meta.hw.clock_mhz * 1e6);
    report.outputs = meta
        .outputs
        .iter()
        .zip(outs)
        .map(|(p, parts)| {
            let shape: Vec<usize> = std::iter::once(n).chain(p.shape.iter().copied()).collect();
            let data = match p.elem {
                PortElem::I1 => Data::Spikes(
                    parts.into_iter().flat_map(|d| if let Data::Spikes(v) = d { v } else { Vec::new() }).collect(),
                ),
                PortElem::I32 => Data::I32(
                    parts.into_iter().flat_map(|d| if let Data::I32(v) = d { v } else { Vec::new() }).collect(),
                ),
            };
            Tensor::new(shape, data)
        })
        .collect();
    Ok(report)
}
