//! Tests of the ONNX textual-syntax frontend: well-formed models and their trees, malformed
//! inputs and their diagnostics, and a deterministic mutation loop that checks the parser
//! never panics.

use phi_compiler::frontend::onnx::ast::*;
use phi_compiler::frontend::onnx::{parse_graph, parse_model};
use phi_dialect::Diagnostic;
use phi_dialect::diag::{SourceMap, Span};

const FILE: &str = "m.onnx";

/// Parses a model that must be well formed.
fn parse(text: &str) -> (SourceMap, Model) {
    let mut sm = SourceMap::new();
    let f = sm.add(FILE, text);
    match parse_model(f, text) {
        Ok(m) => (sm, m),
        Err(d) => panic!("expected a model, got:\n{}", d.render(&sm)),
    }
}

/// Parses a model that must be malformed.
fn fail(text: &str) -> (SourceMap, Diagnostic) {
    let mut sm = SourceMap::new();
    let f = sm.add(FILE, text);
    match parse_model(f, text) {
        Ok(m) => panic!("expected an error, got a model: {m:#?}"),
        Err(d) => (sm, d),
    }
}

/// Checks an error's message, the `file:line:col` of its primary label and its help note.
fn check_error(text: &str, message: &str, location: &str, help: Option<&str>) -> Diagnostic {
    let (sm, d) = fail(text);
    let rendered = if text.len() < 2_000 { d.render(&sm) } else { format!("{} ({:?})", d.message, d.notes) };
    assert_eq!(d.message, message, "message of:\n{rendered}");
    assert_eq!(d.primary_location(&sm).as_deref(), Some(location), "location of:\n{rendered}");
    if let Some(h) = help {
        assert!(
            d.notes.iter().any(|n| n.starts_with("help: ") && n.contains(h)),
            "no help containing {h:?} in:\n{rendered}"
        );
    }
    d
}

fn tensor(v: &ValueInfo) -> &TensorType {
    v.ty.as_ref().and_then(Type::as_tensor).expect("a tensor type")
}

fn dims(t: &TensorType) -> Vec<Dim> {
    t.dims.as_ref().expect("known rank").iter().map(|d| d.value.clone()).collect()
}

fn names(ns: &[Name]) -> Vec<&str> {
    ns.iter().map(Name::as_str).collect()
}

fn text_of(text: &str, span: Span) -> &str {
    &text[span.range()]
}

// ---------------------------------------------------------------------------------------------
// Well-formed inputs

/// The example of the API section of Syntax.md.
const SYNTAX_MD_EXAMPLE: &str = r#"
<
  ir_version: 7,
  opset_import: [ "" : 10 ]
>
agraph (float[N, 128] X, float[128, 10] W, float[10] B) => (float[N, 10] C)
{
    T = MatMul(X, W)
    S = Add(T, B)
    C = Softmax(S)
}
"#;

#[test]
fn syntax_md_api_example() {
    let (sm, m) = parse(SYNTAX_MD_EXAMPLE);
    assert_eq!(m.ir_version(), Some(7));
    assert_eq!(m.opset_import().len(), 1);
    assert_eq!(m.opset_version(""), Some(10));
    let g = &m.graph;
    assert_eq!(g.name.text, "agraph");
    assert_eq!(g.inputs.len(), 3);
    assert_eq!(g.inputs[0].name.text, "X");
    assert_eq!(dims(tensor(&g.inputs[0])), vec![Dim::Sym("N".into()), Dim::Int(128)]);
    assert_eq!(dims(tensor(&g.inputs[1])), vec![Dim::Int(128), Dim::Int(10)]);
    assert_eq!(tensor(&g.outputs[0]).elem, PrimType::Float);
    let ops: Vec<&str> = g.nodes.iter().map(|n| n.op.as_str()).collect();
    assert_eq!(ops, ["MatMul", "Add", "Softmax"]);
    assert_eq!(names(&g.nodes[0].inputs), ["X", "W"]);
    assert_eq!(names(&g.nodes[2].outputs), ["C"]);
    assert_eq!(sm.describe(g.name.span), "m.onnx:6:1");
    assert_eq!(sm.describe(g.nodes[1].op.span), "m.onnx:9:9");
    assert_eq!(sm.describe(g.nodes[1].inputs[1].span), "m.onnx:9:16");
    assert_eq!(sm.describe(m.header[1].span), "m.onnx:4:3");
    assert_eq!(sm.describe(g.inputs[0].ty.as_ref().unwrap().span), "m.onnx:6:9");
}

#[test]
fn full_model_header() {
    let text = r#"<
  ir_version: 8,
  opset_import: ["" : 17, "snn" : 1],
  producer_name: "x",
  producer_version: "1",
  domain: "ai.phi.test",
  model_version: 1,
  doc_string: "A \"quoted\" doc",
  metadata_props: ["phi.calibration": "calib.npy", "k": "v"],
  custom_key: [1, -2.5, "s", "a" : 3],
  other: inf
>
g (float x) => (float y) { y = Relu(x) }
"#;
    let (sm, m) = parse(text);
    assert_eq!(m.ir_version(), Some(8));
    assert_eq!(m.opset_version(""), Some(17));
    assert_eq!(m.opset_version("snn"), Some(1));
    assert_eq!(m.producer_name(), Some("x"));
    assert_eq!(m.producer_version(), Some("1"));
    assert_eq!(m.domain(), Some("ai.phi.test"));
    assert_eq!(m.model_version(), Some(1));
    assert_eq!(m.doc_string(), Some("A \"quoted\" doc"));
    let props = m.metadata_props();
    assert_eq!(props.len(), 2);
    assert_eq!((props[0].key.as_str(), props[0].value.as_str()), ("phi.calibration", "calib.npy"));
    assert_eq!(m.metadata("k").as_deref(), Some("v"));
    assert_eq!(sm.describe(props[0].value_span), "m.onnx:9:39");
    // Header entries keep their order and spans; unknown keys keep their values.
    let keys: Vec<&str> = m.header.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys[0], "ir_version");
    assert_eq!(keys[8], "custom_key");
    assert_eq!(sm.describe(m.header[8].span), "m.onnx:10:3");
    let HeaderValueKind::List(items) = &m.entry("custom_key").unwrap().value.kind else { panic!("a list") };
    assert_eq!(items.len(), 4);
    assert_eq!(items[0].value.kind, LiteralKind::Int(1));
    assert_eq!(items[1].value.kind, LiteralKind::Float(-2.5));
    assert_eq!(items[2].value.as_str(), Some("s"));
    assert_eq!(items[3].key.as_ref().and_then(Literal::as_str), Some("a"));
    assert_eq!(items[3].value.as_i64(), Some(3));
    let other = m.literal("other").unwrap();
    assert_eq!(other.as_f64(), Some(f64::INFINITY));
    // The model spans from the header to the end of the graph.
    assert_eq!(sm.describe(m.span), "m.onnx:2:3");
    assert!(text_of(text, m.span).ends_with("y = Relu(x) }"));
}

#[test]
fn tensor_types_and_dims() {
    let text =
        r#"g (float s, float[] u, float[N, ?, 8] t, int64["batch size", 3] q, bool[0] e) => (double d) { d = F(s) }"#;
    let (sm, m) = parse(text);
    let i = &m.graph.inputs;
    assert_eq!(tensor(&i[0]).dims, Some(vec![]));
    assert_eq!(tensor(&i[0]).rank(), Some(0));
    assert_eq!(tensor(&i[1]).dims, None);
    assert_eq!(tensor(&i[1]).rank(), None);
    assert_eq!(dims(tensor(&i[2])), vec![Dim::Sym("N".into()), Dim::Unknown, Dim::Int(8)]);
    assert_eq!(tensor(&i[2]).static_shape(), None);
    assert_eq!(dims(tensor(&i[3])), vec![Dim::Sym("batch size".into()), Dim::Int(3)]);
    assert_eq!(tensor(&i[3]).elem, PrimType::Int64);
    assert_eq!(tensor(&i[4]).static_shape(), Some(vec![0]));
    let t = tensor(&i[2]);
    assert_eq!(text_of(text, t.span), "float[N, ?, 8]");
    assert_eq!(text_of(text, t.elem_span), "float");
    let d = &t.dims.as_ref().unwrap()[1];
    assert_eq!(sm.describe(d.span), "m.onnx:1:33");
    assert_eq!(text_of(text, i[2].span), "float[N, ?, 8] t");
}

#[test]
fn every_prim_type() {
    let inputs: Vec<String> = PrimType::ALL.iter().enumerate().map(|(k, p)| format!("{}[2] x{k}", p.name())).collect();
    let text = format!("g ({}) => (float y) {{ y = F(x0) }}", inputs.join(", "));
    let (_, m) = parse(&text);
    assert_eq!(m.graph.inputs.len(), 26);
    for (k, p) in PrimType::ALL.iter().enumerate() {
        assert_eq!(tensor(&m.graph.inputs[k]).elem, *p);
        assert_eq!(PrimType::from_name(p.name()), Some(*p));
        assert_eq!(p.onnx_code(), k as i32 + 1);
    }
    for name in
        ["float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "float8e8m0", "uint4", "int4", "float4e2m1"]
    {
        assert!(PrimType::from_name(name).is_some(), "{name}");
    }
}

#[test]
fn sequence_map_optional_sparse_opaque_types() {
    let text = r#"g (seq(float[N]) a, map(int32, float[N]) b, optional(seq(int64)) c, sparse_tensor(float[1000]) d,
        opaque() e, opaque(test.rng.RNG) f, opaque(com.x, Handle) h, map(string, seq(map(int64, double))) k)
        => (optional(float) y) { y = F(a) }"#;
    let (_, m) = parse(text);
    let i = &m.graph.inputs;
    let TypeKind::Sequence(inner) = &i[0].ty.as_ref().unwrap().kind else { panic!("seq") };
    assert_eq!(inner.as_tensor().unwrap().elem, PrimType::Float);
    let TypeKind::Map { key, value } = &i[1].ty.as_ref().unwrap().kind else { panic!("map") };
    assert_eq!(key.value, PrimType::Int32);
    assert_eq!(dims(value.as_tensor().unwrap()), vec![Dim::Sym("N".into())]);
    let TypeKind::Optional(inner) = &i[2].ty.as_ref().unwrap().kind else { panic!("optional") };
    assert!(matches!(inner.kind, TypeKind::Sequence(_)));
    let TypeKind::SparseTensor(t) = &i[3].ty.as_ref().unwrap().kind else { panic!("sparse") };
    assert_eq!(t.static_shape(), Some(vec![1000]));
    assert_eq!(i[4].ty.as_ref().unwrap().kind, TypeKind::Opaque { domain: None, name: None });
    let TypeKind::Opaque { domain: None, name: Some(n) } = &i[5].ty.as_ref().unwrap().kind else { panic!("opaque") };
    assert_eq!(n.text, "test.rng.RNG");
    let TypeKind::Opaque { domain: Some(d), name: Some(n) } = &i[6].ty.as_ref().unwrap().kind else { panic!("opaque") };
    assert_eq!((d.text.as_str(), n.text.as_str()), ("com.x", "Handle"));
    assert!(matches!(i[7].ty.as_ref().unwrap().kind, TypeKind::Map { .. }));
    assert!(matches!(m.graph.outputs[0].ty.as_ref().unwrap().kind, TypeKind::Optional(_)));
}

#[test]
fn initializers_and_value_infos() {
    let text = r#"g (float y = {1.0}, float[N] z) => (float[N] w)
<float[2] b = {1.0, 2.0}, int64[3] s = {1, -2, 3}, string[2] n = {"a", "b\"c"}, float[N] x, bool[2] m = {0, 1}, float[0] e = {}>
{
    x = Add(y, z)
    w = Mul(x, b)
}"#;
    let (sm, m) = parse(text);
    let g = &m.graph;
    assert_eq!(names(&g.inputs.iter().map(|v| v.name.clone()).collect::<Vec<_>>()), ["y", "z"]);
    let inits: Vec<&str> = g.initializers.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(inits, ["y", "b", "s", "n", "m", "e"]);
    assert!(g.initializers[0].is_input_default);
    assert!(!g.initializers[1].is_input_default);
    assert_eq!(g.value_infos.len(), 1);
    assert_eq!(g.value_infos[0].name.text, "x");
    let b = g.initializer("b").unwrap();
    assert_eq!(b.shape(), vec![2]);
    let TensorData::Inline(vals) = &b.data else { panic!("inline") };
    assert_eq!(vals.iter().map(|v| v.as_f64().unwrap()).collect::<Vec<_>>(), vec![1.0, 2.0]);
    let TensorData::Inline(vals) = &g.initializer("s").unwrap().data else { panic!("inline") };
    assert_eq!(vals.iter().map(|v| v.as_i64().unwrap()).collect::<Vec<_>>(), vec![1, -2, 3]);
    assert_eq!(sm.describe(vals[1].span), "m.onnx:2:44");
    let TensorData::Inline(vals) = &g.initializer("n").unwrap().data else { panic!("inline") };
    assert_eq!(vals[1].as_str(), Some("b\"c"));
    assert_eq!(g.initializer("e").unwrap().data, TensorData::Inline(vec![]));
    assert_eq!(text_of(text, b.span), "float[2] b = {1.0, 2.0}");
    assert_eq!(text_of(text, b.data_span), "{1.0, 2.0}");
    assert_eq!(sm.describe(b.ty.span), "m.onnx:2:2");
    assert_eq!(text_of(text, g.initializers[0].span), "float y = {1.0}");
    assert_eq!(g.initializers[0].shape(), Vec::<i64>::new());
}

#[test]
fn external_data_pairs() {
    let text = r#"<ir_version: 8, opset_import: ["" : 17]>
g (float[N, 64] x) => (float[N, 256] y)
<
  float[256, 64] w = ["location": "weights.safetensors", "key": "fc1.weight"],
  float[256] b = ["location": "bias.npy"],
  float[3, 2] m1 = ["location": "weight_1.bin", "offset": "17", "length": "24", "checksum": "abc"]
>
{ y = Gemm<transB = 1>(x, w, b) }"#;
    let (sm, m) = parse(text);
    let w = m.graph.initializer("w").unwrap();
    assert_eq!(w.shape(), vec![256, 64]);
    let TensorData::External(pairs) = &w.data else { panic!("external") };
    let kv: Vec<(&str, &str)> = pairs.iter().map(|p| (p.key.as_str(), p.value.as_str())).collect();
    assert_eq!(kv, [("location", "weights.safetensors"), ("key", "fc1.weight")]);
    assert_eq!(w.data.external("key"), Some("fc1.weight"));
    assert_eq!(sm.describe(pairs[1].key_span), "m.onnx:4:58");
    assert_eq!(sm.describe(pairs[1].value_span), "m.onnx:4:65");
    assert_eq!(m.graph.initializer("b").unwrap().data.external("location"), Some("bias.npy"));
    let m1 = m.graph.initializer("m1").unwrap();
    let TensorData::External(pairs) = &m1.data else { panic!("external") };
    let keys: Vec<&str> = pairs.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["location", "offset", "length", "checksum"]);
    assert_eq!(m1.data.external("offset"), Some("17"));
    assert_eq!(sm.describe(m1.data_span), "m.onnx:6:20");
}

#[test]
fn qualified_op_names_and_overloads() {
    let text = r#"g (float[N] x) => (float[N] y) {
  a = snn.LIF<beta = 0.9>(x)
  b = com.microsoft.Foo(a)
  c = Gemm(b, b)
  y = local.f:v2(c)
}"#;
    let (sm, m) = parse(text);
    let n = &m.graph.nodes;
    assert_eq!((n[0].domain_str(), n[0].op.as_str()), ("snn", "LIF"));
    assert_eq!((n[1].domain_str(), n[1].op.as_str()), ("com.microsoft", "Foo"));
    assert_eq!(text_of(text, n[1].domain.as_ref().unwrap().span), "com.microsoft");
    assert_eq!((n[2].domain_str(), n[2].op.as_str()), ("", "Gemm"));
    assert!(n[2].domain.is_none());
    assert_eq!(n[3].overload.as_ref().map(Name::as_str), Some("v2"));
    assert_eq!(sm.describe(n[0].op.span), "m.onnx:2:11");
    assert_eq!(sm.describe(n[1].op.span), "m.onnx:3:21");
    assert_eq!(n[0].attribute("beta").and_then(|a| a.value.as_float()), Some(0.9));
}

#[test]
fn labels_and_quoted_identifiers() {
    let text = r#""a graph name" (float[N, 128] "input/X", float[128,10] "input W", float[10] B) => (float[N] C)
{
    [node1] "some/temp" = MatMul("input/X", "input W")
    ["second node"] S = Add("some/temp", B)
    [] C = Softmax(S)
}"#;
    let (sm, m) = parse(text);
    let g = &m.graph;
    assert_eq!(g.name.text, "a graph name");
    assert!(g.name.quoted);
    assert_eq!(g.inputs[0].name.text, "input/X");
    let n = &g.nodes;
    assert_eq!(n[0].label.as_ref().map(Name::as_str), Some("node1"));
    assert_eq!(n[1].label.as_ref().map(Name::as_str), Some("second node"));
    assert_eq!(n[2].label.as_ref().map(Name::as_str), Some(""));
    assert_eq!(names(&n[0].inputs), ["input/X", "input W"]);
    assert_eq!(names(&n[0].outputs), ["some/temp"]);
    assert!(n[0].outputs[0].quoted);
    assert_eq!(text_of(text, n[0].outputs[0].span), "\"some/temp\"");
    // A node's span starts at its label.
    assert_eq!(sm.describe(n[0].span), "m.onnx:3:5");
    assert_eq!(text_of(text, n[0].span), r#"[node1] "some/temp" = MatMul("input/X", "input W")"#);
}

#[test]
fn omitted_optional_inputs_and_outputs() {
    let text = r#"g (float x) => (float y) {
  a = SomeOp(y, , z)
  b = SomeOp( , z)
  c = SomeOp("", z)
  d = SomeOp(x,)
  e = SomeOp(,)
  f = SomeOp()
  , g2 = Split(x)
  h, , i = Split(x)
  = Print(x)
}"#;
    let (sm, m) = parse(text);
    let n = &m.graph.nodes;
    assert_eq!(names(&n[0].inputs), ["y", "", "z"]);
    assert_eq!(sm.describe(n[0].inputs[1].span), "m.onnx:2:17");
    assert!(n[0].inputs[1].span.range().is_empty());
    assert_eq!(names(&n[1].inputs), ["", "z"]);
    assert_eq!(names(&n[2].inputs), ["", "z"]);
    assert!(n[2].inputs[0].quoted);
    assert_eq!(names(&n[3].inputs), ["x"]);
    assert_eq!(names(&n[4].inputs), [""]);
    assert!(n[5].inputs.is_empty());
    assert_eq!(names(&n[6].outputs), ["", "g2"]);
    assert_eq!(names(&n[7].outputs), ["h", "", "i"]);
    assert!(n[8].outputs.is_empty());
    assert_eq!(sm.describe(n[8].span), "m.onnx:10:3");
}

#[test]
fn attributes_without_types() {
    let text = r#"g (float[N] x) => (float[N] y) {
  y = Op<a = 100, b = 200.5, c = "astring", d = [5, 10], e = [0.55, 0.66], f = ["str1", "str2"],
         g = -3, h = 1e-3, i = -2.5E+2, j = [1, 2.5], kernel_shape = [3, 3], mode = "subtract", transB = 1>(x)
}"#;
    let (sm, m) = parse(text);
    let n = &m.graph.nodes[0];
    assert_eq!(n.attributes.len(), 13);
    assert_eq!(n.attribute("a").unwrap().value.as_int(), Some(100));
    assert_eq!(n.attribute("b").unwrap().value.kind, AttrValueKind::Float(200.5));
    assert_eq!(n.attribute("c").unwrap().value.as_str(), Some("astring"));
    assert_eq!(n.attribute("d").unwrap().value.as_ints(), Some(vec![5, 10]));
    assert_eq!(n.attribute("e").unwrap().value.as_floats(), Some(vec![0.55, 0.66]));
    assert_eq!(n.attribute("f").unwrap().value.as_strs(), Some(vec!["str1", "str2"]));
    assert_eq!(n.attribute("g").unwrap().value.as_int(), Some(-3));
    assert_eq!(n.attribute("h").unwrap().value.kind, AttrValueKind::Float(1e-3));
    assert_eq!(n.attribute("i").unwrap().value.kind, AttrValueKind::Float(-250.0));
    // A list mixing integers and floats is a list of floats.
    let j = &n.attribute("j").unwrap().value;
    assert_eq!(j.as_list().map(|l| l[0].kind.clone()), Some(AttrValueKind::Float(1.0)));
    assert_eq!(n.attribute("j").unwrap().ty(), Some(AttrType::Floats));
    assert_eq!(n.attribute("kernel_shape").unwrap().ty(), Some(AttrType::Ints));
    assert_eq!(n.attribute("mode").unwrap().ty(), Some(AttrType::String));
    let ks = n.attribute("kernel_shape").unwrap();
    assert_eq!(sm.describe(ks.name.span), "m.onnx:3:55");
    assert_eq!(sm.describe(ks.value.span), "m.onnx:3:70");
    assert_eq!(text_of(text, ks.span), "kernel_shape = [3, 3]");
    assert_eq!(text_of(text, n.attribute("g").unwrap().value.span), "-3");
    assert!(!n.attributes_after_inputs);
}

#[test]
fn attributes_with_types() {
    let text = r#"g (float[N] x) => (float[N] y) {
  y = Op<alpha: float = 1, beta: float = 2.5, k: ints = [], s: string = "x", n: int = 7,
         fl: floats = [1, 2], t: tensor = float[2] {1, 2}, tp: type_proto = float[3], st: strings = ["a"]>(x)
}"#;
    let (sm, m) = parse(text);
    let n = &m.graph.nodes[0];
    let alpha = n.attribute("alpha").unwrap();
    assert_eq!(alpha.declared.as_ref().map(|d| d.value), Some(AttrType::Float));
    assert_eq!(sm.describe(alpha.declared.as_ref().unwrap().span), "m.onnx:2:17");
    // An integer written for a float annotation is a float.
    assert_eq!(alpha.value.kind, AttrValueKind::Float(1.0));
    let k = n.attribute("k").unwrap();
    assert_eq!(k.ty(), Some(AttrType::Ints));
    assert_eq!(k.value.as_ints(), Some(vec![]));
    assert_eq!(n.attribute("fl").unwrap().value.as_floats(), Some(vec![1.0, 2.0]));
    assert!(matches!(n.attribute("fl").unwrap().value.as_list().unwrap()[0].kind, AttrValueKind::Float(_)));
    assert!(matches!(n.attribute("t").unwrap().value.kind, AttrValueKind::Tensor(_)));
    assert!(matches!(n.attribute("tp").unwrap().value.kind, AttrValueKind::Type(_)));
    assert_eq!(n.attribute("st").unwrap().ty(), Some(AttrType::Strings));
    assert_eq!(n.attribute("n").unwrap().ty(), Some(AttrType::Int));
}

#[test]
fn attributes_after_inputs() {
    let text = r#"g (float[N] x) => (float[N] y) {
  t = Cast (x) <to = 1>
  y = If (t) <
    then_branch = g1 () => (float[N] z_then) { z_then = Identity(x) },
    else_branch = g2 () => (float[N] z_else) { z_else = Identity(x) }
  >
}"#;
    let (_, m) = parse(text);
    let n = &m.graph.nodes;
    assert!(n[0].attributes_after_inputs);
    assert_eq!(n[0].attribute("to").unwrap().value.as_int(), Some(1));
    assert_eq!(n[1].attributes.len(), 2);
    assert!(n[1].attributes_after_inputs);
    assert!(text_of(text, n[1].span).ends_with(">"));
}

#[test]
fn tensor_and_type_valued_attributes() {
    let text = r#"g (float x) => (float y) {
  a = Constant<value = float[3] {2.1, 4.1, 6.1}>()
  b = Constant<value = int64[2] shape = {1, -1}>()
  c = Constant<value = float[2] named {1, 2}>()
  d = Constant<value = float[2] = {3, 4}>()
  e = Constant<value = float[4, 2] ["location": "w.bin", "offset": "0"]>()
  f = Constant<value = float {7}>()
  g2 = CastLike<type = float[3], t2 = seq(float), t3 = sparse_tensor(int8[2]), ts = [float, int64[2]]>(x)
  h = Op<tensors = [float[1] {1}, int8[2] {1, 2}]>(x)
  y = Identity(a)
}"#;
    let (sm, m) = parse(text);
    let n = &m.graph.nodes;
    let AttrValueKind::Tensor(t) = &n[0].attribute("value").unwrap().value.kind else { panic!("tensor") };
    assert_eq!(t.ty.static_shape(), Some(vec![3]));
    assert!(t.name.is_none());
    assert_eq!(text_of(text, t.span), "float[3] {2.1, 4.1, 6.1}");
    let AttrValueKind::Tensor(t) = &n[1].attribute("value").unwrap().value.kind else { panic!("tensor") };
    assert_eq!(t.name.as_ref().map(Name::as_str), Some("shape"));
    assert_eq!(t.ty.elem, PrimType::Int64);
    let TensorData::Inline(v) = &t.data else { panic!("inline") };
    assert_eq!(v[1].as_i64(), Some(-1));
    let AttrValueKind::Tensor(t) = &n[2].attribute("value").unwrap().value.kind else { panic!("tensor") };
    assert_eq!(t.name.as_ref().map(Name::as_str), Some("named"));
    assert!(matches!(n[3].attribute("value").unwrap().value.kind, AttrValueKind::Tensor(_)));
    let AttrValueKind::Tensor(t) = &n[4].attribute("value").unwrap().value.kind else { panic!("tensor") };
    assert_eq!(t.data.external("location"), Some("w.bin"));
    let AttrValueKind::Tensor(t) = &n[5].attribute("value").unwrap().value.kind else { panic!("tensor") };
    assert_eq!(t.ty.rank(), Some(0));
    let attrs = &n[6].attributes;
    let AttrValueKind::Type(t) = &attrs[0].value.kind else { panic!("type") };
    assert_eq!(t.as_tensor().and_then(TensorType::static_shape), Some(vec![3]));
    assert_eq!(attrs[0].ty(), Some(AttrType::TypeProto));
    assert!(matches!(&attrs[1].value.kind, AttrValueKind::Type(Type { kind: TypeKind::Sequence(_), .. })));
    assert!(matches!(&attrs[2].value.kind, AttrValueKind::Type(Type { kind: TypeKind::SparseTensor(_), .. })));
    assert_eq!(attrs[3].ty(), Some(AttrType::TypeProtos));
    assert_eq!(n[7].attributes[0].ty(), Some(AttrType::Tensors));
    assert_eq!(sm.describe(attrs[1].value.span), "m.onnx:8:39");
}

/// `IfModelTest` of the reference parser's tests.
#[test]
fn if_with_graph_attributes() {
    let text = r#"
<
  ir_version: 7,
  opset_import: [ "" : 13 ]
>
iftest (bool b, float[128] X, float[128] Y) => (float[128] Z)
{
  Z = If (b) <
      then_branch = g1 () => (float[128] z_then) { z_then = Identity(X) },
      else_branch = g2 () => (float[128] z_else) { z_else = Identity(Y) }
      >
}
"#;
    let (sm, m) = parse(text);
    let node = &m.graph.nodes[0];
    assert_eq!(node.op.text, "If");
    let then_g = node.attribute("then_branch").unwrap().value.as_graph().unwrap();
    assert_eq!(then_g.name.text, "g1");
    assert!(then_g.inputs.is_empty());
    assert_eq!(then_g.outputs[0].name.text, "z_then");
    assert_eq!(then_g.nodes[0].op.text, "Identity");
    assert_eq!(sm.describe(then_g.span), "m.onnx:9:21");
    assert_eq!(text_of(text, then_g.span), "g1 () => (float[128] z_then) { z_then = Identity(X) }");
    assert_eq!(node.attribute("else_branch").unwrap().ty(), Some(AttrType::Graph));
}

#[test]
fn loop_bodies_graph_lists_and_nested_graphs() {
    let text = r#"g (int64 n, bool c, float x) => (float y) {
  y = Loop(n, c, x) <body = body (int64 i, bool cond, float v) => (bool cond_out, float v_out)
  <float[1] one = {1.0}>
  {
    cond_out = Identity(cond)
    v_out = If(cond) <then_branch = t () => (float r) { r = Add(v, one) }, else_branch = e () => (float r) { r = Identity(v) }>
  }>
  z = Op<branches = [a () => (float o) { o = F() }, b () => (float o) { o = G() }], gs: graphs = []>()
}"#;
    let (_, m) = parse(text);
    let body = m.graph.nodes[0].attribute("body").unwrap().value.as_graph().unwrap();
    assert_eq!(body.inputs.len(), 3);
    assert_eq!(body.initializers[0].name.text, "one");
    let inner = body.nodes[1].attribute("then_branch").unwrap().value.as_graph().unwrap();
    assert_eq!(inner.nodes[0].op.text, "Add");
    let branches = m.graph.nodes[1].attribute("branches").unwrap();
    assert_eq!(branches.ty(), Some(AttrType::Graphs));
    assert_eq!(branches.value.as_list().unwrap().len(), 2);
    assert_eq!(m.graph.nodes[1].attribute("gs").unwrap().ty(), Some(AttrType::Graphs));
}

/// `FunModelTest` of the reference parser's tests, both models.
#[test]
fn local_functions() {
    let text = r#"
<
  ir_version: 8,
  opset_import: [ "" : 10, "local" : 1 ]
>
agraph (float[N, 128] X, float[128,10] W, float[10] B) => (float[N] C)
{
  T = local.foo (X, W, B)
  C = local.square(T)
}

<
  opset_import: [ "" : 10 ],
  domain: "local",
  doc_string: "Function foo."
>
foo (x, w, b) => (c) {
  T = MatMul(x, w)
  S = Add(T, b)
  c = Softmax(S)
}

<
  opset_import: [ "" : 10 ],
  domain: "local",
  doc_string: "Function square."
>
square (x) => (y) {
  y = Mul (x, x)
}
"#;
    let (sm, m) = parse(text);
    assert_eq!(m.functions.len(), 2);
    let foo = m.function(Some("local"), "foo").unwrap();
    assert_eq!(foo.domain(), Some("local"));
    assert_eq!(foo.doc_string(), Some("Function foo."));
    assert_eq!(foo.opset_version(""), Some(10));
    assert_eq!(foo.inputs.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["x", "w", "b"]);
    assert!(foo.inputs[0].ty.is_none());
    assert_eq!(foo.nodes.len(), 3);
    assert_eq!(sm.describe(foo.span), "m.onnx:13:3");
    assert_eq!(sm.describe(foo.name.span), "m.onnx:17:1");
    assert!(m.function(None, "square").is_some());
    assert!(m.function(Some("other"), "square").is_none());

    let text = r#"
<
  ir_version: 9,
  opset_import: [ "" : 15, "custom_domain" : 1]
>
agraph (float[N] x) => (float[N] out)
{
  out = custom_domain.foo<alpha=2.0, gamma=3.0>(x)
}

<
domain: "custom_domain",
opset_import: [ "" : 15],
doc_string: "function foo"
>
  foo
  <alpha: float=4.0, gamma, "quoted">
  (X) => (C)
  {
      constant_alpha = Constant<value_float: float=@alpha>()
      constant_gamma = Constant<value_float: float=@gamma>()
      constant_alpha_x = Mul(constant_alpha, X)
      C = Add(constant_alpha_x, constant_gamma)
  }
"#;
    let (_, m) = parse(text);
    let foo = &m.functions[0];
    assert_eq!(foo.attributes.len(), 3);
    assert_eq!(foo.attributes[0].name().text, "alpha");
    assert_eq!(foo.attributes[0].default().map(|a| a.value.kind.clone()), Some(AttrValueKind::Float(4.0)));
    assert!(matches!(&foo.attributes[1], FunctionAttr::Plain(n) if n.text == "gamma"));
    assert_eq!(foo.attributes[2].name().text, "quoted");
    let r = foo.nodes[0].attribute("value_float").unwrap();
    let AttrValueKind::Ref(target) = &r.value.kind else { panic!("a reference") };
    assert_eq!(target.text, "alpha");
    assert_eq!(r.ty(), Some(AttrType::Float));
}

/// `FunctionValueInfoTest2`/`3` and `QuotedIdentifierTest2` of the reference parser's tests.
#[test]
fn function_value_infos_and_overload() {
    let text = r##"
main (float[N] a) => (float[N] b) { b = local.f(a) }

<
  opset_import: [ "" : 10 ],
  domain: "ai.onnx.ml",
  overload: "v1",
  doc_string: "A function test case."
>
f (float[N] y, z) => (float[N] w)
<float[N] x, float[N] t>
{
    x = Add(y, z)
    t = Add(x, x)
    w = Mul(t, y)
}

"a function name" (float[N] "#y", "$z") => (float[N] "!w")
<float[N] "/layer/x", float[N] t>
{
    "/layer/x" = Add("#y", "$z")
    t = Add("/layer/x", "/layer/x")
    "!w" = Mul(t, "#y")
}
"##;
    let (_, m) = parse(text);
    let f = &m.functions[0];
    assert_eq!(f.overload(), Some("v1"));
    assert!(f.inputs[0].ty.is_some());
    assert!(f.inputs[1].ty.is_none());
    assert_eq!(f.value_infos.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["x", "t"]);
    let q = &m.functions[1];
    assert_eq!(q.name.text, "a function name");
    assert!(q.header.is_empty());
    assert_eq!(q.inputs[0].name.text, "#y");
    assert_eq!(q.value_infos[0].name.text, "/layer/x");
}

#[test]
fn comments_everywhere() {
    let text = "# leading comment\n<ir_version: 8, # in the header\n opset_import: [\"\" : 17] # more\n> # after\ng # name\n( # in\n float[N] # type\n x # name\n) => ( float[N] y ) # outputs\n{ # nodes\n  y = # eq\n Relu # op\n ( x ) # end\n} # trailing comment without newline";
    let (sm, m) = parse(text);
    assert_eq!(m.ir_version(), Some(8));
    assert_eq!(m.graph.nodes[0].op.text, "Relu");
    assert_eq!(sm.describe(m.graph.nodes[0].op.span), "m.onnx:12:2");
    assert_eq!(sm.describe(m.graph.inputs[0].name.span), "m.onnx:8:2");
}

/// `EscapeStringLiteral` and the escaped strings of `TensorProtoTest`.
#[test]
fn string_escapes() {
    let text = r#"<doc_string: "123\"56\\89">
g (float x) => (float y)
<string[2] s = { "Use a \"quoted\" word", "Use a backslash \\ like this." }>
{ "y\"q" = Op<s = "a\nb">(x) }"#;
    let (_, m) = parse(text);
    assert_eq!(m.doc_string(), Some("123\"56\\89"));
    let TensorData::Inline(v) = &m.graph.initializer("s").unwrap().data else { panic!("inline") };
    assert_eq!(v[0].as_str(), Some("Use a \"quoted\" word"));
    assert_eq!(v[1].as_str(), Some("Use a backslash \\ like this."));
    let n = &m.graph.nodes[0];
    assert_eq!(n.outputs[0].text, "y\"q");
    // As in the reference parser, a backslash makes the next character literal.
    assert_eq!(n.attribute("s").unwrap().value.as_str(), Some("anb"));
}

#[test]
fn special_floats_and_int_limits() {
    let text = r#"g (float x) => (float y)
<float[6] f = {inf, -inf, nan, Infinity, -NaN, 1e1}, int64[2] l = {-9223372036854775808, 9223372036854775807},
 float[5] e = {1, 2.0e-1, 3.1E-1, 4E+1, 5.5e-10}, float[1] d = {2.}>
{ y = Op<a = inf, b = -inf, c = nan, d = [inf, 1.5], e = -0.0>(x) }"#;
    let (_, m) = parse(text);
    let TensorData::Inline(v) = &m.graph.initializer("f").unwrap().data else { panic!("inline") };
    let f: Vec<f64> = v.iter().map(|l| l.as_f64().unwrap()).collect();
    assert_eq!(f[0], f64::INFINITY);
    assert_eq!(f[1], f64::NEG_INFINITY);
    assert!(f[2].is_nan() && f[4].is_nan());
    assert_eq!(f[3], f64::INFINITY);
    assert_eq!(f[5], 10.0);
    let TensorData::Inline(v) = &m.graph.initializer("l").unwrap().data else { panic!("inline") };
    assert_eq!(v[0].as_i64(), Some(i64::MIN));
    assert_eq!(v[1].as_i64(), Some(i64::MAX));
    let TensorData::Inline(v) = &m.graph.initializer("e").unwrap().data else { panic!("inline") };
    assert_eq!(v[4].as_f64(), Some(5.5e-10));
    let n = &m.graph.nodes[0];
    assert_eq!(n.attribute("a").unwrap().value.as_float(), Some(f64::INFINITY));
    assert_eq!(n.attribute("b").unwrap().value.as_float(), Some(f64::NEG_INFINITY));
    assert!(n.attribute("c").unwrap().value.as_float().unwrap().is_nan());
    assert_eq!(n.attribute("d").unwrap().value.as_floats(), Some(vec![f64::INFINITY, 1.5]));
}

/// Several graphs of the reference parser's tests (`GraphTest`, `InitializerTest`,
/// `ExternalDataTest`, `TypesModelTest1`/`2`, `GraphPartialTypeTest`, the node lists).
#[test]
fn reference_parser_test_graphs() {
    let graphs = [
        r#"agraph (float[N] y, float[N] z) => (float[N] w)
<float[2] w1 = {1.0, 2.0}, float[3] w2 = {4.0, 5.0, 6.0}, float[N] x>
{
    # This is a comment.
    x = foo(y, z, w1) # More comments.
    w = bar(x, y, w2)
}"#,
        r#"agraph (float y = {1.0}, float[N] z) => (float[N] w)
<float[2] w1 = {1.0, 2.0}, float[3] w2 = {4.0, 5.0, 6.0}, float[N] x>
{
    x = foo(y, z, w1)
    w = bar(x, y, w2)
}"#,
        r#"agraph (float y = {1.0}, float[N] z) => (w) <
    float[3, 2] m1 = ["location": "weight_1.bin", "offset": "17"],
    float[2, 1] m2 = {1.0, 2.0}
>
{
    x = Add(y, z)
    m = Mul(m1, m1)
}"#,
        r#"agraph (seq(float[N]) seqX) => (float[M, N] X)
    {
        X = ConcatFromSequence < axis = 0, new_axis = 1 >(seqX)
    }"#,
        r#"agraph (float[N] tensorX, seq(float[N]) seqX, map(int32, float[N]) mapX, optional(float[N]) optionalX, sparse_tensor(float[N]) sparseX) => (float[N] X)
    {
        X = Identity (tensorX)
    }"#,
        r#"agraph (float[N] y, z) => (float[N] w)
{
    x = foo(y, z)
    w = bar(x, y)
}"#,
        r#"g (float limit, float start, float delta) => (float output) {
       sub_result = Sub(limit, start)
       sub_result_casted = Cast<to = 1>(sub_result)
       delta_casted = Cast<to = 1>(delta)
       div_result = Div(sub_result_casted, delta_casted)
       ceil_result = Ceil(div_result)
       ceil_result_relu = Relu(ceil_result)
       ceil_result_relu_int = Cast<to = 7>(ceil_result_relu)
       ceil_result_relu_bool = Cast<to = 9>(ceil_result_relu)
       variadic_output, output = Loop (ceil_result_relu_int, ceil_result_relu_bool, start)
}"#,
    ];
    let mut sm = SourceMap::new();
    for (k, text) in graphs.iter().enumerate() {
        let f = sm.add(format!("g{k}.onnx"), *text);
        let g = match parse_graph(f, text) {
            Ok(g) => g,
            Err(d) => panic!("graph {k}:\n{}", d.render(&sm)),
        };
        assert!(!g.nodes.is_empty());
        // Each is also a model without header.
        parse(text);
    }
    let f = sm.add("g2b.onnx", graphs[2]);
    let g = parse_graph(f, graphs[2]).unwrap();
    assert_eq!(g.initializers.len(), 3);
    assert_eq!(g.outputs[0].ty, None);
    assert_eq!(sm.describe(g.initializers[1].span), "g2b.onnx:2:5");
}

#[test]
fn snn_model_with_calibration_metadata() {
    let text = r#"<
  ir_version: 8,
  opset_import: ["" : 17, "snn" : 1],
  producer_name: "phi-export",
  metadata_props: ["phi.calibration": "calib.npy"]
>
snn_mlp (float[T, N, 784] spikes_in) => (float[T, N, 10] spikes_out)
<
  float[256, 784] fc1_w = ["location": "weights.safetensors", "key": "fc1.weight"],
  float[256] fc1_b = ["location": "weights.safetensors", "key": "fc1.bias"],
  float[10, 256] fc2_w = ["location": "fc2_w.npy"],
  float[10] fc2_b = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
>
{
  [fc1] h1 = Gemm<transB = 1>(spikes_in, fc1_w, fc1_b)
  [lif1] s1, v1 = snn.LIF<beta: float = 0.95, threshold = 1.0, reset = "subtract">(h1)
  [fc2] h2 = Gemm<transB = 1, alpha = 1.0>(s1, fc2_w, fc2_b)
  [lif2] spikes_out, v2 = snn.LIF<beta = 0.9, threshold = 1.0, reset = "zero">(h2)
}
"#;
    let (sm, m) = parse(text);
    assert_eq!(m.metadata("phi.calibration").as_deref(), Some("calib.npy"));
    assert_eq!(m.opset_version("snn"), Some(1));
    let g = &m.graph;
    assert_eq!(g.initializers.len(), 4);
    assert_eq!(g.initializer("fc2_w").unwrap().data.external("location"), Some("fc2_w.npy"));
    let lif = &g.nodes[1];
    assert_eq!(lif.label.as_ref().unwrap().text, "lif1");
    assert_eq!((lif.domain_str(), lif.op.as_str()), ("snn", "LIF"));
    assert_eq!(names(&lif.outputs), ["s1", "v1"]);
    assert_eq!(lif.attribute("beta").unwrap().value.as_float(), Some(0.95));
    assert_eq!(lif.attribute("reset").unwrap().value.as_str(), Some("subtract"));
    assert_eq!(sm.describe(lif.span), "m.onnx:16:3");
    assert_eq!(sm.describe(lif.attribute("threshold").unwrap().value.span), "m.onnx:16:59");
    assert_eq!(sm.describe(g.outputs[0].span), "m.onnx:7:42");
}

#[test]
fn parse_graph_entry_point_and_keyword_names() {
    let text = r#"g (float x) => (float y) {
  float, seq = Split(x)
  map = Op<float = 1, seq = [1]>(float, seq)
  y = string.int64(map)
}"#;
    let mut sm = SourceMap::new();
    let f = sm.add(FILE, text);
    let g = parse_graph(f, text).expect("parses");
    // Type keywords are ordinary names where no type can stand.
    assert_eq!(names(&g.nodes[0].outputs), ["float", "seq"]);
    assert_eq!(g.nodes[1].attributes[0].name.text, "float");
    assert_eq!((g.nodes[2].domain_str(), g.nodes[2].op.as_str()), ("string", "int64"));
    // A model header is not part of a graph.
    let text2 = "<ir_version: 8> g () => () {}";
    let f2 = sm.add("h.onnx", text2);
    let d = parse_graph(f2, text2).unwrap_err();
    assert_eq!(d.primary_location(&sm).as_deref(), Some("h.onnx:1:1"));
}

#[test]
fn nesting_below_the_limit() {
    // 60 nested sequence types.
    let ty = format!("{}float{}", "seq(".repeat(60), ")".repeat(60));
    let text = format!("g ({ty} x) => (float y) {{ y = F(x) }}");
    let (_, m) = parse(&text);
    let mut t = m.graph.inputs[0].ty.as_ref().unwrap();
    let mut depth = 0;
    while let TypeKind::Sequence(inner) = &t.kind {
        t = inner;
        depth += 1;
    }
    assert_eq!(depth, 60);
    // Right at the limit: 127 nested sequence types inside the input list's `(`.
    let ty = format!("{}float{}", "seq(".repeat(127), ")".repeat(127));
    parse(&format!("g ({ty} x) => (float y) {{ y = F(x) }}"));
    // 63 nested graph attributes (each costs two bracket levels: 1 + 2 * 63 = 127).
    let mut body = "r = Identity(x)".to_string();
    for _ in 0..63 {
        body = format!(
            "r = If(c) <then_branch = t () => (float r) {{ {body} }}, else_branch = e () => (float r) {{ r = Identity(x) }}>"
        );
    }
    let text = format!("g (bool c, float x) => (float r) {{ {body} }}");
    let (_, m) = parse(&text);
    let mut g = &m.graph;
    let mut depth = 0;
    while let Some(inner) = g.nodes[0].attribute("then_branch") {
        g = inner.value.as_graph().unwrap();
        depth += 1;
    }
    assert_eq!(depth, 63);
}

// ---------------------------------------------------------------------------------------------
// Malformed inputs

#[test]
fn error_missing_arrow() {
    check_error(
        "g (float[N] x) { y = Relu(x) }",
        "expected `=>` after the graph inputs, found `{`",
        "m.onnx:1:16",
        Some("`name (inputs) => (outputs) { nodes }`"),
    );
    check_error(
        "g (float x) => (float y) { y = F(x) }\nf (a) (b) { b = F(a) }",
        "expected `=>` after the function inputs, found `(`",
        "m.onnx:2:7",
        Some("=>"),
    );
    check_error(
        "g (float x) = > (float y) {}",
        "expected `=>` after the graph inputs, found `=`",
        "m.onnx:1:13",
        Some("without a space"),
    );
}

#[test]
fn error_missing_equals_in_node() {
    check_error(
        "g (float[N] x) => (float[N] y) {\n  y Relu(x)\n}",
        "expected `=` or `,` after the node outputs, found identifier `Relu`",
        "m.onnx:2:5",
        Some("`outputs = Op(inputs)`"),
    );
}

#[test]
fn error_colon_instead_of_equals_in_attribute() {
    check_error(
        "g (float x) => (float y) {\n  y = LeakyRelu<alpha: 0.1>(x)\n}",
        "expected an attribute type after `:`, found number `0.1`",
        "m.onnx:2:24",
        Some("replace `:` with `=`"),
    );
    check_error(
        "g (float x) => (float y) {\n  y = LeakyRelu<alpha 0.1>(x)\n}",
        "expected `=` or `:` after the attribute name `alpha`, found number `0.1`",
        "m.onnx:2:23",
        Some("`name = value`"),
    );
}

#[test]
fn error_unknown_type_names() {
    check_error(
        "g (flaot[N] x) => (float[N] y) { y = Relu(x) }",
        "unknown type `flaot`",
        "m.onnx:1:4",
        Some("did you mean `float`?"),
    );
    check_error(
        "g (seq(itn64) x) => (float y) { y = F(x) }",
        "unknown type `itn64`",
        "m.onnx:1:8",
        Some("did you mean `int64`?"),
    );
    check_error(
        "g (int[3] x) => (float y) { y = F(x) }",
        "unknown type `int`",
        "m.onnx:1:4",
        Some("did you mean `int64`?"),
    );
    check_error("g (float32 x) => (float y) { y = F(x) }", "unknown type `float32`", "m.onnx:1:4", Some("`float`"));
    check_error(
        "g (float x) => (float y) { y = Op<t: int64 = 3>(x) }",
        "unknown attribute type `int64`",
        "m.onnx:1:38",
        Some("did you mean `int`?"),
    );
}

#[test]
fn error_unterminated_string() {
    check_error(
        "<producer_name: \"abc>\ng (float x) => (float y) { y = F(x) }",
        "unterminated string",
        "m.onnx:1:17",
        Some("close the string"),
    );
}

#[test]
fn error_unbalanced_brackets() {
    let d = check_error(
        "g (float[N] x) => (float[N] y) {\n  y = Relu(x]\n}",
        "unbalanced brackets: `]` does not close `(`",
        "m.onnx:2:13",
        Some("close the `(` with `)`"),
    );
    assert_eq!(d.labels.len(), 2);
    check_error(
        "g (float[N] x) => (float[N] y) {\n  y = Relu(x)\n",
        "unbalanced brackets: `{` is never closed",
        "m.onnx:1:32",
        Some("add `}`"),
    );
    check_error(
        "g (float x)) => (float y) {}",
        "unbalanced brackets: `)` closes nothing",
        "m.onnx:1:12",
        Some("remove it"),
    );
    // A syntax error before the bracket problem is reported first.
    check_error(
        "g (float x) (float y) {\n y = F(x]\n}",
        "expected `=>` after the graph inputs, found `(`",
        "m.onnx:1:13",
        None,
    );
}

#[test]
fn error_integer_overflow() {
    check_error(
        "g (float x) => (float y) { y = Op<a = 99999999999999999999>(x) }",
        "integer literal `99999999999999999999` is too large",
        "m.onnx:1:39",
        Some("-9223372036854775808..=9223372036854775807"),
    );
    check_error(
        "g (float x) => (float y) <int64[1] c = {9223372036854775808}> { y = F(x) }",
        "integer literal does not fit in 64 bits",
        "m.onnx:1:41",
        Some("integers must lie in"),
    );
    check_error(
        "g (float[-9223372036854775809] x) => (float y) { y = F(x) }",
        "integer literal does not fit in 64 bits",
        "m.onnx:1:10",
        None,
    );
}

#[test]
fn error_unexpected_character() {
    check_error(
        "g (float x) => (float y) { y = F($x) }",
        "unexpected character `$`",
        "m.onnx:1:34",
        Some("quote other names"),
    );
    check_error(
        "g (float x) => (float y) { y = F('x') }",
        "unexpected character `'`",
        "m.onnx:1:34",
        Some("double quotes"),
    );
}

#[test]
fn error_empty_and_truncated_input() {
    check_error(
        "",
        "expected a model header `<...>` or a graph name, found the end of the file",
        "m.onnx:1:1",
        Some("header is optional"),
    );
    check_error(
        "  # only a comment\n",
        "expected a model header `<...>` or a graph name, found the end of the file",
        "m.onnx:2:1",
        None,
    );
    check_error("g", "expected `(`, found the end of the file", "m.onnx:1:2", None);
}

#[test]
fn error_nesting_too_deep() {
    // 100k `[`: a syntax error at the first one (no model starts with `[`), and no overflow.
    let text = "[".repeat(100_000);
    let (sm, d) = fail(&text);
    assert_eq!(d.primary_location(&sm).as_deref(), Some("m.onnx:1:1"));
    let text = format!("g (float x) => (float y) {{ y = Op<a = {}1{}>(x) }}", "[".repeat(100_000), "]".repeat(100_000));
    let (sm, d) = fail(&text);
    assert_eq!(d.primary_location(&sm).as_deref(), Some("m.onnx:1:40"));
    // Nested types: the 129th open bracket is reported.
    let text = format!("g ({}float{} x) => (float y) {{ y = F(x) }}", "seq(".repeat(200), ")".repeat(200));
    check_error(&text, "brackets are nested more than 128 levels deep", "m.onnx:1:515", Some("flatten"));
    // Deeply nested graph attributes.
    let mut body = "r = Identity(x)".to_string();
    for _ in 0..100 {
        body = format!("r = If(c) <then_branch = t () => (float r) {{ {body} }}>");
    }
    let text = format!("g (bool c, float x) => (float r) {{ {body} }}");
    let (_, d) = fail(&text);
    assert_eq!(d.message, "brackets are nested more than 128 levels deep");
}

#[test]
fn error_initializer_types() {
    check_error(
        "g (float x) => (float y) <float[N] w = {1.0}> { y = F(x) }",
        "initializer `w` has a symbolic dimension `N`",
        "m.onnx:1:33",
        Some("must be numbers"),
    );
    check_error(
        "g (float x) => (float y) <int32[] w = {1, 2}> { y = F(x) }",
        "initializer `w` needs a known shape",
        "m.onnx:1:27",
        Some("give the dimensions"),
    );
    check_error(
        "g (float x) => (float y) <w = {1.0}> { y = F(x) }",
        "initializer `w` has no type",
        "m.onnx:1:27",
        Some("write the tensor type before the name"),
    );
    check_error(
        "g (float x) => (float y) <seq(float) w = {1.0}> { y = F(x) }",
        "initializer `w` must have a tensor type",
        "m.onnx:1:27",
        Some("tensor types"),
    );
    check_error(
        "g (float x) => (float y) <int64[2] w = {1, 2.5}> { y = F(x) }",
        "the data of initializer `w` must be integers, found a float",
        "m.onnx:1:44",
        Some("use `float`"),
    );
    check_error(
        "g (float x) => (float y) <float[1] w = {\"a\"}> { y = F(x) }",
        "the data of initializer `w` must be numbers, found a string",
        "m.onnx:1:41",
        None,
    );
}

#[test]
fn error_attribute_values() {
    check_error(
        "g (float x) => (float y) { y = Op<k = []>(x) }",
        "the empty list of attribute `k` needs a type annotation",
        "m.onnx:1:39",
        Some("`k: ints = []`"),
    );
    check_error(
        "g (float x) => (float y) { y = Op<k: int = 1.5>(x) }",
        "attribute `k` is declared an integer but this value is a float",
        "m.onnx:1:44",
        None,
    );
    check_error(
        "g (float x) => (float y) { y = Op<k = [1, \"a\"]>(x) }",
        "the list of attribute `k` mixes an integer and a string",
        "m.onnx:1:43",
        Some("same type"),
    );
    check_error(
        "g (float x) => (float y) { y = Op<k: float = [1.0]>(x) }",
        "attribute `k` is declared `float` but its value is a list",
        "m.onnx:1:46",
        Some("declare it `floats`"),
    );
    check_error(
        "g (float x) => (float y) { y = Op<k = [@a]>(x) }",
        "attribute reference `@a` cannot be a list element",
        "m.onnx:1:40",
        Some("`k = @a`"),
    );
    check_error(
        "g (float x) => (float y) { y = Pad<mode = constant>(x) }",
        "expected an attribute value, found the bare name `constant`",
        "m.onnx:1:43",
        Some("quote it: `\"constant\"`"),
    );
}

#[test]
fn error_header_values() {
    check_error(
        "<ir_version: \"8\">\ng (float x) => (float y) { y = F(x) }",
        "`ir_version` must be an integer, found a string",
        "m.onnx:1:14",
        Some("`ir_version: 1`"),
    );
    let d = check_error(
        "<ir_version: 8,\n ir_version: 9>\ng (float x) => (float y) { y = F(x) }",
        "`ir_version` is given twice",
        "m.onnx:2:2",
        Some("remove one"),
    );
    assert!(d.labels.iter().any(|l| !l.primary));
    check_error(
        "<opset_import: [\"\" : \"17\"]>\ng (float x) => (float y) { y = F(x) }",
        "each `opset_import` entry is a domain and a version",
        "m.onnx:1:17",
        Some("`\"\" : 17`"),
    );
    check_error(
        "<ir_version 8>\ng (float x) => (float y) { y = F(x) }",
        "expected `:` in the model header, found integer `8`",
        "m.onnx:1:13",
        Some("`key: value`"),
    );
}

#[test]
fn error_misc_syntax() {
    check_error(
        "g (float x) => (float y) <float[2] w = [\"location\": \"a\", \"offset\": 17]> { y = F(x) }",
        "expected a string, found integer `17`",
        "m.onnx:1:68",
        Some("write `\"17\"`"),
    );
    check_error(
        "g (float[N] x float[N] z) => (float y) { y = F(x) }",
        "expected `=`, `)` or `,`, found type `float`",
        "m.onnx:1:15",
        Some("separate the items with `,`"),
    );
    check_error(
        "g (float x) => (float y) { y = F(x) } 42",
        "expected a local function or the end of the file, found integer `42`",
        "m.onnx:1:39",
        Some("only local functions"),
    );
    check_error(
        "g (float x) => (float y) { y = F(x) <a = 1> <b = 2> }",
        "expected `=`, `[`, `}`, `,`, a name or a string at the start of a node, found `<`",
        "m.onnx:1:45",
        Some("one attribute list"),
    );
    check_error(
        "g (float x) => (float y) { y = Relu x }",
        "expected `(`, `<`, `:` or `.` after the operator name `Relu`, found identifier `x`",
        "m.onnx:1:37",
        Some("in parentheses"),
    );
    check_error(
        "g (float[-1] x) => (float y) { y = F(x) }",
        "a tensor dimension cannot be negative",
        "m.onnx:1:10",
        Some("`?`"),
    );
}

#[test]
fn error_stray_and_trailing_punctuation() {
    // A complete model followed by a stray closing bracket.
    check_error(
        "g (float x) => (float y) { y = F(x) } }",
        "unbalanced brackets: `}` closes nothing",
        "m.onnx:1:39",
        Some("remove it"),
    );
    check_error(
        "g (float x, ) => (float y) { y = F(x) }",
        "expected a name or a string, found `)`",
        "m.onnx:1:13",
        Some("remove the trailing `,`"),
    );
    check_error(
        "g (float x) => (float y) {\n  y = Relu(x),\n}",
        "expected `=`, `,`, a name or a string, found `}`",
        "m.onnx:3:1",
        Some("nodes are not separated by `,`"),
    );
    check_error(
        "g (float x) => (float y) { y = Op<>(x) }",
        "expected a name in the attribute list, found `>`",
        "m.onnx:1:35",
        Some("remove the empty `<>`"),
    );
    check_error(
        "g (float x) => float y { y = F(x) }",
        "expected `(` after `=>`, found type `float`",
        "m.onnx:1:16",
        Some("in parentheses"),
    );
    check_error(
        "g (x: float) => (float y) { y = F(x) }",
        "expected `=`, `)` or `,`, found `:`",
        "m.onnx:1:5",
        Some("before the name"),
    );
    check_error(
        "<opset_import: [\"\" 17]>\ng (float x) => (float y) { y = F(x) }",
        "expected `]`, `,` or `:`, found integer `17`",
        "m.onnx:1:20",
        Some("`\"key\" : value`"),
    );
    check_error(
        "g (float x) => (float y) { y = If(x) <then_branch = () => (float r) { r = F() }> }",
        "expected an attribute value, found `(`",
        "m.onnx:1:53",
        Some("starts with its name"),
    );
    check_error(
        "g (map(seq(float), float) x) => (float y) { y = F(x) }",
        "the key type of a map must be a primitive type, found `seq`",
        "m.onnx:1:8",
        Some("`map(int64, float[N])`"),
    );
    check_error(
        "g (tensor(float) x) => (float y) { y = F(x) }",
        "unknown type `tensor`",
        "m.onnx:1:4",
        Some("`float[N, 8]`"),
    );
}

#[test]
fn byte_order_mark_and_crlf() {
    let (sm, m) = parse("\u{FEFF}g (float x) => (float y)\r\n{\r\n  y = Relu(x)\r\n}\r\n");
    assert_eq!(sm.describe(m.graph.nodes[0].op.span), "m.onnx:3:7");
}

#[test]
fn errors_render_with_the_source() {
    let (sm, d) = fail("g (float x) { y = F(x) }");
    let text = d.render(&sm);
    assert!(text.contains("m.onnx:1:13"), "{text}");
    assert!(text.contains("expected `=>`"), "{text}");
    assert!(text.contains("help:"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Robustness

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    ",",
    ":",
    ".",
    "=",
    "=>",
    "?",
    "@",
    "-",
    "\"",
    "\\",
    "#",
    "\n",
    " ",
    "float",
    "seq(",
    "map(",
    "x",
    "Op",
    "99999999999999999999",
    "9223372036854775808",
    "1.5e",
    "inf",
    "nan",
    "-",
    "''",
    "é",
    "\u{0}",
    "= >",
    "<a = 1>",
    "[]",
    "{}",
    "\"s\"",
    ":",
    "opaque(",
    "sparse_tensor(",
    "int64[2] t = {1, 2}",
];

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    let ops = 1 + rng.below(4);
    for _ in 0..ops {
        let len = bytes.len();
        let at = rng.below(len + 1);
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                bytes[i] = (rng.next() & 0x7F) as u8;
            }
            1 => {
                let frag = FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes();
                bytes.splice(at..at, frag.iter().copied());
            }
            2 if len > 0 => {
                let end = (at + 1 + rng.below(8)).min(len);
                bytes.drain(at.min(end)..end);
            }
            3 => bytes.truncate(at),
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(24)).min(len);
                let piece: Vec<u8> = bytes[start..end].to_vec();
                let to = rng.below(bytes.len() + 1);
                bytes.splice(to..to, piece);
            }
            _ => {
                let i = rng.below(len + 1);
                bytes.insert(i, (rng.next() & 0xFF) as u8);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutations_never_panic() {
    let seeds = [
        SYNTAX_MD_EXAMPLE,
        r#"<ir_version: 8, opset_import: ["" : 17, "snn" : 1], metadata_props: ["k": "v"]>
g (float[N, 8] x, seq(float) s) => (float[N, 8] y) <float[2] b = {1.0, -2e3}, float[256,64] w = ["location": "w.safetensors", "key": "fc1.weight"]>
{ [n] y, , z = snn.LIF<beta: float = 0.9, ks = [1, 2], s = "x", t = float[2] {1, 2}>(x, , b) # c
  r = If(c) <then_branch = t () => (float r) { r = Identity(x) }, else_branch = e () => (float r) { r = Identity(x) }> }
<domain: "local", opset_import: ["" : 17]> f <alpha: float = 1.0, beta> (a, float b) => (c) <float t> { c = Mul<k = @alpha>(a, b) }"#,
    ];
    let mut rng = Rng(0x5EED_0000_0000_0001);
    let (mut ok, mut err) = (0usize, 0usize);
    let mut sm = SourceMap::new();
    let file = sm.add(FILE, "");
    for i in 0..44_000 {
        let text = if i % 11 == 10 {
            // Random bytes.
            let len = rng.below(200);
            let bytes: Vec<u8> = (0..len).map(|_| (rng.next() & 0xFF) as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            mutate(&mut rng, seeds[i % seeds.len()])
        };
        let result = std::panic::catch_unwind(|| parse_model(file, &text));
        match result {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(d)) => {
                // Every error points somewhere inside the text.
                let primary = d.labels.iter().find(|l| l.primary).expect("a primary label");
                let phi_dialect::diag::Target::Span(s) = &primary.target else { panic!("a span label") };
                assert!(s.range().end <= text.len(), "label past the end for {text:?}");
                err += 1;
            }
            Err(_) => panic!("parse_model panicked on input #{i}: {text:?}"),
        }
    }
    assert!(ok > 100, "too few mutants parse ({ok})");
    assert!(err > 20_000, "too few mutants fail ({err})");
}

#[test]
fn pathological_inputs_are_diagnosed() {
    let mut sm = SourceMap::new();
    let inputs = [
        "(".repeat(50_000),
        "<".repeat(50_000),
        format!("g (float x) => (float y) {{ y = Op<a = {}1{}>(x) }}", "[".repeat(10_000), "]".repeat(10_000)),
        format!("g ({}) => () {{}}", "float x, ".repeat(20_000)),
        format!("\"{}", "a".repeat(100_000)),
        "#".repeat(100_000),
        format!("g (float[{}] x) => () {{}}", "9".repeat(10_000)),
    ];
    for (k, text) in inputs.iter().enumerate() {
        let f = sm.add(format!("p{k}.onnx"), text.as_str());
        let d = parse_model(f, text).expect_err("malformed");
        assert!(d.primary_location(&sm).is_some(), "{k}");
    }
}
