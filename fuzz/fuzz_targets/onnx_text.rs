//! Fuzz target: the ONNX textual-syntax parser on arbitrary UTF-8.
//!
//! `parse_model` must return (a model or a diagnostic) on every input: never panic, never
//! overflow the stack, never take time or memory out of proportion to the input. When it
//! fails, the diagnostic's labels must lie inside the text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use phi_compiler::frontend::onnx::parse_model;
use phi_dialect::diag::{SourceMap, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut sources = SourceMap::new();
    let file = sources.add("fuzz.onnx", text);
    if let Err(d) = parse_model(file, text) {
        for label in &d.labels {
            if let Target::Span(s) = &label.target {
                assert!(s.range().end <= text.len(), "label past the end of the text");
            }
        }
        // Rendering quotes the source: it must not panic either.
        let _ = d.render(&sources);
    }
});
