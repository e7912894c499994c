//! The `snn` dialect: spiking networks as the frontend sees them.
//!
//! Values are time-major per-sample tensors `T × …` (the batch is implicit). A layer is a
//! synaptic op (`snn.linear`, `snn.conv2d`) producing a current, followed by a neuron op
//! (`snn.lif`, `snn.if`) producing spikes (`i1`). The same ops serve the float model (f32
//! weights and currents) and the quantised integer model (i8 weights, i32 bias, currents and
//! membranes, fixed-point leak); the weight element type selects the mode.
//!
//! | op              | operands        | result            | inherent attributes |
//! |-----------------|-----------------|-------------------|---------------------|
//! | `snn.input`     | —               | `T×…` i1/i32/f32  | `name`, `index` |
//! | `snn.output`    | any             | —                 | `name`, `index` |
//! | `snn.constant`  | —               | the weight's type | `value` |
//! | `snn.linear`    | `T×K`           | `T×N` f32/i32     | `weight` (K×N), `bias`? (N) |
//! | `snn.conv2d`    | `T×C×H×W`       | `T×O×H'×W'`       | `weight` (O×C/g×kh×kw), `bias`?, `strides`, `pads` (top, left, bottom, right), `dilations`, `groups` |
//! | `snn.lif`       | `T×…` f32/i32   | `T×…` i1          | `beta`+`threshold` (f32, or per neuron: f32 resources of the step shape) or `leak`+`leak_shift`+`threshold` (i32), `reset` |
//! | `snn.if`        | `T×…` f32/i32   | `T×…` i1          | `threshold` (f32, per-neuron f32 resource, or i32), `reset` |
//! | `snn.li`        | `T×…` f32       | `T×…` f32         | `beta` (f32, or a per-neuron f32 resource): `v ← beta·v + x`, the result is `v` |
//! | `snn.mul`       | `T×…`, `…`      | like `snn.add`    | — (element-wise product; the second operand broadcasts as a suffix) |
//! | `snn.flatten`   | `T×…`           | `T×prod(…)`       | — |
//! | `snn.reshape`   | `T×…`           | `T×…` (same count)| — (the result type is the shape) |
//! | `snn.sum_pool`  | `T×C×H×W`       | `T×C×H'×W'` (i32, or f32 for f32 input) | `kernel_shape`, `strides`, `pads` |
//! | `snn.avg_pool`  | `T×C×H×W`       | `T×C×H'×W'` f32   | `kernel_shape`, `strides`, `pads`, `count_include_pad` |
//! | `snn.add`       | `T×…`, `…`      | like the first; f32 if either is f32, else i32 | — (the second operand broadcasts as a suffix) |
//! | `snn.im2col`    | `T×C×H×W`       | `T×(H'·W')×(c·kh·kw)` | `kernel_shape`, `strides`, `pads`, `dilations`, `channels` (first, count) |
//! | `snn.transpose` | `T×…`           | permuted          | `perm` (keeps 0 first) |
//! | `snn.concat`    | `T×…` (≥ 1)     | joined along `axis` (i32 when i1 and i32 operands mix: spikes as 0/1) | `axis` (≥ 1) |
//!
//! `snn.linear` applies to the last dimension of any time-major input (`T×…×K → T×…×N`), so
//! that `conv-to-gemm` can express a convolution as `im2col → linear → transpose → reshape`.
//!
//! Neuron semantics (snnTorch `Leaky(reset_delay=False)`, DESIGN §7) are implemented by the
//! runtime crate; the fixed-point leak is `(v·leak + 2^(shift−1)) >> shift` (round half up).

use crate::attr::{Attr, IntTy};
use crate::diag::DResult;
use crate::ops::{Arity, AttrReader};
use crate::types::{ElemType, TensorType};
use crate::weights::{WeightId, WeightStore};

/// How a neuron's membrane is reset after a spike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reset {
    /// `v ← v − threshold` (snnTorch's default).
    Subtract,
    /// `v ← 0`.
    Zero,
}

impl Reset {
    /// The attribute spelling.
    pub fn name(self) -> &'static str {
        match self {
            Reset::Subtract => "subtract",
            Reset::Zero => "zero",
        }
    }
    /// Parses the attribute spelling.
    pub fn from_name(s: &str) -> Option<Reset> {
        match s {
            "subtract" => Some(Reset::Subtract),
            "zero" => Some(Reset::Zero),
            _ => None,
        }
    }
}

/// A coefficient shared by every neuron, or one per neuron (an f32 weight whose shape is the
/// per-step shape of the op's input, i.e. without the time dimension).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Coef {
    /// One value for all neurons.
    Scalar(f32),
    /// One value per neuron.
    PerNeuron(WeightId),
}

/// Neuron parameters, float or fixed-point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NeuronParams {
    /// Float model: `v ← beta·v + I`, spike when `v > threshold`.
    Float {
        /// Decay in [0, 1] (1 for IF).
        beta: f32,
        /// Firing threshold.
        threshold: f32,
    },
    /// Float model with one decay and one threshold per neuron (imported NIR graphs): f32
    /// weights of the per-step shape. `beta` is `None` for `snn.if` (decay 1).
    FloatPerNeuron {
        /// Decays in [0, 1].
        beta: Option<WeightId>,
        /// Firing thresholds (finite).
        threshold: WeightId,
    },
    /// Integer model: `v ← ((v·leak + 2^(shift−1)) >> shift) + I`, spike when `v > threshold`.
    Fixed {
        /// Leak multiplier in [0, 2^shift] (`2^shift` = no leak).
        leak: i32,
        /// Fixed-point fraction bits, 0..=30.
        shift: u32,
        /// Firing threshold.
        threshold: i32,
    },
}

/// Attributes of `snn.lif` and `snn.if`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neuron {
    /// Leak and threshold.
    pub params: NeuronParams,
    /// Reset mechanism.
    pub reset: Reset,
}

/// Attributes of `snn.input` / `snn.output`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    /// Name in the model signature.
    pub name: String,
    /// Position in the model signature.
    pub index: u32,
}

/// Attributes of `snn.linear`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear {
    /// `K × N` weights (input features × output features).
    pub weight: WeightId,
    /// Optional `N` bias.
    pub bias: Option<WeightId>,
}

/// Attributes of `snn.conv2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// `O × C/groups × kh × kw` weights (ONNX layout).
    pub weight: WeightId,
    /// Optional `O` bias.
    pub bias: Option<WeightId>,
    /// Strides (h, w), ≥ 1.
    pub strides: [usize; 2],
    /// Zero padding (top, left, bottom, right).
    pub pads: [usize; 4],
    /// Dilations (h, w), ≥ 1.
    pub dilations: [usize; 2],
    /// Groups, dividing both C and O.
    pub groups: usize,
}

/// Attributes of the pooling ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Window (h, w), ≥ 1.
    pub kernel: [usize; 2],
    /// Strides (h, w), ≥ 1.
    pub strides: [usize; 2],
    /// Zero padding (top, left, bottom, right).
    pub pads: [usize; 4],
}

/// The ops of the `snn` dialect.
#[derive(Clone, Debug, PartialEq)]
pub enum SnnOp {
    /// A model input.
    Input(Port),
    /// A model output.
    Output(Port),
    /// A constant tensor from the weight store.
    Constant {
        /// The stored tensor.
        value: WeightId,
    },
    /// Fully connected layer over the last dimension.
    Linear(Linear),
    /// 2-D convolution per time step.
    Conv2d(Conv2d),
    /// Leaky integrate-and-fire neurons.
    Lif(Neuron),
    /// Integrate-and-fire neurons (no leak).
    If(Neuron),
    /// Leaky integrator (a membrane without threshold): `v ← beta·v + x`, result `v`.
    Li {
        /// Decay in [0, 1].
        beta: Coef,
    },
    /// Element-wise product (a per-neuron gain, NIR `Scale`).
    Mul,
    /// Flattens everything but the time dimension.
    Flatten,
    /// Reshapes everything but the time dimension.
    Reshape,
    /// Sum over windows (spike counts).
    SumPool(Pool),
    /// Average over windows.
    AvgPool {
        /// Window geometry.
        pool: Pool,
        /// Whether padding counts in the divisor.
        count_include_pad: bool,
    },
    /// Element-wise addition (residual, or bias with a broadcast constant).
    Add,
    /// The im2col view of a convolution's input: one row per output position, one column per
    /// (channel, kernel row, kernel column) of a channel range.
    Im2col(Im2col),
    /// Permutes dimensions (the time dimension stays first).
    Transpose {
        /// The new order of the dimensions.
        perm: Vec<usize>,
    },
    /// Joins tensors along one dimension.
    Concat {
        /// The dimension (≥ 1).
        axis: usize,
    },
}

/// Attributes of `snn.im2col`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Im2col {
    /// Window (h, w).
    pub kernel: [usize; 2],
    /// Strides (h, w).
    pub strides: [usize; 2],
    /// Zero padding (top, left, bottom, right).
    pub pads: [usize; 4],
    /// Dilations (h, w).
    pub dilations: [usize; 2],
    /// The channel range read: first channel and count (a group of a grouped convolution).
    pub channels: [usize; 2],
}

const MAX_DIM: i64 = 1 << 20;

impl SnnOp {
    /// Generic names of every op of the dialect.
    pub const NAMES: [&'static str; 17] = [
        "snn.input",
        "snn.output",
        "snn.constant",
        "snn.linear",
        "snn.conv2d",
        "snn.lif",
        "snn.if",
        "snn.flatten",
        "snn.reshape",
        "snn.sum_pool",
        "snn.avg_pool",
        "snn.add",
        "snn.im2col",
        "snn.transpose",
        "snn.concat",
        "snn.li",
        "snn.mul",
    ];

    /// The generic name.
    pub fn name(&self) -> &'static str {
        match self {
            SnnOp::Input(_) => "snn.input",
            SnnOp::Output(_) => "snn.output",
            SnnOp::Constant { .. } => "snn.constant",
            SnnOp::Linear(_) => "snn.linear",
            SnnOp::Conv2d(_) => "snn.conv2d",
            SnnOp::Lif(_) => "snn.lif",
            SnnOp::If(_) => "snn.if",
            SnnOp::Flatten => "snn.flatten",
            SnnOp::Reshape => "snn.reshape",
            SnnOp::SumPool(_) => "snn.sum_pool",
            SnnOp::AvgPool { .. } => "snn.avg_pool",
            SnnOp::Add => "snn.add",
            SnnOp::Im2col(_) => "snn.im2col",
            SnnOp::Transpose { .. } => "snn.transpose",
            SnnOp::Concat { .. } => "snn.concat",
            SnnOp::Li { .. } => "snn.li",
            SnnOp::Mul => "snn.mul",
        }
    }

    /// Operand count.
    pub fn arity(&self) -> Arity {
        match self {
            SnnOp::Input(_) | SnnOp::Constant { .. } => Arity::Exact(0),
            SnnOp::Output(_)
            | SnnOp::Linear(_)
            | SnnOp::Conv2d(_)
            | SnnOp::Lif(_)
            | SnnOp::If(_)
            | SnnOp::Flatten
            | SnnOp::Reshape
            | SnnOp::SumPool(_)
            | SnnOp::AvgPool { .. }
            | SnnOp::Im2col(_)
            | SnnOp::Li { .. }
            | SnnOp::Transpose { .. } => Arity::Exact(1),
            SnnOp::Add | SnnOp::Mul => Arity::Exact(2),
            SnnOp::Concat { .. } => Arity::AtLeast(1),
        }
    }

    /// Result count.
    pub fn num_results(&self) -> usize {
        match self {
            SnnOp::Output(_) => 0,
            SnnOp::Input(_)
            | SnnOp::Constant { .. }
            | SnnOp::Linear(_)
            | SnnOp::Conv2d(_)
            | SnnOp::Lif(_)
            | SnnOp::If(_)
            | SnnOp::Flatten
            | SnnOp::Reshape
            | SnnOp::SumPool(_)
            | SnnOp::AvgPool { .. }
            | SnnOp::Add
            | SnnOp::Im2col(_)
            | SnnOp::Transpose { .. }
            | SnnOp::Li { .. }
            | SnnOp::Mul
            | SnnOp::Concat { .. } => 1,
        }
    }

    /// Referenced weights.
    pub fn weights(&self) -> Vec<WeightId> {
        match self {
            SnnOp::Constant { value } => vec![*value],
            SnnOp::Linear(l) => std::iter::once(l.weight).chain(l.bias).collect(),
            SnnOp::Conv2d(c) => std::iter::once(c.weight).chain(c.bias).collect(),
            SnnOp::Lif(n) | SnnOp::If(n) => match n.params {
                NeuronParams::FloatPerNeuron { beta, threshold } => beta.into_iter().chain([threshold]).collect(),
                NeuronParams::Float { .. } | NeuronParams::Fixed { .. } => Vec::new(),
            },
            SnnOp::Li { beta: Coef::PerNeuron(w) } => vec![*w],
            SnnOp::Li { beta: Coef::Scalar(_) } | SnnOp::Mul => Vec::new(),
            SnnOp::Input(_)
            | SnnOp::Output(_)
            | SnnOp::Flatten
            | SnnOp::Reshape
            | SnnOp::SumPool(_)
            | SnnOp::AvgPool { .. }
            | SnnOp::Add
            | SnnOp::Im2col(_)
            | SnnOp::Transpose { .. }
            | SnnOp::Concat { .. } => Vec::new(),
        }
    }

    /// Rewrites referenced weight ids.
    pub fn remap_weights(&mut self, f: &mut dyn FnMut(WeightId) -> WeightId) {
        match self {
            SnnOp::Constant { value } => *value = f(*value),
            SnnOp::Linear(Linear { weight, bias }) | SnnOp::Conv2d(Conv2d { weight, bias, .. }) => {
                *weight = f(*weight);
                if let Some(b) = bias {
                    *b = f(*b);
                }
            }
            SnnOp::Lif(n) | SnnOp::If(n) => match &mut n.params {
                NeuronParams::FloatPerNeuron { beta, threshold } => {
                    if let Some(b) = beta {
                        *b = f(*b);
                    }
                    *threshold = f(*threshold);
                }
                NeuronParams::Float { .. } | NeuronParams::Fixed { .. } => {}
            },
            SnnOp::Li { beta: Coef::PerNeuron(w) } => *w = f(*w),
            SnnOp::Li { beta: Coef::Scalar(_) } | SnnOp::Mul => {}
            SnnOp::Input(_)
            | SnnOp::Output(_)
            | SnnOp::Flatten
            | SnnOp::Reshape
            | SnnOp::SumPool(_)
            | SnnOp::AvgPool { .. }
            | SnnOp::Add
            | SnnOp::Im2col(_)
            | SnnOp::Transpose { .. }
            | SnnOp::Concat { .. } => {}
        }
    }

    /// Inherent attributes in generic form.
    pub fn attributes(&self, weights: &WeightStore) -> Vec<(&'static str, Attr)> {
        let res = |w: WeightId| {
            let w = weights.get(w);
            Attr::Resource { name: w.name.clone(), ty: w.ty.clone() }
        };
        let arr = |v: &[usize]| Attr::I64Array(v.iter().map(|&x| x as i64).collect());
        let mut out = Vec::new();
        match self {
            SnnOp::Input(p) | SnnOp::Output(p) => {
                out.push(("name", Attr::Str(p.name.clone())));
                out.push(("index", Attr::Int(p.index as i64, IntTy::I64)));
            }
            SnnOp::Constant { value } => out.push(("value", res(*value))),
            SnnOp::Linear(l) => {
                out.push(("weight", res(l.weight)));
                if let Some(b) = l.bias {
                    out.push(("bias", res(b)));
                }
            }
            SnnOp::Conv2d(c) => {
                out.push(("weight", res(c.weight)));
                if let Some(b) = c.bias {
                    out.push(("bias", res(b)));
                }
                out.push(("strides", arr(&c.strides)));
                out.push(("pads", arr(&c.pads)));
                out.push(("dilations", arr(&c.dilations)));
                out.push(("groups", Attr::Int(c.groups as i64, IntTy::I64)));
            }
            SnnOp::Lif(n) | SnnOp::If(n) => {
                let is_lif = matches!(self, SnnOp::Lif(_));
                out.push(("reset", Attr::Str(n.reset.name().to_string())));
                match n.params {
                    NeuronParams::Float { beta, threshold } => {
                        if is_lif {
                            out.push(("beta", Attr::F32(beta)));
                        }
                        out.push(("threshold", Attr::F32(threshold)));
                    }
                    NeuronParams::Fixed { leak, shift, threshold } => {
                        if is_lif {
                            out.push(("leak", Attr::Int(leak as i64, IntTy::I32)));
                            out.push(("leak_shift", Attr::Int(shift as i64, IntTy::I64)));
                        }
                        out.push(("threshold", Attr::Int(threshold as i64, IntTy::I32)));
                    }
                    NeuronParams::FloatPerNeuron { beta, threshold } => {
                        if let (true, Some(b)) = (is_lif, beta) {
                            out.push(("beta", res(b)));
                        }
                        out.push(("threshold", res(threshold)));
                    }
                }
            }
            SnnOp::Li { beta } => out.push((
                "beta",
                match beta {
                    Coef::Scalar(b) => Attr::F32(*b),
                    Coef::PerNeuron(w) => res(*w),
                },
            )),
            SnnOp::SumPool(p) | SnnOp::AvgPool { pool: p, .. } => {
                out.push(("kernel_shape", arr(&p.kernel)));
                out.push(("strides", arr(&p.strides)));
                out.push(("pads", arr(&p.pads)));
                if let SnnOp::AvgPool { count_include_pad, .. } = self {
                    out.push(("count_include_pad", Attr::Bool(*count_include_pad)));
                }
            }
            SnnOp::Im2col(c) => {
                out.push(("kernel_shape", arr(&c.kernel)));
                out.push(("strides", arr(&c.strides)));
                out.push(("pads", arr(&c.pads)));
                out.push(("dilations", arr(&c.dilations)));
                out.push(("channels", arr(&c.channels)));
            }
            SnnOp::Transpose { perm } => out.push(("perm", arr(perm))),
            SnnOp::Concat { axis } => out.push(("axis", Attr::Int(*axis as i64, IntTy::I64))),
            SnnOp::Flatten | SnnOp::Reshape | SnnOp::Add | SnnOp::Mul => {}
        }
        out
    }

    /// Parses an `snn` op from its generic form; `Ok(None)` when `name` is not an `snn` op.
    pub fn from_generic(name: &str, a: &mut AttrReader<'_>) -> DResult<Option<SnnOp>> {
        let pool = |a: &mut AttrReader<'_>| -> DResult<Pool> {
            Ok(Pool {
                kernel: a.dims("kernel_shape", 1, MAX_DIM)?,
                strides: a.dims("strides", 1, MAX_DIM)?,
                pads: a.dims("pads", 0, MAX_DIM)?,
            })
        };
        let port = |a: &mut AttrReader<'_>| -> DResult<Port> {
            Ok(Port { name: a.string("name")?, index: a.int("index", 0..=u32::MAX as i64)? as u32 })
        };
        let op = match name {
            "snn.input" => SnnOp::Input(port(a)?),
            "snn.output" => SnnOp::Output(port(a)?),
            "snn.constant" => SnnOp::Constant { value: a.resource("value")? },
            "snn.linear" => SnnOp::Linear(Linear { weight: a.resource("weight")?, bias: a.opt_resource("bias")? }),
            "snn.conv2d" => SnnOp::Conv2d(Conv2d {
                weight: a.resource("weight")?,
                bias: a.opt_resource("bias")?,
                strides: a.dims("strides", 1, MAX_DIM)?,
                pads: a.dims("pads", 0, MAX_DIM)?,
                dilations: a.dims("dilations", 1, MAX_DIM)?,
                groups: a.int("groups", 1..=MAX_DIM)? as usize,
            }),
            "snn.lif" | "snn.if" => {
                let is_lif = name == "snn.lif";
                let reset = Reset::from_name(&a.choice("reset", &["subtract", "zero"])?).expect("checked choice");
                let fixed = if is_lif { a.has("leak") } else { threshold_is_int(a) };
                let per_neuron = matches!(a.peek("threshold"), Some(Attr::Resource { .. }));
                let params = if per_neuron {
                    let beta = if is_lif { Some(a.resource("beta")?) } else { None };
                    NeuronParams::FloatPerNeuron { beta, threshold: a.resource("threshold")? }
                } else if fixed {
                    let (leak, shift) = if is_lif {
                        let shift = a.int("leak_shift", 0..=30)? as u32;
                        (a.int("leak", 0..=(1i64 << shift))? as i32, shift)
                    } else {
                        (1, 0)
                    };
                    NeuronParams::Fixed { leak, shift, threshold: a.int("threshold", 0..=i32::MAX as i64)? as i32 }
                } else {
                    let beta = if is_lif { a.f32("beta")? } else { 1.0 };
                    NeuronParams::Float { beta, threshold: a.f32("threshold")? }
                };
                let n = Neuron { params, reset };
                if is_lif { SnnOp::Lif(n) } else { SnnOp::If(n) }
            }
            "snn.im2col" => SnnOp::Im2col(Im2col {
                kernel: a.dims("kernel_shape", 1, MAX_DIM)?,
                strides: a.dims("strides", 1, MAX_DIM)?,
                pads: a.dims("pads", 0, MAX_DIM)?,
                dilations: a.dims("dilations", 1, MAX_DIM)?,
                channels: a.dims("channels", 0, MAX_DIM)?,
            }),
            "snn.transpose" => SnnOp::Transpose { perm: a.index_list("perm", crate::types::MAX_RANK)? },
            "snn.concat" => SnnOp::Concat { axis: a.int("axis", 1..=crate::types::MAX_RANK as i64)? as usize },
            "snn.flatten" => SnnOp::Flatten,
            "snn.reshape" => SnnOp::Reshape,
            "snn.add" => SnnOp::Add,
            "snn.mul" => SnnOp::Mul,
            "snn.li" => SnnOp::Li {
                beta: match a.peek("beta") {
                    Some(Attr::Resource { .. }) => Coef::PerNeuron(a.resource("beta")?),
                    _ => Coef::Scalar(a.f32("beta")?),
                },
            },
            "snn.sum_pool" => SnnOp::SumPool(pool(a)?),
            "snn.avg_pool" => SnnOp::AvgPool { pool: pool(a)?, count_include_pad: a.boolean("count_include_pad")? },
            _ => return Ok(None),
        };
        Ok(Some(op))
    }

    /// The type rule: result types from operand types, or `None` when the result type is free
    /// (`snn.input`, `snn.reshape`).
    pub fn infer(&self, ops: &[&TensorType], weights: &WeightStore) -> Result<Option<Vec<TensorType>>, String> {
        if !self.arity().accepts(ops.len()) {
            return Err(format!("`{}` takes {:?} operands, got {}", self.name(), self.arity(), ops.len()));
        }
        let one = |t: TensorType| Ok(Some(vec![t]));
        match self {
            SnnOp::Input(_) | SnnOp::Reshape => Ok(None),
            SnnOp::Output(_) => Ok(Some(vec![])),
            SnnOp::Constant { value } => one(weights.get(*value).ty.clone()),
            SnnOp::Linear(l) => {
                let x = ops[0];
                if x.rank() < 2 {
                    return Err(format!("input of snn.linear is {x}, expected time-major T×…×K"));
                }
                let w = &weights.get(l.weight).ty;
                let out_elem = synapse_mode(self.name(), x.elem, w.elem)?;
                let k = x.shape[x.rank() - 1];
                if w.rank() != 2 || w.shape[0] != k {
                    return Err(format!(
                        "snn.linear weight {w} does not match input {x}: the weight is K×N with K = {k}"
                    ));
                }
                check_bias(l.bias, w.shape[1], out_elem, weights)?;
                let mut shape = x.shape.clone();
                *shape.last_mut().expect("rank ≥ 2") = w.shape[1];
                one(TensorType::new(shape, out_elem))
            }
            SnnOp::Conv2d(c) => {
                let x = time_major(ops[0], 4, "input of snn.conv2d")?;
                let w = &weights.get(c.weight).ty;
                let out_elem = synapse_mode(self.name(), x.elem, w.elem)?;
                let (ci, o) = (x.shape[1], w.shape.first().copied().unwrap_or(0));
                if w.rank() != 4
                    || c.groups == 0
                    || ci % c.groups != 0
                    || o % c.groups != 0
                    || w.shape[1] * c.groups != ci
                {
                    return Err(format!(
                        "snn.conv2d weight {w} does not fit input {x} with groups = {}: the weight is O×(C/groups)×kh×kw and groups divides C and O",
                        c.groups
                    ));
                }
                check_bias(c.bias, o, out_elem, weights)?;
                let h = window_out(x.shape[2], w.shape[2], c.strides[0], c.pads[0], c.pads[2], c.dilations[0])?;
                let wd = window_out(x.shape[3], w.shape[3], c.strides[1], c.pads[1], c.pads[3], c.dilations[1])?;
                one(TensorType::new(vec![x.shape[0], o, h, wd], out_elem))
            }
            SnnOp::Lif(n) | SnnOp::If(n) => {
                let x = ops[0];
                if x.rank() < 2 {
                    return Err(format!("{} input {x} is not time-major (T×…)", self.name()));
                }
                match (n.params, x.elem) {
                    (NeuronParams::Float { beta, threshold }, ElemType::F32) => {
                        if !(0.0..=1.0).contains(&beta) {
                            return Err(format!("{} beta = {beta} is outside [0, 1]", self.name()));
                        }
                        if !threshold.is_finite() {
                            return Err(format!("{} threshold must be finite", self.name()));
                        }
                    }
                    (NeuronParams::Fixed { leak, shift, .. }, ElemType::I32) => {
                        if shift > 30 || leak < 0 || leak as i64 > 1i64 << shift {
                            return Err(format!("{} leak {leak} / 2^{shift} is outside [0, 1]", self.name()));
                        }
                    }
                    (NeuronParams::FloatPerNeuron { beta, threshold }, ElemType::F32) => {
                        if let Some(b) = beta {
                            per_neuron(weights, b, x, "beta", self.name(), |v| (0.0..=1.0).contains(&v))?;
                        }
                        per_neuron(weights, threshold, x, "threshold", self.name(), f32::is_finite)?;
                    }
                    (NeuronParams::Float { .. } | NeuronParams::FloatPerNeuron { .. }, e) => {
                        return Err(format!("{} with float parameters needs an f32 current, found {e}", self.name()));
                    }
                    (NeuronParams::Fixed { .. }, e) => {
                        return Err(format!("{} with integer parameters needs an i32 current, found {e}", self.name()));
                    }
                }
                one(x.with_elem(ElemType::I1))
            }
            SnnOp::Li { beta } => {
                let x = ops[0];
                if x.rank() < 2 || x.elem != ElemType::F32 {
                    return Err(format!("snn.li input {x} must be a time-major (T×…) f32 tensor"));
                }
                match *beta {
                    Coef::Scalar(b) if !(0.0..=1.0).contains(&b) => {
                        return Err(format!("snn.li beta = {b} is outside [0, 1]"));
                    }
                    Coef::Scalar(_) => {}
                    Coef::PerNeuron(w) => per_neuron(weights, w, x, "beta", self.name(), |v| (0.0..=1.0).contains(&v))?,
                }
                one(x.clone())
            }
            SnnOp::Flatten => {
                let x = ops[0];
                if x.rank() < 2 {
                    return Err(format!("snn.flatten input {x} is not time-major (T×…)"));
                }
                one(TensorType::new(vec![x.shape[0], x.per_step_elements()], x.elem))
            }
            SnnOp::SumPool(p) | SnnOp::AvgPool { pool: p, .. } => {
                let x = time_major(ops[0], 4, &format!("input of {}", self.name()))?;
                let h = window_out(x.shape[2], p.kernel[0], p.strides[0], p.pads[0], p.pads[2], 1)?;
                let w = window_out(x.shape[3], p.kernel[1], p.strides[1], p.pads[1], p.pads[3], 1)?;
                let elem = match (self, x.elem) {
                    (SnnOp::SumPool(_), ElemType::F32) => ElemType::F32,
                    (SnnOp::SumPool(_), ElemType::I1 | ElemType::I8 | ElemType::I16 | ElemType::I32) => ElemType::I32,
                    (_, _) => ElemType::F32,
                };
                one(TensorType::new(vec![x.shape[0], x.shape[1], h, w], elem))
            }
            SnnOp::Add | SnnOp::Mul => {
                let (a, b) = (ops[0], ops[1]);
                let name = self.name();
                if a.rank() < 2 {
                    return Err(format!("{name} first operand {a} is not time-major (T×…)"));
                }
                if b.rank() > a.rank() || a.shape[a.rank() - b.rank()..] != b.shape[..] {
                    return Err(format!(
                        "{name} operands {a} and {b} do not broadcast: the second must equal the first or a suffix of its shape"
                    ));
                }
                let elem =
                    if a.elem == ElemType::F32 || b.elem == ElemType::F32 { ElemType::F32 } else { ElemType::I32 };
                one(a.with_elem(elem))
            }
            SnnOp::Im2col(c) => {
                let x = time_major(ops[0], 4, "input of snn.im2col")?;
                let [first, count] = c.channels;
                if count == 0 || first + count > x.shape[1] {
                    return Err(format!("snn.im2col channels {first}+{count} exceed the {} of {x}", x.shape[1]));
                }
                let h = window_out(x.shape[2], c.kernel[0], c.strides[0], c.pads[0], c.pads[2], c.dilations[0])?;
                let w = window_out(x.shape[3], c.kernel[1], c.strides[1], c.pads[1], c.pads[3], c.dilations[1])?;
                one(TensorType::new(vec![x.shape[0], h * w, count * c.kernel[0] * c.kernel[1]], x.elem))
            }
            SnnOp::Transpose { perm } => {
                let x = ops[0];
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if perm.len() != x.rank() || perm.first() != Some(&0) || sorted.iter().enumerate().any(|(i, &p)| i != p)
                {
                    return Err(format!(
                        "snn.transpose perm {perm:?} must be a permutation of 0..{} that keeps 0 (time) first",
                        x.rank()
                    ));
                }
                one(TensorType::new(perm.iter().map(|&p| x.shape[p]).collect::<Vec<_>>(), x.elem))
            }
            SnnOp::Concat { axis } => {
                let first = ops[0];
                if *axis == 0 || *axis >= first.rank() {
                    return Err(format!("snn.concat axis {axis} must be a non-time dimension of {first}"));
                }
                let mut shape = first.shape.clone();
                shape[*axis] = 0;
                // spikes join integers as 0/1 integers; otherwise one element type
                let int = |e: ElemType| matches!(e, ElemType::I1 | ElemType::I32);
                let mixed = ops.iter().all(|t| int(t.elem)) && ops.iter().any(|t| t.elem == ElemType::I32);
                let elem = if mixed { ElemType::I32 } else { first.elem };
                for t in ops {
                    let same = t.rank() == first.rank()
                        && (t.elem == first.elem || mixed)
                        && t.shape.iter().zip(&first.shape).enumerate().all(|(i, (a, b))| i == *axis || a == b);
                    if !same {
                        return Err(format!("snn.concat operands {first} and {t} differ outside axis {axis}"));
                    }
                    shape[*axis] += t.shape[*axis];
                }
                one(TensorType::new(shape, elem))
            }
        }
    }

    /// Checks operand and result types.
    pub fn check_types(
        &self,
        ops: &[&TensorType],
        results: &[&TensorType],
        weights: &WeightStore,
    ) -> Result<(), String> {
        if results.len() != self.num_results() {
            return Err(format!("`{}` has {} results, expected {}", self.name(), results.len(), self.num_results()));
        }
        match self.infer(ops, weights)? {
            Some(expected) => {
                for (r, e) in results.iter().zip(&expected) {
                    if *r != e {
                        return Err(format!("`{}` result type is {r}, expected {e}", self.name()));
                    }
                }
                Ok(())
            }
            None => match self {
                SnnOp::Input(_) => {
                    let r = results[0];
                    if r.rank() < 2 || !matches!(r.elem, ElemType::I1 | ElemType::I32 | ElemType::F32) {
                        return Err(format!("snn.input type {r} must be time-major (T×…) of i1, i32 or f32"));
                    }
                    Ok(())
                }
                SnnOp::Reshape => {
                    let (x, r) = (ops[0], results[0]);
                    if x.rank() < 2 || r.rank() < 2 || x.shape[0] != r.shape[0] || x.elem != r.elem {
                        return Err(format!("snn.reshape {x} -> {r} must keep the time dimension and element type"));
                    }
                    if x.num_elements() != r.num_elements() {
                        return Err(format!("snn.reshape {x} -> {r} changes the number of elements"));
                    }
                    Ok(())
                }
                SnnOp::Output(_)
                | SnnOp::Constant { .. }
                | SnnOp::Linear(_)
                | SnnOp::Conv2d(_)
                | SnnOp::Lif(_)
                | SnnOp::If(_)
                | SnnOp::Flatten
                | SnnOp::SumPool(_)
                | SnnOp::AvgPool { .. }
                | SnnOp::Add
                | SnnOp::Mul
                | SnnOp::Li { .. }
                | SnnOp::Im2col(_)
                | SnnOp::Transpose { .. }
                | SnnOp::Concat { .. } => unreachable!("these ops have a type rule"),
            },
        }
    }
}

/// Checks a per-neuron coefficient: an f32 weight of `x`'s per-step shape whose (known) values
/// all satisfy `ok`.
fn per_neuron(
    weights: &WeightStore,
    w: WeightId,
    x: &TensorType,
    what: &str,
    op: &str,
    ok: impl Fn(f32) -> bool,
) -> Result<(), String> {
    let w = weights.get(w);
    if w.ty.elem != ElemType::F32 || w.ty.shape[..] != x.shape[1..] {
        return Err(format!(
            "{op} per-neuron {what} `{}` is {}, expected tensor<{}xf32> (the per-step shape of {x})",
            w.name,
            w.ty,
            x.shape[1..].iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
        ));
    }
    if let crate::weights::WeightData::F32(v) = &w.data
        && let Some(bad) = v.iter().find(|&&v| !ok(v))
    {
        return Err(format!("{op} per-neuron {what} `{}` holds {bad}, which is out of range", w.name));
    }
    Ok(())
}

fn threshold_is_int(a: &AttrReader<'_>) -> bool {
    a.peek("threshold").is_some_and(|v| matches!(v, Attr::Int(..)))
}

fn time_major<'t>(x: &'t TensorType, rank: usize, what: &str) -> Result<&'t TensorType, String> {
    if x.rank() != rank {
        let want = match rank {
            2 => "T×K",
            4 => "T×C×H×W",
            _ => "time-major",
        };
        return Err(format!("{what} is {x}, expected rank {rank} ({want})"));
    }
    Ok(x)
}

/// The result element type of a synaptic op from its input and weight element types: f32
/// weights make a float layer, i8 weights an integer one.
fn synapse_mode(op: &str, x: ElemType, w: ElemType) -> Result<ElemType, String> {
    match (w, x) {
        (ElemType::F32, ElemType::I1 | ElemType::I32 | ElemType::F32) => Ok(ElemType::F32),
        (ElemType::I8, ElemType::I1 | ElemType::I32) => Ok(ElemType::I32),
        (ElemType::I8, e) => Err(format!("{op} with i8 weights needs an i1 or i32 input, found {e}")),
        (e, _) => Err(format!("{op} weights must be f32 (float model) or i8 (integer model), found {e}")),
    }
}

fn check_bias(bias: Option<WeightId>, n: usize, out: ElemType, weights: &WeightStore) -> Result<(), String> {
    if let Some(b) = bias {
        let b = &weights.get(b).ty;
        if b.shape != [n] || b.elem != out {
            return Err(format!("bias {b} must be tensor<{n}x{out}>"));
        }
    }
    Ok(())
}

/// Output extent of a sliding window: `floor((n + lo + hi − d·(k−1) − 1) / s) + 1`.
pub fn window_out(n: usize, k: usize, s: usize, lo: usize, hi: usize, d: usize) -> Result<usize, String> {
    let span = d.checked_mul(k.saturating_sub(1)).and_then(|x| x.checked_add(1)).ok_or("window too large")?;
    let padded = n + lo + hi;
    if k == 0 || s == 0 || span > padded {
        return Err(format!("a window of extent {span} does not fit an input of {n} padded by {lo}+{hi}"));
    }
    Ok((padded - span) / s + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window() {
        assert_eq!(window_out(28, 3, 1, 1, 1, 1), Ok(28));
        assert_eq!(window_out(28, 2, 2, 0, 0, 1), Ok(14));
        assert_eq!(window_out(7, 3, 2, 0, 0, 2), Ok(2));
        assert!(window_out(2, 3, 1, 0, 0, 1).is_err());
    }
}
