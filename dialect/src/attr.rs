//! Generic attribute values, as they appear in an op's attribute dictionary.
//!
//! Ops are typed Rust enums (see [`crate::ops`]); this is the untyped form they are printed
//! through and parsed from. Spellings follow MLIR:
//!
//! | attribute                    | text                                   |
//! |------------------------------|----------------------------------------|
//! | integer                      | `3 : i64`, `-2 : i32`                  |
//! | float                        | `9.0e-01`-style shortest form, `: f32` |
//! | bool                         | `true`, `false`                        |
//! | string                       | `"subtract"`                           |
//! | dense i64 array              | `array<i64: 1, 2>`                     |
//! | array of attributes          | `[1 : i64, "a"]`                       |
//! | weight-store reference       | `dense_resource<fc1.weight> : tensor<64x256xf32>` |

use std::fmt;

use crate::print::quote_string;
use crate::types::TensorType;

/// Integer attribute widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntTy {
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
}

impl IntTy {
    /// The MLIR spelling.
    pub fn name(self) -> &'static str {
        match self {
            IntTy::I8 => "i8",
            IntTy::I16 => "i16",
            IntTy::I32 => "i32",
            IntTy::I64 => "i64",
        }
    }

    /// Parses the MLIR spelling.
    pub fn from_name(s: &str) -> Option<IntTy> {
        [IntTy::I8, IntTy::I16, IntTy::I32, IntTy::I64].into_iter().find(|t| t.name() == s)
    }

    /// Whether `v` fits this width.
    pub fn fits(self, v: i64) -> bool {
        match self {
            IntTy::I8 => i8::try_from(v).is_ok(),
            IntTy::I16 => i16::try_from(v).is_ok(),
            IntTy::I32 => i32::try_from(v).is_ok(),
            IntTy::I64 => true,
        }
    }
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// A typed integer.
    Int(i64, IntTy),
    /// A 32-bit float.
    F32(f32),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
    /// A dense array of i64 (`array<i64: ...>`).
    I64Array(Vec<i64>),
    /// An array of attributes.
    Array(Vec<Attr>),
    /// A reference to the weight store (`dense_resource<name> : type`).
    Resource {
        /// Resource name (a bare MLIR identifier).
        name: String,
        /// Type of the stored tensor.
        ty: TensorType,
    },
}

impl Attr {
    /// A short description of the attribute's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attr::Int(..) => "integer",
            Attr::F32(_) => "f32 float",
            Attr::Bool(_) => "bool",
            Attr::Str(_) => "string",
            Attr::I64Array(_) => "array<i64>",
            Attr::Array(_) => "array",
            Attr::Resource { .. } => "dense_resource",
        }
    }
}

/// Formats an f32 as the shortest decimal that reads back to the same bits, in MLIR's float
/// literal syntax (always with a `.`); non-finite values use MLIR's hexadecimal bit form.
pub fn format_f32(x: f32) -> String {
    if !x.is_finite() {
        return format!("0x{:08X}", x.to_bits());
    }
    let s = format!("{x:?}");
    match s.find('e') {
        Some(e) if !s[..e].contains('.') => format!("{}.0{}", &s[..e], &s[e..]),
        Some(_) | None => s,
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attr::Int(v, ty) => write!(f, "{v} : {}", ty.name()),
            Attr::F32(v) => write!(f, "{} : f32", format_f32(*v)),
            Attr::Bool(b) => write!(f, "{b}"),
            Attr::Str(s) => f.write_str(&quote_string(s)),
            Attr::I64Array(vs) => {
                write!(f, "array<i64")?;
                for (i, v) in vs.iter().enumerate() {
                    write!(f, "{}{v}", if i == 0 { ": " } else { ", " })?;
                }
                write!(f, ">")
            }
            Attr::Array(items) => {
                write!(f, "[")?;
                for (i, a) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, "]")
            }
            Attr::Resource { name, ty } => write!(f, "dense_resource<{name}> : {ty}"),
        }
    }
}

/// Turns an arbitrary name into a valid MLIR bare identifier (`[A-Za-z_][A-Za-z0-9_$.]*`).
pub fn sanitize_ident(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.') { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ElemType;

    #[test]
    fn floats_round_trip_through_text() {
        for x in [0.0f32, -0.0, 1.0, 0.9, 1e-10, 3.4e38, -1.5e-45, 0.1, 123456.79, f32::MIN_POSITIVE] {
            let s = format_f32(x);
            assert!(s.contains('.'), "{s}");
            assert_eq!(s.parse::<f32>().unwrap().to_bits(), x.to_bits(), "{s}");
        }
        assert_eq!(format_f32(f32::INFINITY), "0x7F800000");
    }

    #[test]
    fn display() {
        assert_eq!(Attr::I64Array(vec![1, 2]).to_string(), "array<i64: 1, 2>");
        assert_eq!(Attr::I64Array(vec![]).to_string(), "array<i64>");
        assert_eq!(Attr::Int(-3, IntTy::I32).to_string(), "-3 : i32");
        let r = Attr::Resource { name: "w".into(), ty: TensorType::new(vec![2], ElemType::F32) };
        assert_eq!(r.to_string(), "dense_resource<w> : tensor<2xf32>");
        assert_eq!(Attr::Array(vec![Attr::Bool(true), Attr::Str("a".into())]).to_string(), r#"[true, "a"]"#);
    }

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_ident("fc1.weight"), "fc1.weight");
        assert_eq!(sanitize_ident("0-layer/w"), "_0_layer_w");
    }
}
