//! Printer/parser round trips and parse errors.

use super::*;
use crate::ir::OpId;
use crate::ops::SnnOp;
use crate::ops::snn::{Conv2d, Linear, Neuron, NeuronParams, Pool, Port, Reset};
use crate::print::{PrintOptions, print_module};
use crate::verify::verify;

fn w(m: &mut Module, name: &str, shape: &[usize], fill: f32) -> WeightId {
    let n = shape.iter().product::<usize>();
    let data = (0..n).map(|i| fill + i as f32 * 0.25).collect();
    m.weights.add(name, TensorType::new(shape.to_vec(), ElemType::F32), WeightData::F32(data))
}

fn add(m: &mut Module, kind: SnnOp, operands: Vec<ValueId>, line: u32) -> ValueId {
    let op: OpId = m.append(OpKind::Snn(kind), operands, Location::file("t.snn", line, 3)).unwrap();
    m.op(op).results.first().copied().unwrap_or(ValueId(u32::MAX))
}

/// A module using every snn op.
pub(crate) fn sample_module() -> Module {
    let mut m = Module::new("every_op");
    m.attrs.insert("phi.calibration".into(), Attr::Str("calib.npy".into()));
    let x = m.push(
        OpKind::Snn(SnnOp::Input(Port { name: "x".into(), index: 0 })),
        vec![],
        vec![TensorType::new(vec![4, 2, 6, 6], ElemType::I1)],
        Location::file("t.snn", 1, 1),
    );
    let x = m.result(x);
    let cw = w(&mut m, "conv.weight", &[4, 1, 3, 3], -1.0);
    let cb = w(&mut m, "conv.bias", &[4], 0.5);
    let c = add(
        &mut m,
        SnnOp::Conv2d(Conv2d {
            weight: cw,
            bias: Some(cb),
            strides: [1, 1],
            pads: [1, 1, 1, 1],
            dilations: [1, 1],
            groups: 2,
        }),
        vec![x],
        2,
    );
    let s = add(
        &mut m,
        SnnOp::Lif(Neuron { params: NeuronParams::Float { beta: 0.9, threshold: 1.0 }, reset: Reset::Subtract }),
        vec![c],
        3,
    );
    let p = add(&mut m, SnnOp::SumPool(Pool { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }), vec![s], 4);
    let a = add(
        &mut m,
        SnnOp::AvgPool { pool: Pool { kernel: [3, 3], strides: [3, 3], pads: [0, 0, 0, 0] }, count_include_pad: true },
        vec![s],
        5,
    );
    let f = add(&mut m, SnnOp::Flatten, vec![a], 6);
    let r = m.push(
        OpKind::Snn(SnnOp::Reshape),
        vec![p],
        vec![TensorType::new(vec![4, 36], ElemType::I32)],
        Location::file("t.snn", 7, 3),
    );
    let r = m.result(r);
    let lw = w(&mut m, "fc.weight", &[36, 5], 0.0);
    let l = add(&mut m, SnnOp::Linear(Linear { weight: lw, bias: None }), vec![r], 8);
    let bias = w(&mut m, "fc.bias", &[5], 1e-10);
    let bc = add(&mut m, SnnOp::Constant { value: bias }, vec![], 9);
    let l = add(&mut m, SnnOp::Add, vec![l, bc], 10);
    let lw2 = w(&mut m, "fc2.weight", &[16, 5], 3.0);
    let l2 = add(&mut m, SnnOp::Linear(Linear { weight: lw2, bias: None }), vec![f], 11);
    let sum = add(&mut m, SnnOp::Add, vec![l, l2], 12);
    let y = add(
        &mut m,
        SnnOp::If(Neuron { params: NeuronParams::Float { beta: 1.0, threshold: 0.5 }, reset: Reset::Zero }),
        vec![sum],
        13,
    );
    add(&mut m, SnnOp::Output(Port { name: "y".into(), index: 0 }), vec![y], 14);
    m
}

fn parse(text: &str) -> DResult<(Module, SourceMap)> {
    let mut sm = SourceMap::new();
    let id = sm.add("in.mlir", text.to_string());
    parse_module(&sm, id).map(|m| (m, sm))
}

fn err(text: &str) -> (String, String) {
    let mut sm = SourceMap::new();
    let id = sm.add("in.mlir", text.to_string());
    let d = parse_module(&sm, id).expect_err("expected a parse error");
    (d.message.clone(), d.primary_location(&sm).unwrap_or_default())
}

#[test]
fn sample_verifies() {
    verify(&sample_module()).unwrap();
}

#[test]
fn round_trip_is_byte_identical() {
    let m = sample_module();
    for opts in [
        PrintOptions::default(),
        PrintOptions { debug_info: true, elide_weights: false },
        PrintOptions { debug_info: true, elide_weights: true },
    ] {
        let text = print_module(&m, opts);
        let (back, _) = parse(&text).unwrap_or_else(|d| panic!("{d}\n{text}"));
        verify(&back).unwrap();
        assert_eq!(print_module(&back, opts), text);
    }
}

#[test]
fn round_trip_keeps_weights_and_locations() {
    let m = sample_module();
    let text = print_module(&m, PrintOptions { debug_info: true, elide_weights: false });
    let (back, _) = parse(&text).unwrap();
    for (id, wt) in m.weights.iter() {
        let other = back.weights.find(&wt.name).unwrap_or_else(|| panic!("{} lost", wt.name));
        assert_eq!(back.weights.get(other), m.weights.get(id));
    }
    let locs: Vec<_> = back.body().iter().map(|&o| back.op(o).loc.clone()).collect();
    assert_eq!(locs[1], Location::file("t.snn", 2, 3));
}

#[test]
fn freedoms_of_mlir_text() {
    let text = r#"
// a comment
"builtin.module"() ({
^bb0:
  %in = "snn.input"() {name = "x", index = 0} : () -> tensor<2x3xi1>
  %cur = "snn.linear"(%in) {weight = dense_resource<w> : tensor<3x2xf32>} : (tensor<2x3xi1>) -> tensor<2x2xf32> loc("model.snn":7:9)
  %s = "snn.lif"(%cur) {threshold = 1.0, reset = "zero", beta = 5.0e-01 : f32, phi.note = "kept"} : (tensor<2x2xf32>) -> tensor<2x2xi1>
  "snn.output"(%s) {index = 0 : i64, name = "y"} : (tensor<2x2xi1>) -> ()
}) {sym_name = "free"} : () -> ()
{-#
  dialect_resources: {
    builtin: {
      w: "0x040000000000803F000000400000404000008040000000000000803F",
      unused: "0x04000000"
    }
  }
#-}
"#;
    let (m, _) = parse(text).unwrap();
    verify(&m).unwrap();
    assert_eq!(m.name, "free");
    let ops = m.body();
    assert_eq!(m.op(ops[1]).loc, Location::file("model.snn", 7, 9));
    assert_eq!(m.op(ops[0]).loc, Location::file("in.mlir", 5, 3));
    assert_eq!(m.op(ops[2]).attrs.get("phi.note"), Some(&Attr::Str("kept".into())));
    let OpKind::Snn(SnnOp::Lif(n)) = &m.op(ops[2]).kind else { panic!("not a lif") };
    assert_eq!(n.params, NeuronParams::Float { beta: 0.5, threshold: 1.0 });
    assert_eq!(n.reset, Reset::Zero);
    let wid = m.weights.find("w").unwrap();
    assert_eq!(m.weights.get(wid).as_f32().unwrap(), &[1.0, 2.0, 3.0, 4.0, 0.0, 1.0]);
    // and it prints canonically
    let printed = print_module(&m, PrintOptions::default());
    assert!(
        printed.contains(
            r#"%2 = "snn.lif"(%1) {beta = 0.5 : f32, phi.note = "kept", reset = "zero", threshold = 1.0 : f32}"#
        ),
        "{printed}"
    );
}

#[test]
fn integer_neurons_round_trip() {
    let text = r#""builtin.module"() ({
  %0 = "snn.input"() {index = 0 : i64, name = "x"} : () -> tensor<2x3xi32>
  %1 = "snn.lif"(%0) {leak = 29491 : i32, leak_shift = 15 : i64, reset = "subtract", threshold = 100 : i32} : (tensor<2x3xi32>) -> tensor<2x3xi1>
  %2 = "snn.if"(%0) {reset = "zero", threshold = 7 : i32} : (tensor<2x3xi32>) -> tensor<2x3xi1>
  "snn.output"(%1) {index = 0 : i64, name = "a"} : (tensor<2x3xi1>) -> ()
  "snn.output"(%2) {index = 1 : i64, name = "b"} : (tensor<2x3xi1>) -> ()
}) {sym_name = "ints"} : () -> ()
"#;
    let (m, _) = parse(text).unwrap();
    verify(&m).unwrap();
    assert_eq!(print_module(&m, PrintOptions::default()), text);
}

#[test]
fn errors_point_at_the_problem() {
    let cases: &[(&str, &str, &str)] = &[
        ("", "expected a string", "in.mlir:1:1"),
        ("\"func.func\"() ({}) : () -> ()", "expected a `builtin.module`", "in.mlir:1:1"),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.nope\"() : () -> tensor<1x1xi1>\n}) : () -> ()",
            "unknown op `snn.nope`",
            "in.mlir:2:8",
        ),
        (
            "\"builtin.module\"() ({\n  \"snn.output\"(%9) {index = 0, name = \"y\"} : (tensor<1x1xi1>) -> ()\n}) : () -> ()",
            "use of undefined value `%9`",
            "in.mlir:2:16",
        ),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.input\"() {index = 0, name = \"x\"} : () -> tensor<1x?xi1>\n}) : () -> ()",
            "dynamic dimensions",
            "in.mlir:2:61",
        ),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.input\"() {index = 0, name = \"x\"} : () -> tensor<1x2xf64>\n}) : () -> ()",
            "unknown element type `f64`",
            "in.mlir:2:61",
        ),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.input\"() {index = 0, name = \"x\", size = 3} : () -> tensor<1x2xi1>\n}) : () -> ()",
            "`snn.input` has no attribute `size`",
            "in.mlir:2:46",
        ),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.input\"() {name = \"x\"} : () -> tensor<1x2xi1>\n}) : () -> ()",
            "needs the attribute `index`",
            "in.mlir:2:8",
        ),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.input\"() {index = \"0\", name = \"x\"} : () -> tensor<1x2xi1>\n}) : () -> ()",
            "must be an integer",
            "in.mlir:2:23",
        ),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.constant\"() {value = dense_resource<w> : tensor<2xf32>} : () -> tensor<2xf32>\n}) : () -> ()",
            "resource `w` has no blob",
            "in.mlir:2:26",
        ),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.input\"() {index = 0, name = \"x\"} : () -> tensor<1x2xi1>\n  %0 = \"snn.input\"() {index = 1, name = \"z\"} : () -> tensor<1x2xi1>\n}) : () -> ()",
            "value `%0` is defined twice",
            "in.mlir:3:3",
        ),
        ("\"builtin.module\"() ({\n  %0 = \"snn.input\"() {name = \"x", "unterminated string", "in.mlir:2:30"),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.input\"() {index = 99999999999999999999",
            "does not fit in 64 bits",
            "in.mlir:2:31",
        ),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.input\"() {index = 0, name = \"x\"} : () -> tensor<9999999x9999999xi1>\n}) : () -> ()",
            "too large",
            "in.mlir:2:54",
        ),
        (
            "\"builtin.module\"() ({\n  %0 = \"snn.input\"() {index = 0, name = \"x\"} : () -> tensor<1x2xi1>\n  \"snn.output\"(%0) {index = 0, name = \"y\"} : (tensor<1x3xi1>) -> ()\n}) : () -> ()",
            "has type tensor<1x2xi1>, but the op's type says tensor<1x3xi1>",
            "in.mlir:3:16",
        ),
        ("\"builtin.module\"() ({\n}) : () -> ()\ngarbage", "expected the end of the file", "in.mlir:3:1"),
        ("\"builtin.module\"() ({\n  & \n}) : () -> ()", "unexpected character `&`", "in.mlir:2:3"),
    ];
    for (text, msg, loc) in cases {
        let (m, l) = err(text);
        assert!(m.contains(msg), "for {text:?}: message {m:?} lacks {msg:?}");
        assert_eq!(&l, loc, "for {text:?} ({m})");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!(
        "\"builtin.module\"() ({{\n  %0 = \"snn.input\"() {{index = 0, name = \"x\", phi.deep = {}1{}}} : () -> tensor<1x2xi1>\n}}) : () -> ()",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let (m, _) = err(&text);
    assert!(m.contains("nest too deeply"), "{m}");
}

/// What MLIR prints in the generic form with debug info: inherent attributes as properties
/// `<{…}>`, and locations as aliases `loc(#loc1)` defined after the module (possibly fused).
#[test]
fn mlir_properties_and_location_aliases() {
    let text = r#""builtin.module"() <{sym_name = "m"}> ({
  %0 = "snn.input"() <{index = 0 : i64}> {name = "x"} : () -> tensor<2x3xi1> loc(#loc1)
  "snn.output"(%0) {index = 0 : i64, name = "y"} : (tensor<2x3xi1>) -> () loc(#loc3)
}) : () -> () loc(#loc)
#loc = loc(unknown)
#loc1 = loc("a.snn":1:2)
#loc2 = loc("a.snn":3:4)
#loc3 = loc(fused[#loc1, #loc2])
"#;
    let (m, _) = parse(text).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(m.name, "m");
    let locs: Vec<Location> = m.body().iter().map(|&o| m.op(o).loc.clone()).collect();
    assert_eq!(locs[0], Location::file("a.snn", 1, 2));
    assert_eq!(locs[1], Location::Fused(vec![Location::file("a.snn", 1, 2), Location::file("a.snn", 3, 4)]));
    // an alias nobody defines, and one defined in terms of itself, are errors
    let bad = text.replace("loc(#loc1)", "loc(#nowhere)");
    assert!(parse(&bad).unwrap_err().message.contains("unknown location alias `#nowhere`"));
    let cyclic = text.replace(r#"#loc2 = loc("a.snn":3:4)"#, "#loc2 = loc(fused[#loc3])");
    assert!(parse(&cyclic).is_err());
}
