//! The compile target from the command line: `--target` and `--hw FILE.toml`.
//!
//! Every entry point (`phic -o`, `--emit`, `--report-sparsity`, `--emulate`, `phic tune`) builds
//! its [`Target`] here and runs [`crate::passes::Pipeline::for_target`] built for it, so that one
//! hardware file means one pipeline everywhere.

use std::path::Path;

use phi_dialect::hw::HwConfig;
use phi_dialect::program::TargetKind;
use phi_dialect::target::Target;
use phi_dialect::{Diagnostic, SourceMap, Span};

use crate::failure::Failure;

/// Reads `--hw FILE.toml` (errors point into the file), or the default configuration.
pub fn hw_config(path: Option<&Path>, sources: &mut SourceMap) -> Result<HwConfig, Failure> {
    let Some(path) = path else { return Ok(HwConfig::default()) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::error(format!("cannot read the hardware configuration {}: {e}", path.display())))?;
    let file = sources.add(path.display().to_string(), text.clone());
    HwConfig::from_toml(&text).map_err(|e| {
        let d = Diagnostic::error(format!("bad hardware configuration: {}", e.message))
            .with_help("keys are those `phic --print-hw-config` prints; a missing key keeps its default");
        let d = match e.span {
            Some(r) => d.with_span(Span::new(file, r), ""),
            None => d.with_note(format!("in {}", path.display())),
        };
        Failure::Diag(d)
    })
}

/// The target of `kind` on the configuration `--hw` names (or the default one), validated.
pub fn target(kind: TargetKind, hw: Option<&Path>, sources: &mut SourceMap) -> Result<Target, Failure> {
    let hw = hw_config(hw, sources)?;
    hw.validate().map_err(|e| Diagnostic::error(format!("invalid hardware configuration: {e}")))?;
    Ok(Target::new(kind, hw))
}
