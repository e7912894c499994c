//! Lowering of an ONNX-text model to the `snn` dialect, with shape inference.
//!
//! # Conventions of an SNN graph in ONNX text
//!
//! - Graph inputs are `[N, T, …]`: the batch `N` (symbolic or a number) and the number of time
//!   steps `T` first. `bool`/`uint8` inputs are spikes, `float` inputs are direct-encoded
//!   currents, other integer types are integer counts. Every dimension but `N` is a number.
//! - Standard ONNX ops are **time-distributed**: they apply to each `(n, t)` slice, the leading
//!   `[N, T]` being batch dimensions. `Gemm`/`MatMul` act on the last dimension (`[N, T, K]`),
//!   `Conv`/`AveragePool` on `[N, T, C, H, W]`; `Flatten` must use `axis = 2` (it keeps
//!   `[N, T]`); `Reshape`'s target keeps `[N, T]` (`0` copies a dimension, `-1` infers one).
//! - Spiking neurons are ops of the `snn` domain: `snn.LIF <beta, threshold = 1.0,
//!   reset_mechanism = "subtract"|"zero">`, `snn.IF <threshold, reset_mechanism>`,
//!   `snn.SumPool <kernel_shape, strides, pads>` (spike counts).
//! - Weights are initializers (inline, `.safetensors`, `.npy` or raw external data). `Gemm`'s
//!   `B` and `MatMul`'s second operand must be initializers; `Add` of an initializer is a bias.
//! - Local functions are inlined at their call sites (attribute references `@a` resolved).
//!
//! Every error is a diagnostic at the offending node, attribute, value or initializer.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use phi_dialect::attr::Attr;
use phi_dialect::diag::{SourceMap, Span};
use phi_dialect::ir::{Module, ValueId};
use phi_dialect::location::Location;
use phi_dialect::ops::snn::{Conv2d, Linear, Neuron, NeuronParams, Pool, Port, Reset};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::weights::{WeightData, WeightId};
use phi_dialect::{DResult, Diagnostic, ElemType, TensorType};

use super::external::{Loaded, Loader, Values};
use super::onnx::ast::{
    AttrValue, AttrValueKind, Attribute, Dim, Function, Initializer, Model, Name, Node, PrimType, TypeKind,
};

/// The ops this frontend lowers, for messages.
pub const SUPPORTED_OPS: &str = "Gemm, MatMul, Add, Conv, Flatten, Reshape, AveragePool, Identity, snn.LIF, snn.IF, snn.SumPool, and local functions";

/// How initializer data is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightMode {
    /// Read and check every used initializer.
    Load,
    /// Use zeros of the declared shapes without reading any file (for training from scratch).
    ShapesOnly,
}

/// Lowers a parsed model. `sources` holds the model text (for locations), `loader` resolves
/// external data.
pub fn lower_model(model: &Model, sources: &SourceMap, loader: &mut Loader, mode: WeightMode) -> DResult<Module> {
    lower_model_traced(model, sources, loader, mode).map(|l| l.module)
}

/// How a weight of the IR derives from an initializer of the ONNX model.
#[derive(Clone, Debug, PartialEq)]
pub struct Derivation {
    /// The initializer's name.
    pub initializer: String,
    /// Whether the data was transposed (`Gemm` with `transB = 1`).
    pub transposed: bool,
    /// Factor applied to the data (`Gemm`'s `alpha` or `beta`).
    pub scale: f32,
    /// Shape in the IR.
    pub shape: Vec<usize>,
}

/// A lowered module with the provenance of its weights.
pub struct Lowered {
    /// The verified `snn` module.
    pub module: Module,
    /// Where each weight comes from.
    pub provenance: BTreeMap<WeightId, Derivation>,
}

/// [`lower_model`], also returning where each weight came from (the trainer writes trained
/// weights back to the initializers' files).
pub fn lower_model_traced(
    model: &Model,
    sources: &SourceMap,
    loader: &mut Loader,
    mode: WeightMode,
) -> DResult<Lowered> {
    let g = &model.graph;
    let mut cx = Lower {
        m: Module::new(if g.name.text.is_empty() { "model".to_string() } else { g.name.text.clone() }),
        sources,
        loader,
        mode,
        model,
        values: HashMap::new(),
        inits: HashMap::new(),
        weights: BTreeMap::new(),
        time: None,
        depth: 0,
    };
    for kv in model.metadata_props() {
        cx.m.attrs.insert(kv.key.clone(), Attr::Str(kv.value.clone()));
    }
    for init in &g.initializers {
        cx.inits.insert(init.name.text.clone(), init);
    }
    for (index, input) in g.inputs.iter().enumerate() {
        if cx.inits.contains_key(&input.name.text) {
            continue; // an input with a default value is a constant here
        }
        cx.input(index, input)?;
    }
    renumber_inputs(&mut cx.m);
    let order = topo_order(&g.nodes, &cx.values.keys().cloned().chain(cx.inits.keys().cloned()).collect::<Vec<_>>())?;
    for i in order {
        cx.node(&g.nodes[i], &HashMap::new(), &mut HashMap::new())?;
    }
    for (index, out) in g.outputs.iter().enumerate() {
        cx.output(index, out)?;
    }
    phi_dialect::verify(&cx.m)?;
    Ok(Lowered { module: cx.m, provenance: cx.weights })
}

/// A value of the graph: an activation (IR value) or a constant (initializer).
#[derive(Clone, Debug)]
enum Val<'a> {
    Act(ValueId),
    Init(&'a Initializer),
}

struct Lower<'a, 's> {
    m: Module,
    sources: &'s SourceMap,
    loader: &'s mut Loader,
    mode: WeightMode,
    model: &'a Model,
    values: HashMap<String, Val<'a>>,
    inits: HashMap<String, &'a Initializer>,
    weights: BTreeMap<WeightId, Derivation>,
    time: Option<usize>,
    depth: usize,
}

/// Attribute values in scope of an inlined function (its parameters).
type Scope<'a> = HashMap<String, &'a AttrValue>;

fn onnx_dims(t: &TensorType) -> String {
    let dims: Vec<String> = std::iter::once("N".to_string()).chain(t.shape.iter().map(|d| d.to_string())).collect();
    format!("[{}]", dims.join(", "))
}

impl<'a, 's> Lower<'a, 's> {
    fn loc(&self, span: Span) -> Location {
        let f = self.sources.file(span.file);
        let (line, col) = f.line_col(span.start as usize);
        Location::file(f.name(), line, col)
    }

    fn input(&mut self, index: usize, input: &'a super::onnx::ast::ValueInfo) -> DResult<()> {
        let name = &input.name;
        let Some(ty) = input.ty.as_ref() else {
            return Err(Diagnostic::error(format!("graph input `{}` has no type", name.text))
                .with_span(name.span, "")
                .with_help("write e.g. `uint8[N, 8, 64] x`"));
        };
        let TypeKind::Tensor(t) = &ty.kind else {
            return Err(
                Diagnostic::error(format!("graph input `{}` must be a tensor", name.text)).with_span(ty.span, "")
            );
        };
        let elem = if matches!(t.elem, PrimType::Bool | PrimType::Uint8) {
            ElemType::I1
        } else if t.elem == PrimType::Float {
            ElemType::F32
        } else if matches!(
            t.elem,
            PrimType::Int8 | PrimType::Int16 | PrimType::Int32 | PrimType::Int64 | PrimType::Uint16
        ) {
            ElemType::I32
        } else {
            return Err(Diagnostic::error(format!("graph input `{}` has element type `{}`", name.text, t.elem.name()))
                .with_span(t.elem_span, "unsupported element type")
                .with_help("inputs are spikes (`bool`/`uint8`), currents (`float`) or counts (`int32`)"));
        };
        let Some(dims) = t.dims.as_ref().filter(|d| d.len() >= 3) else {
            return Err(Diagnostic::error(format!("graph input `{}` must be [N, T, features...]", name.text))
                .with_span(t.span, "needs a batch, a time and at least one feature dimension")
                .with_help("write e.g. `uint8[N, 8, 64] x` (N samples, 8 time steps, 64 features)"));
        };
        let mut shape = Vec::new();
        for (i, d) in dims.iter().enumerate().skip(1) {
            match &d.value {
                Dim::Int(v) if *v > 0 && *v <= 1 << 24 => shape.push(*v as usize),
                Dim::Int(v) => {
                    return Err(Diagnostic::error(format!("dimension {i} of input `{}` is {v}", name.text))
                        .with_span(d.span, "must be between 1 and 2^24"));
                }
                Dim::Sym(_) | Dim::Unknown => {
                    return Err(Diagnostic::error(format!("dimension {i} of input `{}` must be a number", name.text))
                        .with_span(d.span, "only the batch dimension (the first) may be symbolic")
                        .with_help("the Phi IR has static shapes; give the size"));
                }
            }
        }
        let tt = TensorType::new(shape, elem);
        if tt.checked_num_elements().is_none_or(|n| n > 1 << 32) {
            return Err(Diagnostic::error(format!("input `{}` is too large", name.text)).with_span(t.span, ""));
        }
        self.check_time(tt.shape[0], dims[1].span)?;
        let op = self.m.push(
            OpKind::Snn(SnnOp::Input(Port { name: name.text.clone(), index: index as u32 })),
            vec![],
            vec![tt],
            self.loc(input.span),
        );
        let v = self.m.result(op);
        self.define(name, Val::Act(v))
    }

    fn check_time(&mut self, t: usize, span: Span) -> DResult<()> {
        match self.time {
            None => {
                self.time = Some(t);
                Ok(())
            }
            Some(t0) if t0 == t => Ok(()),
            Some(t0) => Err(Diagnostic::error(format!("T = {t} here, but the model's other inputs have T = {t0}"))
                .with_span(span, "time dimension")
                .with_help("all inputs share one number of time steps")),
        }
    }

    fn define(&mut self, name: &Name, v: Val<'a>) -> DResult<()> {
        if name.text.is_empty() {
            return Ok(());
        }
        if self.values.contains_key(&name.text) || self.inits.contains_key(&name.text) && !matches!(v, Val::Init(_)) {
            return Err(Diagnostic::error(format!("value `{}` is defined twice", name.text))
                .with_span(name.span, "redefined here")
                .with_help("ONNX graphs are in SSA form: give every output a new name"));
        }
        self.values.insert(name.text.clone(), v);
        Ok(())
    }

    fn output(&mut self, index: usize, out: &super::onnx::ast::ValueInfo) -> DResult<()> {
        let v = match self.values.get(&out.name.text) {
            Some(Val::Act(v)) => *v,
            Some(Val::Init(_)) => {
                return Err(Diagnostic::error(format!("graph output `{}` is a constant", out.name.text))
                    .with_span(out.name.span, "outputs must be computed from the inputs"));
            }
            None => {
                return Err(Diagnostic::error(format!("graph output `{}` is never computed", out.name.text))
                    .with_span(out.name.span, "no node produces it")
                    .with_help("name a node output or an input"));
            }
        };
        let ty = self.m.ty(v).clone();
        if let Some(t) = out.ty.as_ref().and_then(|t| t.as_tensor()) {
            let elem_ok = match (ty.elem, t.elem) {
                (ElemType::I1, PrimType::Bool | PrimType::Uint8) => true,
                (ElemType::F32, PrimType::Float) => true,
                (ElemType::I32 | ElemType::I16 | ElemType::I8, PrimType::Int32 | PrimType::Int64) => true,
                (_, _) => false,
            };
            let dims_ok = t.dims.as_ref().is_none_or(|d| {
                d.len() == ty.rank() + 1
                    && d.iter().skip(1).zip(&ty.shape).all(|(a, &b)| match a.value {
                        Dim::Int(x) => x == b as i64,
                        Dim::Sym(_) | Dim::Unknown => true,
                    })
            });
            if !elem_ok || !dims_ok {
                let want = match ty.elem {
                    ElemType::I1 => "uint8",
                    ElemType::F32 => "float",
                    ElemType::I8 | ElemType::I16 | ElemType::I32 => "int32",
                };
                return Err(Diagnostic::error(format!(
                    "graph output `{}` is declared {}{} but computes {want}{}",
                    out.name.text,
                    t.elem.name(),
                    t.dims.as_ref().map_or(String::new(), |d| format!(
                        "[{}]",
                        d.iter().map(|x| dim_text(&x.value)).collect::<Vec<_>>().join(", ")
                    )),
                    onnx_dims(&ty)
                ))
                .with_span(t.span, "declared type")
                .with_help(format!("declare it as `{want}{} {}`", onnx_dims(&ty), out.name.text)));
            }
        }
        self.m.push(
            OpKind::Snn(SnnOp::Output(Port { name: out.name.text.clone(), index: index as u32 })),
            vec![v],
            vec![],
            self.loc(out.span),
        );
        Ok(())
    }

    // ---------------------------------------------------------------- operands and attributes

    fn operand(&self, node: &Node, i: usize, renames: &HashMap<String, String>) -> DResult<Val<'a>> {
        let Some(n) = node.inputs.get(i).filter(|n| !n.text.is_empty()) else {
            return Err(Diagnostic::error(format!("`{}` needs input {}", op_name(node), i + 1))
                .with_span(node.op.span, format!("has {} input(s)", node.inputs.len())));
        };
        let key = renames.get(&n.text).unwrap_or(&n.text);
        if let Some(v) = self.values.get(key) {
            return Ok(v.clone());
        }
        if let Some(init) = self.inits.get(key) {
            return Ok(Val::Init(init));
        }
        Err(Diagnostic::error(format!("value `{}` is not defined", n.text))
            .with_span(n.span, "used here")
            .with_help("it must be a graph input, an initializer or the output of another node"))
    }

    fn activation(&self, node: &Node, i: usize, renames: &HashMap<String, String>) -> DResult<ValueId> {
        match self.operand(node, i, renames)? {
            Val::Act(v) => Ok(v),
            Val::Init(init) => Err(Diagnostic::error(format!(
                "input {} of `{}` must be an activation, but `{}` is an initializer",
                i + 1,
                op_name(node),
                init.name.text
            ))
            .with_span(node.inputs[i].span, "a constant")),
        }
    }

    fn initializer(
        &self,
        node: &Node,
        i: usize,
        what: &str,
        renames: &HashMap<String, String>,
    ) -> DResult<&'a Initializer> {
        match self.operand(node, i, renames)? {
            Val::Init(init) => Ok(init),
            Val::Act(_) => Err(Diagnostic::error(format!("{what} of `{}` must be an initializer", op_name(node)))
                .with_span(node.inputs[i].span, "computed at run time")
                .with_help("the Phi compiler needs weights known at compile time")),
        }
    }

    fn load(&mut self, init: &Initializer) -> DResult<Loaded> {
        match self.mode {
            WeightMode::Load => self.loader.load(init),
            WeightMode::ShapesOnly => {
                let shape: Vec<usize> = init.shape().iter().map(|&d| d.max(0) as usize).collect();
                let n = shape.iter().product();
                // Inline data costs no file access: load it (shapes for Reshape need it).
                if matches!(init.data, super::onnx::ast::TensorData::Inline(_)) {
                    return self.loader.load(init);
                }
                let values = if super::external::is_float(init.ty.elem) {
                    Values::F32(vec![0.0; n])
                } else {
                    Values::I64(vec![0; n])
                };
                Ok(Loaded { shape, values })
            }
        }
    }

    fn float_weight(&mut self, init: &Initializer) -> DResult<(Vec<usize>, Vec<f32>)> {
        let l = self.load(init)?;
        match l.values {
            Values::F32(v) => Ok((l.shape, v)),
            Values::I64(_) => Err(Diagnostic::error(format!("initializer `{}` must be `float`", init.name.text))
                .with_span(init.ty.elem_span, format!("declared {}", init.ty.elem.name()))),
        }
    }

    /// Adds a float weight derived from an initializer to the store, once per derivation.
    fn add_weight(
        &mut self,
        init: &Initializer,
        transposed: bool,
        scale: f32,
        shape: Vec<usize>,
        data: Vec<f32>,
    ) -> WeightId {
        let d = Derivation { initializer: init.name.text.clone(), transposed, scale, shape: shape.clone() };
        if let Some((w, _)) = self.weights.iter().find(|(_, e)| **e == d) {
            return *w;
        }
        let mut name = init.name.text.clone();
        if transposed {
            name.push_str(".t");
        }
        if scale != 1.0 {
            name.push_str(".scaled");
        }
        let w = self.m.weights.add(&name, TensorType::new(shape, ElemType::F32), WeightData::F32(data));
        self.weights.insert(w, d);
        w
    }

    fn attr<'n>(&self, node: &'n Node, name: &str, scope: &Scope<'n>) -> DResult<Option<(&'n AttrValue, Span)>>
    where
        'a: 'n,
    {
        let Some(a) = node.attribute(name) else { return Ok(None) };
        if let AttrValueKind::Ref(r) = &a.value.kind {
            return match scope.get(&r.text) {
                Some(v) => Ok(Some((v, a.span))),
                None => Ok(None),
            };
        }
        Ok(Some((&a.value, a.span)))
    }

    fn int_attr(&self, node: &Node, name: &str, default: i64, scope: &Scope<'_>) -> DResult<i64> {
        match self.attr(node, name, scope)? {
            None => Ok(default),
            Some((v, span)) => v.as_int().ok_or_else(|| bad_attr(node, name, "an integer", span)),
        }
    }

    fn float_attr(&self, node: &Node, name: &str, default: Option<f64>, scope: &Scope<'_>) -> DResult<f64> {
        match self.attr(node, name, scope)? {
            None => default.ok_or_else(|| missing_attr(node, name)),
            Some((v, span)) => v.as_float().ok_or_else(|| bad_attr(node, name, "a number", span)),
        }
    }

    fn str_attr(&self, node: &Node, name: &str, default: &str, scope: &Scope<'_>) -> DResult<(String, Option<Span>)> {
        match self.attr(node, name, scope)? {
            None => Ok((default.to_string(), None)),
            Some((v, span)) => {
                v.as_str().map(|s| (s.to_string(), Some(span))).ok_or_else(|| bad_attr(node, name, "a string", span))
            }
        }
    }

    fn ints_attr(&self, node: &Node, name: &str, scope: &Scope<'_>) -> DResult<Option<(Vec<i64>, Span)>> {
        match self.attr(node, name, scope)? {
            None => Ok(None),
            Some((v, span)) => {
                v.as_ints().map(|x| Some((x, span))).ok_or_else(|| bad_attr(node, name, "a list of integers", span))
            }
        }
    }

    fn check_attrs(&self, node: &Node, allowed: &[&str]) -> DResult<()> {
        for a in &node.attributes {
            if !allowed.contains(&a.name.text.as_str()) {
                let mut d = Diagnostic::error(format!("`{}` has no attribute `{}`", op_name(node), a.name.text))
                    .with_span(a.name.span, "unknown attribute");
                d = if allowed.is_empty() {
                    d.with_help(format!("`{}` takes no attributes", op_name(node)))
                } else {
                    d.with_help(format!("its attributes are: {}", allowed.join(", ")))
                };
                return Err(d);
            }
        }
        Ok(())
    }

    fn emit(&mut self, node: &Node, kind: SnnOp, operands: Vec<ValueId>) -> DResult<ValueId> {
        let loc = self.loc(node.span);
        let op = self.m.append(OpKind::Snn(kind), operands, loc).map_err(|e| type_error(node, e))?;
        Ok(self.m.result(op))
    }

    fn bind_output(&mut self, node: &Node, v: ValueId, renames: &mut HashMap<String, String>) -> DResult<()> {
        if node.outputs.len() != 1 {
            let span = node.outputs.get(1).map_or(node.op.span, |o| o.span);
            return Err(Diagnostic::error(format!(
                "`{}` has one output, {} are named",
                op_name(node),
                node.outputs.len()
            ))
            .with_span(span, ""));
        }
        let out = &node.outputs[0];
        let key = renames.get(&out.text).cloned().unwrap_or_else(|| out.text.clone());
        let name = Name { text: key, quoted: out.quoted, span: out.span };
        self.define(&name, Val::Act(v))
    }

    // ---------------------------------------------------------------------------- the ops

    fn node(&mut self, node: &'a Node, scope: &Scope<'a>, renames: &mut HashMap<String, String>) -> DResult<()> {
        let domain = node.domain_str();
        if let Some(f) = self.model.function(Some(domain), &node.op.text) {
            return self.inline(node, f, scope, renames);
        }
        let v = match (domain, node.op.text.as_str()) {
            ("" | "ai.onnx", "Gemm") => self.gemm(node, scope, renames)?,
            ("" | "ai.onnx", "MatMul") => {
                self.check_attrs(node, &[])?;
                let x = self.activation(node, 0, renames)?;
                let init = self.initializer(node, 1, "the second input", renames)?;
                let (shape, data) = self.float_weight(init)?;
                if shape.len() != 2 {
                    return Err(Diagnostic::error(format!("`MatMul` weight `{}` must be 2-D [K, M]", init.name.text))
                        .with_span(init.ty.span, ""));
                }
                let w = self.add_weight(init, false, 1.0, shape, data);
                self.emit(node, SnnOp::Linear(Linear { weight: w, bias: None }), vec![x])?
            }
            ("" | "ai.onnx", "Add") => self.add(node, renames)?,
            ("" | "ai.onnx", "Conv") => self.conv(node, scope, renames)?,
            ("" | "ai.onnx", "Flatten") => {
                self.check_attrs(node, &["axis"])?;
                let x = self.activation(node, 0, renames)?;
                let rank = self.m.ty(x).rank() as i64 + 1;
                let axis = self.int_attr(node, "axis", 1, scope)?;
                let axis = if axis < 0 { axis + rank } else { axis };
                if axis != 2 {
                    let span = node.attribute("axis").map_or(node.op.span, |a| a.span);
                    return Err(Diagnostic::error(format!(
                        "`Flatten` with axis = {axis} would merge the batch or time dimension"
                    ))
                    .with_span(span, "")
                    .with_help("SNN graphs keep [N, T]: write `Flatten <axis = 2>`"));
                }
                self.emit(node, SnnOp::Flatten, vec![x])?
            }
            ("" | "ai.onnx", "Reshape") => self.reshape(node, scope, renames)?,
            ("" | "ai.onnx", "AveragePool") => {
                self.check_attrs(
                    node,
                    &["kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad", "dilations"],
                )?;
                let x = self.activation(node, 0, renames)?;
                let pool = self.pool_attrs(node, x, scope)?;
                if self.int_attr(node, "ceil_mode", 0, scope)? != 0 {
                    return Err(unsupported_attr(node, "ceil_mode", "only ceil_mode = 0 is supported"));
                }
                if let Some((d, _)) = self.ints_attr(node, "dilations", scope)?
                    && d.iter().any(|&x| x != 1)
                {
                    return Err(unsupported_attr(node, "dilations", "pooling dilations must be 1"));
                }
                let cip = self.int_attr(node, "count_include_pad", 0, scope)? != 0;
                self.emit(node, SnnOp::AvgPool { pool, count_include_pad: cip }, vec![x])?
            }
            ("" | "ai.onnx", "Identity") => {
                self.check_attrs(node, &[])?;
                self.activation(node, 0, renames)?
            }
            ("snn", "LIF") | ("snn", "IF") => {
                let is_lif = node.op.text == "LIF";
                self.check_attrs(
                    node,
                    if is_lif { &["beta", "threshold", "reset_mechanism"] } else { &["threshold", "reset_mechanism"] },
                )?;
                let x = self.activation(node, 0, renames)?;
                let beta = if is_lif { self.float_attr(node, "beta", None, scope)? } else { 1.0 };
                let threshold = self.float_attr(node, "threshold", Some(1.0), scope)?;
                let (reset, span) = self.str_attr(node, "reset_mechanism", "subtract", scope)?;
                let reset = Reset::from_name(&reset).ok_or_else(|| {
                    Diagnostic::error(format!("reset_mechanism `{reset}` is not supported"))
                        .with_span(span.unwrap_or(node.op.span), "")
                        .with_help("use \"subtract\" or \"zero\" (snnTorch's \"none\" has no hardware form)")
                })?;
                if !(0.0..=1.0).contains(&beta) {
                    let span = node.attribute("beta").map_or(node.op.span, |a| a.span);
                    return Err(Diagnostic::error(format!("beta = {beta} is outside [0, 1]"))
                        .with_span(span, "")
                        .with_help("beta is the membrane decay per step (snnTorch clamps it to [0, 1])"));
                }
                if !threshold.is_finite() {
                    return Err(unsupported_attr(node, "threshold", "the threshold must be finite"));
                }
                let n =
                    Neuron { params: NeuronParams::Float { beta: beta as f32, threshold: threshold as f32 }, reset };
                self.emit(node, if is_lif { SnnOp::Lif(n) } else { SnnOp::If(n) }, vec![x])?
            }
            ("snn", "SumPool") => {
                self.check_attrs(node, &["kernel_shape", "strides", "pads", "auto_pad"])?;
                let x = self.activation(node, 0, renames)?;
                let pool = self.pool_attrs(node, x, scope)?;
                self.emit(node, SnnOp::SumPool(pool), vec![x])?
            }
            (d, op) => {
                let what = if d.is_empty() { format!("`{op}`") } else { format!("`{d}.{op}`") };
                let mut diag = Diagnostic::error(format!("unsupported op {what}"))
                    .with_span(node.op.span, "the Phi frontend cannot lower this op")
                    .with_help(format!("supported: {SUPPORTED_OPS}"));
                if d == "snn" {
                    diag = diag.with_note("the snn domain has LIF, IF and SumPool");
                }
                return Err(diag);
            }
        };
        self.bind_output(node, v, renames)
    }

    fn gemm(&mut self, node: &Node, scope: &Scope<'_>, renames: &HashMap<String, String>) -> DResult<ValueId> {
        self.check_attrs(node, &["alpha", "beta", "transA", "transB"])?;
        let x = self.activation(node, 0, renames)?;
        if self.int_attr(node, "transA", 0, scope)? != 0 {
            return Err(unsupported_attr(node, "transA", "the activation cannot be transposed; use transA = 0"));
        }
        let trans_b = self.int_attr(node, "transB", 0, scope)? != 0;
        let alpha = self.float_attr(node, "alpha", Some(1.0), scope)? as f32;
        let beta = self.float_attr(node, "beta", Some(1.0), scope)? as f32;
        let init = self.initializer(node, 1, "`B`", renames)?;
        let (shape, mut data) = self.float_weight(init)?;
        if shape.len() != 2 {
            return Err(Diagnostic::error(format!("`Gemm` weight `{}` must be 2-D", init.name.text))
                .with_span(init.ty.span, ""));
        }
        let (k, n) = if trans_b { (shape[1], shape[0]) } else { (shape[0], shape[1]) };
        if trans_b {
            data = transpose(&data, shape[0], shape[1]);
        }
        if alpha != 1.0 {
            data.iter_mut().for_each(|w| *w *= alpha);
        }
        let w = self.add_weight(init, trans_b, alpha, vec![k, n], data);
        let bias = match node.inputs.get(2).filter(|n| !n.text.is_empty()) {
            None => None,
            Some(_) => {
                let binit = self.initializer(node, 2, "`C`", renames)?;
                let (bshape, mut b) = self.float_weight(binit)?;
                let numel: usize = bshape.iter().product();
                let bias_ok = numel == n && bshape.iter().rev().skip(1).all(|&d| d == 1);
                if !bias_ok {
                    return Err(Diagnostic::error(format!(
                        "`Gemm` bias `{}` has shape {bshape:?}; a bias of {n} outputs is expected",
                        binit.name.text
                    ))
                    .with_span(binit.ty.span, "")
                    .with_help(format!("declare it as float[{n}]")));
                }
                if beta != 1.0 {
                    b.iter_mut().for_each(|x| *x *= beta);
                }
                Some(self.add_weight(binit, false, beta, vec![n], b))
            }
        };
        self.emit(node, SnnOp::Linear(Linear { weight: w, bias }), vec![x])
    }

    fn add(&mut self, node: &Node, renames: &HashMap<String, String>) -> DResult<ValueId> {
        self.check_attrs(node, &[])?;
        let a = self.operand(node, 0, renames)?;
        let b = self.operand(node, 1, renames)?;
        let (x, c) = match (a, b) {
            (Val::Act(x), Val::Act(y)) => return self.emit(node, SnnOp::Add, vec![x, y]),
            (Val::Act(x), Val::Init(c)) | (Val::Init(c), Val::Act(x)) => (x, c),
            (Val::Init(_), Val::Init(_)) => {
                return Err(Diagnostic::error("`Add` of two initializers")
                    .with_span(node.op.span, "")
                    .with_help("fold the constants by hand; the frontend lowers computations on activations"));
            }
        };
        let (shape, data) = self.float_weight(c)?;
        // Drop leading 1s (ONNX broadcasting), keep the rest as a suffix of the activation.
        let trimmed: Vec<usize> = shape.iter().copied().skip_while(|&d| d == 1).collect();
        let trimmed = if trimmed.is_empty() { vec![1] } else { trimmed };
        let xt = self.m.ty(x).clone();
        let suffix_ok = trimmed.len() <= xt.rank() && xt.shape[xt.rank() - trimmed.len()..] == trimmed[..];
        let (shape, data) = if suffix_ok {
            (trimmed, data)
        } else if trimmed == [1] {
            // a scalar: repeat over the last dimension
            let last = *xt.shape.last().unwrap_or(&1);
            (vec![last], vec![data[0]; last])
        } else {
            return Err(Diagnostic::error(format!(
                "`Add` constant `{}` of shape {shape:?} does not broadcast over {}",
                c.name.text,
                onnx_dims(&xt)
            ))
            .with_span(c.ty.span, "")
            .with_help("the constant's shape must be a suffix of the activation's"));
        };
        let w = self.add_weight(c, false, 1.0, shape, data);
        let cst = self.emit(node, SnnOp::Constant { value: w }, vec![])?;
        self.emit(node, SnnOp::Add, vec![x, cst])
    }

    fn conv(&mut self, node: &Node, scope: &Scope<'_>, renames: &HashMap<String, String>) -> DResult<ValueId> {
        self.check_attrs(node, &["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"])?;
        let x = self.activation(node, 0, renames)?;
        let xt = self.m.ty(x).clone();
        if xt.rank() != 4 {
            return Err(Diagnostic::error(format!("`Conv` input is {}, expected [N, T, C, H, W]", onnx_dims(&xt)))
                .with_span(node.inputs[0].span, "")
                .with_help("only 2-D convolutions over time-major inputs are supported"));
        }
        let init = self.initializer(node, 1, "the weight", renames)?;
        let (wshape, wdata) = self.float_weight(init)?;
        if wshape.len() != 4 {
            return Err(Diagnostic::error(format!("`Conv` weight `{}` must be [O, C/group, kh, kw]", init.name.text))
                .with_span(init.ty.span, ""));
        }
        if let Some((ks, span)) = self.ints_attr(node, "kernel_shape", scope)?
            && ks.iter().map(|&k| k as usize).ne(wshape[2..].iter().copied())
        {
            return Err(Diagnostic::error(format!(
                "kernel_shape {ks:?} does not match the weight's {:?}",
                &wshape[2..]
            ))
            .with_span(span, ""));
        }
        let strides = self.pair(node, "strides", scope)?;
        let dilations = self.pair(node, "dilations", scope)?;
        let groups = self.int_attr(node, "group", 1, scope)?;
        if groups < 1 {
            return Err(unsupported_attr(node, "group", "group must be at least 1"));
        }
        let pads = self.pads(node, &xt, [wshape[2], wshape[3]], strides, dilations, scope)?;
        let w = self.add_weight(init, false, 1.0, wshape, wdata);
        let bias = match node.inputs.get(2).filter(|n| !n.text.is_empty()) {
            None => None,
            Some(_) => {
                let binit = self.initializer(node, 2, "the bias", renames)?;
                let (bshape, b) = self.float_weight(binit)?;
                Some(self.add_weight(binit, false, 1.0, bshape, b))
            }
        };
        let c = Conv2d { weight: w, bias, strides, pads, dilations, groups: groups as usize };
        self.emit(node, SnnOp::Conv2d(c), vec![x])
    }

    fn pair(&self, node: &Node, name: &str, scope: &Scope<'_>) -> DResult<[usize; 2]> {
        match self.ints_attr(node, name, scope)? {
            None => Ok([1, 1]),
            Some((v, span)) => match v.as_slice() {
                [a, b] if *a >= 1 && *b >= 1 && *a <= 1 << 16 && *b <= 1 << 16 => Ok([*a as usize, *b as usize]),
                _ => Err(Diagnostic::error(format!("`{name}` must be two positive integers, found {v:?}"))
                    .with_span(span, "")),
            },
        }
    }

    /// ONNX pads `[top, left, bottom, right]` from `pads` or `auto_pad`.
    fn pads(
        &self,
        node: &Node,
        xt: &TensorType,
        kernel: [usize; 2],
        strides: [usize; 2],
        dil: [usize; 2],
        scope: &Scope<'_>,
    ) -> DResult<[usize; 4]> {
        let (auto, auto_span) = self.str_attr(node, "auto_pad", "NOTSET", scope)?;
        let explicit = self.ints_attr(node, "pads", scope)?;
        match auto.as_str() {
            "NOTSET" => match explicit {
                None => Ok([0; 4]),
                Some((v, span)) => match v.as_slice() {
                    [a, b, c, d] if v.iter().all(|&p| (0..=1 << 16).contains(&p)) => {
                        Ok([*a as usize, *b as usize, *c as usize, *d as usize])
                    }
                    _ => Err(Diagnostic::error(format!("`pads` must be four non-negative integers, found {v:?}"))
                        .with_span(span, "")
                        .with_help("ONNX order: [top, left, bottom, right]")),
                },
            },
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut p = [0usize; 4];
                for a in 0..2 {
                    let n = xt.shape[2 + a];
                    let out = n.div_ceil(strides[a]);
                    let need = ((out - 1) * strides[a] + dil[a] * (kernel[a] - 1) + 1).saturating_sub(n);
                    let (small, big) = (need / 2, need - need / 2);
                    if auto == "SAME_UPPER" {
                        p[a] = small;
                        p[a + 2] = big;
                    } else {
                        p[a] = big;
                        p[a + 2] = small;
                    }
                }
                Ok(p)
            }
            other => Err(Diagnostic::error(format!("auto_pad `{other}` is not an ONNX mode"))
                .with_span(auto_span.unwrap_or(node.op.span), "")
                .with_help("use NOTSET, VALID, SAME_UPPER or SAME_LOWER")),
        }
    }

    fn pool_attrs(&self, node: &Node, x: ValueId, scope: &Scope<'_>) -> DResult<Pool> {
        let xt = self.m.ty(x).clone();
        if xt.rank() != 4 {
            return Err(Diagnostic::error(format!(
                "`{}` input is {}, expected [N, T, C, H, W]",
                op_name(node),
                onnx_dims(&xt)
            ))
            .with_span(node.inputs[0].span, ""));
        }
        let Some((k, span)) = self.ints_attr(node, "kernel_shape", scope)? else {
            return Err(missing_attr(node, "kernel_shape"));
        };
        let kernel = match k.as_slice() {
            [a, b] if *a >= 1 && *b >= 1 && *a <= 1 << 16 && *b <= 1 << 16 => [*a as usize, *b as usize],
            _ => {
                return Err(Diagnostic::error(format!("`kernel_shape` must be two positive integers, found {k:?}"))
                    .with_span(span, ""));
            }
        };
        let strides = match self.ints_attr(node, "strides", scope)? {
            None => kernel_default_strides(node, kernel),
            Some(_) => self.pair(node, "strides", scope)?,
        };
        let pads = self.pads(node, &xt, kernel, strides, [1, 1], scope)?;
        Ok(Pool { kernel, strides, pads })
    }

    fn reshape(&mut self, node: &Node, scope: &Scope<'_>, renames: &HashMap<String, String>) -> DResult<ValueId> {
        self.check_attrs(node, &["allowzero"])?;
        let allowzero = self.int_attr(node, "allowzero", 0, scope)? != 0;
        let x = self.activation(node, 0, renames)?;
        let init = self.initializer(node, 1, "the shape", renames)?;
        let l = self.load(init)?;
        let Values::I64(target) = l.values else {
            return Err(Diagnostic::error(format!("`Reshape` shape `{}` must be int64", init.name.text))
                .with_span(init.ty.elem_span, ""));
        };
        let xt = self.m.ty(x).clone();
        let full: Vec<usize> = std::iter::once(1usize).chain(xt.shape.iter().copied()).collect(); // N as 1
        let mut out: Vec<i64> = Vec::new();
        let mut infer = None;
        for (i, &d) in target.iter().enumerate() {
            match d {
                0 if !allowzero => out.push(*full.get(i).unwrap_or(&0) as i64),
                -1 if infer.is_none() => {
                    infer = Some(i);
                    out.push(1);
                }
                d if d >= 0 => out.push(d),
                _ => {
                    return Err(Diagnostic::error(format!("`Reshape` shape {target:?} is not valid"))
                        .with_span(init.data_span, "")
                        .with_help("use non-negative sizes, 0 to copy a dimension and at most one -1"));
                }
            }
        }
        let total: usize = full.iter().product();
        if let Some(i) = infer {
            let known: i64 = out.iter().product();
            if known <= 0 || total as i64 % known != 0 {
                return Err(Diagnostic::error(format!(
                    "`Reshape` cannot infer the -1 in {target:?} for {}",
                    onnx_dims(&xt)
                ))
                .with_span(init.data_span, ""));
            }
            out[i] = total as i64 / known;
        }
        let keeps_nt = out.len() >= 3 && out[0] == 1 && out[1] == xt.shape[0] as i64
            || out.len() >= 3 && target[0] == 0 && out[1] == xt.shape[0] as i64;
        if !keeps_nt || out.iter().product::<i64>() != total as i64 {
            return Err(Diagnostic::error(format!(
                "`Reshape` to {target:?} does not keep [N, T] of {}",
                onnx_dims(&xt)
            ))
            .with_span(init.data_span, "target shape")
            .with_help("start the target with 0, 0 (copy N and T), e.g. [0, 0, -1]"));
        }
        let shape: Vec<usize> = out[1..].iter().map(|&d| d as usize).collect();
        let ty = TensorType::new(shape, xt.elem);
        let op = self.m.push(OpKind::Snn(SnnOp::Reshape), vec![x], vec![ty], self.loc(node.span));
        Ok(self.m.result(op))
    }

    fn inline(
        &mut self,
        node: &'a Node,
        f: &'a Function,
        outer: &Scope<'a>,
        renames: &mut HashMap<String, String>,
    ) -> DResult<()> {
        self.depth += 1;
        if self.depth > 32 {
            return Err(Diagnostic::error(format!(
                "function `{}` calls itself (or nests more than 32 deep)",
                f.name.text
            ))
            .with_span(node.op.span, ""));
        }
        if node.inputs.len() > f.inputs.len() || node.outputs.len() > f.outputs.len() {
            return Err(Diagnostic::error(format!(
                "`{}` takes {} inputs and {} outputs; the call has {} and {}",
                f.name.text,
                f.inputs.len(),
                f.outputs.len(),
                node.inputs.len(),
                node.outputs.len()
            ))
            .with_span(node.span, "")
            .with_secondary(f.name.span, "function defined here"));
        }
        // Attribute scope: call-site values (resolving the caller's references), then defaults.
        let mut scope: Scope<'a> = HashMap::new();
        for fa in &f.attributes {
            let name = &fa.name().text;
            let given: Option<&'a Attribute> = node.attributes.iter().find(|a| &a.name.text == name);
            let value: Option<&'a AttrValue> = match given {
                Some(a) => match &a.value.kind {
                    AttrValueKind::Ref(r) => outer.get(&r.text).copied(),
                    AttrValueKind::Int(_)
                    | AttrValueKind::Float(_)
                    | AttrValueKind::Str(_)
                    | AttrValueKind::Tensor(_)
                    | AttrValueKind::Type(_)
                    | AttrValueKind::Graph(_)
                    | AttrValueKind::List(_) => Some(&a.value),
                },
                None => fa.default().map(|d| &d.value),
            };
            if let Some(v) = value {
                scope.insert(name.clone(), v);
            }
        }
        for a in &node.attributes {
            if !f.attributes.iter().any(|fa| fa.name().text == a.name.text) {
                return Err(Diagnostic::error(format!(
                    "function `{}` has no attribute `{}`",
                    f.name.text, a.name.text
                ))
                .with_span(a.name.span, ""));
            }
        }
        // Fresh names for the body's values: formal → actual for inputs/outputs, prefixed otherwise.
        let prefix =
            format!("{}/{}#{}", f.name.text, node.outputs.first().map_or("", |o| o.text.as_str()), node.span.start);
        let mut inner: HashMap<String, String> = HashMap::new();
        for (formal, actual) in f.inputs.iter().zip(&node.inputs) {
            let actual = renames.get(&actual.text).cloned().unwrap_or_else(|| actual.text.clone());
            inner.insert(formal.name.text.clone(), actual);
        }
        for (formal, actual) in f.outputs.iter().zip(&node.outputs) {
            let actual = renames.get(&actual.text).cloned().unwrap_or_else(|| actual.text.clone());
            inner.insert(formal.name.text.clone(), actual);
        }
        for n in &f.nodes {
            for o in &n.outputs {
                if !o.text.is_empty() && !inner.contains_key(&o.text) {
                    inner.insert(o.text.clone(), format!("{prefix}/{}", o.text));
                }
            }
        }
        let known: Vec<String> = f.inputs.iter().map(|i| i.name.text.clone()).collect();
        for i in topo_order(&f.nodes, &known)? {
            self.node(&f.nodes[i], &scope, &mut inner)?;
        }
        self.depth -= 1;
        Ok(())
    }
}

fn kernel_default_strides(_node: &Node, _kernel: [usize; 2]) -> [usize; 2] {
    // ONNX: strides default to 1 along each axis.
    [1, 1]
}

fn dim_text(d: &Dim) -> String {
    match d {
        Dim::Int(v) => v.to_string(),
        Dim::Sym(s) => s.clone(),
        Dim::Unknown => "?".to_string(),
    }
}

fn op_name(node: &Node) -> String {
    match node.domain_str() {
        "" => node.op.text.clone(),
        d => format!("{d}.{}", node.op.text),
    }
}

fn bad_attr(node: &Node, name: &str, want: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("attribute `{name}` of `{}` must be {want}", op_name(node))).with_span(span, "")
}

fn missing_attr(node: &Node, name: &str) -> Diagnostic {
    Diagnostic::error(format!("`{}` needs the attribute `{name}`", op_name(node)))
        .with_span(node.op.span, "")
        .with_help(format!("add it: `{} <{name} = ...>`", op_name(node)))
}

fn unsupported_attr(node: &Node, name: &str, why: &str) -> Diagnostic {
    let span = node.attribute(name).map_or(node.op.span, |a| a.span);
    Diagnostic::error(format!("unsupported `{name}` on `{}`", op_name(node))).with_span(span, why.to_string())
}

fn type_error(node: &Node, msg: String) -> Diagnostic {
    Diagnostic::error(format!("`{}`: {msg}", op_name(node))).with_span(node.span, "shape inference failed here")
}

fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// A stable topological order of nodes (source order where the data allows), from the names
/// already defined. A node reading a name that no node defines is left in place (its lowering
/// reports the undefined value); a cycle is an error.
fn topo_order(nodes: &[Node], defined: &[String]) -> DResult<Vec<usize>> {
    let mut producer: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for o in &n.outputs {
            if !o.text.is_empty() {
                producer.entry(o.text.as_str()).or_insert(i);
            }
        }
    }
    let mut indeg = vec![0usize; nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for inp in &n.inputs {
            if defined.contains(&inp.text) {
                continue;
            }
            if let Some(&p) = producer.get(inp.text.as_str())
                && p != i
            {
                indeg[i] += 1;
                users[p].push(i);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..nodes.len()).filter(|&i| indeg[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.push(Reverse(u));
            }
        }
    }
    if order.len() < nodes.len() {
        let stuck = (0..nodes.len()).find(|i| !order.contains(i)).expect("some node is on a cycle");
        return Err(Diagnostic::error("the graph has a cycle")
            .with_span(nodes[stuck].span, "this node depends on its own output")
            .with_help("an ONNX graph must be acyclic"));
    }
    Ok(order)
}

/// Gives graph inputs consecutive indices (inputs with default values were skipped).
fn renumber_inputs(m: &mut Module) {
    let mut next = 0;
    for op in m.body().to_vec() {
        if let OpKind::Snn(SnnOp::Input(p)) = &mut m.op_mut(op).kind {
            p.index = next;
            next += 1;
        }
    }
}
