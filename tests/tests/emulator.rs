//! The emulator runs compiled programs bit-exactly: on each example's test split, for all three
//! targets, its output spikes equal the integer reference interpreter's — the digits MLP, the
//! digits CNN (convolutions lowered through im2col gathers), the same CNN imported from its
//! NIR export, and both models after pattern-aware fine-tuning (`paft.snn`, written by
//! `phic tune`), which must need fewer Level-2 operations than the originals; and a NIR graph
//! of the Sinabs N-MNIST CNN's structure (IF neurons, sum pools) from `tests/nir/`.

use std::path::{Path, PathBuf};

use phi_compiler::backend;
use phi_compiler::frontend::{ImportOptions, WeightMode, load_module_with, read_source};
use phi_compiler::passes::Pipeline;
use phi_dialect::program::TargetKind;
use phi_dialect::target::Target;
use phi_dialect::{ElemType, Module};
use phi_runtime::Tensor;
use phi_runtime::emu::{RunOptions, run};
use phi_runtime::npy::{read_npy, to_tensor};
use phi_tests::compile::run_pipeline;

fn example_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

fn load(example: &str, file: &str) -> Module {
    let dir = example_dir(example);
    let src = read_source(dir.join(file).to_str().unwrap()).unwrap();
    // the CNN subtracts the threshold (snnTorch's Leaky default); its NIR export, like
    // snnTorch's, writes v_reset = 0, so it imports with --nir-reset subtract
    let nir = ImportOptions {
        time_steps: Some(8),
        spiking_input: true,
        reset: phi_compiler::frontend::NirReset::Subtract,
        ..ImportOptions::default()
    };
    load_module_with(&src, WeightMode::Load, &nir).unwrap_or_else(|d| panic!("{example}/{file}: {d}"))
}

fn compiled_in(dir: &Path, calib: &Path, m: &Module, pipeline: &Pipeline, target: &Target) -> Module {
    run_pipeline(m, pipeline, target, dir, calib).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `m` on `x` on all three targets, checks every program's output spikes against the
/// integer interpreter's; returns each target's cycles and the Phi program's Level-2 operations.
fn check_module(what: &str, dir: &Path, calib: &Path, m: &Module, x: &Tensor) -> (Vec<(TargetKind, u64)>, u64) {
    let integer = compiled_in(dir, calib, m, &Pipeline::parse("canonicalize,quantize").unwrap(), &Target::phi());
    let reference = phi_runtime::run(&integer, std::slice::from_ref(x)).unwrap();
    let mut cycles = Vec::new();
    let mut l2 = 0;
    for kind in TargetKind::ALL {
        let target = Target::phi().with_kind(kind);
        let module = compiled_in(dir, calib, m, &Pipeline::for_target(kind), &target);
        let program = backend::lower(&module, &target, None).unwrap_or_else(|d| panic!("{what} {kind:?}: {d}"));
        let report = run(&program, std::slice::from_ref(x), RunOptions::default())
            .unwrap_or_else(|e| panic!("{what} {kind:?}: {e}"));
        assert_eq!(report.outputs, reference, "{what} {kind:?}: output spikes differ from the integer interpreter");
        if std::env::var("PHI_DEBUG_EMU").is_ok() {
            eprintln!("{kind:?}: cycles {} busy {:?} energy {:?}", report.cycles, report.busy, report.energy);
            for l in &report.layers {
                eprintln!(
                    "  {} {} cycles {} energy {:.0} dram {}",
                    l.name, l.mode, l.cycles, l.energy_pj, l.dram_bytes
                );
            }
        }
        assert!(report.cycles > 0);
        if kind == TargetKind::Phi {
            l2 = report.ops.l2;
        }
        cycles.push((kind, report.cycles));
    }
    (cycles, l2)
}

/// Runs one model on its example's test split on all three targets.
fn check(example: &str, file: &str) -> (Vec<(TargetKind, u64)>, u64) {
    let dir = example_dir(example);
    let x = to_tensor(&read_npy(&dir.join("test.npy")).unwrap(), ElemType::I1).unwrap();
    check_module(&format!("{example}/{file}"), &dir, &dir.join("calib.npy"), &load(example, file), &x)
}

#[test]
fn mlp_all_targets_match_the_integer_interpreter_on_the_test_split() {
    check("digits_mlp", "model.snn");
}

#[test]
fn cnn_all_targets_match_the_integer_interpreter_on_the_test_split() {
    check("digits_cnn", "model.snn");
}

/// The NIR export of the CNN (written by the real `nir` package, `export_nir.py`) imports to
/// the same network: the float32 interpreter gives the ONNX-text model's spikes exactly, and the
/// compiled programs run bit-exactly with the same cycle counts.
#[test]
fn cnn_from_nir_is_the_same_network() {
    let x = to_tensor(&read_npy(&example_dir("digits_cnn").join("test.npy")).unwrap(), ElemType::I1).unwrap();
    let onnx = phi_runtime::run(&load("digits_cnn", "model.snn"), std::slice::from_ref(&x)).unwrap();
    let nir = phi_runtime::run(&load("digits_cnn", "model.nir"), std::slice::from_ref(&x)).unwrap();
    assert_eq!(onnx[0].data, nir[0].data, "float32 spikes of model.nir and model.snn");
    assert_eq!(check("digits_cnn", "model.nir"), check("digits_cnn", "model.snn"));
}

/// Pattern-aware fine-tuning (`phic tune … --seed 0`, docs/paft.md) lowers the Level-2 work of
/// both examples, and the tuned models compile and run bit-exactly like the originals.
#[test]
fn paft_lowers_level_2_work_on_both_examples() {
    for example in ["digits_mlp", "digits_cnn"] {
        let (_, before) = check(example, "model.snn");
        let (_, after) = check(example, "paft.snn");
        assert!(after < before, "{example}: Level-2 operations {before} before PAFT, {after} after");
    }
}

/// The structure of the NIR paper's Sinabs N-MNIST CNN (`tests/nir/sinabs_cnn.nir`, written by
/// the real `nir` package): conv 2→16 5×5 stride 2 → IF → conv → IF → SumPool 2×2 → conv → IF →
/// SumPool 2×2 → fc → IF → fc → IF. It compiles for every target and runs bit-exactly with the
/// integer interpreter, with the IF neurons resetting as NIR defines it (to `v_reset = 0`) and
/// as Sinabs does (by subtraction).
#[test]
fn sinabs_cnn_from_nir_runs_bit_exactly_on_every_target_in_both_reset_modes() {
    use phi_compiler::frontend::NirReset;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("nir");
    let input = dir.join("sinabs_cnn.input.npy");
    let arr = read_npy(&input).unwrap();
    let t = arr.shape()[1];
    let x = to_tensor(&arr, ElemType::I1).unwrap();
    let src = read_source(dir.join("sinabs_cnn.nir").to_str().unwrap()).unwrap();
    for reset in [NirReset::VReset, NirReset::Subtract] {
        let opts = ImportOptions { time_steps: Some(t), spiking_input: true, reset, ..ImportOptions::default() };
        let m = load_module_with(&src, WeightMode::Load, &opts).unwrap_or_else(|d| panic!("sinabs_cnn: {d}"));
        check_module(&format!("sinabs_cnn ({})", reset.name()), &dir, &input, &m, &x);
    }
}

/// The nets snnTorch itself exported (`tests/nir/snntorch/`, snnTorch 1.0's `export_to_nir`)
/// compile for every target and run bit-exactly with the integer interpreter, each in the reset
/// mode of the `Leaky` that made it.
#[test]
fn snntorch_exports_run_bit_exactly_on_every_target() {
    use phi_compiler::frontend::NirReset;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("nir/snntorch");
    for (file, reset) in [("mlp_zero", NirReset::VReset), ("mlp_subtract", NirReset::Subtract)] {
        let input = dir.join(format!("{file}.input.npy"));
        let arr = read_npy(&input).unwrap();
        let x = to_tensor(&arr, ElemType::I1).unwrap();
        let src = read_source(dir.join(format!("{file}.nir")).to_str().unwrap()).unwrap();
        let opts =
            ImportOptions { time_steps: Some(arr.shape()[1]), spiking_input: true, reset, ..ImportOptions::default() };
        let m = load_module_with(&src, WeightMode::Load, &opts).unwrap_or_else(|d| panic!("{file}: {d}"));
        check_module(file, &dir, &input, &m, &x);
    }
}
