//! Build script: generates the ONNX-text parser from its lalrpop grammar.
//!
//! The parser is written to `$OUT_DIR/grammar.rs` and included by
//! `src/frontend/onnx/mod.rs`. The generation is quiet (lalrpop only speaks on errors, which
//! fail the build) and deterministic (no colours, no cargo features, no timestamps).

use std::path::PathBuf;

const GRAMMAR: &str = "src/frontend/onnx/grammar.lalrpop";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={GRAMMAR}");
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        panic!("OUT_DIR is not set; run this build script through cargo");
    };
    let result = lalrpop::Configuration::new()
        .set_out_dir(&out_dir)
        .set_features(Vec::<String>::new())
        .never_use_colors()
        .log_quiet()
        .emit_rerun_directives(false)
        .process_file(GRAMMAR);
    if let Err(e) = result {
        panic!("generating the ONNX-text parser from {GRAMMAR} failed: {e}");
    }
}
