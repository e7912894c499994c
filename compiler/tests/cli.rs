//! The `phic` binary as a user runs it: exit codes, stdin/stdout, files written, messages.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn phic() -> Command {
    Command::new(env!("CARGO_BIN_EXE_phic"))
}

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp").join(file)
}

fn run(args: &[&str]) -> Output {
    phic().args(args).output().expect("phic runs")
}

fn run_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child =
        phic().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    child.wait_with_output().expect("phic runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_and_usage_errors() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = text(&o.stdout);
    for word in ["MODEL", "--emit", "--interpret", "--quantized", "--parse-only", "train"] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["--no-such-flag", "m.snn"]).status.code(), Some(2));
    assert_eq!(run(&["m.snn", "--interpret"]).status.code(), Some(2), "--interpret needs --input");
    assert_eq!(run(&["m.snn", "--emit=phibin"]).status.code(), Some(2));
    // no action compiles, to MODEL.phibin in the working directory
    let dir = tempfile::tempdir().unwrap();
    let o = phic().arg(example("model.snn")).arg("-q").current_dir(dir.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(dir.path().join("model.phibin").is_file());
    assert_eq!(run(&[example("model.snn").to_str().unwrap(), "--quantized", "-o", "/dev/null"]).status.code(), Some(2));
    assert_eq!(run(&["train", "--help"]).status.code(), Some(0));
}

#[test]
fn emit_then_read_back_from_stdin_is_identical() {
    let model = example("model.snn");
    let first = run(&[model.to_str().unwrap(), "--emit=snn"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let second = run_stdin(&["-", "--emit=snn"], &first.stdout);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_eq!(first.stdout, second.stdout);
    assert!(text(&first.stdout).starts_with("\"builtin.module\"() ({\n"));
}

#[test]
fn emit_to_a_file_and_from_a_mlir_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.mlir");
    let o = run(&[example("model.snn").to_str().unwrap(), "--emit=snn", "--quantized", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(o.stdout.is_empty());
    let again = run(&[out.to_str().unwrap(), "--emit=snn"]);
    assert_eq!(again.stdout, std::fs::read(&out).unwrap());
    assert!(text(&again.stdout).contains("tensor<64x256xi8>"));
}

#[test]
fn interpret_writes_uint8_spikes_and_reports_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npy");
    let o = run(&[
        example("model.snn").to_str().unwrap(),
        "--interpret",
        "--input",
        example("test.npy").to_str().unwrap(),
        "--labels",
        example("test_labels.npy").to_str().unwrap(),
        "-o",
        y.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("interpreted 400 samples (float32)"), "{out}");
    assert!(out.contains("accuracy 95.50% (382/400)"), "{out}");
    let arr = phi_runtime::npy::read_npy(&y).unwrap();
    assert_eq!(arr.dtype(), "uint8");
    assert_eq!(arr.shape(), [400, 8, 10]);
}

#[test]
fn parse_only_accepts_any_ops_and_rejects_bad_syntax() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("any.onnxtxt");
    std::fs::write(
        &good,
        "<ir_version: 8, opset_import: [\"\" : 17, \"com.microsoft\" : 1]>\n\
         g (float[N, 3] x) => (float[N, 3] y) {\n  t = Relu(x)\n  y = com.microsoft.FusedGelu<alpha: float = 1.0>(t)\n}\n",
    )
    .unwrap();
    let o = run(&[good.to_str().unwrap(), "--parse-only"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    // but lowering it is an error with a location
    let o = run(&[good.to_str().unwrap(), "--emit=snn"]);
    assert_eq!(o.status.code(), Some(1));
    let bad = dir.path().join("bad.snn");
    std::fs::write(&bad, "g (float[N, 3] x) => (float[N, 3] y) {\n  y = Relu(x\n}\n").unwrap();
    let o = run(&[bad.to_str().unwrap(), "--parse-only"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("bad.snn:3:1"), "{err}");
    assert!(err.starts_with("error:"), "{err}");
}

#[test]
fn run_errors_exit_1_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    // spikes must be 0/1
    let x = dir.path().join("x.npy");
    let arr = ndarray::Array3::<u8>::from_elem((2, 8, 64), 2);
    ndarray_npy::write_npy(&x, &arr).unwrap();
    let o = run(&[example("model.snn").to_str().unwrap(), "--interpret", "--input", x.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("spikes must be 0 or 1"), "{}", text(&o.stderr));
    // wrong shape
    let arr = ndarray::Array3::<u8>::zeros((2, 8, 63));
    ndarray_npy::write_npy(&x, &arr).unwrap();
    let o = run(&[example("model.snn").to_str().unwrap(), "--interpret", "--input", x.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("the model expects [2, 8, 64]"), "{}", text(&o.stderr));
    // unknown file type, missing file
    assert_eq!(run(&["model.txt", "--emit=snn"]).status.code(), Some(1));
    let o = run(&["/no/such/model.snn", "--emit=snn"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("cannot read `/no/such/model.snn`"));
}

#[test]
fn a_failed_write_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("missing-dir").join("out.mlir");
    let o = run(&[example("model.snn").to_str().unwrap(), "--emit=snn", "-o", target.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
