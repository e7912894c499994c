//! The `isa` level as MLIR: a compiled [`Program`] in MLIR's generic syntax, and back.
//!
//! ```text
//! "builtin.module"() ({
//!   "isa.section"() {data = dense_resource<section0> : tensor<4096xi8>, name = ".phi.weights"} : () -> ()
//!   "isa.sample"() {data = dense_resource<sample> : tensor<…xi8>} : () -> ()
//!   "isa.load"() {buf = 3 : i64, deps = array<i64: 0, 0, 0, 1>, dram = 4096 : i64, …} : () -> ()
//!   …
//!   "isa.halt"() : () -> ()
//! }) {isa.meta = "{…}", sym_name = "digits_mlp"} : () -> ()
//!
//! {-# dialect_resources: { builtin: { section0: "0x01000000…", … } } #-}
//! ```
//!
//! One op per instruction, `isa.<mnemonic>` with `.` spelled `_` (`pwp.fetch` → `isa.pwp_fetch`);
//! its attributes are the instruction's encoding fields ([`Opcode::fields`], the names of
//! `docs/isa.md`) as `i64` integers, and `deps` (`array<i64: pop_prev, pop_next, push_prev,
//! push_next>`, 0 or 1) for instructions with token flags. The constant sections (weights, PWP
//! tables, patterns) and the default input are `isa.section` / `isa.sample` ops whose bytes are
//! `dense_resource` blobs; the program's metadata ([`ProgramMeta`]: layers, DRAM map, ports,
//! hardware configuration) is the module attribute `isa.meta`, its JSON. [`print`] and [`parse`]
//! are inverse: `parse(print(p)) == p`, and `print` is canonical (sorted attributes), so text
//! round-trips byte for byte. `dialect/irdl/phi.irdl.mlir` defines the ops ([`irdl`] writes its
//! `isa` part) so that `mlir-opt` verifies this text too.

use std::fmt::Write as _;

use crate::attr::Attr;
use crate::diag::{DResult, Diagnostic, FileId, SourceMap};
use crate::isa::encode::{DEP_FLAGS, MAX_FIELDS, Opcode, assemble, field_values};
use crate::isa::{Deps, Inst};
use crate::print::quote_string;
use crate::program::{Program, ProgramMeta};
use crate::types::ElemType;
use crate::weights::{WeightData, decode_blob, encode_blob};

/// The op name of an instruction kind.
pub fn op_name(op: Opcode) -> String {
    format!("isa.{}", op.mnemonic().replace('.', "_"))
}

fn blob(bytes: &[u8]) -> String {
    encode_blob(&WeightData::I8(bytes.iter().map(|&b| b as i8).collect()), ElemType::I8)
}

/// Prints a program as an `isa`-level MLIR module.
pub fn print(p: &Program) -> String {
    let mut s = String::from("\"builtin.module\"() ({\n");
    let mut blobs: Vec<(String, &[u8])> = Vec::new();
    for (i, (name, bytes)) in p.sections.iter().enumerate() {
        let key = format!("section{i}");
        let _ = writeln!(
            s,
            "  \"isa.section\"() {{data = dense_resource<{key}> : tensor<{}xi8>, name = {}}} : () -> ()",
            bytes.len(),
            quote_string(name)
        );
        blobs.push((key, bytes));
    }
    if let Some(sample) = &p.sample {
        let _ = writeln!(
            s,
            "  \"isa.sample\"() {{data = dense_resource<sample> : tensor<{}xi8>}} : () -> ()",
            sample.len()
        );
        blobs.push(("sample".into(), sample));
    }
    for inst in &p.code {
        let op = Opcode::of(inst);
        let values = field_values(inst);
        let mut attrs: Vec<(&str, String)> =
            op.fields().iter().zip(values).map(|(f, v)| (f.name, format!("{v} : i64"))).collect();
        if op.has_deps() {
            let d = inst.deps();
            let flags = [d.pop_prev, d.pop_next, d.push_prev, d.push_next].map(|b| (b as u8).to_string());
            attrs.push(("deps", format!("array<i64: {}>", flags.join(", "))));
        }
        attrs.sort_by(|a, b| a.0.cmp(b.0));
        let dict = attrs.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ");
        let dict = if dict.is_empty() { String::new() } else { format!(" {{{dict}}}") };
        let _ = writeln!(s, "  \"{}\"(){dict} : () -> ()", op_name(op));
    }
    let meta = serde_json::to_string(&p.meta).expect("program metadata serialises");
    let _ = writeln!(
        s,
        "}}) {{isa.meta = {}, sym_name = {}}} : () -> ()",
        quote_string(&meta),
        quote_string(&p.meta.model)
    );
    if !blobs.is_empty() {
        s.push_str("\n{-#\n  dialect_resources: {\n    builtin: {\n");
        for (i, (key, bytes)) in blobs.iter().enumerate() {
            let _ = write!(s, "      {key}: \"{}\"", blob(bytes));
            s.push_str(if i + 1 < blobs.len() { ",\n" } else { "\n" });
        }
        s.push_str("    }\n  }\n#-}\n");
    }
    s
}

/// Whether a module text holds an `isa`-level program (an op named `isa.…`); a text that does
/// not even parse counts as one when it names such an op, so that [`parse`] reports its error.
pub fn is_program(sources: &SourceMap, file: FileId) -> bool {
    match crate::parse::parse_generic(sources, file) {
        Ok((g, _)) => g.ops.iter().any(|o| o.name.starts_with("isa.")),
        Err(_) => sources.file(file).text().contains("\"isa."),
    }
}

/// Reads an `isa`-level MLIR module back into a program.
pub fn parse(sources: &SourceMap, file: FileId) -> DResult<Program> {
    let (g, resources) = crate::parse::parse_generic(sources, file)?;
    let meta_attr = g.attrs.iter().find(|a| a.name == "isa.meta");
    let meta: ProgramMeta = match meta_attr.map(|a| &a.value) {
        Some(Attr::Str(json)) => serde_json::from_str(json).map_err(|e| {
            let mut d = Diagnostic::error(format!("`isa.meta` is not the program's metadata: {e}"));
            if let Some(span) = meta_attr.and_then(|a| a.span) {
                d = d.with_span(span, "");
            }
            d
        })?,
        Some(_) | None => {
            return Err(Diagnostic::error("an `isa` module needs the string attribute `isa.meta`")
                .with_help("print a program with `phic MODEL --emit=isa-mlir`"));
        }
    };
    let bytes_of = |op: &crate::parse::GenericOp| -> DResult<Vec<u8>> {
        let Some(Attr::Resource { name, .. }) = op.attrs.iter().find(|a| a.name == "data").map(|a| &a.value) else {
            return Err(Diagnostic::error(format!("`{}` needs `data = dense_resource<…>`", op.name))
                .with_span(op.name_span, ""));
        };
        let (text, span) = resources
            .get(name)
            .ok_or_else(|| Diagnostic::error(format!("resource `{name}` has no blob")).with_span(op.name_span, ""))?;
        match decode_blob(text, ElemType::I8) {
            Ok(WeightData::I8(v)) => Ok(v.into_iter().map(|b| b as u8).collect()),
            Ok(
                WeightData::I1(_) | WeightData::I16(_) | WeightData::I32(_) | WeightData::F32(_) | WeightData::Elided,
            ) => unreachable!("decoded as i8"),
            Err(e) => Err(Diagnostic::error(format!("blob `{name}`: {e}")).with_span(*span, "")),
        }
    };
    let mut sections = Vec::new();
    let mut sample = None;
    let mut code = Vec::new();
    for op in &g.ops {
        let fail = |msg: String| Diagnostic::error(msg).with_span(op.name_span, "");
        if !op.operands.is_empty() {
            return Err(fail(format!("`{}` takes no operands", op.name)));
        }
        match op.name.as_str() {
            "isa.section" => {
                let Some(Attr::Str(name)) = op.attrs.iter().find(|a| a.name == "name").map(|a| &a.value) else {
                    return Err(fail("`isa.section` needs a string `name`".into()));
                };
                sections.push((name.clone(), bytes_of(op)?));
            }
            "isa.sample" => sample = Some(bytes_of(op)?),
            other => {
                let mnemonic = other.strip_prefix("isa.").unwrap_or(other).replace('_', ".");
                let kind = Opcode::from_mnemonic(&mnemonic)
                    .ok_or_else(|| fail(format!("`{other}` is not an instruction of the Phi ISA")))?;
                let int = |name: &str| -> DResult<u64> {
                    match op.attrs.iter().find(|a| a.name == name).map(|a| &a.value) {
                        Some(Attr::Int(v, _)) if *v >= 0 => Ok(*v as u64),
                        Some(_) => Err(fail(format!("`{other}`: field `{name}` must be a non-negative integer"))),
                        None => Err(fail(format!("`{other}` needs the field `{name}`"))),
                    }
                };
                let mut values = [0u64; MAX_FIELDS];
                for (v, f) in values.iter_mut().zip(kind.fields()) {
                    *v = int(f.name)?;
                }
                let deps = if kind.has_deps() {
                    match op.attrs.iter().find(|a| a.name == "deps").map(|a| &a.value) {
                        Some(Attr::I64Array(d)) if d.len() == 4 && d.iter().all(|&b| b == 0 || b == 1) => Deps {
                            pop_prev: d[0] == 1,
                            pop_next: d[1] == 1,
                            push_prev: d[2] == 1,
                            push_next: d[3] == 1,
                        },
                        Some(_) | None => {
                            return Err(fail(format!(
                                "`{other}` needs `deps = array<i64: …>`: four 0/1 flags ({})",
                                DEP_FLAGS.join(", ")
                            )));
                        }
                    }
                } else {
                    Deps::default()
                };
                let inst: Inst = assemble(kind, deps, &values)
                    .map_err(|(field, v)| fail(format!("`{other}`: field `{field}` = {v} is out of range")))?;
                inst.validate().map_err(|e| fail(format!("`{other}`: {e}")))?;
                code.push(inst);
            }
        }
    }
    Ok(Program { meta, code, sections, sample })
}

/// The `isa` dialect in IRDL (the part of `dialect/irdl/phi.irdl.mlir` after its `phi`
/// dialect): one operation per instruction kind with its fields (and `deps`) as required
/// integer attributes, plus `isa.section` and `isa.sample`.
pub fn irdl() -> String {
    let mut s = String::from("irdl.dialect @isa {\n");
    s.push_str("  irdl.operation @section {\n    %attr_data = irdl.base \"#builtin.dense_resource_elements\"\n    %attr_name = irdl.base \"#builtin.string\"\n    irdl.operands()\n    irdl.results()\n    irdl.attributes {\"data\" = %attr_data, \"name\" = %attr_name}\n  }\n");
    s.push_str("  irdl.operation @sample {\n    %attr_data = irdl.base \"#builtin.dense_resource_elements\"\n    irdl.operands()\n    irdl.results()\n    irdl.attributes {\"data\" = %attr_data}\n  }\n");
    for op in Opcode::ALL {
        let name = op_name(op);
        let _ = writeln!(s, "  irdl.operation @{} {{", name.trim_start_matches("isa."));
        let mut attrs: Vec<(String, &str)> =
            op.fields().iter().map(|f| (f.name.to_string(), "irdl.base \"#builtin.integer\"")).collect();
        if op.has_deps() {
            attrs.push(("deps".into(), "irdl.base \"#builtin.dense_array\""));
        }
        attrs.sort();
        for (a, c) in &attrs {
            let _ = writeln!(s, "    %attr_{a} = {c}");
        }
        s.push_str("    irdl.operands()\n    irdl.results()\n");
        if !attrs.is_empty() {
            let list = attrs.iter().map(|(a, _)| format!("\"{a}\" = %attr_{a}")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(s, "    irdl.attributes {{{list}}}");
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}
