//! The `phi.*` discardable attributes: every key defined once, with typed accessors.
//!
//! MLIR names a dialect's discardable attributes after the dialect; ours are `phi.*`. They carry
//! facts between stages that are not part of an op's semantics: metadata of the model (data
//! files, provenance), what calibration measured, what pattern selection chose, the scales
//! quantisation used, and the tile plan. Every stage reads and writes them through this module,
//! so a key is spelled in one place and a value of the wrong kind reads as absent rather than as
//! a silently different number.
//!
//! | key | on | value | written by | read by |
//! |---|---|---|---|---|
//! | `phi.calibration` | module | path (string) | the model's `metadata_props` | `calibrate`, `quantize`, the driver |
//! | `phi.heldout`, `phi.heldout_labels` | module | path (string) | the model's `metadata_props` | the driver, `phic tune` |
//! | `phi.nir_version` | module | string | the NIR importer | (provenance) |
//! | `phi.batch` | module | `i64` | `tile` | the backend |
//! | `phi.input_scale` | `snn.input` | `f32` | `quantize` | the interpreter's input coding, the backend's ports |
//! | `phi.scale` | synaptic op | `f32` | `quantize` | (reported) |
//! | `phi.calib`, `phi.calib_rows`, `phi.calib_k` | `snn.linear` | weight, `i64`, `i64` | `calibrate` | `select-patterns` |
//! | `phi.patterns`, `phi.k` | `snn.linear` | weight `[parts, q]` i32, `i64` | `select-patterns` | `phi-split`, `phic tune` |
//! | `phi.tile` | layer op (`phi.l2_accumulate`, `snn.linear`) | `array<i64: rows, cols, group>` | `tile` | the backend |
//!
//! Paths are relative to the model file.

use crate::attr::{Attr, IntTy};
use crate::ir::{Module, OpId};
use crate::weights::WeightId;

/// Module key: the calibration inputs (`.npy`).
pub const CALIBRATION: &str = "phi.calibration";
/// Module key: the held-out inputs (`.npy`).
pub const HELDOUT: &str = "phi.heldout";
/// Module key: the held-out labels (`.npy`).
pub const HELDOUT_LABELS: &str = "phi.heldout_labels";
/// Module key: the NIR format version of an imported graph.
pub const NIR_VERSION: &str = "phi.nir_version";
/// Module key: samples per run of the compiled program, decided by `tile`.
pub const BATCH: &str = "phi.batch";
/// Input-op key: the scale of a quantised real-valued input.
pub const INPUT_SCALE: &str = "phi.input_scale";
/// Synaptic-op key: the scale of the op's integer current.
pub const SCALE: &str = "phi.scale";
/// GEMM key: the calibration statistics (a weight).
pub const CALIB: &str = "phi.calib";
/// GEMM key: calibration rows.
pub const CALIB_ROWS: &str = "phi.calib_rows";
/// GEMM key: the partition width the statistics were collected at.
pub const CALIB_K: &str = "phi.calib_k";
/// GEMM key: the selected patterns (a weight).
pub const PATTERNS: &str = "phi.patterns";
/// GEMM key: the partition width of the patterns.
pub const K: &str = "phi.k";
/// Layer key: the tile plan.
pub const TILE: &str = "phi.tile";

/// The data files a model names in its metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFile {
    /// Calibration inputs.
    Calibration,
    /// Held-out inputs.
    Heldout,
    /// Held-out labels.
    HeldoutLabels,
}

impl DataFile {
    /// Every data file, in the order above.
    pub const ALL: [DataFile; 3] = [DataFile::Calibration, DataFile::Heldout, DataFile::HeldoutLabels];

    /// The module key.
    pub fn key(self) -> &'static str {
        match self {
            DataFile::Calibration => CALIBRATION,
            DataFile::Heldout => HELDOUT,
            DataFile::HeldoutLabels => HELDOUT_LABELS,
        }
    }

    /// How a model names it in ONNX text, for help messages:
    /// `metadata_props: ["phi.calibration": "calib.npy"]`.
    pub fn example(self) -> String {
        let file = match self {
            DataFile::Calibration => "calib.npy",
            DataFile::Heldout => "test.npy",
            DataFile::HeldoutLabels => "test_labels.npy",
        };
        format!("metadata_props: [\"{}\": \"{file}\"]", self.key())
    }
}

/// The path a model gives for `file`, as written (relative to the model file).
pub fn data_file(m: &Module, file: DataFile) -> Option<&str> {
    match m.attrs.get(file.key()) {
        Some(Attr::Str(p)) => Some(p),
        Some(_) | None => None,
    }
}

/// Sets the path of `file`.
pub fn set_data_file(m: &mut Module, file: DataFile, path: impl Into<String>) {
    m.attrs.insert(file.key().into(), Attr::Str(path.into()));
}

/// Records the NIR format version of an imported graph.
pub fn set_nir_version(m: &mut Module, version: impl Into<String>) {
    m.attrs.insert(NIR_VERSION.into(), Attr::Str(version.into()));
}

fn int(a: Option<&Attr>) -> Option<i64> {
    match a {
        Some(Attr::Int(v, _)) => Some(*v),
        Some(
            Attr::F32(_) | Attr::Bool(_) | Attr::Str(_) | Attr::I64Array(_) | Attr::Array(_) | Attr::Resource { .. },
        )
        | None => None,
    }
}

fn float(a: Option<&Attr>) -> Option<f32> {
    match a {
        Some(Attr::F32(v)) => Some(*v),
        Some(
            Attr::Int(..) | Attr::Bool(_) | Attr::Str(_) | Attr::I64Array(_) | Attr::Array(_) | Attr::Resource { .. },
        )
        | None => None,
    }
}

/// Samples per run of the compiled program, as `tile` decided.
pub fn batch(m: &Module) -> Option<u32> {
    int(m.attrs.get(BATCH)).and_then(|b| u32::try_from(b).ok()).filter(|&b| b >= 1)
}

/// Records the batch.
pub fn set_batch(m: &mut Module, batch: u32) {
    m.attrs.insert(BATCH.into(), Attr::Int(batch as i64, IntTy::I64));
}

/// The scale of a quantised real-valued model input (on its `snn.input`).
pub fn input_scale(m: &Module, input: OpId) -> Option<f32> {
    float(m.op(input).attrs.get(INPUT_SCALE))
}

/// Records the scale of a quantised real-valued input.
pub fn set_input_scale(m: &mut Module, input: OpId, scale: f32) {
    m.op_mut(input).attrs.insert(INPUT_SCALE.into(), Attr::F32(scale));
}

/// Records the scale of a synaptic op's integer current.
pub fn set_scale(m: &mut Module, op: OpId, scale: f32) {
    m.op_mut(op).attrs.insert(SCALE.into(), Attr::F32(scale));
}

/// What `calibrate` recorded on a GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// The statistics table.
    pub stats: WeightId,
    /// Rows the statistics were collected from.
    pub rows: u64,
    /// Partition width.
    pub k: u32,
}

/// The calibration statistics weight of a GEMM, if any (whatever else is recorded).
pub fn calib_stats(m: &Module, op: OpId) -> Option<WeightId> {
    m.attr_weight(op, CALIB)
}

/// The partition width of a GEMM's calibration statistics.
pub fn calib_k(m: &Module, op: OpId) -> Option<u32> {
    int(m.op(op).attrs.get(CALIB_K)).and_then(|k| u32::try_from(k).ok())
}

/// Records a GEMM's calibration.
pub fn set_calibration(m: &mut Module, op: OpId, c: Calibration) {
    m.set_attr_weight(op, CALIB, c.stats);
    let attrs = &mut m.op_mut(op).attrs;
    attrs.insert(CALIB_ROWS.into(), Attr::Int(c.rows as i64, IntTy::I64));
    attrs.insert(CALIB_K.into(), Attr::Int(c.k as i64, IntTy::I64));
}

/// The selected patterns of a GEMM (a weight `[parts, q]` i32), if any.
pub fn patterns(m: &Module, op: OpId) -> Option<WeightId> {
    m.attr_weight(op, PATTERNS)
}

/// The partition width of a GEMM's patterns.
pub fn patterns_k(m: &Module, op: OpId) -> Option<u32> {
    int(m.op(op).attrs.get(K)).and_then(|k| u32::try_from(k).ok())
}

/// Records a GEMM's patterns and their partition width.
pub fn set_patterns(m: &mut Module, op: OpId, patterns: WeightId, k: u32) {
    m.set_attr_weight(op, PATTERNS, patterns);
    m.op_mut(op).attrs.insert(K.into(), Attr::Int(k as i64, IntTy::I64));
}

/// Removes what calibration and pattern selection recorded on a GEMM (once it is split).
pub fn clear_selection(m: &mut Module, op: OpId) {
    for key in [CALIB, CALIB_ROWS, CALIB_K, PATTERNS, K] {
        m.op_mut(op).attrs.remove(key);
    }
}

/// The tile plan of one layer: rows per row tile, columns per column tile, and the K group
/// (partitions per group in Phi mode, input columns per group on the baselines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TilePlan {
    /// Rows per tile.
    pub rows: u32,
    /// Columns per tile.
    pub cols: u32,
    /// Partitions (Phi) or input columns (baselines) per K group.
    pub group: u32,
}

/// The tile plan of a layer op, if `tile` recorded a well-formed one.
pub fn tile(m: &Module, op: OpId) -> Option<TilePlan> {
    match m.op(op).attrs.get(TILE) {
        Some(Attr::I64Array(v)) => match v[..] {
            [r, c, g] => {
                let u = |x: i64| u32::try_from(x).ok().filter(|&x| x >= 1);
                Some(TilePlan { rows: u(r)?, cols: u(c)?, group: u(g)? })
            }
            _ => None,
        },
        Some(Attr::Int(..) | Attr::F32(_) | Attr::Bool(_) | Attr::Str(_) | Attr::Array(_) | Attr::Resource { .. })
        | None => None,
    }
}

/// Records a layer op's tile plan.
pub fn set_tile(m: &mut Module, op: OpId, t: TilePlan) {
    m.op_mut(op).attrs.insert(TILE.into(), Attr::I64Array(vec![t.rows as i64, t.cols as i64, t.group as i64]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_round_trip_and_wrong_kinds_read_as_absent() {
        let mut m = Module::new("t");
        assert_eq!(batch(&m), None);
        set_batch(&mut m, 3);
        assert_eq!(batch(&m), Some(3));
        m.attrs.insert(BATCH.into(), Attr::Str("3".into()));
        assert_eq!(batch(&m), None);
        m.attrs.insert(BATCH.into(), Attr::Int(0, IntTy::I64));
        assert_eq!(batch(&m), None, "a batch of 0 is no batch");
        set_data_file(&mut m, DataFile::Heldout, "test.npy");
        assert_eq!(data_file(&m, DataFile::Heldout), Some("test.npy"));
        assert_eq!(data_file(&m, DataFile::Calibration), None);
        assert_eq!(DataFile::Calibration.example(), r#"metadata_props: ["phi.calibration": "calib.npy"]"#);
    }
}
