//! A compiled program: instructions, the layer table and the DRAM map — what `.phibin` holds.
//!
//! The DRAM of the accelerator is one byte-addressed space: the constant regions (weights,
//! biases, PWP tables, patterns — shipped in the binary) first, then the activation region
//! (inputs, intermediate spikes, outputs, spilled membranes), zeroed for every sample. Every
//! address in a [`LayerDesc`] or [`Port`] is absolute.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hw::HwConfig;
use crate::isa::Inst;
use crate::types::ElemType;

/// Version of the `.phibin` format this crate writes and reads.
pub const FORMAT_VERSION: u32 = 3;

/// Which accelerator a program targets (with its configuration: [`crate::target::Target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// Phi: pattern matching, Level 1 and Level 2.
    Phi,
    /// A bit-sparse, spike-driven accelerator (Stellar/PTB-like): every spike adds a weight row.
    BitSparse,
    /// A dense accelerator (Eyeriss-like): every weight is multiplied.
    Dense,
}

impl TargetKind {
    /// Every kind, Phi first (the order of a comparison).
    pub const ALL: [TargetKind; 3] = [TargetKind::Phi, TargetKind::BitSparse, TargetKind::Dense];

    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Phi => "phi",
            TargetKind::BitSparse => "bit-sparse",
            TargetKind::Dense => "dense",
        }
    }
}

/// How a layer computes its GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerMode {
    /// Pattern matching + Level 1 + Level 2.
    Phi,
    /// Bit-sparse accumulation.
    BitSparse,
    /// Dense multiply-accumulate (also the path of non-binary inputs).
    Dense,
}

/// The element kind of a layer's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// 0/1 spikes, stored as packed bits.
    Spikes,
    /// Integers (counts or quantised values), stored as i32.
    Int,
}

/// How GEMM rows and columns map to the layer's input tensor in DRAM.
///
/// Spike tensors are stored as `rows × ⌈width/8⌉` bytes of packed bits (LSB first); integer
/// tensors as `rows × width` i32.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputMap {
    /// GEMM row `r`, column `k` is row `r`, column `k` of a `rows × K` tensor.
    Rows,
    /// A layout transformation (im2col, transpose, flatten, concatenation, or a chain of them)
    /// through an index table, the program's description of an address generator. GEMM row `r`
    /// of the batch is sample `s = r / M`, time step `t = (r mod M) / P`, row-in-step `p = r mod P`
    /// (`M` = the layer's rows per sample, `P = M / steps`); its column `k` is element
    /// `e = table[p·K + k]` (u32, little-endian, at DRAM `table`) of time step `t` of sample `s`
    /// of the sources taken one after another: with `E_j = rows_j · cols_j` the elements of one
    /// step of source `j`, `e` names source `j` where `E_0 + … + E_(j−1) ≤ e < E_0 + … + E_j`,
    /// element `e' = e − (E_0 + … + E_(j−1))`: its stored row `(s·steps + t)·rows_j + e' / cols_j`,
    /// column `e' mod cols_j` — or zero when `e` is [`InputMap::ZERO`] (padding).
    Table {
        /// DRAM address of the `P × K` u32 table (in `.phi.weights`).
        table: u32,
        /// Time steps per sample.
        steps: u32,
        /// The stored tensors the entries name (at least one; a residual `add` rewritten into
        /// a GEMM over `[x | y]` reads two).
        sources: Vec<TableSource>,
    },
}

/// A stored tensor that a layer's index table reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSource {
    /// Spikes (packed bits) or integers (i32). Spikes read into an integer tile are 0 or 1.
    pub kind: InputKind,
    /// DRAM address of the tensor.
    pub dram: u32,
    /// Bytes per stored row.
    pub row_bytes: u32,
    /// Stored rows per time step.
    pub rows: u32,
    /// Elements per stored row.
    pub cols: u32,
}

impl TableSource {
    /// Elements of one time step (`rows · cols`).
    pub fn step_elements(&self) -> u64 {
        u64::from(self.rows) * u64::from(self.cols)
    }
}

impl InputMap {
    /// The table entry of a zero (padding) element.
    pub const ZERO: u32 = u32::MAX;
}

/// A layer's input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInput {
    /// Spikes or integers: what the gathered tile holds (`spk` or `act` buffer).
    pub kind: InputKind,
    /// DRAM address of the tensor (with a table mapping: of its first source).
    pub dram: u32,
    /// Bytes per stored row (with a table mapping: of its first source).
    pub row_bytes: u32,
    /// The mapping.
    pub map: InputMap,
}

/// Integer LIF parameters (see the `snn` dialect).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neuron {
    /// Leak multiplier.
    pub leak: i32,
    /// Leak fraction bits.
    pub shift: u32,
    /// Threshold.
    pub threshold: i32,
    /// `true`: reset to zero; `false`: subtract the threshold.
    pub reset_zero: bool,
}

/// One GEMM layer (with its neuron, if any).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerDesc {
    /// Name (the weight's).
    pub name: String,
    /// Rows of the whole batch (`batch × rows_per_sample`).
    pub rows: u32,
    /// Rows per sample (`T × positions`).
    pub rows_per_sample: u32,
    /// Positions per time step.
    pub positions: u32,
    /// Input columns.
    pub k_cols: u32,
    /// Output columns.
    pub n: u32,
    /// Partition width.
    pub k: u32,
    /// Patterns per partition (0 without patterns).
    pub q: u32,
    /// How the GEMM runs.
    pub mode: LayerMode,
    /// The input.
    pub input: LayerInput,
    /// DRAM address of the `K × N` i8 weights.
    pub weights: u32,
    /// DRAM address of the `N` i32 bias.
    pub bias: Option<u32>,
    /// DRAM address of the `P × q` u32 patterns (Phi layers).
    pub patterns: Option<u32>,
    /// DRAM address of the `P × q × N` i16 PWP table (Phi layers).
    pub pwp: Option<u32>,
    /// The neuron applied to the current (`None`: the current itself is the output).
    pub neuron: Option<Neuron>,
    /// DRAM address of the output: spikes `rows × ⌈N/8⌉` bytes, or currents `rows × N` i32.
    pub output: u32,
    /// DRAM address reserved for the membranes (`batch × positions × N` i32) of layers whose
    /// samples span several row tiles (spilling; not generated yet).
    pub membrane: u32,
}

impl LayerDesc {
    /// Number of partitions `⌈K / k⌉`.
    pub fn parts(&self) -> u32 {
        self.k_cols.div_ceil(self.k.max(1))
    }
}

/// The element kind of a model input or output in DRAM (its JSON spelling is the MLIR element
/// type's: `"i1"`, `"i32"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PortElem {
    /// `i1`: spikes (0/1), packed as bits, LSB first: a row of `width` elements is
    /// `⌈width/8⌉` bytes.
    #[serde(rename = "i1")]
    I1,
    /// `i32`: integers, little-endian, 4 bytes each.
    #[serde(rename = "i32")]
    I32,
}

impl PortElem {
    /// The spelling in the metadata and in messages (`i1`, `i32`).
    pub fn name(self) -> &'static str {
        match self {
            PortElem::I1 => "i1",
            PortElem::I32 => "i32",
        }
    }

    /// The tensor element type of the model's input or output.
    pub fn elem_type(self) -> ElemType {
        match self {
            PortElem::I1 => ElemType::I1,
            PortElem::I32 => ElemType::I32,
        }
    }
}

impl fmt::Display for PortElem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model input or output in DRAM: `batch` samples, each `shape` (the last dimension packed in
/// rows of `row_bytes`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Port {
    /// Name in the model signature.
    pub name: String,
    /// Per-sample shape (`[T, …]`).
    pub shape: Vec<usize>,
    /// Spikes (`i1`) or integers (`i32`).
    pub elem: PortElem,
    /// DRAM address.
    pub dram: u32,
    /// Bytes per stored row (the last dimension).
    pub row_bytes: u32,
    /// For an input that was real-valued in the model: the scale of its 8-bit codes (real
    /// inputs are quantised on the way in, see `phi_runtime::input`). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
}

/// A constant region of DRAM, shipped in a section of the binary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// Section name (`.phi.weights`, `.phi.pwp`, `.phi.patterns`).
    pub section: String,
    /// DRAM address of its first byte.
    pub dram: u32,
    /// Size in bytes.
    pub bytes: u32,
}

/// Everything about a program except its code and constant data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgramMeta {
    /// Format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Model name.
    pub model: String,
    /// Target accelerator.
    pub target: TargetKind,
    /// Time steps.
    pub time_steps: u32,
    /// Samples processed together by one run of the code (inputs and outputs in DRAM hold
    /// `batch` samples; rows of every layer are `batch × rows per sample`).
    pub batch: u32,
    /// Inputs, by index.
    pub inputs: Vec<Port>,
    /// Outputs, by index.
    pub outputs: Vec<Port>,
    /// Layers, in execution order.
    pub layers: Vec<LayerDesc>,
    /// Constant DRAM regions.
    pub regions: Vec<Region>,
    /// First byte of the activation region.
    pub activations: u32,
    /// Size of the whole DRAM image.
    pub dram_bytes: u32,
    /// The hardware the program was compiled for.
    pub hw: HwConfig,
}

/// A compiled program.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// Metadata.
    pub meta: ProgramMeta,
    /// Instructions.
    pub code: Vec<Inst>,
    /// Constant sections by name, in `meta.regions` order.
    pub sections: Vec<(String, Vec<u8>)>,
    /// A default input (`.npy` bytes) that `phi-emu` runs without `--input`.
    pub sample: Option<Vec<u8>>,
}
