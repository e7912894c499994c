//! `dialect/irdl/phi.irdl.mlir` (the IRDL definitions MLIR's tools load, issue 6) names exactly
//! the ops of the Rust enums, dialect by dialect, so that a new op cannot be forgotten there.
//! Whether MLIR accepts our IR through it is the lit test `tests/lit/dialect/irdl.mlir`.

use std::collections::BTreeSet;
use std::path::Path;

use phi_dialect::OpKind;

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
    let ours: BTreeSet<String> = OpKind::all_names().into_iter().map(str::to_string).collect();
    assert_eq!(defined, ours, "the IRDL file and the op enums disagree");
}
