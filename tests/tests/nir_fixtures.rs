//! The NIR fixtures of `tests/nir/` (written by the real `nir` Python package, see its README)
//! read with `hdf5-reader`, the pure-Rust HDF5 reader the NIR importer builds on: every file's
//! `version`, graph structure (node groups, `type` strings, the `edges` string table, nested
//! graphs) and parameters (float32 and float64, gzip-compressed or not, scalar and array
//! datasets) decode, and the `.npy` inputs and expected outputs agree with the graph's `Input`
//! and `Output` shapes.

use std::path::{Path, PathBuf};

use hdf5_reader::{Datatype, Hdf5File};
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

/// What a node group holds: its type, and its parameters as (name, shape, values as f64).
struct Node {
    ty: String,
    params: Vec<(String, Vec<u64>, Vec<f64>)>,
    /// For a graph: its nodes by name and its edges.
    nodes: Vec<(String, Node)>,
    edges: Vec<(String, String)>,
}

fn read_f64(ds: &hdf5_reader::Dataset) -> Vec<f64> {
    match ds.dtype() {
        Datatype::FloatingPoint { size: 4, .. } => {
            ds.read_array::<f32>().expect("f32 data").iter().map(|&x| x as f64).collect()
        }
        Datatype::FloatingPoint { size: 8, .. } => ds.read_array::<f64>().expect("f64 data").iter().copied().collect(),
        Datatype::FixedPoint { size: 8, signed: true, .. } => {
            ds.read_array::<i64>().expect("i64 data").iter().map(|&x| x as f64).collect()
        }
        other @ (Datatype::FixedPoint { .. }
        | Datatype::FloatingPoint { .. }
        | Datatype::String { .. }
        | Datatype::Compound { .. }
        | Datatype::Array { .. }
        | Datatype::Enum { .. }
        | Datatype::VarLen { .. }
        | Datatype::Opaque { .. }
        | Datatype::Reference { .. }
        | Datatype::Bitfield { .. }) => panic!("{}: unexpected dtype {other:?}", ds.name()),
    }
}

fn read_node(g: &hdf5_reader::group::Group) -> Node {
    let (groups, datasets) = g.members().expect("members");
    let mut node = Node { ty: String::new(), params: Vec::new(), nodes: Vec::new(), edges: Vec::new() };
    for ds in &datasets {
        let name = ds.name().rsplit('/').next().unwrap_or_default().to_string();
        match name.as_str() {
            "type" => node.ty = ds.read_string().expect("type string"),
            "edges" => {
                let s = ds.read_strings().expect("edge strings");
                assert_eq!(ds.shape().last(), Some(&2), "edges are N×2");
                node.edges = s.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            }
            "padding" if matches!(ds.dtype(), Datatype::String { .. } | Datatype::VarLen { .. }) => {
                node.params.push((name, Vec::new(), Vec::new()));
            }
            _ => node.params.push((name, ds.shape().to_vec(), read_f64(ds))),
        }
    }
    for sub in &groups {
        let name = sub.name().rsplit('/').next().unwrap_or_default().to_string();
        if name == "nodes" {
            let (members, _) = sub.members().expect("graph nodes");
            for m in &members {
                let n = m.name().rsplit('/').next().unwrap_or_default().to_string();
                node.nodes.push((n, read_node(m)));
            }
        }
    }
    node
}

fn param<'a>(n: &'a Node, name: &str) -> &'a [f64] {
    &n.params.iter().find(|p| p.0 == name).unwrap_or_else(|| panic!("{} has no `{name}`", n.ty)).2
}

#[test]
fn every_fixture_reads_with_hdf5_reader_and_matches_its_arrays() {
    let files = fixtures();
    assert!(files.len() >= 20, "the fixtures are in tests/nir ({} found)", files.len());
    let mut types = std::collections::BTreeSet::new();
    for path in files {
        let f = Hdf5File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let version = f.dataset("version").and_then(|d| d.read_string()).expect("a version string");
        assert!(version.starts_with("1."), "{}: version {version}", path.display());
        let root = read_node(&f.group("node").expect("a node group"));
        assert_eq!(root.ty, "NIRGraph", "{}", path.display());
        // every edge names nodes of the graph
        for (a, b) in &root.edges {
            for end in [a, b] {
                let top = end.split('.').next().unwrap_or(end);
                assert!(root.nodes.iter().any(|(n, _)| n == top), "{}: edge end `{end}`", path.display());
            }
        }
        fn collect(n: &Node, types: &mut std::collections::BTreeSet<String>) {
            for (_, c) in &n.nodes {
                types.insert(c.ty.clone());
                collect(c, types);
            }
        }
        collect(&root, &mut types);
        // the arrays beside it have [N, T] + the Input / Output shapes
        let stem = path.file_stem().and_then(|s| s.to_str()).expect("utf-8 name").to_string();
        let input = read_npy(&dir().join(format!("{stem}.input.npy"))).expect("input .npy");
        let expected = read_npy(&dir().join(format!("{stem}.expected.npy"))).expect("expected .npy");
        let shape_of = |ty: &str| -> Vec<usize> {
            let (_, n) = root.nodes.iter().find(|(_, n)| n.ty == ty).unwrap_or_else(|| panic!("{stem}: no {ty}"));
            param(n, "shape").iter().map(|&d| d as usize).collect()
        };
        assert_eq!(&input.shape()[..2], &[2, 5], "{stem}: [N, T, …]");
        assert_eq!(&input.shape()[2..], &shape_of("Input")[..], "{stem}: input shape");
        assert_eq!(&expected.shape()[2..], &shape_of("Output")[..], "{stem}: output shape");
        // parameters decode to finite numbers
        fn finite(n: &Node, stem: &str) {
            for (name, _, v) in &n.params {
                assert!(v.iter().all(|x| x.is_finite()), "{stem}: {} `{name}` is not finite", n.ty);
            }
            for (_, c) in &n.nodes {
                finite(c, stem);
            }
        }
        finite(&root, &stem);
    }
    // every node type issue 5 names occurs in some fixture
    for ty in [
        "Input",
        "Output",
        "Affine",
        "Linear",
        "Scale",
        "Conv1d",
        "Conv2d",
        "SumPool2d",
        "AvgPool2d",
        "Flatten",
        "LIF",
        "IF",
        "LI",
        "CubaLIF",
        "Threshold",
        "NIRGraph",
    ] {
        assert!(types.contains(ty), "no fixture holds a {ty} node (found {types:?})");
    }
}

#[test]
fn a_corrupted_file_is_an_error_not_a_panic() {
    let bytes = std::fs::read(dir().join("lif.nir")).expect("lif.nir");
    for cut in [0, 8, 100, bytes.len() / 2] {
        let r = Hdf5File::from_bytes(&bytes[..cut]).and_then(|f| f.group("node").and_then(|g| g.members()));
        assert!(r.is_err(), "a file cut at {cut} bytes reads");
    }
    let mut flipped = bytes.clone();
    for i in (0..flipped.len()).step_by(97) {
        flipped[i] ^= 0x5a;
    }
    // anything but a panic: an error, or (for bytes that no structure covers) a read
    let _ = Hdf5File::from_bytes(&flipped).and_then(|f| f.group("node").and_then(|g| g.members()));
}
