//! The model's data files: where its calibration and held-out inputs are, and reading them.
//!
//! A model names its data in metadata (`phi.calibration`, `phi.heldout`, `phi.heldout_labels`,
//! relative to the model file; see [`phi_dialect::phi_attrs::DataFile`]); the command line may
//! override them (`--calib`, `--input`). The calibration passes and the driver both read data
//! through this module, which sits below both.

use std::path::{Path, PathBuf};

use phi_dialect::ir::OpId;
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::phi_attrs::{self, DataFile};
use phi_dialect::{DResult, Diagnostic, Module};
use phi_runtime::Tensor;
use phi_runtime::npy::read_npy;

/// `path` as given in a model: absolute as is, else relative to `model_dir`.
pub fn resolve(model_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() { path.to_path_buf() } else { model_dir.join(path) }
}

/// The path of one of the model's data files, if it names one.
pub fn model_file(m: &Module, model_dir: &Path, file: DataFile) -> Option<PathBuf> {
    phi_attrs::data_file(m, file).map(|p| resolve(model_dir, Path::new(p)))
}

/// The calibration file: `calib` (the command line's), or the model's `phi.calibration`.
pub fn calibration_path(m: &Module, model_dir: &Path, calib: Option<&Path>) -> DResult<PathBuf> {
    if let Some(p) = calib {
        return Ok(p.to_path_buf());
    }
    model_file(m, model_dir, DataFile::Calibration).ok_or_else(|| {
        Diagnostic::error("no calibration data").with_help(format!(
            "give --calib X.npy ([N, T, ...] spikes), or name a file in the model's {}",
            DataFile::Calibration.example()
        ))
    })
}

/// Reads up to `samples` samples of the module's single input from a `.npy` file (real values
/// for a quantised real-valued input become its codes, see `phi_runtime::input`).
pub fn read_inputs(m: &Module, path: &Path, samples: usize) -> DResult<Tensor> {
    let inputs: Vec<OpId> = m.ops_where(|k| matches!(k, OpKind::Snn(SnnOp::Input(_))));
    let [input] = inputs[..] else {
        return Err(Diagnostic::error(format!(
            "calibration needs a model with one input, this one has {}",
            inputs.len()
        )));
    };
    let elem = m.ty(m.result(input)).elem;
    let arr = read_npy(path).map_err(Diagnostic::error)?;
    let t = phi_runtime::input::tensor(&arr, elem, phi_attrs::input_scale(m, input))
        .map_err(|e| Diagnostic::error(format!("{}: {e}", path.display())))?;
    let n = t.shape.first().copied().unwrap_or(0).min(samples);
    Ok(t.samples(0, n))
}
