//! Our → MLIR → our through melior (with the `mlir` feature; one test target, since each binary
//! that links MLIR is large): for both examples, at every IR level — float `snn`, integer `snn`,
//! `phi`, and the `isa` level of the programs for all three targets — the module MLIR builds
//! from our text verifies against the IRDL definitions, and printing it back (MLIR's generic
//! form with locations) gives our module exactly: the same canonical text, weights and
//! locations included. MLIR's verifier rejects a wrong operand count and a missing attribute.

#![cfg(feature = "mlir")]

use std::path::{Path, PathBuf};

use phi_compiler::backend;
use phi_compiler::frontend::{WeightMode, load_module, read_source};
use phi_compiler::passes::{PassContext, Pipeline};
use phi_dialect::Module;
use phi_dialect::print::{PrintOptions, print_module};
use phi_dialect::program::TargetKind;
use phi_dialect::target::Target;
use phi_mlir::Interop;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name)
}

fn levels(name: &str) -> Vec<(String, Module)> {
    let dir = example(name);
    let src = read_source(dir.join("model.snn").to_str().expect("utf-8")).expect("reads");
    let m = load_module(&src, WeightMode::Load).expect("loads");
    let run = |pipeline: Pipeline| {
        let mut m = m.clone();
        let mut sink = std::io::sink();
        let mut cx = PassContext { model_dir: dir.clone(), calib: None, remarks: &mut sink, progress: false };
        let mut pm = pipeline.build(&Target::phi()).expect("pipeline");
        pm.run(&mut m, &mut cx, &mut std::io::sink()).expect("runs");
        m
    };
    vec![
        ("snn".into(), m.clone()),
        ("integer snn".into(), run(Pipeline::parse("quantize").expect("pipeline"))),
        ("phi".into(), run(Pipeline::for_target(TargetKind::Phi))),
    ]
}

fn text(m: &Module) -> String {
    print_module(m, PrintOptions { debug_info: true, elide_weights: false })
}

#[test]
fn our_mlir_our_is_the_identity_at_every_level() {
    for name in ["digits_mlp", "digits_cnn"] {
        for (level, m) in levels(name) {
            // one context per module: MLIR keeps resource keys unique per context
            let mlir = Interop::new().expect("MLIR loads our IRDL dialects");
            let converted = mlir.to_mlir(&m).unwrap_or_else(|e| panic!("{name} {level}: {e}"));
            let back = mlir.from_mlir(&converted).unwrap_or_else(|e| panic!("{name} {level}: {e}"));
            if text(&back) != text(&m) {
                let dir = std::env::temp_dir();
                let _ = std::fs::write(dir.join("phi-mlir-want.mlir"), text(&m));
                let _ = std::fs::write(dir.join("phi-mlir-got.mlir"), text(&back));
                let _ = std::fs::write(dir.join("phi-mlir-mlir.mlir"), mlir.print(&converted).unwrap_or_default());
                panic!(
                    "{name} {level}: our → MLIR → our changed the module (see phi-mlir-*.mlir in {})",
                    dir.display()
                );
            }
        }
        for kind in TargetKind::ALL {
            let target = Target::phi().with_kind(kind);
            let dir = example(name);
            let src = read_source(dir.join("model.snn").to_str().expect("utf-8")).expect("reads");
            let mut m = load_module(&src, WeightMode::Load).expect("loads");
            let mut sink = std::io::sink();
            let mut cx = PassContext { model_dir: dir.clone(), calib: None, remarks: &mut sink, progress: false };
            Pipeline::for_target(kind)
                .build(&target)
                .expect("pipeline")
                .run(&mut m, &mut cx, &mut std::io::sink())
                .expect("runs");
            let program = backend::lower(&m, &target, None).expect("lowers");
            let mlir = Interop::new().expect("MLIR loads our IRDL dialects");
            let converted = mlir.program_to_mlir(&program).unwrap_or_else(|e| panic!("{name} {kind:?}: {e}"));
            let back = mlir.program_from_mlir(&converted).unwrap_or_else(|e| panic!("{name} {kind:?}: {e}"));
            assert_eq!(back, program, "{name} {kind:?}: the isa level changed");
        }
    }
}

#[test]
fn mlir_rejects_broken_ops_through_the_irdl_definitions() {
    let mlir = Interop::new().expect("MLIR loads our IRDL dialects");
    let blob = r#"{-#
  dialect_resources: { builtin: { w: "0x040000000000803F00000000000000000000803F0000003F0000003F" } }
#-}"#;
    let operands = format!(
        r#""builtin.module"() ({{
  %0 = "snn.input"() {{index = 0 : i64, name = "x"}} : () -> tensor<2x3xi1>
  %1 = "snn.linear"(%0, %0) {{weight = dense_resource<w> : tensor<3x2xf32>}} : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x2xf32>
}}) : () -> ()
{blob}"#
    );
    let e = mlir.parse(&operands).expect_err("a wrong operand count is refused");
    assert!(e.message.contains("expects exactly 1 operands, but got 2"), "{e}");
    let attribute = r#""builtin.module"() ({
  %0 = "snn.input"() {index = 0 : i64, name = "x"} : () -> tensor<2x3xi1>
  %1 = "snn.linear"(%0) : (tensor<2x3xi1>) -> tensor<2x2xf32>
}) : () -> ()"#;
    let e = mlir.parse(attribute).expect_err("a missing attribute is refused");
    assert!(e.message.contains(r#"attribute "weight" is expected but not provided"#), "{e}");
    // and an unknown op of our dialects is not silently accepted
    let unknown = r#""builtin.module"() ({
  "snn.frobnicate"() : () -> ()
}) : () -> ()"#;
    assert!(mlir.parse(unknown).is_err(), "an op IRDL does not define is refused");
}
