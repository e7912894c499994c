//! The support matrix of the README (op × stage), computed by running every op through every
//! stage, so that the table cannot claim what does not work.
//!
//! Each row is a small model that uses the op between spiking GEMM layers (ONNX text), or a NIR
//! graph `Input → Affine → NODE → Affine → LIF → Output` built in memory (or a fixture of the
//! real `nir` package for the convolutional nodes). A stage is "yes" when:
//! - **float interpreter**: the model loads and runs in float32;
//! - **integer interpreter**: `canonicalize,quantize` succeeds and the integer model runs;
//! - **accelerator**: the program compiles for Phi, bit-sparse and dense (each target's
//!   pipeline, the backend) and `phi-emu` gives the integer interpreter's spikes on all three.
//!
//! `PHI_DEBUG=1` prints why a row fails on the accelerator.
//! `PHI_BLESS=1 cargo test -p phi-tests --test support_matrix` rewrites the README's table
//! (between `<!-- support:begin -->` and `<!-- support:end -->`); review the diff.

use std::path::{Path, PathBuf};

use phi_compiler::backend;
use phi_compiler::frontend::nir::{Array, Graph, NirFile, Node, read};
use phi_compiler::frontend::nir_import::{ImportOptions, import};
use phi_compiler::frontend::{WeightMode, load_module, read_source};
use phi_compiler::passes::Pipeline;
use phi_dialect::program::TargetKind;
use phi_dialect::target::Target;
use phi_dialect::{ElemType, Module};
use phi_runtime::Tensor;
use phi_runtime::emu::{RunOptions, run};
use phi_runtime::npy::{read_npy, to_tensor};
use phi_tests::compile::run_pipeline;

/// A deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn floats(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| (self.next() * 2.0 - 1.0) * scale).collect()
    }
    fn spikes(&mut self, n: usize, p: f64) -> Vec<u8> {
        (0..n).map(|_| (self.next() < p) as u8).collect()
    }
}

fn text_floats(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", ")
}

/// Writes `[n, shape…]` spikes as `.npy`; returns the path.
fn spikes_npy(dir: &Path, shape: &[usize], n: usize, seed: u64) -> PathBuf {
    let mut dims = vec![n];
    dims.extend_from_slice(shape);
    let count: usize = dims.iter().product();
    let data = Lcg(seed).spikes(count, 0.35);
    let path = dir.join(format!("x{seed}.npy"));
    let arr = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&dims), data).expect("shape");
    ndarray_npy::write_npy(&path, &arr).expect("writes");
    path
}

/// The stages an op passes.
#[derive(Debug, PartialEq)]
struct Stages {
    float: bool,
    integer: bool,
    accelerator: bool,
}

/// Runs a loaded model through the stages on `x` (also its calibration data, at `calib`);
/// `options` (pass, option, value) are set on the accelerator pipelines.
fn stages(m: &Module, x: &Tensor, dir: &Path, calib: &Path, options: &[(&str, &str, &str)]) -> Stages {
    let float = phi_runtime::run(m, std::slice::from_ref(x)).is_ok();
    let integer = Pipeline::parse("canonicalize,quantize")
        .map_err(|e| e.to_string())
        .and_then(|p| run_pipeline(m, &p, &Target::phi(), dir, calib))
        .and_then(|im| phi_runtime::run(&im, std::slice::from_ref(x)).map_err(|d| d.message));
    let accelerator = match &integer {
        Ok(reference) => TargetKind::ALL.iter().all(|&kind| {
            let target = Target::phi().with_kind(kind);
            let mut pipeline = Pipeline::for_target(kind);
            for &(pass, key, value) in options {
                pipeline.set(pass, key, value);
            }
            let program = run_pipeline(m, &pipeline, &target, dir, calib)
                .and_then(|tiled| backend::lower(&tiled, &target, None).map_err(|d| d.message));
            let outcome = program.and_then(|p| {
                let r = run(&p, std::slice::from_ref(x), RunOptions::default()).map_err(|e| e.to_string())?;
                if &r.outputs == reference { Ok(()) } else { Err("spikes differ from the integer interpreter".into()) }
            });
            if let Err(e) = &outcome
                && std::env::var_os("PHI_DEBUG").is_some()
            {
                eprintln!("{kind:?}: {e}");
            }
            outcome.is_ok()
        }),
        Err(_) => false,
    };
    Stages { float, integer: integer.is_ok(), accelerator }
}

/// An ONNX-text row: `body` uses the op between layers on input `x : uint8[N, T, …shape]`.
fn onnx_row(dir: &Path, name: &str, shape: &[usize], inits: &str, body: &str, out: &str) -> Stages {
    onnx_row_with(dir, name, shape, inits, body, out, &[])
}

/// [`onnx_row`] with pass options on the accelerator pipelines.
fn onnx_row_with(
    dir: &Path,
    name: &str,
    shape: &[usize],
    inits: &str,
    body: &str,
    out: &str,
    options: &[(&str, &str, &str)],
) -> Stages {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let text = format!(
        "<ir_version: 9, opset_import: [\"\" : 17, \"snn\" : 1]>\nrow (uint8[N, {}] x) => (uint8[N, {out}] y)\n<{inits}>\n{{\n{body}\n}}\n",
        dims.join(", ")
    );
    let path = dir.join(format!("{name}.snn"));
    std::fs::write(&path, text).expect("writes the model");
    let src = read_source(path.to_str().expect("utf-8")).expect("reads");
    let m = load_module(&src, WeightMode::Load).unwrap_or_else(|d| panic!("{name}: the frontend refused it: {d}"));
    let calib = spikes_npy(dir, shape, 6, name.len() as u64);
    let x = to_tensor(&read_npy(&calib).expect("npy"), ElemType::I1).expect("spikes");
    stages(&m, &x, dir, &calib, options)
}

fn arr(v: Vec<f64>, shape: Vec<usize>) -> Array {
    Array { shape, data: v }
}

/// A NIR row: `Input[16] → Affine(16→16) → node → Affine(16→8) → LIF → Output[8]`.
fn nir_row(dir: &Path, name: &str, node: Node) -> Stages {
    let mut g = Lcg(7);
    let tau = 1e-4 / 0.1;
    let lif = Node::Lif {
        tau: arr(vec![tau; 8], vec![8]),
        r: arr(vec![tau / 1e-4; 8], vec![8]),
        v_leak: arr(vec![0.0; 8], vec![8]),
        v_threshold: arr(vec![1.0; 8], vec![8]),
        v_reset: Some(arr(vec![0.0; 8], vec![8])),
    };
    let file = NirFile {
        version: "1.0.8".into(),
        graph: Graph {
            nodes: vec![
                ("input".into(), Node::Input { shape: vec![16] }),
                (
                    "a".into(),
                    Node::Affine { weight: arr(g.floats(256, 0.8), vec![16, 16]), bias: arr(vec![0.1; 16], vec![16]) },
                ),
                ("node".into(), node),
                (
                    "b".into(),
                    Node::Affine { weight: arr(g.floats(128, 0.8), vec![8, 16]), bias: arr(vec![0.0; 8], vec![8]) },
                ),
                ("lif".into(), lif),
                ("output".into(), Node::Output { shape: vec![8] }),
            ],
            edges: [("input", "a"), ("a", "node"), ("node", "b"), ("b", "lif"), ("lif", "output")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        },
    };
    let opts = ImportOptions { time_steps: Some(4), spiking_input: true, ..ImportOptions::default() };
    let m = import(&file, &format!("{name}.nir"), &opts).unwrap_or_else(|d| panic!("{name}: {}", d.message));
    let calib = spikes_npy(dir, &[4, 16], 6, 3);
    let x = to_tensor(&read_npy(&calib).expect("npy"), ElemType::I1).expect("spikes");
    stages(&m, &x, dir, &calib, &[])
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn matrix() -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let mut g = Lcg(1);
    let mut rows: Vec<(String, &str, Stages)> = Vec::new();
    let lif = "snn.LIF<beta = 0.9, threshold = 0.5, reset_mechanism = \"subtract\">";
    let fc = |g: &mut Lcg, name: &str, k: usize, n: usize| {
        format!("float[{k}, {n}] {name} = {{{}}}", text_floats(&g.floats(k * n, 1.5 / (k as f64).sqrt() * 2.0)))
    };
    let conv = |g: &mut Lcg, name: &str, o: usize, c: usize| {
        format!("float[{o}, {c}, 3, 3] {name} = {{{}}}", text_floats(&g.floats(o * c * 9, 0.9)))
    };
    // linear layers
    let inits = format!("{}, float[8] b = {{{}}}", fc(&mut g, "w", 16, 8), text_floats(&g.floats(8, 0.2)));
    let s = onnx_row(dir, "gemm", &[3, 16], &inits, &format!("  h = Gemm(x, w, b)\n  y = {lif}(h)"), "3, 8");
    rows.push(("`Gemm`, `snn.LIF`".into(), "ONNX text", s));
    let inits = format!("{}, float[8] b = {{{}}}", fc(&mut g, "w", 16, 8), text_floats(&g.floats(8, 0.2)));
    let body = "  m = MatMul(x, w)\n  h = Add(m, b)\n  y = snn.IF<threshold = 0.5>(h)".to_string();
    rows.push((
        "`MatMul` + `Add` (bias), `snn.IF`".into(),
        "ONNX text",
        onnx_row(dir, "matmul", &[3, 16], &inits, &body, "3, 8"),
    ));
    let inits = format!("{}, {}", fc(&mut g, "w1", 16, 8), fc(&mut g, "w2", 16, 8));
    let body = format!("  h1 = MatMul(x, w1)\n  h2 = MatMul(x, w2)\n  h = Add(h1, h2)\n  y = {lif}(h)");
    rows.push((
        "`Add` of two layers' currents".into(),
        "ONNX text",
        onnx_row(dir, "add_currents", &[3, 16], &inits, &body, "3, 8"),
    ));
    let inits = format!("{}, {}, {}", fc(&mut g, "w1", 16, 8), fc(&mut g, "w2", 16, 8), fc(&mut g, "w3", 8, 4));
    let body = format!(
        "  h1 = MatMul(x, w1)\n  s1 = {lif}(h1)\n  h2 = MatMul(x, w2)\n  s2 = {lif}(h2)\n  a = Add(s1, s2)\n  h = MatMul(a, w3)\n  y = {lif}(h)"
    );
    rows.push(("`Add` of spikes".into(), "ONNX text", onnx_row(dir, "add_spikes", &[3, 16], &inits, &body, "3, 4")));
    let inits = format!("{}, {}", fc(&mut g, "w1", 16, 16), fc(&mut g, "w2", 16, 16));
    let body = format!("  u = MatMul(x, w1)\n  s = {lif}(u)\n  h = MatMul(s, w2)\n  v = Add(h, u)\n  y = {lif}(v)");
    rows.push((
        "`Add` as a membrane shortcut (MS-ResNet)".into(),
        "ONNX text",
        onnx_row(dir, "add_shortcut", &[3, 16], &inits, &body, "3, 16"),
    ));
    // convolutions, pools and layout ops (input 2×6×6)
    let head = |g: &mut Lcg, groups: usize| format!("{}, {}", conv(g, "cw", 4, 2 / groups), fc(g, "fw", 4 * 36, 5));
    let tail = format!("  f = Flatten<axis = 2>(s)\n  h = MatMul(f, fw)\n  y = {lif}(h)");
    let body = format!("  c = Conv<kernel_shape = [3, 3], pads = [1, 1, 1, 1]>(x, cw)\n  s = {lif}(c)\n{tail}");
    let inits = head(&mut g, 1);
    rows.push(("`Conv`, `Flatten`".into(), "ONNX text", onnx_row(dir, "conv", &[3, 2, 6, 6], &inits, &body, "3, 5")));
    let body =
        format!("  c = Conv<kernel_shape = [3, 3], pads = [1, 1, 1, 1], group = 2>(x, cw)\n  s = {lif}(c)\n{tail}");
    let inits = head(&mut g, 2);
    rows.push((
        "`Conv` with groups".into(),
        "ONNX text",
        onnx_row(dir, "conv_groups", &[3, 2, 6, 6], &inits, &body, "3, 5"),
    ));
    let split = [("conv-to-gemm", "groups", "split")];
    rows.push((
        "`Conv` with groups, `conv-to-gemm{groups=split}` (`snn.concat`)".into(),
        "ONNX text",
        onnx_row_with(dir, "conv_groups_split", &[3, 2, 6, 6], &inits, &body, "3, 5", &split),
    ));
    let pooled = |op: &str| {
        format!(
            "  c = Conv<kernel_shape = [3, 3], pads = [1, 1, 1, 1]>(x, cw)\n  t = {lif}(c)\n  s = {op}<kernel_shape = [2, 2], strides = [2, 2]>(t)\n{tail}"
        )
    };
    let inits = format!("{}, {}", conv(&mut g, "cw", 4, 2), fc(&mut g, "fw", 4 * 9, 5));
    let s = onnx_row(dir, "sumpool", &[3, 2, 6, 6], &inits, &pooled("snn.SumPool"), "3, 5");
    rows.push(("`snn.SumPool`".into(), "ONNX text", s));
    let s = onnx_row(dir, "avgpool", &[3, 2, 6, 6], &inits, &pooled("AveragePool"), "3, 5");
    rows.push(("`AveragePool`".into(), "ONNX text", s));
    // NIR nodes between two Affine layers
    let v = |x: f64| arr(vec![x; 16], vec![16]);
    let tau = 1e-4 / 0.1;
    let nodes: Vec<(&str, Node)> = vec![
        (
            "`LIF` (NIR)",
            Node::Lif { tau: v(tau), r: v(10.0), v_leak: v(0.0), v_threshold: v(1.0), v_reset: Some(v(0.0)) },
        ),
        ("`IF` (NIR)", Node::If { r: v(1.0), v_threshold: v(1.0), v_reset: Some(v(0.0)) }),
        ("`LIF` with per-neuron τ (NIR)", {
            let taus: Vec<f64> = (0..16).map(|i| tau * (1.0 + i as f64 / 16.0)).collect();
            Node::Lif {
                tau: arr(taus.clone(), vec![16]),
                r: arr(taus.iter().map(|t| t / 1e-4).collect(), vec![16]),
                v_leak: v(0.0),
                v_threshold: v(1.0),
                v_reset: Some(v(0.0)),
            }
        }),
        (
            "`CubaLIF` (NIR)",
            Node::CubaLif {
                tau_syn: v(tau),
                tau_mem: v(tau),
                r: v(10.0),
                v_leak: v(0.0),
                v_threshold: v(1.0),
                v_reset: Some(v(0.0)),
                w_in: Some(v(1.0)),
            },
        ),
        ("`LI` (NIR)", Node::Li { tau: v(tau), r: v(10.0), v_leak: v(0.0) }),
        ("`Scale` (NIR)", Node::Scale { scale: v(0.5) }),
        ("`Threshold` (NIR)", Node::Threshold { threshold: v(0.3) }),
    ];
    for (label, node) in nodes {
        rows.push((label.into(), "NIR", nir_row(dir, label, node)));
    }
    // convolutional NIR nodes: a fixture of the real nir package
    let nir_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("nir");
    let fixture = nir_dir.join("conv_if_pool_flatten_affine_lif.nir");
    let input = nir_dir.join("conv_if_pool_flatten_affine_lif.input.npy");
    let arr_in = read_npy(&input).expect("fixture input");
    let opts = ImportOptions { time_steps: Some(arr_in.shape()[1]), spiking_input: true, ..ImportOptions::default() };
    let m = import(&read(&fixture).expect("reads"), "fixture.nir", &opts).expect("imports");
    let x = to_tensor(&arr_in, ElemType::I1).expect("spikes");
    rows.push((
        "`Conv2d`, `SumPool2d`, `Flatten`, `Affine` (NIR)".into(),
        "NIR",
        stages(&m, &x, &nir_dir, &input, &[]),
    ));
    let mut out = String::from(
        "| op | frontend | float interpreter | integer interpreter | accelerator (Phi, bit-sparse, dense) |\n|---|---|---|---|---|\n",
    );
    for (label, from, s) in rows {
        out.push_str(&format!(
            "| {label} | {from} | {} | {} | {} |\n",
            yes(s.float),
            yes(s.integer),
            yes(s.accelerator)
        ));
    }
    out
}

#[test]
fn the_readme_support_matrix_is_what_the_code_does() {
    let table = matrix();
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README");
    let (begin, end) = ("<!-- support:begin -->\n", "<!-- support:end -->");
    let (Some(a), Some(b)) = (readme.find(begin), readme.find(end)) else {
        panic!("README.md has no {begin}…{end} section");
    };
    let current = &readme[a + begin.len()..b];
    if std::env::var_os("PHI_BLESS").is_some() {
        let updated = format!("{}{table}{}", &readme[..a + begin.len()], &readme[b..]);
        std::fs::write(&readme_path, updated).expect("writes README");
        return;
    }
    assert_eq!(current, table, "the README's support matrix is stale: rerun with PHI_BLESS=1 and review the diff");
}
