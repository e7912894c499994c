//! Source locations of ops.
//!
//! Every op carries a [`Location`]: the `file:line:col` it came from (the ONNX text node, or the
//! line of an IR file it was parsed from), a fused location for ops that a pass derived from
//! several others, or `Unknown`. The printed form is MLIR's: `loc("file":line:col)`,
//! `loc(fused["a":1:2, "b":3:4])` and `loc(unknown)`.

use std::fmt;
use std::sync::Arc;

/// Where an op came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Location {
    /// No source position is known.
    #[default]
    Unknown,
    /// A position in a named file (1-based line and column).
    FileLineCol {
        /// File name as given to the tool.
        file: Arc<str>,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        col: u32,
    },
    /// An op derived from several others (e.g. a fused bias).
    Fused(Vec<Location>),
}

impl Location {
    /// A file position.
    pub fn file(file: impl Into<Arc<str>>, line: u32, col: u32) -> Self {
        Location::FileLineCol { file: file.into(), line, col }
    }

    /// Fuses locations, flattening nested fusions, dropping unknowns and duplicates.
    pub fn fuse(locs: impl IntoIterator<Item = Location>) -> Self {
        let mut out: Vec<Location> = Vec::new();
        for l in locs {
            match l {
                Location::Unknown => {}
                Location::Fused(inner) => {
                    for i in inner {
                        if !out.contains(&i) {
                            out.push(i);
                        }
                    }
                }
                l @ Location::FileLineCol { .. } => {
                    if !out.contains(&l) {
                        out.push(l);
                    }
                }
            }
        }
        match out.len() {
            0 => Location::Unknown,
            1 => out.pop().expect("one element"),
            _ => Location::Fused(out),
        }
    }

    /// The MLIR spelling, `loc(...)`.
    pub fn to_mlir(&self) -> String {
        match self {
            Location::Unknown => "loc(unknown)".to_string(),
            other @ (Location::FileLineCol { .. } | Location::Fused(_)) => format!("loc({})", MlirInner(other)),
        }
    }
}

struct MlirInner<'a>(&'a Location);

impl fmt::Display for MlirInner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Location::Unknown => write!(f, "unknown"),
            Location::FileLineCol { file, line, col } => {
                write!(f, "{}:{line}:{col}", crate::print::quote_string(file))
            }
            Location::Fused(locs) => {
                write!(f, "fused[")?;
                for (i, l) in locs.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{}", MlirInner(l))?;
                }
                write!(f, "]")
            }
        }
    }
}

/// Human form: `file:line:col`, `<unknown>`, or the first of a fusion.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Unknown => write!(f, "<unknown>"),
            Location::FileLineCol { file, line, col } => write!(f, "{file}:{line}:{col}"),
            Location::Fused(locs) => match locs.first() {
                Some(l) => write!(f, "{l}"),
                None => write!(f, "<unknown>"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuse_flattens_and_dedups() {
        let a = Location::file("a", 1, 2);
        let b = Location::file("b", 3, 4);
        let f = Location::fuse([a.clone(), Location::Unknown, Location::fuse([a.clone(), b.clone()])]);
        assert_eq!(f, Location::Fused(vec![a.clone(), b]));
        assert_eq!(Location::fuse([a.clone()]), a);
        assert_eq!(Location::fuse([]), Location::Unknown);
        assert_eq!(f.to_mlir(), r#"loc(fused["a":1:2, "b":3:4])"#);
    }
}
