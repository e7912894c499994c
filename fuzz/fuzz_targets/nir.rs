//! Fuzz target: the NIR reader and importer on arbitrary bytes.
//!
//! `nir::read` (HDF5 through hdf5-reader) must return a graph or a diagnostic on every file,
//! and a graph it returns must import (with 2 time steps) to a verified module or a
//! diagnostic: never a panic, a hang or an allocation out of proportion to the input (sizes
//! are checked against `nir::MAX_ELEMENTS` before anything is read). Seed the corpus with the
//! fixtures: `cp tests/nir/*.nir fuzz/corpus/nir/`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use phi_compiler::frontend::nir::read;
use phi_compiler::frontend::nir_import::{ImportOptions, import};

fuzz_target!(|data: &[u8]| {
    // the reader opens files: one temporary file per input
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("fuzz.nir");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(file) = read(&path) {
        let opts = ImportOptions { time_steps: Some(2), ..ImportOptions::default() };
        let _ = import(&file, "fuzz.nir", &opts);
    }
});
