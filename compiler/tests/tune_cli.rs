//! `phic tune` (pattern-aware fine-tuning) as a user runs it: on a tiny spiking CNN trained by
//! `phic train`, the Level-2 cost goes down over the epochs, the output model (in another
//! directory) loads, runs and compiles with its relative paths rewritten, and the same seed
//! gives the same bytes. The ignored test tunes the bundled digits examples and prints the
//! before/after numbers of the recompiled programs.

use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::write_data;

/// The tiny CNN of `common`.
fn model_text() -> String {
    common::tiny_cnn(
        r#"<
  ir_version: 9,
  opset_import: ["" : 17, "snn" : 1],
  metadata_props: ["phi.calibration": "data/calib.npy", "phi.heldout": "data/valid.npy", "phi.heldout_labels": "data/valid_labels.npy"]
>"#,
    )
}

/// `common::write_data` with this test's background firing rate.
fn data(dir: &Path, name: &str, n: usize, seed: u64) {
    write_data(dir, name, n, seed, 0.15);
}

fn phic(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phic")).current_dir(dir).args(args).output().expect("phic runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stdout:\n{}\nstderr:\n{}", text(&o.stdout), text(&o.stderr));
    text(&o.stderr)
}

/// A trained tiny CNN in `dir/model/` with its data in `dir/model/data/`.
fn trained_model(dir: &Path) {
    let model = dir.join("model");
    std::fs::create_dir_all(model.join("data")).unwrap();
    std::fs::write(model.join("model.snn"), model_text()).unwrap();
    data(&model.join("data"), "train", 60, 1);
    data(&model.join("data"), "valid", 24, 2);
    data(&model.join("data"), "calib", 24, 3);
    ok(&phic(
        &model,
        &[
            "train",
            "model.snn",
            "--data",
            "data/train.npy",
            "--labels",
            "data/train_labels.npy",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--lr",
            "0.01",
            "--seed",
            "1",
        ],
    ));
}

/// `phic tune` of `dir/model/model.snn` into `out`; `extra` options replace the defaults here.
fn tune(dir: &Path, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "tune",
        "model/model.snn",
        "--data",
        "model/data/train.npy",
        "--labels",
        "model/data/train_labels.npy",
        "--valid",
        "model/data/valid.npy",
        "--valid-labels",
        "model/data/valid_labels.npy",
        "-o",
        out,
    ];
    for (key, value) in
        [("--epochs", "4"), ("--batch-size", "8"), ("--lambda", "1e-3"), ("--lr", "3e-3"), ("--seed", "7")]
    {
        if !extra.contains(&key) {
            args.extend([key, value]);
        }
    }
    args.extend_from_slice(extra);
    phic(dir, &args)
}

/// The `L2 … ops/sample` of every epoch line.
fn epoch_l2(stderr: &str) -> Vec<f64> {
    stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("epoch"))
        .filter_map(|l| l.split("L2 ").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn phic_tune_lowers_the_level2_cost_and_writes_a_model_that_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    trained_model(root);
    std::fs::create_dir_all(root.join("out")).unwrap();

    let o = tune(root, "out/tuned.snn", &[]);
    let stderr = ok(&o);
    let stdout = text(&o.stdout);
    let l2 = epoch_l2(&stderr);
    assert_eq!(l2.len(), 4, "{stderr}");
    assert!(l2[3] < l2[0], "the Level-2 cost does not go down: {l2:?}\n{stderr}");
    assert!(stderr.contains("[select-patterns]"), "{stderr}");
    for line in ["before: valid accuracy", "after: valid accuracy", "reference interpreter on"] {
        assert!(stdout.contains(line), "no `{line}` in\n{stdout}");
    }
    assert!(stdout.contains("phic out/tuned.snn -o out/tuned.phibin --emulate"), "{stdout}");

    // The output: tuned weights under the model's keys; the text points at them and at the
    // model's data from its own directory.
    let w = phi_compiler::train::load_safetensors(&root.join("out/tuned.safetensors")).unwrap();
    let keys: Vec<&str> = w.tensors.keys().map(String::as_str).collect();
    assert_eq!(keys, ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc.bias", "fc.weight"]);
    assert_eq!(w.tensors["fc.weight"].shape, [3, 54]);
    let original = phi_compiler::train::load_safetensors(&root.join("model/weights.safetensors")).unwrap();
    assert_ne!(w, original, "tuning changed nothing");
    let tuned = std::fs::read_to_string(root.join("out/tuned.snn")).unwrap();
    assert!(tuned.contains(r#"["location": "tuned.safetensors", "key": "fc.weight"]"#), "{tuned}");
    assert!(tuned.contains(r#""phi.calibration": "../model/data/calib.npy""#), "{tuned}");
    assert!(tuned.contains(r#""phi.heldout_labels": "../model/data/valid_labels.npy""#), "{tuned}");
    assert_eq!(tuned.lines().count(), model_text().lines().count());

    // It runs in the interpreter, and compiles (calibration from the rewritten metadata) and
    // emulates on its rewritten held-out data.
    let run = phic(
        root,
        &["out/tuned.snn", "--interpret", "--input", "model/data/valid.npy", "--labels", "model/data/valid_labels.npy"],
    );
    ok(&run);
    assert!(text(&run.stdout).contains("accuracy"), "{}", text(&run.stdout));
    let emu = phic(root, &["out/tuned.snn", "-o", "out/tuned.phibin", "--emulate", "-q"]);
    ok(&emu);
    assert!(text(&emu.stdout).contains("| phi |"), "{}", text(&emu.stdout));

    // Same seed, same bytes.
    let (st, snn) = (
        std::fs::read(root.join("out/tuned.safetensors")).unwrap(),
        std::fs::read(root.join("out/tuned.snn")).unwrap(),
    );
    ok(&tune(root, "out/tuned.snn", &[]));
    assert_eq!(std::fs::read(root.join("out/tuned.safetensors")).unwrap(), st);
    assert_eq!(std::fs::read(root.join("out/tuned.snn")).unwrap(), snn);

    // λ = 0 is plain fine-tuning: the cost is still reported.
    let o = tune(root, "out/plain.snn", &["--lambda", "0", "--epochs", "1"]);
    assert_eq!(epoch_l2(&ok(&o)).len(), 1);
}

#[test]
fn phic_tune_refuses_bad_options_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    trained_model(root);

    let o = tune(root, "tuned.safetensors", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("OUT.snn"), "{}", text(&o.stderr));

    let o = tune(root, "tuned.snn", &["--lambda", "-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--lambda"), "{}", text(&o.stderr));

    // The tuned weights would overwrite the model's own.
    let o = tune(root, "model/weights.snn", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("a file the model reads"), "{}", text(&o.stderr));

    // No calibration data: the model without its metadata, and no --calib.
    let bare = model_text().replace(r#"metadata_props: ["phi.calibration": "data/calib.npy", "#, "metadata_props: [");
    std::fs::write(root.join("model/model.snn"), bare).unwrap();
    let o = tune(root, "tuned.snn", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("calibration"), "{}", text(&o.stderr));
    // … which --calib gives.
    ok(&tune(root, "tuned.snn", &["--calib", "model/data/calib.npy", "--epochs", "1"]));
}

/// The L2 ops per sample (sum of the Level-2 counts over the layers / samples) and the
/// emulated accuracy of `model`, recompiled (patterns reselected) with the default pipeline.
fn compiled_numbers(dir: &Path, model: &str, phibin: &str) -> (f64, String) {
    let o = phic(dir, &[model, "--report-sparsity", "-q"]);
    ok(&o);
    let report = text(&o.stdout);
    let held = report.split("held-out").nth(1).unwrap_or_else(|| panic!("no held-out table in\n{report}"));
    let samples: f64 = held.split(", ").nth(1).and_then(|s| s.split(' ').next()).and_then(|s| s.parse().ok()).unwrap();
    let mut l2 = 0.0;
    for line in held.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| layer") && !l.contains("**")) {
        let phi = line.split('|').nth(10).unwrap_or("");
        let l2_part = phi.split('+').nth(1).and_then(|s| s.trim_end_matches([')', ' ']).parse::<f64>().ok());
        l2 += l2_part.unwrap_or_else(|| panic!("no L1+L2 split in `{line}`"));
    }
    let o = phic(dir, &[model, "-o", phibin, "--emulate", "-q"]);
    ok(&o);
    let emu = text(&o.stdout);
    let acc = emu
        .lines()
        .find(|l| l.starts_with("| phi |"))
        .and_then(|l| l.split('|').nth(2))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no phi row in\n{emu}"));
    (l2 / samples, acc)
}

/// Tunes the bundled digits MLP and CNN with the defaults (seed 0) and prints, for each, the
/// Level-2 operations per held-out sample and the emulated accuracy of the recompiled program
/// before and after. Run with
/// `cargo test -p phi-compiler --test tune_cli -- --ignored --nocapture`.
#[test]
#[ignore = "tunes the digits examples (about a minute)"]
fn tune_the_digits_examples() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let out = tempfile::tempdir().unwrap();
    for name in ["digits_mlp", "digits_cnn"] {
        let ex = examples.join(name);
        let tuned = out.path().join(format!("{name}.snn"));
        let o = phic(
            &ex,
            &[
                "tune",
                "model.snn",
                "--data",
                "train.npy",
                "--labels",
                "train_labels.npy",
                "--valid",
                "test.npy",
                "--valid-labels",
                "test_labels.npy",
                "--seed",
                "0",
                "-o",
                tuned.to_str().unwrap(),
            ],
        );
        let stderr = ok(&o);
        eprintln!("{name}:\n{stderr}{}", text(&o.stdout));
        let l2 = epoch_l2(&stderr);
        assert!(l2.last() < l2.first(), "{l2:?}");
        let (l2_before, acc_before) =
            compiled_numbers(&ex, "model.snn", out.path().join("before.phibin").to_str().unwrap());
        let (l2_after, acc_after) =
            compiled_numbers(&ex, tuned.to_str().unwrap(), out.path().join("after.phibin").to_str().unwrap());
        eprintln!(
            "{name}: Level-2 ops per held-out sample {l2_before:.0} → {l2_after:.0} ({:+.1}%), emulated accuracy {acc_before} → {acc_after}",
            100.0 * (l2_after / l2_before - 1.0)
        );
        assert!(l2_after < l2_before);
    }
}
