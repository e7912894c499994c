//! Op identity: one Rust enum per dialect, gathered in [`OpKind`].
//!
//! Each dialect module defines its op enum with typed inherent attributes, and for every op:
//! its generic name (`snn.linear`), its arity, the conversion to and from the generic attribute
//! dictionary (the printed form), the weights it references, and its type rule (used by builders
//! to infer result types and by the verifier to check them). Matches over ops are exhaustive.
//!
//! Adding an op: see `docs/ARCHITECTURE.md`, "How to add an op".

pub mod phi;
pub mod snn;

use crate::attr::Attr;
use crate::diag::{DResult, Diagnostic, Span};
use crate::types::TensorType;
use crate::weights::{WeightId, WeightStore};

pub use phi::PhiOp;
pub use snn::SnnOp;

/// Every op the IR knows, by dialect.
#[derive(Clone, Debug, PartialEq)]
pub enum OpKind {
    /// The `snn` dialect: spiking layers as the frontend sees them.
    Snn(SnnOp),
    /// The `phi` dialect: spiking GEMMs split into pattern (Level 1) and residual (Level 2) work.
    Phi(PhiOp),
}

/// How many operands an op takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many.
    Exact(usize),
    /// This many or more (variadic).
    AtLeast(usize),
}

impl Arity {
    /// Whether `n` operands are acceptable.
    pub fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exact(k) => n == k,
            Arity::AtLeast(k) => n >= k,
        }
    }
}

impl OpKind {
    /// Every generic op name, for diagnostics ("expected one of ...").
    pub fn all_names() -> Vec<&'static str> {
        SnnOp::NAMES.iter().chain(PhiOp::NAMES.iter()).copied().collect()
    }

    /// The generic name, `dialect.op`.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Snn(op) => op.name(),
            OpKind::Phi(op) => op.name(),
        }
    }

    /// Operand count rule.
    pub fn arity(&self) -> Arity {
        match self {
            OpKind::Snn(op) => op.arity(),
            OpKind::Phi(op) => op.arity(),
        }
    }

    /// Number of results.
    pub fn num_results(&self) -> usize {
        match self {
            OpKind::Snn(op) => op.num_results(),
            OpKind::Phi(op) => op.num_results(),
        }
    }

    /// The weights the op references.
    pub fn weights(&self) -> Vec<WeightId> {
        match self {
            OpKind::Snn(op) => op.weights(),
            OpKind::Phi(op) => op.weights(),
        }
    }

    /// Rewrites the weight ids the op references.
    pub fn remap_weights(&mut self, f: &mut dyn FnMut(WeightId) -> WeightId) {
        match self {
            OpKind::Snn(op) => op.remap_weights(f),
            OpKind::Phi(op) => op.remap_weights(f),
        }
    }

    /// The inherent attributes in generic form (any order; the printer sorts).
    pub fn attributes(&self, weights: &WeightStore) -> Vec<(&'static str, Attr)> {
        match self {
            OpKind::Snn(op) => op.attributes(weights),
            OpKind::Phi(op) => op.attributes(weights),
        }
    }

    /// Builds an op from its generic name and attribute dictionary; consumes the inherent
    /// attributes from `attrs` and leaves the discardable ones.
    pub fn from_generic(name: &str, name_span: Option<Span>, attrs: &mut AttrReader<'_>) -> DResult<OpKind> {
        if let Some(op) = SnnOp::from_generic(name, attrs)? {
            return Ok(OpKind::Snn(op));
        }
        if let Some(op) = PhiOp::from_generic(name, attrs)? {
            return Ok(OpKind::Phi(op));
        }
        let mut d = Diagnostic::error(format!("unknown op `{name}`"));
        if let Some(s) = name_span {
            d = d.with_span(s, "not an op of the snn or phi dialects");
        }
        Err(d.with_help(format!("known ops: {}", OpKind::all_names().join(", "))))
    }

    /// Result types from operand types (the type rule). `None` for ops whose result type is not
    /// determined by their operands (e.g. `snn.reshape`), which builders must give explicitly.
    pub fn infer(&self, operands: &[&TensorType], weights: &WeightStore) -> Result<Option<Vec<TensorType>>, String> {
        match self {
            OpKind::Snn(op) => op.infer(operands, weights),
            OpKind::Phi(op) => op.infer(operands, weights),
        }
    }

    /// Checks operand and result types against the op's rule.
    pub fn check_types(
        &self,
        operands: &[&TensorType],
        results: &[&TensorType],
        weights: &WeightStore,
    ) -> Result<(), String> {
        match self {
            OpKind::Snn(op) => op.check_types(operands, results, weights),
            OpKind::Phi(op) => op.check_types(operands, results, weights),
        }
    }
}

/// One entry of a generic attribute dictionary.
#[derive(Clone, Debug)]
pub struct NamedAttr {
    /// Attribute name.
    pub name: String,
    /// Value.
    pub value: Attr,
    /// Where it was written, when parsed from text.
    pub span: Option<Span>,
}

/// Resolves a `dense_resource<name> : type` reference to a weight id.
pub type ResourceResolver<'a> = dyn FnMut(&str, &TensorType, Option<Span>) -> DResult<WeightId> + 'a;

/// Reads typed inherent attributes out of a generic dictionary, with precise errors.
pub struct AttrReader<'a> {
    op: String,
    op_span: Option<Span>,
    entries: Vec<NamedAttr>,
    resolve: &'a mut ResourceResolver<'a>,
}

impl<'a> AttrReader<'a> {
    /// A reader over `entries` for op `op`.
    pub fn new(
        op: &str,
        op_span: Option<Span>,
        entries: Vec<NamedAttr>,
        resolve: &'a mut ResourceResolver<'a>,
    ) -> Self {
        AttrReader { op: op.to_string(), op_span, entries, resolve }
    }

    fn err(&self, span: Option<Span>, msg: String) -> Diagnostic {
        let mut d = Diagnostic::error(msg);
        if let Some(s) = span.or(self.op_span) {
            d = d.with_span(s, "");
        }
        d
    }

    fn take(&mut self, name: &str) -> Option<NamedAttr> {
        let i = self.entries.iter().position(|e| e.name == name)?;
        Some(self.entries.remove(i))
    }

    fn required(&mut self, name: &str) -> DResult<NamedAttr> {
        match self.take(name) {
            Some(a) => Ok(a),
            None => Err(self
                .err(None, format!("`{}` needs the attribute `{name}`", self.op))
                .with_help(format!("add `{name} = ...` to the attribute dictionary"))),
        }
    }

    fn wrong(&self, a: &NamedAttr, want: &str) -> Diagnostic {
        self.err(a.span, format!("attribute `{}` of `{}` must be {want}, found {}", a.name, self.op, a.value.kind()))
    }

    /// Whether the dictionary has an attribute (not yet taken).
    pub fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    /// The value of an attribute not yet taken.
    pub fn peek(&self, name: &str) -> Option<&Attr> {
        self.entries.iter().find(|e| e.name == name).map(|e| &e.value)
    }

    /// A required string attribute.
    pub fn string(&mut self, name: &str) -> DResult<String> {
        let a = self.required(name)?;
        let Attr::Str(s) = a.value else { return Err(self.wrong(&a, "a string")) };
        Ok(s)
    }

    /// A required string attribute that must be one of `choices`.
    pub fn choice(&mut self, name: &str, choices: &[&str]) -> DResult<String> {
        let a = self.required(name)?;
        let Attr::Str(s) = &a.value else { return Err(self.wrong(&a, "a string")) };
        if choices.contains(&s.as_str()) {
            Ok(s.clone())
        } else {
            Err(self
                .err(a.span, format!("`{s}` is not a valid `{name}` for `{}`", self.op))
                .with_help(format!("use one of: {}", choices.join(", "))))
        }
    }

    /// A required integer attribute in `range`.
    pub fn int(&mut self, name: &str, range: std::ops::RangeInclusive<i64>) -> DResult<i64> {
        let a = self.required(name)?;
        let Attr::Int(v, _) = a.value else { return Err(self.wrong(&a, "an integer")) };
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(self.err(
                a.span,
                format!("attribute `{name}` of `{}` is {v}, outside {}..={}", self.op, range.start(), range.end()),
            ))
        }
    }

    /// A required bool attribute.
    pub fn boolean(&mut self, name: &str) -> DResult<bool> {
        let a = self.required(name)?;
        let Attr::Bool(b) = a.value else { return Err(self.wrong(&a, "a bool")) };
        Ok(b)
    }

    /// A required f32 attribute.
    pub fn f32(&mut self, name: &str) -> DResult<f32> {
        let a = self.required(name)?;
        let Attr::F32(v) = a.value else { return Err(self.wrong(&a, "an f32 float")) };
        Ok(v)
    }

    /// A required `array<i64: ...>` of exactly `len` non-negative entries each at most `max`.
    pub fn dims<const N: usize>(&mut self, name: &str, min: i64, max: i64) -> DResult<[usize; N]> {
        let a = self.required(name)?;
        let Attr::I64Array(v) = &a.value else { return Err(self.wrong(&a, "an array<i64>")) };
        if v.len() != N {
            return Err(
                self.err(a.span, format!("attribute `{name}` of `{}` needs {N} entries, found {}", self.op, v.len()))
            );
        }
        let mut out = [0usize; N];
        for (o, &x) in out.iter_mut().zip(v) {
            if x < min || x > max {
                return Err(self
                    .err(a.span, format!("attribute `{name}` of `{}` has entry {x}, outside {min}..={max}", self.op)));
            }
            *o = x as usize;
        }
        Ok(out)
    }

    /// A required `array<i64: ...>` of at most `max_len` non-negative entries.
    pub fn index_list(&mut self, name: &str, max_len: usize) -> DResult<Vec<usize>> {
        let a = self.required(name)?;
        let Attr::I64Array(v) = &a.value else { return Err(self.wrong(&a, "an array<i64>")) };
        if v.len() > max_len || v.iter().any(|&x| x < 0 || x as usize >= max_len) {
            return Err(
                self.err(a.span, format!("attribute `{name}` of `{}` must list indices below {max_len}", self.op))
            );
        }
        Ok(v.iter().map(|&x| x as usize).collect())
    }

    /// A required weight reference.
    pub fn resource(&mut self, name: &str) -> DResult<WeightId> {
        let a = self.required(name)?;
        self.resolve_resource(a)
    }

    /// An optional weight reference.
    pub fn opt_resource(&mut self, name: &str) -> DResult<Option<WeightId>> {
        match self.take(name) {
            Some(a) => self.resolve_resource(a).map(Some),
            None => Ok(None),
        }
    }

    fn resolve_resource(&mut self, a: NamedAttr) -> DResult<WeightId> {
        let Attr::Resource { name, ty } = &a.value else { return Err(self.wrong(&a, "a dense_resource")) };
        (self.resolve)(name, ty, a.span)
    }

    /// Finishes: every remaining attribute must be discardable (its name has a `.`, as in
    /// `phi.scale`); these are returned.
    pub fn finish(self) -> DResult<Vec<NamedAttr>> {
        for e in &self.entries {
            if !e.name.contains('.') {
                return Err(self
                    .err(e.span, format!("`{}` has no attribute `{}`", self.op, e.name))
                    .with_help("inherent attributes are listed in docs/dialects.md; extra attributes need a dialect prefix such as `phi.`"));
            }
        }
        Ok(self.entries)
    }
}
