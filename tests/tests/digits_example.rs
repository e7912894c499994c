//! The bundled example end to end, through the libraries: ONNX text → `snn` IR → text round
//! trip → reference interpreter (float32 and integer) on the held-out split.

use std::path::{Path, PathBuf};

use phi_compiler::frontend::{WeightMode, load_module, read_source};
use phi_compiler::passes::quantize::quantize;
use phi_dialect::{ElemType, Module, PrintOptions, SourceMap, parse_module, print_module, verify};
use phi_runtime::npy::{read_labels, read_npy, to_tensor};
use phi_runtime::{Options, Tensor, metrics, run_with};

fn example(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp").join(file)
}

fn model() -> Module {
    let src = read_source(example("model.snn").to_str().unwrap()).unwrap();
    load_module(&src, WeightMode::Load).unwrap_or_else(|d| panic!("{}", d.render(&src.sources)))
}

fn split(name: &str) -> (Tensor, Vec<usize>) {
    let x = to_tensor(&read_npy(&example(&format!("{name}.npy"))).unwrap(), ElemType::I1).unwrap();
    let y = read_labels(&example(&format!("{name}_labels.npy"))).unwrap();
    (x, y)
}

fn accuracy(m: &Module, x: &Tensor, y: &[usize]) -> f64 {
    let out = run_with(m, std::slice::from_ref(x), Options::default(), &mut |_, _, _| {}).unwrap();
    metrics::correct(&out[0], y).unwrap() as f64 / y.len() as f64
}

fn reparse(text: &str) -> Module {
    let mut sm = SourceMap::new();
    let id = sm.add("<stdin>", text.to_string());
    let m = parse_module(&sm, id).unwrap_or_else(|d| panic!("{}", d.render(&sm)));
    verify(&m).unwrap();
    m
}

#[test]
fn printed_ir_round_trips_byte_for_byte() {
    let m = model();
    for opts in [PrintOptions::default(), PrintOptions { debug_info: true, elide_weights: false }] {
        let text = print_module(&m, opts);
        assert_eq!(print_module(&reparse(&text), opts), text);
    }
    // the quantised IR too
    let mut q = model();
    quantize(&mut q).unwrap();
    let text = print_module(&q, PrintOptions::default());
    assert_eq!(print_module(&reparse(&text), PrintOptions::default()), text);
}

#[test]
fn float_and_integer_accuracy_on_the_test_split() {
    let (x, y) = split("test");
    assert_eq!(x.shape, [400, 8, 64]);
    let m = model();
    let float = accuracy(&m, &x, &y);
    let mut q = model();
    quantize(&mut q).unwrap();
    let int = accuracy(&q, &x, &y);
    // The numbers the README reports.
    assert_eq!((float * 400.0).round() as usize, 382, "float32 accuracy {float}");
    assert_eq!((int * 400.0).round() as usize, 383, "integer accuracy {int}");
    assert!((float - int).abs() <= 0.01, "quantisation costs more than 1 point: {float} vs {int}");
}

#[test]
fn reparsed_ir_computes_the_same_spikes() {
    let (x, _) = split("calib");
    let m = model();
    let back = reparse(&print_module(&m, PrintOptions::default()));
    let a = phi_runtime::run(&m, std::slice::from_ref(&x)).unwrap();
    let b = phi_runtime::run(&back, std::slice::from_ref(&x)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn chunking_does_not_change_results() {
    let (x, _) = split("calib");
    let mut q = model();
    quantize(&mut q).unwrap();
    for m in [model(), q] {
        let whole =
            run_with(&m, std::slice::from_ref(&x), Options { chunk: 1000, ..Options::default() }, &mut |_, _, _| {})
                .unwrap();
        let pieces =
            run_with(&m, std::slice::from_ref(&x), Options { chunk: 7, ..Options::default() }, &mut |_, _, _| {})
                .unwrap();
        assert_eq!(whole, pieces);
    }
}

#[test]
fn lowering_is_deterministic() {
    let a = print_module(&model(), PrintOptions { debug_info: true, elide_weights: false });
    let b = print_module(&model(), PrintOptions { debug_info: true, elide_weights: false });
    assert_eq!(a, b);
}
