//! Every `phic` entry point runs the same pipeline for the same target and hardware file:
//! compiling to a program (`-o`), printing the `phi` dialect (`--emit=phi`) and the sparsity
//! report (`--report-sparsity`) dump the same IR after every pass of the same pass list with
//! `--hw` given, and that IR differs from the default hardware's (so the file reaches the passes).
//! The target's tile decisions are what the backend lowers: `tile{m=…}` and the hardware file's
//! `m` change the program the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

const PHIC: &str = env!("CARGO_BIN_EXE_phic-lit");

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp").join(file)
}

fn small_hw() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("lit/backend/Inputs/small.toml")
}

/// Runs `phic MODEL ARGS…` in `dir`; returns stdout, asserting success.
fn phic(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(PHIC).arg(example("model.snn")).args(args).current_dir(dir).output().expect("runs phic");
    assert!(
        out.status.success(),
        "phic {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The `// -----// IR Dump After PASS //----- //` blocks of `out`: each pass name and its module
/// text (up to the module's closing line).
fn dumps(out: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = out.lines();
    while let Some(line) = lines.next() {
        let Some(pass) = line.strip_prefix("// -----// IR Dump After ").and_then(|l| l.strip_suffix(" //----- //"))
        else {
            continue;
        };
        let mut text = String::new();
        for l in lines.by_ref() {
            text.push_str(l);
            text.push('\n');
            if l.starts_with("})") {
                break;
            }
        }
        blocks.push((pass.to_string(), text));
    }
    blocks
}

#[test]
fn emit_phi_report_sparsity_and_compiling_run_one_pipeline_for_a_hardware_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hw = small_hw();
    let hw = hw.to_str().expect("utf-8");
    let common = ["--hw", hw, "--print-ir-after-all", "--elide-weights", "-q"];
    let compiled = dumps(&phic(dir.path(), &[&common[..], &["-o", "m.phibin"]].concat()));
    let emitted = dumps(&phic(dir.path(), &[&common[..], &["--emit=phi", "-o", "m.mlir"]].concat()));
    let report = dumps(&phic(dir.path(), &[&common[..], &["--report-sparsity"]].concat()));
    let names: Vec<&str> = compiled.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "canonicalize",
            "conv-to-gemm",
            "quantize",
            "pool-to-gemm",
            "add-to-gemm",
            "calibrate",
            "select-patterns",
            "phi-split",
            "tile"
        ],
        "the Phi pipeline"
    );
    assert_eq!(emitted, compiled, "--emit=phi and -o");
    assert_eq!(report, compiled, "--report-sparsity and -o");
    // the hardware file's q = 64 reaches select-patterns, its m = 128 the tile plan
    let default = dumps(&phic(dir.path(), &["--print-ir-after-all", "--elide-weights", "-q", "--emit=phi"]));
    assert_eq!(default.len(), compiled.len());
    // (from select-patterns on: the first six passes do not depend on q or m)
    for ((pass, with_hw), (_, without)) in compiled.iter().zip(&default).skip(6) {
        assert_ne!(with_hw, without, "after {pass}, the IR with --hw equals the default hardware's");
    }
    let tile = &compiled.last().expect("tile ran").1;
    assert!(tile.contains("phi.tile = array<i64: 128, 32,"), "{tile}");
    // the emitted file is the last dump's module
    let file = std::fs::read_to_string(dir.path().join("m.mlir")).expect("--emit=phi -o wrote the file");
    assert!(file.starts_with(&tile[..tile.len().min(200)]), "the printed module is the IR after tile");
}

#[test]
fn the_tile_plan_is_the_program_the_backend_emits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let phi = "canonicalize,conv-to-gemm,quantize,pool-to-gemm,add-to-gemm,calibrate,select-patterns,phi-split";
    let default = phic(dir.path(), &["--emit=isa", "-q"]);
    let m128 = phic(dir.path(), &["--emit=isa", "-q", &format!("--passes={phi},tile{{m=128}}")]);
    assert_ne!(default, m128, "tile{{m=128}} changes the program");
    assert!(m128.contains("psum.init  L0 rows=128 "), "row tiles of 128 rows");
    assert!(!default.contains("psum.init  L0 rows=128 "), "the default tiles are 256 rows");
    // the hardware file says m = 128 (and q = 64): the same tiles, other patterns
    let dir2 = tempfile::tempdir().expect("tempdir");
    let hw = small_hw();
    let with_hw = phic(dir2.path(), &["--emit=isa", "-q", "--hw", hw.to_str().expect("utf-8")]);
    assert!(with_hw.contains("psum.init  L0 rows=128 "), "row tiles of the hardware file's m");
    // --batch sets the tile pass's batch
    let b4 = phic(dir.path(), &["--emit=phi", "-q", "--elide-weights", "--batch", "4"]);
    assert!(b4.contains("phi.batch = 4 : i64"), "{b4}");
}
