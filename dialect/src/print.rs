//! The printer: MLIR generic operation syntax.
//!
//! A module prints as a `builtin.module` op whose region holds the ops, one per line:
//!
//! ```text
//! "builtin.module"() ({
//!   %0 = "snn.input"() {index = 0 : i64, name = "x"} : () -> tensor<8x64xi1>
//!   %1 = "snn.linear"(%0) {weight = dense_resource<fc1.weight> : tensor<64x256xf32>} : (tensor<8x64xi1>) -> tensor<8x256xf32>
//!   ...
//! }) {sym_name = "digits_mlp"} : () -> ()
//!
//! {-#
//!   dialect_resources: {
//!     builtin: {
//!       fc1.weight: "0x04000000…"
//!     }
//!   }
//! #-}
//! ```
//!
//! Output is canonical, so that print → parse → print is the identity on bytes: values are
//! renumbered `%0, %1, …` in program order (an op with several results prints `%N:k` and its
//! results are used as `%N#i`), attribute dictionaries are sorted by name (as MLIR's
//! `DictionaryAttr` is), floats use their shortest exact form, and the resource section lists the
//! weights in order of first use. Locations are printed only on request (MLIR's
//! `--mlir-print-debuginfo`).

use std::collections::HashMap;
use std::fmt::Write;

use crate::attr::Attr;
use crate::ir::{Module, ValueId};
use crate::weights::encode_blob;

/// Printer options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrintOptions {
    /// Print each op's `loc(...)`.
    pub debug_info: bool,
    /// Replace weight references by `dense_resource<__elided__>` and omit the blob section.
    pub elide_weights: bool,
}

/// The resource name MLIR uses for elided blobs.
pub const ELIDED: &str = "__elided__";

/// Quotes a string the way MLIR does: `"` and `\` escaped, non-printable bytes as `\XX` hex.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:02X}");
            }
        }
    }
    out.push('"');
    out
}

/// Prints a module in generic form.
pub fn print_module(m: &Module, opts: PrintOptions) -> String {
    let mut out = String::new();
    let mut names: HashMap<ValueId, String> = HashMap::new();
    let mut next = 0usize;
    out.push_str("\"builtin.module\"() ({\n");
    for &op in m.body() {
        let data = m.op(op);
        out.push_str("  ");
        match data.results.len() {
            0 => {}
            1 => {
                names.insert(data.results[0], format!("%{next}"));
                let _ = write!(out, "%{next} = ");
                next += 1;
            }
            k => {
                for (i, &r) in data.results.iter().enumerate() {
                    names.insert(r, format!("%{next}#{i}"));
                }
                let _ = write!(out, "%{next}:{k} = ");
                next += 1;
            }
        }
        let _ = write!(out, "\"{}\"(", data.kind.name());
        for (i, v) in data.operands.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(names.get(v).map_or("<<UNKNOWN SSA VALUE>>", |s| s.as_str()));
        }
        out.push(')');
        let mut attrs: Vec<(String, Attr)> =
            data.kind.attributes(&m.weights).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        attrs.extend(data.attrs.iter().map(|(k, v)| (k.clone(), v.clone())));
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        print_dict(&mut out, &attrs, opts.elide_weights);
        out.push_str(" : (");
        for (i, v) in data.operands.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}", m.ty(*v));
        }
        out.push_str(") -> ");
        match data.results.len() {
            1 => {
                let _ = write!(out, "{}", m.ty(data.results[0]));
            }
            _ => {
                out.push('(');
                for (i, v) in data.results.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{}", m.ty(*v));
                }
                out.push(')');
            }
        }
        if opts.debug_info {
            let _ = write!(out, " {}", data.loc.to_mlir());
        }
        out.push('\n');
    }
    out.push_str("})");
    let mut mattrs: Vec<(String, Attr)> = m.attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    mattrs.push(("sym_name".to_string(), Attr::Str(m.name.clone())));
    mattrs.sort_by(|a, b| a.0.cmp(&b.0));
    print_dict(&mut out, &mattrs, opts.elide_weights);
    out.push_str(" : () -> ()");
    if opts.debug_info {
        out.push_str(" loc(unknown)");
    }
    out.push('\n');

    let used = m.used_weights();
    if !used.is_empty() && !opts.elide_weights {
        out.push_str("\n{-#\n  dialect_resources: {\n    builtin: {\n");
        for (i, w) in used.iter().enumerate() {
            let w = m.weights.get(*w);
            let _ = write!(out, "      {}: \"{}\"", w.name, encode_blob(&w.data, w.ty.elem));
            out.push_str(if i + 1 < used.len() { ",\n" } else { "\n" });
        }
        out.push_str("    }\n  }\n#-}\n");
    }
    out
}

fn print_dict(out: &mut String, attrs: &[(String, Attr)], elide: bool) {
    if attrs.is_empty() {
        return;
    }
    out.push_str(" {");
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match v {
            Attr::Resource { ty, .. } if elide => {
                let _ = write!(out, "{k} = dense_resource<{ELIDED}> : {ty}");
            }
            Attr::Int(..)
            | Attr::F32(_)
            | Attr::Bool(_)
            | Attr::Str(_)
            | Attr::I64Array(_)
            | Attr::Array(_)
            | Attr::Resource { .. } => {
                let _ = write!(out, "{k} = {v}");
            }
        }
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\01\"");
    }
}
