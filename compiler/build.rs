//! Build script: generates the ONNX-text parser from its lalrpop grammar.
fn main() {}
