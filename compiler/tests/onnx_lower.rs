//! Lowering of ONNX text to the `snn` dialect: shapes, weights, functions, and every kind of
//! error with its message and `file:line:col`.

use std::collections::HashMap;
use std::path::Path;

use phi_compiler::frontend::{InputKind, Source, WeightMode, load_module};
use phi_dialect::ops::snn::{NeuronParams, Reset};
use phi_dialect::{ElemType, Module, OpKind, SnnOp, SourceMap};

const HEADER: &str = "<ir_version: 9, opset_import: [\"\" : 17, \"snn\" : 1]>\n";

fn source(dir: &Path, text: &str) -> Source {
    let path = dir.join("m.snn");
    std::fs::write(&path, text).unwrap();
    let mut sources = SourceMap::new();
    let file = sources.add("m.snn", text.to_string());
    Source { sources, file, path: Some(path), kind: InputKind::OnnxText }
}

fn lower_in(dir: &Path, body: &str) -> Result<Module, (String, String, String)> {
    let text = format!("{HEADER}{body}");
    let src = source(dir, &text);
    load_module(&src, WeightMode::Load).map_err(|d| {
        let loc = d.primary_location(&src.sources).unwrap_or_default();
        let rendered = d.render(&src.sources);
        (d.message, loc, rendered)
    })
}

fn lower(body: &str) -> Module {
    let dir = tempfile::tempdir().unwrap();
    lower_in(dir.path(), body).unwrap_or_else(|(m, l, r)| panic!("{m} at {l}\n{r}"))
}

/// Asserts a lowering error: message fragment and `m.snn:line:col` (line 1 is the header).
fn err(body: &str, msg: &str, loc: &str) {
    let dir = tempfile::tempdir().unwrap();
    err_in(dir.path(), body, msg, loc);
}

fn err_in(dir: &Path, body: &str, msg: &str, loc: &str) {
    match lower_in(dir, body) {
        Ok(_) => panic!("expected an error containing {msg:?}"),
        Err((m, l, r)) => {
            assert!(m.contains(msg), "message {m:?} lacks {msg:?}\n{r}");
            assert_eq!(l, format!("m.snn:{loc}"), "for {msg:?}\n{r}");
        }
    }
}

fn kinds(m: &Module) -> Vec<&'static str> {
    m.body().iter().map(|&o| m.op(o).kind.name()).collect()
}

fn result_shape(m: &Module, name: &str) -> Vec<usize> {
    let op = *m.body().iter().rev().find(|&&o| m.op(o).kind.name() == name).unwrap();
    m.ty(m.result(op)).shape.clone()
}

const MLP: &str = "mlp (uint8[N, 4, 3] x) => (uint8[N, 4, 2] y)
<float[3, 2] w = {0.5, -0.25, 1.0, 0.75, 0.25, 0.5}, float[2] b = {0.1, 0.0}>
{
  cur = Gemm(x, w, b)
  y = snn.LIF<beta = 0.9, threshold = 1.0>(cur)
}
";

#[test]
fn mlp_lowers_with_shapes() {
    let m = lower(MLP);
    assert_eq!(kinds(&m), ["snn.input", "snn.linear", "snn.lif", "snn.output"]);
    assert_eq!(result_shape(&m, "snn.linear"), [4, 2]);
    let lif = m.body()[2];
    assert_eq!(m.ty(m.result(lif)).elem, ElemType::I1);
    let OpKind::Snn(SnnOp::Lif(n)) = &m.op(lif).kind else { panic!() };
    assert_eq!(n.params, NeuronParams::Float { beta: 0.9, threshold: 1.0 });
    assert_eq!(n.reset, Reset::Subtract);
    assert_eq!(m.name, "mlp");
    assert_eq!(m.op(lif).loc.to_string(), "m.snn:6:3");
}

#[test]
fn gemm_trans_b_alpha_beta() {
    let m = lower(
        "g (uint8[N, 2, 3] x) => (uint8[N, 2, 2] y)
<float[2, 3] w = {1, 2, 3, 4, 5, 6}, float[1, 2] b = {1, 2}>
{
  c = Gemm<transB = 1, alpha = 2.0, beta = 0.5>(x, w, b)
  y = snn.IF<threshold = 3.0, reset_mechanism = \"zero\">(c)
}
",
    );
    let lin = m.body()[1];
    let OpKind::Snn(SnnOp::Linear(l)) = &m.op(lin).kind else { panic!() };
    assert_eq!(m.weights.get(l.weight).as_f32().unwrap(), &[2.0, 8.0, 4.0, 10.0, 6.0, 12.0]);
    assert_eq!(m.weights.get(l.weight).ty.shape, [3, 2]);
    assert_eq!(m.weights.get(l.bias.unwrap()).as_f32().unwrap(), &[0.5, 1.0]);
    assert!(matches!(m.op(m.body()[2]).kind, OpKind::Snn(SnnOp::If(_))));
}

#[test]
fn matmul_add_bias_and_residual() {
    let m = lower(
        "r (uint8[N, 2, 3] x) => (uint8[N, 2, 3] y)
<float[3, 3] w = {1, 0, 0, 0, 1, 0, 0, 0, 1}, float[1, 3] b = {1, 2, 3}>
{
  c = MatMul(x, w)
  d = Add(b, c)
  s = snn.LIF<beta = 0.5>(d)
  e = Add(s, x)
  f = MatMul(e, w)
  y = snn.LIF<beta = 0.5>(f)
}
",
    );
    assert_eq!(
        kinds(&m),
        [
            "snn.input",
            "snn.linear",
            "snn.constant",
            "snn.add",
            "snn.lif",
            "snn.add",
            "snn.linear",
            "snn.lif",
            "snn.output"
        ]
    );
    // spikes + spikes are counts
    assert_eq!(m.ty(m.result(m.body()[5])).elem, ElemType::I32);
}

#[test]
fn external_data_formats() {
    let dir = tempfile::tempdir().unwrap();
    // raw little-endian f32 files
    let raw = |name: &str, n: usize| {
        let bytes: Vec<u8> = (0..n).flat_map(|i| (i as f32 * 0.01).to_le_bytes()).collect();
        std::fs::write(dir.path().join(name), bytes).unwrap();
    };
    raw("cw.bin", 36);
    raw("fw.bin", 64 * 3);
    // safetensors
    let data: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![3], &data).unwrap();
    let bytes = safetensors::serialize(HashMap::from([("fc.bias".to_string(), view)]), None).unwrap();
    std::fs::write(dir.path().join("w.safetensors"), bytes).unwrap();
    // npy
    let arr = ndarray::Array2::<f32>::from_elem((4, 1), 0.5);
    ndarray_npy::write_npy(dir.path().join("b.npy"), &arr).unwrap();
    let m = lower_in(
        dir.path(),
        "cnn (uint8[N, 2, 1, 8, 8] x) => (uint8[N, 2, 3] y)
<float[4, 1, 3, 3] cw = [\"location\": \"cw.bin\"], float[64, 3] fw = [\"location\": \"fw.bin\", \"offset\": \"0\"],
 int64[3] shp = {0, 0, -1}, float[3] fb = [\"location\": \"w.safetensors\", \"key\": \"fc.bias\"],
 float[4, 1] cb = [\"location\": \"b.npy\"]>
{
  c = Conv<kernel_shape = [3, 3], auto_pad = \"SAME_UPPER\">(x, cw)
  s = snn.LIF<beta = 0.9>(c)
  p = AveragePool<kernel_shape = [2, 2], strides = [2, 2]>(s)
  f = Flatten<axis = 2>(p)
  g = Reshape(p, shp)
  h = Gemm(g, fw, fb)
  y = snn.LIF<beta = 0.9>(h)
}
",
    )
    .unwrap_or_else(|(m, l, r)| panic!("{m} at {l}\n{r}"));
    assert_eq!(result_shape(&m, "snn.conv2d"), [2, 4, 8, 8]);
    assert_eq!(result_shape(&m, "snn.avg_pool"), [2, 4, 4, 4]);
    assert_eq!(result_shape(&m, "snn.flatten"), [2, 64]);
    assert_eq!(result_shape(&m, "snn.reshape"), [2, 64]);
    let lin = *m.body().iter().find(|&&o| m.op(o).kind.name() == "snn.linear").unwrap();
    let OpKind::Snn(SnnOp::Linear(l)) = &m.op(lin).kind else { panic!() };
    assert_eq!(m.weights.get(l.bias.unwrap()).as_f32().unwrap(), &[1.0, 2.0, 3.0]);
    assert_eq!(m.weights.get(l.weight).as_f32().unwrap()[1], 0.01);
    // the npy initializer is loadable too (unused initializers are not loaded)
    err_in(
        dir.path(),
        "b (uint8[N, 2, 4] x) => (uint8[N, 2, 1] y) <float[1, 4] cb = [\"location\": \"b.npy\"]>
{
  c = MatMul(x, cb)
  y = snn.LIF<beta = 0.9>(c)
}
",
        "the .npy array has shape [4, 1]",
        "2:75",
    );
}

#[test]
fn functions_are_inlined() {
    let m = lower(
        "f (uint8[N, 2, 3] x) => (uint8[N, 2, 3] y)
<float[3, 3] w = {1, 0, 0, 0, 1, 0, 0, 0, 1}>
{
  a = local.Block<decay = 0.5>(x, w)
  y = local.Block(a, w)
}
<domain: \"local\", opset_import: [\"\" : 17, \"snn\" : 1]>
Block <decay: float = 0.75> (inp, weight) => (out)
{
  c = MatMul(inp, weight)
  out = snn.LIF<beta: float = @decay>(c)
}
",
    );
    assert_eq!(kinds(&m), ["snn.input", "snn.linear", "snn.lif", "snn.linear", "snn.lif", "snn.output"]);
    let betas: Vec<f32> = m
        .body()
        .iter()
        .filter_map(|&o| match &m.op(o).kind {
            OpKind::Snn(SnnOp::Lif(n)) => match n.params {
                NeuronParams::Float { beta, .. } => Some(beta),
                NeuronParams::Fixed { .. } | NeuronParams::FloatPerNeuron { .. } => None,
            },
            OpKind::Snn(_) | OpKind::Phi(_) => None,
        })
        .collect();
    assert_eq!(betas, [0.5, 0.75]);
}

#[test]
fn metadata_becomes_module_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let text = "<ir_version: 9, opset_import: [\"snn\" : 1], metadata_props: [\"phi.calibration\": \"c.npy\"]>\n"
        .to_string()
        + MLP;
    let src = source(dir.path(), &text);
    let m = load_module(&src, WeightMode::Load).unwrap();
    assert_eq!(m.attrs.get("phi.calibration"), Some(&phi_dialect::attr::Attr::Str("c.npy".into())));
}

#[test]
fn nodes_out_of_order_are_sorted() {
    let m = lower(
        "o (uint8[N, 4, 3] x) => (uint8[N, 4, 2] y)
<float[3, 2] w = {0.5, -0.25, 1.0, 0.75, 0.25, 0.5}>
{
  y = snn.LIF<beta = 0.9>(cur)
  cur = MatMul(x, w)
}
",
    );
    assert_eq!(kinds(&m), ["snn.input", "snn.linear", "snn.lif", "snn.output"]);
}

#[test]
fn shapes_only_mode_needs_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEADER}s (uint8[N, 2, 3] x) => (uint8[N, 2, 2] y) <float[3, 2] w = [\"location\": \"missing.safetensors\"]>
{{
  c = MatMul(x, w)
  y = snn.LIF<beta = 0.9>(c)
}}
"
    );
    let src = source(dir.path(), &text);
    assert!(load_module(&src, WeightMode::Load).is_err());
    let m = load_module(&src, WeightMode::ShapesOnly).unwrap();
    assert_eq!(result_shape(&m, "snn.linear"), [2, 2]);
}

// ------------------------------------------------------------------------------ errors

#[test]
fn error_unsupported_op() {
    err(&MLP.replace("Gemm(x, w, b)", "Relu(x)"), "unsupported op `Relu`", "5:9");
}

#[test]
fn error_unknown_attribute() {
    err(&MLP.replace("beta = 0.9", "beta = 0.9, tau = 2.0"), "`snn.LIF` has no attribute `tau`", "6:27");
}

#[test]
fn error_beta_out_of_range() {
    err(&MLP.replace("beta = 0.9", "beta = 1.5"), "beta = 1.5 is outside [0, 1]", "6:15");
}

#[test]
fn error_bad_reset_mechanism() {
    err(
        &MLP.replace("threshold = 1.0", "reset_mechanism = \"none\""),
        "reset_mechanism `none` is not supported",
        "6:27",
    );
}

#[test]
fn error_missing_lif_beta() {
    err(&MLP.replace("beta = 0.9, ", ""), "`snn.LIF` needs the attribute `beta`", "6:11");
}

#[test]
fn error_weight_is_an_activation() {
    err(&MLP.replace("Gemm(x, w, b)", "Gemm(x, x, b)"), "`B` of `Gemm` must be an initializer", "5:17");
}

#[test]
fn error_shape_mismatch() {
    err(&MLP.replace("uint8[N, 4, 3] x", "uint8[N, 4, 5] x"), "does not match input", "5:3");
}

#[test]
fn error_missing_weight_file() {
    err(
        &MLP.replace("float[2] b = {0.1, 0.0}", "float[2] b = [\"location\": \"gone.safetensors\"]"),
        "cannot read external data `gone.safetensors`",
        "3:80",
    );
}

fn with_safetensors(dir: &Path, name: &str, dtype: safetensors::Dtype, shape: Vec<usize>) {
    let width = dtype.bitsize() / 8;
    let data = vec![0u8; shape.iter().product::<usize>() * width];
    let view = safetensors::tensor::TensorView::new(dtype, shape, &data).unwrap();
    let bytes = safetensors::serialize(HashMap::from([(name.to_string(), view)]), None).unwrap();
    std::fs::write(dir.join("w.safetensors"), bytes).unwrap();
}

const ST_MLP: &str = "mlp (uint8[N, 4, 3] x) => (uint8[N, 4, 2] y)
<float[3, 2] w = [\"location\": \"w.safetensors\", \"key\": \"fc.w\"]>
{
  cur = MatMul(x, w)
  y = snn.LIF<beta = 0.9>(cur)
}
";

#[test]
fn error_safetensors_missing_key() {
    let dir = tempfile::tempdir().unwrap();
    with_safetensors(dir.path(), "other", safetensors::Dtype::F32, vec![3, 2]);
    err_in(dir.path(), ST_MLP, "the safetensors file has no tensor `fc.w`", "3:31");
}

#[test]
fn error_safetensors_dtype_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    with_safetensors(dir.path(), "fc.w", safetensors::Dtype::I64, vec![3, 2]);
    err_in(dir.path(), ST_MLP, "has dtype I64", "3:31");
}

#[test]
fn error_safetensors_shape_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    with_safetensors(dir.path(), "fc.w", safetensors::Dtype::F32, vec![2, 3]);
    err_in(dir.path(), ST_MLP, "has shape [2, 3]", "3:31");
}

#[test]
fn error_inline_data_count() {
    err(&MLP.replace("{0.1, 0.0}", "{0.1}"), "declared with 2 elements but 1 are written", "3:67");
}

#[test]
fn error_undefined_value() {
    err(&MLP.replace("(cur)", "(cur2)"), "value `cur2` is not defined", "6:44");
}

#[test]
fn error_output_never_computed() {
    err(&MLP.replace("y = snn", "z = snn"), "graph output `y` is never computed", "2:43");
}

#[test]
fn error_output_type_mismatch() {
    err(
        &MLP.replace("uint8[N, 4, 2] y", "uint8[N, 4, 7] y"),
        "is declared uint8[N, 4, 7] but computes uint8[N, 4, 2]",
        "2:28",
    );
}

#[test]
fn error_symbolic_time() {
    err(&MLP.replace("uint8[N, 4, 3] x", "uint8[N, T, 3] x"), "dimension 1 of input `x` must be a number", "2:15");
}

#[test]
fn error_flatten_axis() {
    err(
        "f (uint8[N, 2, 1, 4, 4] x) => (uint8[N, 2, 16] y) {
  y = Flatten<axis = 1>(x)
}
",
        "`Flatten` with axis = 1",
        "3:15",
    );
}

#[test]
fn error_reshape_loses_time() {
    err(
        "r (uint8[N, 2, 4] x) => (uint8[N, 8] y) <int64[2] s = {0, -1}> {
  y = Reshape(x, s)
}
",
        "does not keep [N, T]",
        "2:55",
    );
}

#[test]
fn error_cycle() {
    err(
        "c (uint8[N, 2, 3] x) => (uint8[N, 2, 3] y) {
  a = Add(x, b)
  b = Add(a, x)
  y = snn.LIF<beta = 0.5>(b)
}
",
        "the graph has a cycle",
        "3:3",
    );
}

#[test]
fn error_value_defined_twice() {
    err(&MLP.replace("y = snn", "cur = snn"), "value `cur` is defined twice", "6:3");
}

#[test]
fn error_input_rank() {
    err(&MLP.replace("uint8[N, 4, 3] x", "uint8[N, 3] x"), "graph input `x` must be [N, T, features...]", "2:6");
}

#[test]
fn error_function_recursion() {
    err(
        "f (uint8[N, 2, 3] x) => (uint8[N, 2, 3] y) {
  y = local.Loop(x)
}
<domain: \"local\", opset_import: [\"\" : 17]>
Loop (a) => (b) {
  b = local.Loop(a)
}
",
        "calls itself",
        "7:13",
    );
}

#[test]
fn error_conv_needs_images() {
    err(
        "c (uint8[N, 2, 3] x) => (uint8[N, 2, 3] y) <float[1, 1, 1, 1] w = {1.0}> {
  c = Conv(x, w)
  y = snn.LIF<beta = 0.5>(c)
}
",
        "`Conv` input is [N, 2, 3], expected [N, T, C, H, W]",
        "3:12",
    );
}

#[test]
fn error_direct_time_mismatch() {
    err(
        "t (uint8[N, 2, 3] x, uint8[N, 3, 3] z) => (uint8[N, 2, 3] y) {
  y = snn.LIF<beta = 0.5>(x)
}
",
        "T = 3 here, but the model's other inputs have T = 2",
        "2:31",
    );
}
