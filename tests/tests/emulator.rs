//! The emulator runs compiled programs bit-exactly: on the example's test split, for all three
//! targets, its output spikes equal the integer reference interpreter's.

use std::path::{Path, PathBuf};

use phi_compiler::backend::{self, Options};
use phi_compiler::frontend::{WeightMode, load_module, read_source};
use phi_compiler::passes::{PassContext, PassManager};
use phi_dialect::hw::HwConfig;
use phi_dialect::program::Target;
use phi_dialect::{ElemType, Module};
use phi_runtime::emu::{RunOptions, run};
use phi_runtime::npy::{read_npy, to_tensor};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp")
}

fn compiled(pipeline: &str) -> Module {
    let dir = example_dir();
    let src = read_source(dir.join("model.snn").to_str().unwrap()).unwrap();
    let mut m = load_module(&src, WeightMode::Load).unwrap();
    let mut sink = std::io::sink();
    let mut cx = PassContext { model_dir: dir.clone(), calib: None, remarks: &mut sink, progress: false };
    PassManager::parse(pipeline).unwrap().run(&mut m, &mut cx, &mut std::io::sink()).unwrap();
    m
}

#[test]
fn all_targets_match_the_integer_interpreter_on_the_test_split() {
    let x = to_tensor(&read_npy(&example_dir().join("test.npy")).unwrap(), ElemType::I1).unwrap();
    let dense = compiled("canonicalize,quantize");
    let reference = phi_runtime::run(&dense, std::slice::from_ref(&x)).unwrap();
    let phi = compiled(phi_compiler::passes::DEFAULT_PIPELINE);
    let mut cycles = Vec::new();
    for (target, module) in [(Target::Phi, &phi), (Target::BitSparse, &dense), (Target::Dense, &dense)] {
        let program = backend::lower(module, &Options { target, hw: HwConfig::default(), batch: None }, None)
            .unwrap_or_else(|d| panic!("{target:?}: {d}"));
        let report = run(&program, std::slice::from_ref(&x), RunOptions::default())
            .unwrap_or_else(|e| panic!("{target:?}: {e}"));
        assert_eq!(report.outputs, reference, "{target:?}: output spikes differ from the integer interpreter");
        if std::env::var("PHI_DEBUG_EMU").is_ok() {
            eprintln!("{target:?}: cycles {} busy {:?} energy {:?}", report.cycles, report.busy, report.energy);
            eprintln!("  units {:?}", report.units);
            for l in &report.layers {
                eprintln!(
                    "  {} {} cycles {} energy {:.0} dram {}",
                    l.name, l.mode, l.cycles, l.energy_pj, l.dram_bytes
                );
            }
        }
        cycles.push((target, report.cycles, report.energy_pj, report.ops));
    }
    eprintln!("{cycles:#?}");
    let (phi_c, bs_c, dense_c) = (cycles[0].1, cycles[1].1, cycles[2].1);
    assert!(phi_c > 0 && bs_c > 0 && dense_c > 0);
}
