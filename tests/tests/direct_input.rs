//! A direct-encoded model — real values fed to the first layer every time step — compiles and
//! runs bit-exactly: `quantize` measures the input scale on the calibration data, the first
//! layer takes 8-bit input codes on the dense path (shown in the per-layer table), and
//! `phi-emu` (given the real-valued `.npy`) computes exactly the integer interpreter's spikes,
//! for all three targets.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{ArrayD, IxDyn};
use phi_runtime::npy::{NpyArray, read_npy};

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp").join(file)
}

/// The digits MLP with its input declared as real values, beside its weights in `dir`, and
/// real-valued inputs derived from the example's spikes (intensity plus a deterministic ripple,
/// negative values included): 100 calibration samples and 60 test samples.
fn direct_model(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(example("model.snn")).unwrap();
    let src = src.replace("uint8[N, 8, 64] x", "float[N, 8, 64] x");
    // no calibration or held-out files of its own: they hold spikes
    let src = src
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("metadata_props") {
                "  metadata_props: [\"phi.encoding\": \"direct\"]"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(src.contains("float[N, 8, 64] x"));
    std::fs::write(dir.join("model.snn"), src).unwrap();
    std::fs::copy(example("weights.safetensors"), dir.join("weights.safetensors")).unwrap();
    let NpyArray::U8(spikes) = read_npy(&example("calib.npy")).unwrap() else { panic!("uint8 spikes") };
    let real: Vec<f32> =
        spikes.iter().enumerate().map(|(i, &s)| s as f32 * 0.8 + ((i * 7919) % 23) as f32 / 40.0 - 0.15).collect();
    let x = ArrayD::from_shape_vec(IxDyn(spikes.shape()), real).unwrap();
    let cut = |a: usize, b: usize| x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(a..b)).to_owned();
    ndarray_npy::write_npy(dir.join("calib.npy"), &cut(0, 100)).unwrap();
    ndarray_npy::write_npy(dir.join("x.npy"), &cut(100, 160)).unwrap();
    dir.join("model.snn")
}

fn run(bin: &str, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).current_dir(dir).output().expect("runs");
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_direct_encoded_model_runs_bit_exactly_on_all_targets() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    direct_model(dir);
    let phic = env!("CARGO_BIN_EXE_phic-lit");
    let emu = env!("CARGO_BIN_EXE_phi-emu-lit");
    // the integer reference: quantised with the same calibration data
    run(
        phic,
        dir,
        &["model.snn", "--calib", "calib.npy", "--quantized", "--interpret", "--input", "x.npy", "-o", "ref.npy"],
    );
    let reference = read_npy(&dir.join("ref.npy")).unwrap();
    for target in ["phi", "bit-sparse", "dense"] {
        let prog = format!("{target}.phibin");
        run(phic, dir, &["model.snn", "--calib", "calib.npy", "--target", target, "-o", &prog, "-q"]);
        let out = format!("{target}.npy");
        let summary = run(emu, dir, &[&prog, "--input", "x.npy", "-o", &out]);
        eprintln!("{summary}");
        assert_eq!(read_npy(&dir.join(&out)).unwrap(), reference, "{target}: output spikes differ");
        // the first layer takes integer codes, on the dense path
        let first = summary.lines().find(|l| l.starts_with("| fc1_weight |")).expect("a per-layer row");
        assert!(first.contains("| dense | int |"), "{target}: {first}");
        // the embedded sample holds input codes and runs too
        run(emu, dir, &[&prog]);
    }
    // the program records the input scale the interpreter used
    let bin = phi_dialect::phibin::read_file(dir.join("phi.phibin")).unwrap();
    let scale = bin.meta.inputs[0].scale.expect("a real-valued input has a scale");
    assert!(scale > 0.0 && scale.is_finite());
    // spikes flowed: the reference is not all silent
    let NpyArray::U8(y) = reference else { panic!("uint8 spikes") };
    assert!(y.iter().any(|&s| s == 1));
}

#[test]
fn a_direct_encoded_model_without_calibration_data_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    direct_model(d.path());
    let out = Command::new(env!("CARGO_BIN_EXE_phic-lit"))
        .args(["model.snn", "-o", "m.phibin"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("calibration") && err.contains("model.snn:"), "{err}");
}
