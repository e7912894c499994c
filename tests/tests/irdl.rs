//! `dialect/irdl/phi.irdl.mlir` (the IRDL definitions MLIR's tools load, issue 6) names exactly
//! the ops of the Rust enums, dialect by dialect, so that a new op cannot be forgotten there;
//! its `isa` part is what `phi_dialect::isa::mlir::irdl()` generates from the instruction
//! encoding (`PHI_BLESS=1 cargo test -p phi-tests --test irdl` rewrites it; review the diff).
//! Whether MLIR accepts our IR through it is the lit test `tests/lit/dialect/irdl.mlir`.

use std::collections::BTreeSet;
use std::path::Path;

use phi_dialect::OpKind;
use phi_dialect::isa::encode::Opcode;

#[test]
fn the_irdl_file_defines_every_op_and_no_other() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dialect/irdl/phi.irdl.mlir");
    let text = std::fs::read_to_string(&path).expect("dialect/irdl/phi.irdl.mlir");
    let mut dialect = None;
    let mut defined = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("irdl.dialect @") {
            dialect = rest.split_whitespace().next().map(str::to_string);
        } else if let Some(rest) = line.strip_prefix("irdl.operation @") {
            let d = dialect.as_deref().expect("an operation inside a dialect");
            let op = rest.split_whitespace().next().expect("an op name");
            assert!(defined.insert(format!("{d}.{op}")), "{d}.{op} is defined twice");
        }
    }
    let mut ours: BTreeSet<String> = OpKind::all_names().into_iter().map(str::to_string).collect();
    ours.extend(["isa.section".to_string(), "isa.sample".to_string()]);
    ours.extend(Opcode::ALL.iter().map(|&op| phi_dialect::isa::mlir::op_name(op)));
    assert_eq!(defined, ours, "the IRDL file and the op enums disagree");
}

const ISA_MARK: &str = "irdl.dialect @isa {";

#[test]
fn the_isa_dialect_is_generated_from_the_encoding() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dialect/irdl/phi.irdl.mlir");
    let text = std::fs::read_to_string(&path).expect("dialect/irdl/phi.irdl.mlir");
    let (head, current) = match text.find(ISA_MARK) {
        Some(at) => (&text[..at], &text[at..]),
        None => (text.as_str(), ""),
    };
    let want = phi_dialect::isa::mlir::irdl();
    if std::env::var_os("PHI_BLESS").is_some() {
        let head = head.trim_end();
        std::fs::write(&path, format!("{head}\n\n{want}")).expect("writes the IRDL file");
        return;
    }
    assert_eq!(current, want, "the isa dialect is stale: rerun with PHI_BLESS=1 and review the diff");
}
