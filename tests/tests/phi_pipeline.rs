//! The Phi pipeline end to end through the libraries: the split program equals the dense
//! integer program bit for bit (every layer's current and the output spikes), on the example's
//! held-out split and on a convolutional model; the IR is deterministic; the cost-aware
//! selection never loses to k-means.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use phi_compiler::analysis::sparsity;
use phi_compiler::frontend::{WeightMode, load_module, read_source};
use phi_compiler::passes::{PassContext, PassManager, Pipeline};
use phi_dialect::attr::Attr;
use phi_dialect::ops::{OpKind, PhiOp, SnnOp};
use phi_dialect::program::TargetKind;
use phi_dialect::target::Target;
use phi_dialect::{ElemType, Module, OpId, PrintOptions, print_module};
use phi_runtime::npy::{read_npy, to_tensor};
use phi_runtime::{Options, Tensor, run_with};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp")
}

fn load(path: &Path) -> Module {
    let src = read_source(path.to_str().unwrap()).unwrap();
    load_module(&src, WeightMode::Load).unwrap_or_else(|d| panic!("{}", d.render(&src.sources)))
}

fn run_pipeline(m: &mut Module, pipeline: &str, dir: &Path, calib: Option<PathBuf>) -> String {
    let mut remarks = Vec::new();
    let mut cx = PassContext { model_dir: dir.to_path_buf(), calib, remarks: &mut remarks, progress: false };
    let mut pm = PassManager::parse(pipeline, &Target::phi()).unwrap();
    pm.instrumentation.verify_each = true;
    pm.run(m, &mut cx, &mut std::io::sink()).unwrap_or_else(|d| panic!("{d}"));
    String::from_utf8(remarks).unwrap()
}

fn spikes(path: &Path) -> Tensor {
    to_tensor(&read_npy(path).unwrap(), ElemType::I1).unwrap()
}

/// Runs a module, returning its outputs and the results of the ops `pick` selects, in order.
fn run_recording(m: &Module, x: &Tensor, pick: impl Fn(&OpKind) -> bool) -> (Vec<Tensor>, Vec<Tensor>) {
    let mut seen: BTreeMap<usize, Tensor> = BTreeMap::new();
    let order: Vec<OpId> = m.body().to_vec();
    let outs = run_with(m, std::slice::from_ref(x), Options::default(), &mut |op, _, r| {
        if pick(&m.op(op).kind)
            && let Some(r) = r
        {
            let pos = order.iter().position(|&o| o == op).unwrap();
            seen.entry(pos).and_modify(|t| t.append_samples(r.clone())).or_insert_with(|| r.clone());
        }
    })
    .unwrap();
    (outs, seen.into_values().collect())
}

fn is_dense_gemm(k: &OpKind) -> bool {
    matches!(k, OpKind::Snn(SnnOp::Linear(_)))
}

fn is_phi_result(k: &OpKind) -> bool {
    matches!(k, OpKind::Phi(PhiOp::L2Accumulate { .. }))
}

fn assert_split_equals_dense(dense: &Module, split: &Module, x: &Tensor) {
    let (d_out, d_cur) = run_recording(dense, x, is_dense_gemm);
    let (s_out, s_cur) = run_recording(split, x, is_phi_result);
    assert!(!s_cur.is_empty(), "the split program has phi layers");
    assert_eq!(d_cur.len(), s_cur.len(), "one phi layer per dense GEMM");
    for (i, (a, b)) in d_cur.iter().zip(&s_cur).enumerate() {
        assert_eq!(a.shape, b.shape, "layer {i} shape");
        assert!(a.data == b.data, "layer {i}: the phi program's current differs from the dense integer current");
    }
    assert_eq!(d_out, s_out, "output spikes");
}

#[test]
fn phi_program_equals_dense_integer_on_the_test_split() {
    let dir = example_dir();
    let mut dense = load(&dir.join("model.snn"));
    run_pipeline(&mut dense, "canonicalize,quantize", &dir, None);
    let x = spikes(&dir.join("test.npy"));
    for pipeline in [
        "calibrate,select-patterns,phi-split,tile",
        "calibrate,select-patterns{algo=kmeans,init=frequency},phi-split",
        "calibrate{k=32,samples=50},select-patterns{k=8,q=16,seed=7},phi-split",
        "calibrate{k=32},select-patterns{k=32,q=256},phi-split",
    ] {
        let mut split = dense.clone();
        run_pipeline(&mut split, pipeline, &dir, None);
        assert_split_equals_dense(&dense, &split, &x);
    }
}

#[test]
fn phi_reduces_operations_against_bit_sparsity_on_held_out_data() {
    let dir = example_dir();
    let mut m = load(&dir.join("model.snn"));
    run_pipeline(&mut m, &Pipeline::for_target(TargetKind::Phi).to_string(), &dir, None);
    let layers = sparsity::measure(&m, &spikes(&dir.join("test.npy"))).unwrap();
    assert_eq!(layers.len(), 3);
    let bits: u64 = layers.iter().map(|l| l.ops_bit_sparse()).sum();
    let phi: u64 = layers.iter().map(|l| l.ops_phi()).sum();
    assert!(bits > phi, "Phi {phi} vs bit-sparse {bits}");
    for l in &layers {
        assert!(l.ops_phi() < l.ops_bit_sparse(), "{l:?}");
        assert!(l.ops_phi() < l.ops_dense());
        // Level-1 never covers more bits than there are
        assert!(l.l1_bits <= l.ones + l.minus);
    }
}

#[test]
fn same_input_and_seed_give_byte_identical_ir() {
    let dir = example_dir();
    let compile = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut m = load(&dir.join("model.snn"));
            run_pipeline(&mut m, &Pipeline::for_target(TargetKind::Phi).to_string(), &dir, None);
            print_module(&m, PrintOptions { debug_info: true, elide_weights: false })
        })
    };
    let a = compile(1);
    let b = compile(2);
    let c = compile(2);
    assert_eq!(a, b, "the thread count changed the output");
    assert_eq!(b, c);
    // a different seed does change the patterns
    let mut m = load(&dir.join("model.snn"));
    run_pipeline(&mut m, "quantize,calibrate,select-patterns{seed=1},phi-split,tile", &dir, None);
    assert_ne!(print_module(&m, PrintOptions { debug_info: true, elide_weights: false }), a);
}

fn ops_objective(remarks: &str, layer: &str) -> (u64, u64) {
    // "…: calibration ops X vs bit-sparse Y …; k-means alone: ops Z, …"
    let line = remarks.lines().find(|l| l.contains("[select-patterns]") && l.contains(layer)).unwrap();
    let num_after = |key: &str| -> u64 {
        let rest = &line[line.find(key).unwrap() + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).find(|s| !s.is_empty()).unwrap().parse().unwrap()
    };
    (num_after("calibration ops "), num_after("k-means alone: ops "))
}

#[test]
fn cost_aware_selection_never_loses_to_kmeans_on_the_example() {
    let dir = example_dir();
    for (k, q, seed) in [(16, 128, 0), (8, 16, 3), (16, 8, 11), (32, 32, 5)] {
        let mut m = load(&dir.join("model.snn"));
        let pipeline =
            format!("quantize,calibrate{{k={k}}},select-patterns{{k={k},q={q},seed={seed},algo=cost-aware}}");
        let remarks = run_pipeline(&mut m, &pipeline, &dir, None);
        for layer in ["fc1_weight", "fc2_weight", "fc3_weight"] {
            let (cost_aware, kmeans) = ops_objective(&remarks, layer);
            assert!(
                cost_aware <= kmeans,
                "k={k} q={q} seed={seed} {layer}: cost-aware {cost_aware} > k-means {kmeans}"
            );
        }
    }
}

/// A small convolutional model with groups, padding, stride and dilation, in ONNX text.
fn conv_model(dir: &Path) -> PathBuf {
    let w1: Vec<String> = (0..4 * 3 * 3).map(|i| format!("{:.3}", ((i * 37 % 17) as f32 - 8.0) / 10.0)).collect();
    let w2: Vec<String> = (0..6 * 2 * 2 * 2).map(|i| format!("{:.3}", ((i * 53 % 19) as f32 - 9.0) / 12.0)).collect();
    let fc: Vec<String> = (0..6 * 4 * 4 * 5).map(|i| format!("{:.3}", ((i * 29 % 23) as f32 - 11.0) / 15.0)).collect();
    let text = format!(
        "<ir_version: 9, opset_import: [\"\" : 17, \"snn\" : 1], metadata_props: [\"phi.calibration\": \"calib.npy\"]>
conv (uint8[N, 4, 2, 8, 8] x) => (uint8[N, 4, 5] y)
<float[4, 1, 3, 3] w1 = {{{}}}, float[4] b1 = {{0.1, -0.2, 0.3, 0.0}},
 float[6, 2, 2, 2] w2 = {{{}}}, float[96, 5] fc = {{{}}}, int64[3] shape = {{0, 0, -1}}>
{{
  c1 = Conv<group = 2, pads = [1, 1, 1, 1]>(x, w1, b1)
  s1 = snn.LIF<beta = 0.8, threshold = 0.5>(c1)
  c2 = Conv<group = 2, strides = [2, 2], dilations = [1, 1], pads = [0, 0, 1, 1]>(s1, w2)
  s2 = snn.LIF<beta = 0.9, threshold = 0.4, reset_mechanism = \"zero\">(c2)
  f = Reshape(s2, shape)
  h = MatMul(f, fc)
  y = snn.LIF<beta = 0.9, threshold = 0.5>(h)
}}
",
        w1.join(", "),
        w2.join(", "),
        fc.join(", ")
    );
    let path = dir.join("conv.snn");
    std::fs::write(&path, text).unwrap();
    // deterministic pseudo-random spikes with 25% density
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut bits = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.is_multiple_of(4) as u8
            })
            .collect()
    };
    for (name, n) in [("calib.npy", 24), ("test.npy", 16)] {
        let arr = ndarray::Array::from_shape_vec((n, 4, 2, 8, 8), bits(n * 4 * 2 * 64)).unwrap();
        ndarray_npy::write_npy(dir.join(name), &arr).unwrap();
    }
    path
}

#[test]
fn conv_to_gemm_preserves_results_and_the_split_is_lossless() {
    let dir = tempfile::tempdir().unwrap();
    let path = conv_model(dir.path());
    let x = spikes(&dir.path().join("test.npy"));
    let direct = load(&path);
    // both forms of a grouped convolution: one GEMM per group (split) and one block-diagonal GEMM
    for (groups, gemms) in [("split", 5), ("block-diagonal", 3)] {
        let lower = format!("conv-to-gemm{{groups={groups}}}");
        // float: im2col + GEMM computes the convolution
        let mut lowered = direct.clone();
        run_pipeline(&mut lowered, &format!("canonicalize,{lower}"), dir.path(), None);
        assert!(lowered.ops_where(|k| matches!(k, OpKind::Snn(SnnOp::Conv2d(_)))).is_empty());
        assert!(!lowered.ops_where(|k| matches!(k, OpKind::Snn(SnnOp::Im2col(_)))).is_empty());
        // both sum the same products in the same order (c, ky, kx, then the bias; the
        // block-diagonal zeros add nothing), so even the float results agree exactly
        let a = phi_runtime::run(&direct, std::slice::from_ref(&x)).unwrap();
        let b = phi_runtime::run(&lowered, std::slice::from_ref(&x)).unwrap();
        assert_eq!(a, b, "{groups}: conv-to-gemm changed the float model's spikes");
        // integer: exactly equal, conv or GEMM
        let mut int_direct = direct.clone();
        run_pipeline(&mut int_direct, "quantize", dir.path(), None);
        let mut int_lowered = direct.clone();
        run_pipeline(&mut int_lowered, &format!("{lower},quantize"), dir.path(), None);
        let a = phi_runtime::run(&int_direct, std::slice::from_ref(&x)).unwrap();
        let b = phi_runtime::run(&int_lowered, std::slice::from_ref(&x)).unwrap();
        assert_eq!(a, b, "{groups}: conv-to-gemm changed the integer model's spikes");
        // and the Phi split of the lowered integer model equals it layer by layer
        let mut split = int_lowered.clone();
        run_pipeline(&mut split, "calibrate{samples=24},select-patterns{q=32},phi-split,tile", dir.path(), None);
        let matches = split.ops_where(|k| matches!(k, OpKind::Phi(PhiOp::Match(_)))).len();
        assert_eq!(matches, gemms, "{groups}: 2 grouped convs and 1 fc");
        assert_split_equals_dense(&int_lowered, &split, &x);
    }
}

#[test]
fn calibration_statistics_count_every_row() {
    let dir = example_dir();
    let mut m = load(&dir.join("model.snn"));
    run_pipeline(&mut m, "quantize,calibrate{samples=10}", &dir, None);
    for op in m.ops_where(|k| matches!(k, OpKind::Snn(SnnOp::Linear(_)))) {
        assert_eq!(m.op(op).attrs.get("phi.calib_rows"), Some(&Attr::Int(80, phi_dialect::attr::IntTy::I64)));
        let w = m.attr_weight(op, "phi.calib").unwrap();
        let table = m.weights.get(w).as_i32().unwrap();
        let parts = m.ty(m.op(op).operands[0]).shape[1].div_ceil(16);
        for p in 0..parts as i32 {
            let rows: i64 = table.chunks_exact(3).filter(|e| e[0] == p).map(|e| e[2] as i64).sum();
            assert_eq!(rows, 80, "partition {p}");
        }
    }
}
