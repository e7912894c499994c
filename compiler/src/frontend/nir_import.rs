//! NIR graph → `snn` dialect.
//!
//! NIR describes one time step of a network in continuous-time parameters; the `snn` dialect is
//! time-major with a static number of steps `T`, which a `.nir` file does not give
//! ([`ImportOptions::time_steps`], `phic --time-steps`). Every node becomes a few `snn` ops; the
//! discretisation is forward Euler with step `dt` ([`ImportOptions::dt`], `phic --nir-dt`,
//! default `1e-4`, snnTorch's export convention: `tau = dt/(1−beta)`, `r = tau/dt`, so such a
//! file imports back to `beta` with unit input gain):
//!
//! | NIR node | `snn` ops |
//! |---|---|
//! | `Input` / `Output` | `snn.input` (f32, or i1 with [`ImportOptions::spiking_input`]) / `snn.output` |
//! | `Affine`, `Linear` | `snn.linear` with the weight transposed to `in × out` (+ bias) |
//! | `Scale` | `snn.constant` + `snn.mul` |
//! | `Conv2d` | `snn.conv2d` (`'same'`: total padding `d·(k−1)`, the odd one at the end; stride 1 only) |
//! | `Conv1d` | `snn.reshape` to height 1, `snn.conv2d` with a `1 × k` kernel, `snn.reshape` back |
//! | `SumPool2d` / `AvgPool2d` | `snn.sum_pool` / `snn.avg_pool` (`count_include_pad`, as PyTorch) |
//! | `Flatten` | `snn.reshape` (dims count over the per-step shape, as NIR) |
//! | `LIF` | input gain `g = r·dt/tau` (`snn.mul`, omitted when within 1e-6 of 1) and leak term `λ = (dt/tau)·v_leak` (`snn.add`, omitted when 0), then `snn.lif` with `beta = 1 − dt/tau` |
//! | `IF` | gain `r` (no `dt`: NIR's IF integrates `r·I` per step), then `snn.if` |
//! | `LI` | gain and leak term as LIF, then `snn.li` |
//! | `CubaLIF` | `w_in` gain, `snn.li` with `alpha = 1 − dt/tau_syn` (the synaptic current), then LIF with `tau_mem` |
//! | `Threshold` | `snn.lif` with `beta = 0` and zero reset, which is exactly `x > threshold` per step |
//! | `NIRGraph` | inlined: its `Input` is the value entering it, its `Output` the value leaving it |
//!
//! Coefficients are computed in f64 from the stored (f32 or f64) values and rounded to f32 once.
//! A parameter with one value, or the same value for every neuron, becomes a scalar attribute
//! (so a layer exported from a uniform snnTorch `Leaky` compiles to the integer datapath);
//! different values per neuron become per-neuron resources (float model only).
//!
//! **Reset** ([`NirReset`], `--nir-reset`): by default as NIR defines it, to `v_reset` on a
//! spike (`snn.lif` with `reset = "zero"`; `v_reset` must be 0 — absent in nir < 1.0.8 files —
//! and thresholds positive, where NIR's step and the dialect's zero reset agree exactly);
//! `--nir-reset subtract` for graphs from tools that subtract the threshold (snnTorch's `Leaky`
//! default; `v_reset` must then be 0, as their exporters write it). **`v_leak`** is kept: it
//! enters as the per-step term `λ`, so the membrane relaxes towards `v_leak`.
//!
//! A node with several incoming edges receives their sum (`snn.add`); recurrent edges (cycles)
//! are refused. Ops are located at `FILE#node/path` (an HDF5 file has no lines), line 1, col 1.

use std::collections::HashMap;

use phi_dialect::ops::snn::{Coef, Conv2d, Linear, Neuron, NeuronParams, Pool, Port, Reset};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::weights::{WeightData, WeightId};
use phi_dialect::{DResult, Diagnostic, ElemType, Location, Module, TensorType, ValueId};

use super::nir::{Array, Graph, NirFile, Node, Padding};

/// snnTorch's NIR time step.
pub const DEFAULT_DT: f64 = 1e-4;

/// How a `.nir` file is imported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImportOptions {
    /// Time steps of the model (`None`: an error asking for `--time-steps`).
    pub time_steps: Option<usize>,
    /// The Euler step (s).
    pub dt: f64,
    /// Whether the model inputs are spikes (`i1`) rather than real values (`f32`).
    pub spiking_input: bool,
    /// How LIF, IF and CubaLIF neurons reset after a spike.
    pub reset: NirReset,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { time_steps: None, dt: DEFAULT_DT, spiking_input: false, reset: NirReset::VReset }
    }
}

/// How the spiking neurons of a NIR graph reset (`--nir-reset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NirReset {
    /// NIR's definition (`docs/source/primitives.md` of neuromorphs/NIR): on a spike the
    /// membrane is set to the node's `v_reset`. Today `v_reset` must be 0 (`snn.lif` with
    /// `reset = "zero"`) and every threshold positive, where NIR's step and the dialect's
    /// zero reset agree exactly.
    VReset,
    /// The tools that subtract (snnTorch's `Leaky` default, Sinabs' `MembraneSubtract`): on a
    /// spike the threshold is subtracted (`reset = "subtract"`), whatever `v_reset` says —
    /// their exporters write `v_reset = 0` for it, and NIR has no field for it.
    Subtract,
}

impl NirReset {
    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            NirReset::VReset => "v-reset",
            NirReset::Subtract => "subtract",
        }
    }
}

/// A gain this close to 1 is 1: snnTorch stores `r = tau/dt` in float32, so `r·dt/tau` comes
/// back as 1 ± 1 ulp; dropping that multiplication changes a current by at most 1.2e-7 relative
/// and keeps the layer compilable to the integer datapath (which has no per-neuron gain).
pub const UNIT_GAIN_TOLERANCE: f64 = 1e-6;

/// Largest number of time steps accepted.
pub const MAX_TIME_STEPS: usize = 1 << 16;

/// Imports a read NIR file (`path` names it in locations and messages).
pub fn import(file: &NirFile, path: &str, opts: &ImportOptions) -> DResult<Module> {
    let t = opts.time_steps.ok_or_else(|| {
        Diagnostic::error(format!("{path}: a NIR graph does not fix the number of time steps"))
            .with_help("pass --time-steps T (e.g. --time-steps 8)")
    })?;
    if t == 0 || t > MAX_TIME_STEPS {
        return Err(Diagnostic::error(format!("--time-steps {t} is outside 1..={MAX_TIME_STEPS}")));
    }
    if !(opts.dt.is_finite() && opts.dt > 0.0) {
        return Err(Diagnostic::error(format!("--nir-dt {} must be a positive number of seconds", opts.dt)));
    }
    let stem = std::path::Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let mut cx = Importer { m: Module::new(stem), path, t, opts: *opts, inputs: 0, outputs: 0 };
    cx.graph(&file.graph, "", None)?;
    if cx.inputs == 0 || cx.outputs == 0 {
        return Err(Diagnostic::error(format!("{path}: the graph needs at least one Input and one Output node")));
    }
    phi_dialect::phi_attrs::set_nir_version(&mut cx.m, file.version.clone());
    phi_dialect::verify(&cx.m)?;
    Ok(cx.m)
}

struct Importer<'a> {
    m: Module,
    path: &'a str,
    t: usize,
    opts: ImportOptions,
    inputs: u32,
    outputs: u32,
}

/// A coefficient vector over the neurons of a node: one value (uniform) or one per neuron.
enum Values {
    Uniform(f32),
    PerNeuron(Vec<f32>),
}

impl<'a> Importer<'a> {
    fn loc(&self, node: &str) -> Location {
        Location::file(format!("{}#{node}", self.path), 1, 1)
    }

    fn err(&self, node: &str, msg: impl std::fmt::Display) -> Diagnostic {
        Diagnostic::error(format!("{}: node `{node}`: {msg}", self.path))
    }

    /// Imports `g`; inside a subgraph `entry` is the value entering it. Returns the value of its
    /// (single) `Output` for a subgraph.
    fn graph(&mut self, g: &Graph, prefix: &str, entry: Option<ValueId>) -> DResult<Option<ValueId>> {
        let names: HashMap<&str, usize> = g.nodes.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect();
        let full = |n: &str| if prefix.is_empty() { n.to_string() } else { format!("{prefix}/{n}") };
        // edge ends: `x`, or `g.x` where x is the Input/Output of subgraph g (= g itself)
        let end = |e: &str| -> DResult<usize> {
            if let Some(&i) = names.get(e) {
                return Ok(i);
            }
            if let Some((sub, inner)) = e.split_once('.')
                && let Some(&i) = names.get(sub)
                && let Node::Graph(sg) = &g.nodes[i].1
                && sg.nodes.iter().any(|(n, k)| n == inner && matches!(k, Node::Input { .. } | Node::Output { .. }))
            {
                return Ok(i);
            }
            Err(Diagnostic::error(format!("{}: edge end `{e}` names no node of graph `{}`", self.path, full("")))
                .with_help("edges may name a node of the same graph, or a subgraph's Input/Output as `sub.input`"))
        };
        let mut preds: Vec<Vec<usize>> = vec![Vec::new(); g.nodes.len()];
        for (a, b) in &g.edges {
            let (a, b) = (end(a)?, end(b)?);
            preds[b].push(a);
        }
        // Kahn's algorithm, lowest file index first (deterministic)
        let mut indeg: Vec<usize> = preds.iter().map(Vec::len).collect();
        let mut succs: Vec<Vec<usize>> = vec![Vec::new(); g.nodes.len()];
        for (b, ps) in preds.iter().enumerate() {
            for &a in ps {
                succs[a].push(b);
            }
        }
        let mut ready: std::collections::BTreeSet<usize> = (0..g.nodes.len()).filter(|&i| indeg[i] == 0).collect();
        let mut order = Vec::with_capacity(g.nodes.len());
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &s in &succs[i] {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    ready.insert(s);
                }
            }
        }
        if order.len() != g.nodes.len() {
            let stuck = (0..g.nodes.len()).find(|i| !order.contains(i)).expect("a node is left");
            return Err(self.err(&full(&g.nodes[stuck].0), "is on a cycle of edges").with_help(
                "recurrent NIR graphs (edges back to an earlier node) are not supported; unroll the recurrence",
            ));
        }
        let mut vals: Vec<Option<ValueId>> = vec![None; g.nodes.len()];
        let mut out = None;
        for i in order {
            let (name, node) = &g.nodes[i];
            let path = full(name);
            let incoming: Vec<ValueId> = preds[i].iter().filter_map(|&p| vals[p]).collect();
            let x = match incoming.as_slice() {
                [] => None,
                [one] => Some(*one),
                [first, rest @ ..] => {
                    let mut acc = *first;
                    for &v in rest {
                        acc = self.append(&path, SnnOp::Add, vec![acc, v])?;
                    }
                    Some(acc)
                }
            };
            let v = match node {
                Node::Input { shape } => match entry {
                    Some(e) => {
                        self.expect_shape(&path, e, shape)?;
                        Some(e)
                    }
                    None => Some(self.input(&path, shape)?),
                },
                Node::Output { shape } => {
                    let x = x.ok_or_else(|| self.err(&path, "an Output node without an incoming edge"))?;
                    self.expect_shape(&path, x, shape)?;
                    if entry.is_some() {
                        out = Some(x);
                    } else {
                        let index = self.outputs;
                        self.outputs += 1;
                        let loc = self.loc(&path);
                        self.m.push(
                            OpKind::Snn(SnnOp::Output(Port { name: name.clone(), index })),
                            vec![x],
                            vec![],
                            loc,
                        );
                    }
                    None
                }
                other @ (Node::Affine { .. }
                | Node::Linear { .. }
                | Node::Scale { .. }
                | Node::Conv { .. }
                | Node::Pool2d { .. }
                | Node::Flatten { .. }
                | Node::Lif { .. }
                | Node::If { .. }
                | Node::Li { .. }
                | Node::CubaLif { .. }
                | Node::Threshold { .. }
                | Node::Graph(_)) => {
                    let x = x.ok_or_else(|| self.err(&path, "has no incoming edge"))?;
                    Some(self.node(&path, other, x)?)
                }
            };
            vals[i] = v;
        }
        if entry.is_some() && out.is_none() {
            return Err(Diagnostic::error(format!("{}: subgraph `{prefix}` has no Output node", self.path)));
        }
        Ok(out)
    }

    fn input(&mut self, path: &str, shape: &[usize]) -> DResult<ValueId> {
        let elem = if self.opts.spiking_input { ElemType::I1 } else { ElemType::F32 };
        let ty = TensorType::new(std::iter::once(self.t).chain(shape.iter().copied()).collect::<Vec<_>>(), elem);
        let name = path.rsplit('/').next().unwrap_or(path).to_string();
        let index = self.inputs;
        self.inputs += 1;
        let loc = self.loc(path);
        let op = self.m.push(OpKind::Snn(SnnOp::Input(Port { name, index })), vec![], vec![ty], loc);
        Ok(self.m.result(op))
    }

    /// The per-step shape of a value.
    fn step_shape(&self, v: ValueId) -> Vec<usize> {
        self.m.ty(v).shape[1..].to_vec()
    }

    fn expect_shape(&self, path: &str, v: ValueId, shape: &[usize]) -> DResult<()> {
        let got = self.step_shape(v);
        if !shape.is_empty() && got != shape {
            return Err(self.err(path, format!("declares shape {shape:?}, but the value reaching it is {got:?}")));
        }
        Ok(())
    }

    fn append(&mut self, path: &str, op: SnnOp, operands: Vec<ValueId>) -> DResult<ValueId> {
        let loc = self.loc(path);
        let id = self.m.append(OpKind::Snn(op), operands, loc).map_err(|e| self.err(path, e))?;
        Ok(self.m.result(id))
    }

    fn reshape(&mut self, path: &str, x: ValueId, step: &[usize]) -> ValueId {
        let elem = self.m.ty(x).elem;
        let ty = TensorType::new(std::iter::once(self.t).chain(step.iter().copied()).collect::<Vec<_>>(), elem);
        let loc = self.loc(path);
        let op = self.m.push(OpKind::Snn(SnnOp::Reshape), vec![x], vec![ty], loc);
        self.m.result(op)
    }

    fn weight(&mut self, name: &str, shape: Vec<usize>, data: Vec<f32>) -> WeightId {
        self.m.weights.add(name, TensorType::new(shape, ElemType::F32), WeightData::F32(data))
    }

    fn f32s(a: &Array) -> Vec<f32> {
        a.data.iter().map(|&x| x as f32).collect()
    }

    /// A per-neuron parameter broadcast to `n` neurons: one value, or exactly `n`.
    fn per_neuron(&self, path: &str, what: &str, a: &Array, n: usize) -> DResult<Vec<f64>> {
        match a.data.len() {
            1 => Ok(vec![a.data[0]; n]),
            len if len == n => Ok(a.data.clone()),
            len => Err(self.err(path, format!("`{what}` has {len} values for {n} neurons (shape {:?})", a.shape))),
        }
    }

    fn values(v: Vec<f32>) -> Values {
        match v.first() {
            Some(&first) if v.iter().all(|&x| x.to_bits() == first.to_bits()) => Values::Uniform(first),
            Some(_) | None => Values::PerNeuron(v),
        }
    }

    /// `x ⊙ g` (`snn.mul` with a constant of the step shape), omitted when every `g` is 1 to
    /// within [`UNIT_GAIN_TOLERANCE`].
    fn gain(&mut self, path: &str, x: ValueId, g: Vec<f32>, what: &str) -> DResult<ValueId> {
        if g.iter().all(|&v| (v as f64 - 1.0).abs() <= UNIT_GAIN_TOLERANCE) {
            return Ok(x);
        }
        self.elementwise(path, x, g, what, SnnOp::Mul)
    }

    /// `x + l`, omitted when every `l` is 0.
    fn offset(&mut self, path: &str, x: ValueId, l: Vec<f32>, what: &str) -> DResult<ValueId> {
        if l.iter().all(|&v| v == 0.0) {
            return Ok(x);
        }
        self.elementwise(path, x, l, what, SnnOp::Add)
    }

    fn elementwise(&mut self, path: &str, x: ValueId, c: Vec<f32>, what: &str, op: SnnOp) -> DResult<ValueId> {
        let x = self.real(path, x)?;
        let w = self.weight(&format!("{path}_{what}"), self.step_shape(x), c);
        let k = self.append(path, SnnOp::Constant { value: w }, vec![])?;
        self.append(path, op, vec![x, k])
    }

    /// Neurons integrate real currents: spikes or counts reaching a neuron directly are
    /// converted (× 1.0).
    fn real(&mut self, path: &str, x: ValueId) -> DResult<ValueId> {
        if self.m.ty(x).elem == ElemType::F32 {
            return Ok(x);
        }
        let n = self.step_shape(x).iter().product();
        self.elementwise_raw(path, x, vec![1.0; n])
    }

    fn elementwise_raw(&mut self, path: &str, x: ValueId, c: Vec<f32>) -> DResult<ValueId> {
        let w = self.weight(&format!("{path}_one"), self.step_shape(x), c);
        let k = self.append(path, SnnOp::Constant { value: w }, vec![])?;
        self.append(path, SnnOp::Mul, vec![x, k])
    }

    /// A spiking neuron with decay `beta` (None: IF) and threshold per neuron.
    fn spiking(
        &mut self,
        path: &str,
        x: ValueId,
        beta: Option<Vec<f32>>,
        thr: Vec<f32>,
        reset: Reset,
    ) -> DResult<ValueId> {
        let x = self.real(path, x)?;
        let uniform = |v: &Option<Vec<f32>>| match v {
            None => Some(1.0),
            Some(b) => match Self::values(b.clone()) {
                Values::Uniform(u) => Some(u),
                Values::PerNeuron(_) => None,
            },
        };
        let params = match (uniform(&beta), Self::values(thr.clone())) {
            (Some(b), Values::Uniform(t)) => NeuronParams::Float { beta: b, threshold: t },
            (Some(_) | None, Values::Uniform(_) | Values::PerNeuron(_)) => {
                let shape = self.step_shape(x);
                let b = beta.map(|b| self.weight(&format!("{path}_beta"), shape.clone(), b));
                let t = self.weight(&format!("{path}_threshold"), shape, thr);
                NeuronParams::FloatPerNeuron { beta: b, threshold: t }
            }
        };
        let n = Neuron { params, reset };
        let op = match beta_kind(&params) {
            BetaKind::If => SnnOp::If(n),
            BetaKind::Lif => SnnOp::Lif(n),
        };
        self.append(path, op, vec![x])
    }

    /// The dialect reset of a spiking node under `--nir-reset`, checked against its `v_reset`
    /// (absent, in nir < 1.0.8 files: 0) and thresholds.
    fn reset(&self, path: &str, v_reset: &Option<Array>, v_threshold: &Array) -> DResult<Reset> {
        let nonzero = v_reset.as_ref().is_some_and(|r| r.data.iter().any(|&v| v != 0.0));
        match self.opts.reset {
            NirReset::Subtract if nonzero => Err(self.err(path, "has a nonzero v_reset").with_help(
                "--nir-reset subtract subtracts the threshold and ignores v_reset, so it must be 0; reset-to-value neurons with a nonzero v_reset are not supported yet",
            )),
            NirReset::Subtract => Ok(Reset::Subtract),
            NirReset::VReset if nonzero => Err(self.err(path, "has a nonzero v_reset").with_help(
                "neurons reset to 0 or by subtraction (--nir-reset subtract); a nonzero v_reset is not supported yet",
            )),
            NirReset::VReset => match v_threshold.data.iter().find(|&&t| t.is_nan() || t <= 0.0) {
                // after a reset to 0 below a positive threshold, NIR's step and snnTorch's zero
                // reset (the dialect's) are the same; at a threshold ≤ 0 they are not
                Some(t) => Err(self.err(path, format!("has v_threshold = {t}")).with_help(
                    "a reset to v_reset = 0 needs positive thresholds; graphs from tools that subtract take --nir-reset subtract",
                )),
                None => Ok(Reset::Zero),
            },
        }
    }

    /// Euler coefficients of `tau·dv/dt = (v_leak − v) + r·I`: (beta, gain, leak term).
    fn euler(
        &self,
        path: &str,
        n: usize,
        tau: &Array,
        r: &Array,
        v_leak: &Array,
    ) -> DResult<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        let tau = self.per_neuron(path, "tau", tau, n)?;
        let r = self.per_neuron(path, "r", r, n)?;
        let leak = self.per_neuron(path, "v_leak", v_leak, n)?;
        if let Some(bad) = tau.iter().find(|&&t| !(t.is_finite() && t >= self.opts.dt)) {
            return Err(self.err(path, format!("tau = {bad} is below dt = {}", self.opts.dt)).with_help(
                "forward Euler needs tau ≥ dt (a decay in [0, 1]); check --nir-dt against the exporter's time step",
            ));
        }
        let k: Vec<f64> = tau.iter().map(|&t| self.opts.dt / t).collect();
        let beta = k.iter().map(|&k| (1.0 - k) as f32).collect();
        let gain = k.iter().zip(&r).map(|(&k, &r)| (r * k) as f32).collect();
        let lam = k.iter().zip(&leak).map(|(&k, &l)| (k * l) as f32).collect();
        Ok((beta, gain, lam))
    }

    #[allow(clippy::too_many_arguments)]
    fn lif(
        &mut self,
        path: &str,
        x: ValueId,
        tau: &Array,
        r: &Array,
        v_leak: &Array,
        v_threshold: &Array,
        reset: Reset,
    ) -> DResult<ValueId> {
        let n: usize = self.step_shape(x).iter().product();
        let (beta, gain, lam) = self.euler(path, n, tau, r, v_leak)?;
        let thr = self.per_neuron(path, "v_threshold", v_threshold, n)?;
        let x = self.gain(path, x, gain, "gain")?;
        let x = self.offset(path, x, lam, "leak")?;
        self.spiking(path, x, Some(beta), thr.iter().map(|&t| t as f32).collect(), reset)
    }

    fn li(&mut self, path: &str, x: ValueId, beta: Vec<f32>) -> DResult<ValueId> {
        let x = self.real(path, x)?;
        let beta = match Self::values(beta) {
            Values::Uniform(b) => Coef::Scalar(b),
            Values::PerNeuron(v) => Coef::PerNeuron(self.weight(&format!("{path}_beta"), self.step_shape(x), v)),
        };
        self.append(path, SnnOp::Li { beta }, vec![x])
    }

    fn node(&mut self, path: &str, node: &Node, x: ValueId) -> DResult<ValueId> {
        let step = self.step_shape(x);
        let n: usize = step.iter().product();
        match node {
            Node::Input { .. } | Node::Output { .. } => unreachable!("handled by the graph walk"),
            Node::Affine { weight, bias } => self.linear(path, x, weight, Some(bias)),
            Node::Linear { weight } => self.linear(path, x, weight, None),
            Node::Scale { scale } => {
                let s = self.per_neuron(path, "scale", scale, n)?;
                let x = self.real(path, x)?;
                self.elementwise(path, x, s.iter().map(|&v| v as f32).collect(), "scale", SnnOp::Mul)
            }
            Node::Conv { dims, weight, bias, stride, padding, dilation, groups, .. } => {
                self.conv(path, x, *dims, weight, bias, stride, padding, dilation, *groups)
            }
            Node::Pool2d { average, kernel, stride, padding } => {
                let two = |v: &[usize], what: &str| -> DResult<[usize; 2]> {
                    match *v {
                        [a] => Ok([a, a]),
                        [a, b] => Ok([a, b]),
                        _ => Err(self.err(path, format!("`{what}` needs 1 or 2 values, found {v:?}"))),
                    }
                };
                let (k, s, p) = (two(kernel, "kernel_size")?, two(stride, "stride")?, two(padding, "padding")?);
                let pool = Pool { kernel: k, strides: s, pads: [p[0], p[1], p[0], p[1]] };
                let op = if *average { SnnOp::AvgPool { pool, count_include_pad: true } } else { SnnOp::SumPool(pool) };
                self.append(path, op, vec![x])
            }
            Node::Flatten { start_dim, end_dim, .. } => {
                let nd = step.len() as i64;
                let norm = |d: i64| if d < 0 { d + nd } else { d };
                let (s, e) = (norm(*start_dim), norm(*end_dim));
                if !(0..nd).contains(&s) || !(0..nd).contains(&e) || s > e {
                    return Err(self.err(
                        path,
                        format!("flattens dims {start_dim}..={end_dim} of a per-step shape {step:?} (rank {nd})"),
                    ));
                }
                let (s, e) = (s as usize, e as usize);
                let mut shape = step[..s].to_vec();
                shape.push(step[s..=e].iter().product());
                shape.extend_from_slice(&step[e + 1..]);
                Ok(self.reshape(path, x, &shape))
            }
            Node::Lif { tau, r, v_leak, v_threshold, v_reset } => {
                let reset = self.reset(path, v_reset, v_threshold)?;
                self.lif(path, x, tau, r, v_leak, v_threshold, reset)
            }
            Node::If { r, v_threshold, v_reset } => {
                let reset = self.reset(path, v_reset, v_threshold)?;
                let r = self.per_neuron(path, "r", r, n)?;
                let thr = self.per_neuron(path, "v_threshold", v_threshold, n)?;
                let x = self.gain(path, x, r.iter().map(|&v| v as f32).collect(), "gain")?;
                self.spiking(path, x, None, thr.iter().map(|&t| t as f32).collect(), reset)
            }
            Node::Li { tau, r, v_leak } => {
                let (beta, gain, lam) = self.euler(path, n, tau, r, v_leak)?;
                let x = self.gain(path, x, gain, "gain")?;
                let x = self.offset(path, x, lam, "leak")?;
                self.li(path, x, beta)
            }
            Node::CubaLif { tau_syn, tau_mem, r, v_leak, v_threshold, v_reset, w_in } => {
                let reset = self.reset(path, v_reset, v_threshold)?;
                let x = match w_in {
                    Some(w) => {
                        let w = self.per_neuron(path, "w_in", w, n)?;
                        self.gain(path, x, w.iter().map(|&v| v as f32).collect(), "w_in")?
                    }
                    None => x,
                };
                let tau_syn = self.per_neuron(path, "tau_syn", tau_syn, n)?;
                if let Some(bad) = tau_syn.iter().find(|&&t| !(t.is_finite() && t >= self.opts.dt)) {
                    return Err(self.err(path, format!("tau_syn = {bad} is below dt = {}", self.opts.dt)));
                }
                let alpha = tau_syn.iter().map(|&t| (1.0 - self.opts.dt / t) as f32).collect();
                let current = self.li(&format!("{path}/synapse"), x, alpha)?;
                self.lif(path, current, tau_mem, r, v_leak, v_threshold, reset)
            }
            Node::Threshold { threshold } => {
                let thr = self.per_neuron(path, "threshold", threshold, n)?;
                // beta = 0 with a zero reset: m = I, spike = I > threshold, every step alone
                self.spiking(path, x, Some(vec![0.0; n]), thr.iter().map(|&t| t as f32).collect(), Reset::Zero)
            }
            Node::Graph(g) => {
                let out = self.graph(g, path, Some(x))?;
                Ok(out.expect("a subgraph returns its output"))
            }
        }
    }

    fn linear(&mut self, path: &str, x: ValueId, weight: &Array, bias: Option<&Array>) -> DResult<ValueId> {
        let [out, inp] = weight.shape[..] else {
            return Err(self.err(path, format!("weight has shape {:?}, expected [out, in]", weight.shape)));
        };
        let k = *self.step_shape(x).last().unwrap_or(&0);
        if inp != k {
            return Err(self.err(path, format!("weight is [{out}, {inp}] but its input has {k} features")));
        }
        let mut t = vec![0f32; inp * out];
        for o in 0..out {
            for i in 0..inp {
                t[i * out + o] = weight.data[o * inp + i] as f32;
            }
        }
        let w = self.weight(&format!("{path}_weight"), vec![inp, out], t);
        let b = match bias {
            Some(b) if b.data.len() == out => Some(self.weight(&format!("{path}_bias"), vec![out], Self::f32s(b))),
            Some(b) => return Err(self.err(path, format!("bias has {} values for {out} outputs", b.data.len()))),
            None => None,
        };
        self.append(path, SnnOp::Linear(Linear { weight: w, bias: b }), vec![x])
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        path: &str,
        x: ValueId,
        dims: usize,
        weight: &Array,
        bias: &Array,
        stride: &[usize],
        padding: &Padding,
        dilation: &[usize],
        groups: usize,
    ) -> DResult<ValueId> {
        let step = self.step_shape(x);
        if step.len() != dims + 1 || weight.shape.len() != dims + 2 {
            return Err(self.err(
                path,
                format!(
                    "Conv{dims}d needs a C×{} input and a weight of rank {}, found {step:?} and {:?}",
                    if dims == 1 { "L" } else { "H×W" },
                    dims + 2,
                    weight.shape
                ),
            ));
        }
        if stride.len() != dims || dilation.len() != dims {
            return Err(self.err(path, format!("stride {stride:?} and dilation {dilation:?} need {dims} values")));
        }
        // as 2-D: Conv1d is a Conv2d of height 1
        let lift = |v: &[usize], one: usize| -> [usize; 2] { if dims == 1 { [one, v[0]] } else { [v[0], v[1]] } };
        let kernel = lift(&weight.shape[2..], 1);
        let (s, d) = (lift(stride, 1), lift(dilation, 1));
        let pads = match padding {
            Padding::Ints(p) if p.len() == dims => {
                let p = lift(p, 0);
                [p[0], p[1], p[0], p[1]]
            }
            Padding::Ints(p) => return Err(self.err(path, format!("padding {p:?} needs {dims} values"))),
            Padding::Valid => [0; 4],
            Padding::Same => {
                if s != [1, 1] {
                    return Err(self
                        .err(path, "padding 'same' with a stride above 1")
                        .with_help("PyTorch allows 'same' only with stride 1; export explicit padding instead"));
                }
                let tot = [d[0] * (kernel[0] - 1), d[1] * (kernel[1] - 1)];
                [tot[0] / 2, tot[1] / 2, tot[0] - tot[0] / 2, tot[1] - tot[1] / 2]
            }
        };
        let c_out = weight.shape[0];
        let w4 = vec![c_out, weight.shape[1], kernel[0], kernel[1]];
        let w = self.weight(&format!("{path}_weight"), w4, Self::f32s(weight));
        let b = if bias.data.len() == c_out {
            Some(self.weight(&format!("{path}_bias"), vec![c_out], Self::f32s(bias)))
        } else if bias.data.len() == 1 && bias.data[0] == 0.0 {
            None
        } else {
            return Err(self.err(path, format!("bias has {} values for {c_out} output channels", bias.data.len())));
        };
        let x4 = if dims == 1 { self.reshape(path, x, &[step[0], 1, step[1]]) } else { x };
        let conv = Conv2d { weight: w, bias: b, strides: s, pads, dilations: d, groups };
        let y = self.append(path, SnnOp::Conv2d(conv), vec![x4])?;
        if dims == 1 {
            let ys = self.step_shape(y);
            Ok(self.reshape(path, y, &[ys[0], ys[2]]))
        } else {
            Ok(y)
        }
    }
}

enum BetaKind {
    If,
    Lif,
}

fn beta_kind(p: &NeuronParams) -> BetaKind {
    match p {
        NeuronParams::Float { beta, .. } if *beta == 1.0 => BetaKind::If,
        NeuronParams::FloatPerNeuron { beta: None, .. } => BetaKind::If,
        NeuronParams::Float { .. }
        | NeuronParams::FloatPerNeuron { beta: Some(_), .. }
        | NeuronParams::Fixed { .. } => BetaKind::Lif,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::nir::{Graph, NirFile, Node};

    fn arr(v: &[f64]) -> Array {
        Array { shape: vec![v.len()], data: v.to_vec() }
    }

    /// input → LIF (3 neurons, snnTorch-style: tau = dt/(1−0.9), r = tau/dt) → output.
    fn lif_file(v_threshold: &[f64], v_reset: Option<&[f64]>) -> NirFile {
        let tau = DEFAULT_DT / 0.1;
        let lif = Node::Lif {
            tau: arr(&[tau; 3]),
            r: arr(&[tau / DEFAULT_DT; 3]),
            v_leak: arr(&[0.0; 3]),
            v_threshold: arr(v_threshold),
            v_reset: v_reset.map(arr),
        };
        NirFile {
            version: "1.0.8".into(),
            graph: Graph {
                nodes: vec![
                    ("input".into(), Node::Input { shape: vec![3] }),
                    ("lif".into(), lif),
                    ("output".into(), Node::Output { shape: vec![3] }),
                ],
                edges: vec![("input".into(), "lif".into()), ("lif".into(), "output".into())],
            },
        }
    }

    fn resets(f: &NirFile, reset: NirReset) -> Result<Vec<Reset>, String> {
        let opts = ImportOptions { time_steps: Some(4), reset, ..ImportOptions::default() };
        let m = import(f, "t.nir", &opts).map_err(|d| format!("{}: {}", d.message, d.notes.join("; ")))?;
        Ok(m.body()
            .iter()
            .filter_map(|&op| match &m.op(op).kind {
                OpKind::Snn(SnnOp::Lif(n) | SnnOp::If(n)) => Some(n.reset),
                OpKind::Snn(_) | OpKind::Phi(_) => None,
            })
            .collect())
    }

    #[test]
    fn nir_resets_to_v_reset_by_default_and_subtracts_on_request() {
        let f = lif_file(&[1.0; 3], Some(&[0.0; 3]));
        assert_eq!(resets(&f, NirReset::VReset).unwrap(), [Reset::Zero]);
        assert_eq!(resets(&f, NirReset::Subtract).unwrap(), [Reset::Subtract]);
        // nir < 1.0.8 files have no v_reset: 0
        assert_eq!(resets(&lif_file(&[1.0; 3], None), NirReset::VReset).unwrap(), [Reset::Zero]);
    }

    #[test]
    fn a_nonzero_v_reset_or_a_threshold_at_or_below_zero_is_refused_with_the_fix() {
        let f = lif_file(&[1.0; 3], Some(&[0.0, 0.5, 0.0]));
        for mode in [NirReset::VReset, NirReset::Subtract] {
            let e = resets(&f, mode).unwrap_err();
            assert!(e.contains("nonzero v_reset"), "{mode:?}: {e}");
        }
        let e = resets(&lif_file(&[1.0, 0.0, 1.0], Some(&[0.0; 3])), NirReset::VReset).unwrap_err();
        assert!(e.contains("v_threshold = 0") && e.contains("--nir-reset subtract"), "{e}");
        // subtracting a threshold of 0 is well defined
        assert_eq!(
            resets(&lif_file(&[1.0, 0.0, 1.0], Some(&[0.0; 3])), NirReset::Subtract).unwrap(),
            [Reset::Subtract]
        );
    }
}
