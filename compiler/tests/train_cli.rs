//! `phic train` on a spiking CNN in ONNX text, as a user runs it: the trained weights are written
//! under the initializers' keys and shapes, the reference interpreter re-runs the saved model on
//! the validation split and agrees with the trainer's own validation accuracy, and the same seed
//! gives the same bytes.

use std::path::Path;
use std::process::{Command, Output};

use phi_compiler::train::load_safetensors;

mod common;

use common::write_data;

/// The tiny CNN of `common`.
fn model_text() -> String {
    common::tiny_cnn(r#"<ir_version: 9, opset_import: ["" : 17, "snn" : 1]>"#)
}

/// `common::write_data` with this test's background firing rate.
fn data(dir: &Path, name: &str, n: usize, seed: u64) {
    write_data(dir, name, n, seed, 0.1);
}

fn train(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phic"))
        .current_dir(dir)
        .args(["train", "model.snn", "--data", "train.npy", "--labels", "train_labels.npy"])
        .args(["--valid", "valid.npy", "--valid-labels", "valid_labels.npy"])
        .args(["--epochs", "2", "--batch-size", "8", "--lr", "0.01", "--seed", "4"])
        .args(extra)
        .output()
        .expect("phic runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The percentage after `key` on `line`, e.g. `valid accuracy 91.67%`.
fn percent_after(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    Some(rest.trim_start().split('%').next()?.to_string())
}

#[test]
fn phic_train_trains_a_cnn_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.snn"), model_text()).unwrap();
    data(dir.path(), "train", 48, 1);
    data(dir.path(), "valid", 24, 2);

    let o = train(dir.path(), &[]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stderr}");

    // The weights, under the model's keys and declared shapes.
    let w = load_safetensors(&dir.path().join("weights.safetensors")).unwrap();
    let shapes: Vec<(String, Vec<usize>)> = w.tensors.iter().map(|(k, t)| (k.clone(), t.shape.clone())).collect();
    let expect: Vec<(String, Vec<usize>)> = [
        ("conv1.bias", vec![4]),
        ("conv1.weight", vec![4, 1, 3, 3]),
        ("conv2.bias", vec![6]),
        ("conv2.weight", vec![6, 4, 3, 3]),
        ("fc.bias", vec![3]),
        ("fc.weight", vec![3, 54]),
    ]
    .into_iter()
    .map(|(k, s)| (k.to_string(), s))
    .collect();
    assert_eq!(shapes, expect);

    // The interpreter, on the saved model, reproduces the trainer's validation accuracy of the
    // epoch whose weights were kept.
    let kept = stderr
        .lines()
        .find_map(|l| l.split("kept the weights of epoch ").nth(1))
        .and_then(|e| e.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no selected epoch in:\n{stderr}"));
    let trainer = stderr
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("epoch {kept:>3}:")))
        .and_then(|l| percent_after(l, "valid accuracy"))
        .unwrap_or_else(|| panic!("no validation accuracy of epoch {kept} in:\n{stderr}"));
    let interp = stdout
        .lines()
        .find(|l| l.starts_with("reference interpreter on"))
        .and_then(|l| percent_after(l, "accuracy"))
        .unwrap_or_else(|| panic!("no interpreter accuracy in:\n{stdout}"));
    assert_eq!(trainer, interp, "trainer vs interpreter\n{stderr}\n{stdout}");

    // The trained model compiles to the snn dialect and runs in the interpreter.
    let run = Command::new(env!("CARGO_BIN_EXE_phic"))
        .current_dir(dir.path())
        .args(["model.snn", "--interpret", "--input", "valid.npy", "--labels", "valid_labels.npy"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains(&format!("accuracy {interp}%")), "{}", text(&run.stdout));

    // Same seed, same bytes; and --resume starts from the saved weights.
    let first = std::fs::read(dir.path().join("weights.safetensors")).unwrap();
    let o = train(dir.path(), &["-o", "again.safetensors"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(dir.path().join("again.safetensors")).unwrap(), first);
    let o = train(dir.path(), &["--resume", "-o", "resumed.safetensors"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let resumed = load_safetensors(&dir.path().join("resumed.safetensors")).unwrap();
    assert_eq!(resumed.tensors.keys().collect::<Vec<_>>(), w.tensors.keys().collect::<Vec<_>>());
}

#[test]
fn phic_train_refuses_data_of_another_shape_and_dilated_convolutions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.snn"), model_text()).unwrap();
    data(dir.path(), "valid", 6, 2);
    // Training data flattened to [N, T, 36]: the model reads [N, T, 1, 6, 6].
    let flat = ndarray::Array3::<u8>::zeros((6, 4, 36));
    ndarray_npy::write_npy(dir.path().join("train.npy"), &flat).unwrap();
    ndarray_npy::write_npy(dir.path().join("train_labels.npy"), &ndarray::Array1::<u8>::zeros(6)).unwrap();
    let o = train(dir.path(), &[]);
    assert_ne!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    assert!(err.contains("[1, 6, 6]") && err.contains("36"), "{err}");

    let dilated =
        model_text().replace("strides = [2, 2], kernel_shape", "dilations = [2, 2], strides = [2, 2], kernel_shape");
    let dilated = dilated.replace("float[3, 54] fc_weight", "float[3, 24] fc_weight");
    std::fs::write(dir.path().join("model.snn"), dilated).unwrap();
    let o = train(dir.path(), &[]);
    assert_ne!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    assert!(err.contains("dilation 1 and one group"), "{err}");
    assert!(err.contains("model.snn:"), "the error points into the model: {err}");
}
