//! Running a pipeline in the integration tests: one helper instead of a copy per test file.

use std::path::Path;

use phi_compiler::passes::{PassContext, Pipeline};
use phi_dialect::Module;
use phi_dialect::target::Target;

/// Runs `pipeline` built for `target` on a copy of `m`, quietly, with `dir` as the model
/// directory and `calib` as the calibration data (as `phic --calib` gives it).
pub fn run_pipeline(
    m: &Module,
    pipeline: &Pipeline,
    target: &Target,
    dir: &Path,
    calib: &Path,
) -> Result<Module, String> {
    let mut m = m.clone();
    let mut sink = std::io::sink();
    let mut cx = PassContext {
        model_dir: dir.to_path_buf(),
        calib: Some(calib.to_path_buf()),
        remarks: &mut sink,
        progress: false,
    };
    pipeline.build(target)?.run(&mut m, &mut cx, &mut std::io::sink()).map_err(|d| d.to_string())?;
    Ok(m)
}
