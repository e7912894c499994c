//! The NIR fixtures of `tests/nir/` (written by the real `nir` Python package, see its README)
//! read into typed nodes by `phi_compiler::frontend::nir`: every file's version, graph
//! structure (node groups, `type` strings, the `edges` string table, nested graphs) and
//! parameters (float32 and float64, gzip-compressed or not, scalar and array datasets, string
//! or integer padding) decode, and the `.npy` inputs and expected outputs agree with the
//! graph's `Input` and `Output` shapes. A damaged file is an error naming it, never a panic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use phi_compiler::frontend::nir::{Graph, Node, Padding, read};
use phi_runtime::npy::read_npy;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("nir")
}

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("tests/nir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "nir"))
        .collect();
    v.sort();
    v
}

fn kind(n: &Node) -> &'static str {
    match n {
        Node::Input { .. } => "Input",
        Node::Output { .. } => "Output",
        Node::Affine { .. } => "Affine",
        Node::Linear { .. } => "Linear",
        Node::Scale { .. } => "Scale",
        Node::Conv { dims: 1, .. } => "Conv1d",
        Node::Conv { .. } => "Conv2d",
        Node::Pool2d { average: false, .. } => "SumPool2d",
        Node::Pool2d { average: true, .. } => "AvgPool2d",
        Node::Flatten { .. } => "Flatten",
        Node::Lif { .. } => "LIF",
        Node::If { .. } => "IF",
        Node::Li { .. } => "LI",
        Node::CubaLif { .. } => "CubaLIF",
        Node::Threshold { .. } => "Threshold",
        Node::Graph(_) => "NIRGraph",
    }
}

fn collect(g: &Graph, types: &mut BTreeSet<&'static str>) {
    for (_, n) in &g.nodes {
        types.insert(kind(n));
        if let Node::Graph(sub) = n {
            collect(sub, types);
        }
    }
}

fn node<'a>(g: &'a Graph, name: &str) -> &'a Node {
    &g.nodes.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no node `{name}`")).1
}

#[test]
fn every_fixture_reads_into_typed_nodes_that_match_its_arrays() {
    let files = fixtures();
    assert!(files.len() >= 20, "the fixtures are in tests/nir ({} found)", files.len());
    let mut types = BTreeSet::new();
    for path in files {
        let f = read(&path).unwrap_or_else(|d| panic!("{}: {}", path.display(), d.message));
        assert!(f.version.starts_with("1."), "{}: version {}", path.display(), f.version);
        let g = &f.graph;
        for (a, b) in &g.edges {
            for end in [a, b] {
                let top = end.split('.').next().unwrap_or(end);
                assert!(g.nodes.iter().any(|(n, _)| n == top), "{}: edge end `{end}`", path.display());
            }
        }
        collect(g, &mut types);
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("utf-8 name").to_string();
        let input = read_npy(&dir().join(format!("{stem}.input.npy"))).expect("input .npy");
        let expected = read_npy(&dir().join(format!("{stem}.expected.npy"))).expect("expected .npy");
        let port = |want: &str| -> Vec<usize> {
            g.nodes
                .iter()
                .find_map(|(_, n)| match (n, want) {
                    (Node::Input { shape }, "in") | (Node::Output { shape }, "out") => Some(shape.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{stem}: no {want} port"))
        };
        assert_eq!(&input.shape()[..2], &[2, 5], "{stem}: [N, T, …]");
        assert_eq!(&input.shape()[2..], &port("in")[..], "{stem}: input shape");
        assert_eq!(&expected.shape()[2..], &port("out")[..], "{stem}: output shape");
    }
    for ty in phi_compiler::frontend::nir::NODE_TYPES {
        assert!(types.contains(ty), "no fixture holds a {ty} node (found {types:?})");
    }
}

#[test]
fn parameters_decode_with_their_values() {
    // lif.nir: float32, gzip-compressed (values from tests/nir/README.md)
    let f = read(&dir().join("lif.nir")).unwrap();
    let Node::Lif { v_threshold, v_reset, tau, .. } = node(&f.graph, "lif") else { panic!("a LIF") };
    // float32 on disk, widened exactly
    let thr: Vec<f32> = v_threshold.data.iter().map(|&x| x as f32).collect();
    assert_eq!(thr, [1.0, 0.8, 1.2, 0.5, 1.0, 2.0]);
    assert!(v_threshold.data.iter().all(|&x| x == x as f32 as f64));
    assert_eq!(v_reset.as_ref().map(|a| a.data.clone()), Some(vec![0.0; 6]));
    assert_eq!(tau.shape, [6]);
    // the nir 1.0.0 file has no v_reset
    let f = read(&dir().join("lif_legacy.nir")).unwrap();
    assert!(matches!(node(&f.graph, "lif"), Node::Lif { v_reset: None, .. }));
    let Node::Affine { weight, bias } = node(&f.graph, "affine") else { panic!("an Affine") };
    assert_eq!((weight.shape.as_slice(), bias.shape.as_slice()), ([5, 4].as_slice(), [5].as_slice()));
    // string and integer padding
    for (file, want) in [("conv1d_same.nir", Some(Padding::Same)), ("conv1d_valid.nir", Some(Padding::Valid))] {
        let f = read(&dir().join(file)).unwrap();
        let pad = f
            .graph
            .nodes
            .iter()
            .find_map(|(_, n)| if let Node::Conv { padding, .. } = n { Some(padding.clone()) } else { None });
        assert_eq!(pad, want, "{file}");
    }
    // a graph inside a graph
    let f = read(&dir().join("nested_graph.nir")).unwrap();
    assert!(f.graph.nodes.iter().any(|(_, n)| matches!(n, Node::Graph(g) if !g.nodes.is_empty())));
}

#[test]
fn a_damaged_file_is_an_error_naming_it() {
    let bytes = std::fs::read(dir().join("lif.nir")).expect("lif.nir");
    let d = tempfile::tempdir().unwrap();
    for cut in [0, 8, 100, bytes.len() / 2] {
        let p = d.path().join(format!("cut{cut}.nir"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let e = read(&p).expect_err("a cut file is refused");
        assert!(e.message.contains(&format!("cut{cut}.nir")), "{}", e.message);
    }
    // flipped bytes: an error or (bytes no structure covers) a read, never a panic
    let mut flipped = bytes.clone();
    for i in (0..flipped.len()).step_by(97) {
        flipped[i] ^= 0x5a;
    }
    let p = d.path().join("flipped.nir");
    std::fs::write(&p, &flipped).unwrap();
    let _ = read(&p);
    // not HDF5 at all
    let p = d.path().join("text.nir");
    std::fs::write(&p, b"not a nir file").unwrap();
    assert!(read(&p).unwrap_err().message.contains("text.nir"));
}

/// Imports a fixture with T from its input under `reset` and runs it in the float32 interpreter.
fn run_fixture(path: &Path, reset: phi_compiler::frontend::NirReset) -> (Vec<usize>, Vec<f32>, bool) {
    use phi_compiler::frontend::nir_import::{ImportOptions, import};
    use phi_dialect::ElemType;
    let input = read_npy(&path.with_extension("input.npy")).expect("input");
    let t = input.shape()[1];
    let opts = ImportOptions { time_steps: Some(t), reset, ..ImportOptions::default() };
    let file = read(path).expect("reads");
    let m = import(&file, &path.display().to_string(), &opts)
        .unwrap_or_else(|d| panic!("{}: {}", path.display(), d.message));
    let x = phi_runtime::npy::to_tensor(&input, ElemType::F32).expect("f32 input");
    let mut outs = phi_runtime::interp::run(&m, &[x]).unwrap_or_else(|d| panic!("{}: {}", path.display(), d.message));
    assert_eq!(outs.len(), 1, "{}: one output", path.display());
    let out = outs.remove(0);
    let spikes = out.data.elem() == ElemType::I1;
    (out.shape.clone(), out.data.to_f32(), spikes)
}

/// Compares one import with the numpy outputs: spikes exactly, continuous values within
/// `1e-4 + 1e-4·|expected|`.
fn assert_matches(name: &str, got: &[f32], spikes: bool, want: &[f64]) {
    let mut mismatches = 0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if spikes { g as f64 == w } else { (g as f64 - w).abs() <= 1e-4 + 1e-4 * w.abs() };
        if !ok {
            if mismatches < 5 {
                eprintln!("{name}[{i}]: got {g}, expected {w}");
            }
            mismatches += 1;
        }
    }
    assert_eq!(mismatches, 0, "{name}: {mismatches} of {} outputs differ", got.len());
    if spikes {
        assert!(got.contains(&1.0) && got.contains(&0.0), "{name}: spikes and silence");
    }
}

/// Every fixture written by the real `nir` package imports and runs, matching the independent
/// numpy outputs — spikes exactly, continuous values within `1e-4 + 1e-4·|expected|`
/// (tests/nir/README.md: the fixtures keep every spike decision at least `1e-3` from its
/// threshold, so any faithful float32 implementation gives the same spikes) — in both reset
/// modes: by default as NIR defines it (`.expected.npy`: reset to `v_reset`), and with
/// `--nir-reset subtract` as the tools that subtract (`.expected_subtract.npy`, for graphs with
/// spiking neurons). Where the two references differ, each import matches only its own, so the
/// test tells the semantics apart.
#[test]
fn every_fixture_imports_and_matches_numpy_in_float32_in_both_reset_modes() {
    use phi_compiler::frontend::NirReset;
    let (mut checked, mut distinguished) = (0, 0);
    for path in fixtures() {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let spec = read_npy(&path.with_extension("expected.npy")).expect("expected output");
        let (shape, got, spikes) = run_fixture(&path, NirReset::VReset);
        assert_eq!(shape, spec.shape(), "{name}: output shape");
        let spec = spec.to_f64();
        assert_matches(&name, &got, spikes, &spec);
        let subtract_path = path.with_extension("expected_subtract.npy");
        if subtract_path.exists() {
            let subtract = read_npy(&subtract_path).expect("expected output").to_f64();
            let (_, got_sub, spikes_sub) = run_fixture(&path, NirReset::Subtract);
            assert_matches(&format!("{name} (subtract)"), &got_sub, spikes_sub, &subtract);
            if subtract != spec {
                assert!(got.iter().zip(&subtract).any(|(&g, &w)| g as f64 != w), "{name}: v-reset matches subtract");
                assert!(got_sub.iter().zip(&spec).any(|(&g, &w)| g as f64 != w), "{name}: subtract matches v-reset");
                distinguished += 1;
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 24, "every fixture checked");
    assert!(distinguished >= 5, "only {distinguished} fixtures tell the reset modes apart");
}

/// Issue 12: graphs made by snnTorch itself (`tests/nir/snntorch/`: snnTorch 1.0's
/// `export_to_nir`, with snnTorch's own output spikes on the inputs). The float32 interpreter
/// gives snnTorch's spikes exactly — every spike of every sample — when the file is imported in
/// the reset mode of the snnTorch `Leaky` that made it (`reset_mechanism="zero"`: NIR's reset
/// to `v_reset`, the default; `"subtract"`: `--nir-reset subtract`), and other spikes in the
/// other mode, since snnTorch writes `v_reset = 0` for both.
#[test]
fn snntorch_exports_run_as_snntorch_runs_them() {
    use phi_compiler::frontend::NirReset;
    for (file, reset, other) in
        [("mlp_zero", NirReset::VReset, NirReset::Subtract), ("mlp_subtract", NirReset::Subtract, NirReset::VReset)]
    {
        let path = dir().join("snntorch").join(format!("{file}.nir"));
        let want = read_npy(&path.with_extension("expected.npy")).expect("snnTorch's spikes");
        let (shape, got, spikes) = run_fixture(&path, reset);
        assert!(spikes, "{file}: spike outputs");
        assert_eq!(shape, want.shape(), "{file}: output shape");
        let want = want.to_f64();
        assert_matches(file, &got, spikes, &want);
        let (_, wrong, _) = run_fixture(&path, other);
        assert!(wrong.iter().zip(&want).any(|(&g, &w)| g as f64 != w), "{file}: the other reset mode matches too");
    }
}
