//! NIR files (the Neuromorphic Intermediate Representation, github neuromorphs/NIR): reading a
//! `.nir` file into typed nodes.
//!
//! A `.nir` file is HDF5 (read with `hdf5-reader`, pure Rust): a `version` string and a `node`
//! group. Every node is a group with a `type` string and one dataset per parameter; a
//! `NIRGraph` holds its nodes in `nodes/<name>/…` and an `edges` `E × 2` string table (an edge
//! end `g.x` names node `x` inside subgraph `g`). Parameters are float32 or float64 (a file may
//! mix them; both are kept as `f64`, so that derived coefficients are computed from the stored
//! values, and weights are rounded to `f32` once by the importer), integers are int64 scalars or vectors, a convolution's
//! `padding` is integers or the string `same` / `valid`; `v_reset` is absent in files of
//! nir < 1.0.8 (read as 0 by the importer). What each node computes, and the fixtures written by
//! the real `nir` package that the tests read, are in `tests/nir/README.md`.
//!
//! This module only reads: every node type of the list below becomes a [`Node`], any other type
//! is an error naming the node and its type; datasets larger than [`MAX_ELEMENTS`] are refused
//! before they are read. Turning the graph into the `snn` dialect is the importer's job.

use std::path::Path;

use hdf5_reader::group::Group;
use hdf5_reader::{Dataset, Datatype, Hdf5File};
use phi_dialect::{DResult, Diagnostic};

/// The largest parameter read (elements).
pub const MAX_ELEMENTS: u64 = 1 << 28;

/// The node types read.
pub const NODE_TYPES: &[&str] = &[
    "Input",
    "Output",
    "Affine",
    "Linear",
    "Scale",
    "Conv1d",
    "Conv2d",
    "SumPool2d",
    "AvgPool2d",
    "Flatten",
    "LIF",
    "IF",
    "LI",
    "CubaLIF",
    "Threshold",
    "NIRGraph",
];

/// A real-valued parameter: its shape and values (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Values (float32 data widened exactly).
    pub data: Vec<f64>,
}

/// A convolution's padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Per spatial dimension, on both sides.
    Ints(Vec<usize>),
    /// Output size = input size (stride 1).
    Same,
    /// No padding.
    Valid,
}

/// One NIR node, typed.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// The graph input (per-step shape).
    Input {
        /// Shape of one time step.
        shape: Vec<usize>,
    },
    /// The graph output.
    Output {
        /// Shape of one time step.
        shape: Vec<usize>,
    },
    /// `W·x + b` (`weight` is `[out, in]`).
    Affine {
        /// `[out, in]`.
        weight: Array,
        /// `[out]`.
        bias: Array,
    },
    /// `W·x`.
    Linear {
        /// `[out, in]`.
        weight: Array,
    },
    /// `s ⊙ x`.
    Scale {
        /// Per element.
        scale: Array,
    },
    /// Conv1d (`dims = 1`) or Conv2d (`dims = 2`), cross-correlation.
    Conv {
        /// Spatial dimensions.
        dims: usize,
        /// `[c_out, c_in / groups, k…]`.
        weight: Array,
        /// `[c_out]`.
        bias: Array,
        /// Per spatial dimension.
        stride: Vec<usize>,
        /// Padding.
        padding: Padding,
        /// Per spatial dimension.
        dilation: Vec<usize>,
        /// Groups.
        groups: usize,
        /// Spatial input shape.
        input_shape: Vec<usize>,
    },
    /// Sum (`average = false`) or average pooling over 2-D windows.
    Pool2d {
        /// Whether it averages.
        average: bool,
        /// Window.
        kernel: Vec<usize>,
        /// Stride.
        stride: Vec<usize>,
        /// Padding per dimension.
        padding: Vec<usize>,
    },
    /// Flatten dimensions `start_dim..=end_dim` of the per-step shape `input_type`.
    Flatten {
        /// First dimension.
        start_dim: i64,
        /// Last dimension (negative: from the end).
        end_dim: i64,
        /// Per-step input shape.
        input_type: Vec<usize>,
    },
    /// Leaky integrate-and-fire.
    Lif {
        /// Time constant (s).
        tau: Array,
        /// Input resistance.
        r: Array,
        /// Leak potential.
        v_leak: Array,
        /// Threshold.
        v_threshold: Array,
        /// Reset potential (absent before nir 1.0.8).
        v_reset: Option<Array>,
    },
    /// Integrate-and-fire.
    If {
        /// Input resistance.
        r: Array,
        /// Threshold.
        v_threshold: Array,
        /// Reset potential.
        v_reset: Option<Array>,
    },
    /// Leaky integrator (no spikes).
    Li {
        /// Time constant.
        tau: Array,
        /// Input resistance.
        r: Array,
        /// Leak potential.
        v_leak: Array,
    },
    /// Current-based LIF: a synaptic current, then a LIF.
    CubaLif {
        /// Synaptic time constant.
        tau_syn: Array,
        /// Membrane time constant.
        tau_mem: Array,
        /// Input resistance.
        r: Array,
        /// Leak potential.
        v_leak: Array,
        /// Threshold.
        v_threshold: Array,
        /// Reset potential.
        v_reset: Option<Array>,
        /// Input weight (1 when absent).
        w_in: Option<Array>,
    },
    /// `x > threshold`.
    Threshold {
        /// Per element.
        threshold: Array,
    },
    /// A nested graph.
    Graph(Graph),
}

/// A NIR graph: named nodes and the edges between them.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// Nodes in file order.
    pub nodes: Vec<(String, Node)>,
    /// (from, to); an end `g.x` is node `x` of subgraph `g`.
    pub edges: Vec<(String, String)>,
}

/// A read `.nir` file.
#[derive(Clone, Debug, PartialEq)]
pub struct NirFile {
    /// The `version` string.
    pub version: String,
    /// The top-level graph.
    pub graph: Graph,
}

/// Reads a `.nir` file.
pub fn read(path: &Path) -> DResult<NirFile> {
    let file = path.display().to_string();
    let fail = |what: String| Diagnostic::error(format!("{file}: {what}"));
    let f = Hdf5File::open(path).map_err(|e| fail(format!("not a readable NIR (HDF5) file: {e}")))?;
    let version =
        f.dataset("version").and_then(|d| d.read_string()).map_err(|e| fail(format!("no `version` string: {e}")))?;
    let root = f.group("node").map_err(|e| fail(format!("no `node` group: {e}")))?;
    let node = read_node(&root, "node").map_err(fail)?;
    let Node::Graph(graph) = node else {
        return Err(fail("the top-level node is not a NIRGraph".into()));
    };
    Ok(NirFile { version, graph })
}

type R<T> = Result<T, String>;

fn leaf(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn check_size(ds: &Dataset, at: &str) -> R<()> {
    let n = ds.num_elements().map_err(|e| format!("{at}: {e}"))?;
    if n > MAX_ELEMENTS {
        return Err(format!("{at}: {n} elements, more than the {MAX_ELEMENTS} allowed"));
    }
    Ok(())
}

/// A float parameter (float32 or float64 on disk).
fn floats(ds: &Dataset, at: &str) -> R<Array> {
    check_size(ds, at)?;
    let shape: Vec<usize> = ds.shape().iter().map(|&d| d as usize).collect();
    let data: Vec<f64> = match ds.dtype() {
        Datatype::FloatingPoint { size: 4, .. } => {
            ds.read_array::<f32>().map_err(|e| format!("{at}: {e}"))?.iter().map(|&x| x as f64).collect()
        }
        Datatype::FloatingPoint { size: 8, .. } => {
            ds.read_array::<f64>().map_err(|e| format!("{at}: {e}"))?.iter().copied().collect()
        }
        Datatype::FixedPoint { size: 8, signed: true, .. } => {
            ds.read_array::<i64>().map_err(|e| format!("{at}: {e}"))?.iter().map(|&x| x as f64).collect()
        }
        other @ (Datatype::FixedPoint { .. }
        | Datatype::FloatingPoint { .. }
        | Datatype::String { .. }
        | Datatype::Compound { .. }
        | Datatype::Array { .. }
        | Datatype::Enum { .. }
        | Datatype::VarLen { .. }
        | Datatype::Opaque { .. }
        | Datatype::Reference { .. }
        | Datatype::Bitfield { .. }) => return Err(format!("{at}: expected numbers, found {other:?}")),
    };
    Ok(Array { shape, data })
}

/// An integer parameter (scalar or vector), each value ≥ `min`.
fn ints(ds: &Dataset, at: &str) -> R<Vec<i64>> {
    check_size(ds, at)?;
    match ds.dtype() {
        Datatype::FixedPoint { .. } => {
            Ok(ds.read_array::<i64>().map_err(|e| format!("{at}: {e}"))?.iter().copied().collect())
        }
        Datatype::FloatingPoint { .. }
        | Datatype::String { .. }
        | Datatype::Compound { .. }
        | Datatype::Array { .. }
        | Datatype::Enum { .. }
        | Datatype::VarLen { .. }
        | Datatype::Opaque { .. }
        | Datatype::Reference { .. }
        | Datatype::Bitfield { .. } => Err(format!("{at}: expected integers, found {:?}", ds.dtype())),
    }
}

fn sizes(ds: &Dataset, at: &str, min: i64) -> R<Vec<usize>> {
    let v = ints(ds, at)?;
    v.iter()
        .map(|&x| if x >= min && x <= 1 << 24 { Ok(x as usize) } else { Err(format!("{at}: value {x} out of range")) })
        .collect()
}

fn is_string(ds: &Dataset) -> bool {
    matches!(ds.dtype(), Datatype::String { .. } | Datatype::VarLen { .. })
}

/// Reads the node group `g` (at path `at`).
fn read_node(g: &Group, at: &str) -> R<Node> {
    let (groups, datasets) = g.members().map_err(|e| format!("{at}: {e}"))?;
    let find = |name: &str| datasets.iter().find(|d| leaf(d.name()) == name);
    let ty = find("type")
        .ok_or_else(|| format!("{at}: no `type`"))?
        .read_string()
        .map_err(|e| format!("{at}: `type`: {e}"))?;
    let at = format!("node `{}` ({ty})", at.trim_start_matches("node/").trim_start_matches("nodes/"));
    let need = |name: &str| find(name).ok_or_else(|| format!("{at}: missing parameter `{name}`"));
    let fl = |name: &str| need(name).and_then(|d| floats(d, &format!("{at}: `{name}`")));
    let opt = |name: &str| find(name).map(|d| floats(d, &format!("{at}: `{name}`"))).transpose();
    let sz = |name: &str, min: i64| need(name).and_then(|d| sizes(d, &format!("{at}: `{name}`"), min));
    Ok(match ty.as_str() {
        "Input" => Node::Input { shape: sz("shape", 1)? },
        "Output" => Node::Output { shape: sz("shape", 1)? },
        "Affine" => Node::Affine { weight: fl("weight")?, bias: fl("bias")? },
        "Linear" => Node::Linear { weight: fl("weight")? },
        "Scale" => Node::Scale { scale: fl("scale")? },
        "Conv1d" | "Conv2d" => {
            let dims = if ty == "Conv1d" { 1 } else { 2 };
            let spread = |v: Vec<usize>| if v.len() == 1 { vec![v[0]; dims] } else { v };
            let pad = need("padding")?;
            let padding = if is_string(pad) {
                match pad.read_string().map_err(|e| format!("{at}: `padding`: {e}"))?.as_str() {
                    "same" => Padding::Same,
                    "valid" => Padding::Valid,
                    other => return Err(format!("{at}: padding `{other}` (expected integers, `same` or `valid`)")),
                }
            } else {
                Padding::Ints(spread(sizes(pad, &format!("{at}: `padding`"), 0)?))
            };
            Node::Conv {
                dims,
                weight: fl("weight")?,
                bias: fl("bias")?,
                stride: spread(sz("stride", 1)?),
                padding,
                dilation: spread(sz("dilation", 1)?),
                groups: sz("groups", 1)?.first().copied().unwrap_or(1),
                input_shape: find("input_shape")
                    .map(|d| sizes(d, &format!("{at}: `input_shape`"), 1))
                    .transpose()?
                    .unwrap_or_default(),
            }
        }
        "SumPool2d" | "AvgPool2d" => Node::Pool2d {
            average: ty == "AvgPool2d",
            kernel: sz("kernel_size", 1)?,
            stride: sz("stride", 1)?,
            padding: sz("padding", 0)?,
        },
        "Flatten" => Node::Flatten {
            start_dim: need("start_dim").and_then(|d| ints(d, &at))?.first().copied().unwrap_or(0),
            end_dim: need("end_dim").and_then(|d| ints(d, &at))?.first().copied().unwrap_or(-1),
            input_type: find("input_type").map(|d| sizes(d, &at, 1)).transpose()?.unwrap_or_default(),
        },
        "LIF" => Node::Lif {
            tau: fl("tau")?,
            r: fl("r")?,
            v_leak: fl("v_leak")?,
            v_threshold: fl("v_threshold")?,
            v_reset: opt("v_reset")?,
        },
        "IF" => Node::If { r: fl("r")?, v_threshold: fl("v_threshold")?, v_reset: opt("v_reset")? },
        "LI" => Node::Li { tau: fl("tau")?, r: fl("r")?, v_leak: fl("v_leak")? },
        "CubaLIF" => Node::CubaLif {
            tau_syn: fl("tau_syn")?,
            tau_mem: fl("tau_mem")?,
            r: fl("r")?,
            v_leak: fl("v_leak")?,
            v_threshold: fl("v_threshold")?,
            v_reset: opt("v_reset")?,
            w_in: opt("w_in")?,
        },
        "Threshold" => Node::Threshold { threshold: fl("threshold")? },
        "NIRGraph" => {
            let nodes_group =
                groups.iter().find(|s| leaf(s.name()) == "nodes").ok_or_else(|| format!("{at}: no `nodes` group"))?;
            let (members, _) = nodes_group.members().map_err(|e| format!("{at}: {e}"))?;
            let mut nodes = Vec::with_capacity(members.len());
            for m in &members {
                let name = leaf(m.name()).to_string();
                nodes.push((name.clone(), read_node(m, &format!("nodes/{name}"))?));
            }
            let edges = match find("edges") {
                Some(d) => {
                    check_size(d, &at)?;
                    let s = d.read_strings().map_err(|e| format!("{at}: `edges`: {e}"))?;
                    if s.len() % 2 != 0 {
                        return Err(format!("{at}: `edges` is not an E × 2 table"));
                    }
                    s.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect()
                }
                None => Vec::new(),
            };
            Node::Graph(Graph { nodes, edges })
        }
        other => {
            return Err(format!("{at}: node type `{other}` is not supported (supported: {})", NODE_TYPES.join(", ")));
        }
    })
}
