//! Glue between the lexer, the generated parser and the syntax tree.
//!
//! [`Ctx`] is the state the grammar's actions see: it turns token-index locations into
//! [`Span`]s, builds tree nodes and does the checks that the reference parser does beyond the
//! grammar (initializers need a tensor type with numeric dimensions, attribute values must
//! match their annotation, the known header keys need values of the right kind, integers must
//! fit in `i64`). [`parse_model`] and [`parse_graph`] drive the whole thing; lalrpop's errors
//! become diagnostics in [`super::errors`].

use std::borrow::Cow;

use lalrpop_util::ParseError;
use phi_dialect::diag::{Diagnostic, FileId, Span};

use super::ast::*;
use super::errors;
use super::grammar::StartParser;
use super::lexer::{Tok, Token, tokenize};

/// An error raised by a grammar action.
#[derive(Clone, Debug)]
pub struct Fail(pub Diagnostic);

/// The parser's error type.
pub(crate) type PError<'a> = ParseError<usize, Tok<'a>, Fail>;

type PResult<'a, T> = Result<T, PError<'a>>;

fn fail<'a, T>(d: Diagnostic) -> PResult<'a, T> {
    Err(ParseError::User { error: Fail(d) })
}

/// An unsigned number token.
#[derive(Clone, Copy, Debug)]
pub enum Num {
    /// An integer literal.
    Int(u64),
    /// A float literal or float word.
    Float(f64),
}

/// What the start symbol produced.
#[derive(Debug)]
pub enum Parsed {
    /// A whole model.
    Model(Model),
    /// A graph alone.
    Graph(Graph),
}

/// An entry of a graph's input list or `<...>` list.
#[derive(Debug)]
pub enum Entry {
    /// A value-info.
    Info(ValueInfo),
    /// A value-info with data.
    Init(ValueInfo, Initializer),
}

/// A graph without its name.
#[derive(Debug)]
pub struct GraphParts {
    /// The input list.
    pub inputs: Vec<Entry>,
    /// The output list.
    pub outputs: Vec<ValueInfo>,
    /// The `<...>` list.
    pub inner: Vec<Entry>,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// Location after the closing `}`.
    pub end: usize,
}

/// A qualified operator name.
#[derive(Debug)]
pub struct OpRef {
    /// The dotted domain.
    pub domain: Option<Name>,
    /// The operator.
    pub op: Name,
    /// The overload.
    pub overload: Option<Name>,
}

/// What the grammar's actions see.
pub struct Ctx<'a> {
    file: FileId,
    text: &'a str,
    /// Byte ranges of the tokens fed to the parser; location `i` is the start of token `i`.
    starts: Vec<usize>,
    ends: Vec<usize>,
}

impl<'a> Ctx<'a> {
    fn new(file: FileId, text: &'a str, tokens: &[Token<'a>]) -> Self {
        Ctx {
            file,
            text,
            starts: tokens.iter().map(|t| t.range.start).collect(),
            ends: tokens.iter().map(|t| t.range.end).collect(),
        }
    }

    /// The byte span of the tokens `l..r` (empty, at the start of token `l`, when `l == r`).
    pub fn span(&self, l: usize, r: usize) -> Span {
        let start = self.starts.get(l).copied().unwrap_or(self.text.len());
        if r > l {
            let end = self.ends.get(r - 1).copied().unwrap_or(self.text.len());
            Span::new(self.file, start..end.max(start))
        } else {
            Span::new(self.file, start..start)
        }
    }

    /// An empty span at the end of token `r - 1` (the end of a rule whose `@R` is `r`).
    pub fn end(&self, r: usize) -> Span {
        let at = r.checked_sub(1).and_then(|i| self.ends.get(i)).copied().unwrap_or(self.text.len());
        Span::new(self.file, at..at)
    }

    /// An identifier.
    pub fn name(&self, s: &str, l: usize, r: usize) -> Name {
        Name { text: s.to_string(), quoted: false, span: self.span(l, r) }
    }

    /// A quoted name.
    pub fn quoted(&self, s: Cow<'_, str>, l: usize, r: usize) -> Name {
        Name { text: s.into_owned(), quoted: true, span: self.span(l, r) }
    }

    /// An empty name covering `l..r`.
    pub fn empty_name(&self, l: usize, r: usize) -> Name {
        Name { text: String::new(), quoted: false, span: self.span(l, r) }
    }

    /// `a.b.c` as one name.
    pub fn dotted(&self, first: Name, rest: Vec<Name>) -> Name {
        let mut span = first.span;
        let mut text = first.text;
        for part in rest {
            text.push('.');
            text.push_str(&part.text);
            span = span.to(part.span);
        }
        Name { text, quoted: false, span }
    }

    /// A number literal with its sign.
    pub fn number(&self, negative: bool, n: Num, l: usize, r: usize) -> PResult<'a, Literal> {
        let span = self.span(l, r);
        let kind = match n {
            Num::Float(v) => LiteralKind::Float(if negative { -v } else { v }),
            Num::Int(v) => match signed(negative, v) {
                Some(v) => LiteralKind::Int(v),
                None => return fail(int_overflow(span, negative)),
            },
        };
        Ok(Literal { kind, span })
    }

    /// A tensor type.
    pub fn tensor_type(
        &self,
        p: PrimType,
        l: usize,
        pr: usize,
        dims: Option<Vec<Spanned<Dim>>>,
        r: usize,
    ) -> TensorType {
        TensorType { elem: p, elem_span: self.span(l, pr), dims, span: self.span(l, r) }
    }

    /// A numeric dimension.
    pub fn dim(&self, negative: bool, v: u64, l: usize, r: usize) -> PResult<'a, Spanned<Dim>> {
        let span = self.span(l, r);
        match signed(negative, v) {
            Some(v) if v >= 0 => Ok(Spanned { value: Dim::Int(v), span }),
            Some(_) => fail(
                Diagnostic::error("a tensor dimension cannot be negative")
                    .with_span(span, "negative dimension")
                    .with_help("write `?` for an unknown dimension, or a name such as `N` for a symbolic one"),
            ),
            None => fail(int_overflow(span, negative)),
        }
    }

    /// A value-info with data: an initializer.
    pub fn initializer(&self, v: ValueInfo, data: TensorData, dl: usize, dr: usize) -> PResult<'a, Entry> {
        let data_span = self.span(dl, dr);
        let what = format!("initializer `{}`", v.name.text);
        let Some(ty) = &v.ty else {
            return fail(
                Diagnostic::error(format!("{what} has no type"))
                    .with_span(v.name.span, "a type is needed to read the data")
                    .with_help(format!("write the tensor type before the name, e.g. `float[2] {} = ...`", v.name.text)),
            );
        };
        let tensor = check_tensor_type(ty, &what)?;
        check_data(&tensor, &data, &what)?;
        let span = v.span.to(data_span);
        let init = Initializer { ty: tensor, name: v.name.clone(), data, data_span, is_input_default: false, span };
        Ok(Entry::Init(v, init))
    }

    /// A named graph.
    pub fn graph(&self, name: Name, parts: GraphParts) -> PResult<'a, Graph> {
        let span = name.span.to(self.end(parts.end));
        let mut inputs = Vec::new();
        let mut initializers = Vec::new();
        for e in parts.inputs {
            match e {
                Entry::Info(v) => inputs.push(v),
                Entry::Init(v, mut init) => {
                    init.is_input_default = true;
                    inputs.push(v);
                    initializers.push(init);
                }
            }
        }
        let mut value_infos = Vec::new();
        for e in parts.inner {
            match e {
                Entry::Info(v) => value_infos.push(v),
                Entry::Init(_, init) => initializers.push(init),
            }
        }
        Ok(Graph { name, inputs, outputs: parts.outputs, initializers, value_infos, nodes: parts.nodes, span })
    }

    /// Names with omitted slots (see the grammar's `IdSlots`).
    pub fn slots(&self, slots: Vec<(Option<Name>, usize)>, last: Option<Name>) -> Vec<Name> {
        let mut out: Vec<Name> =
            slots.into_iter().map(|(n, comma)| n.unwrap_or_else(|| self.empty_name(comma, comma))).collect();
        out.extend(last);
        out
    }

    /// A qualified operator name.
    pub fn op_ref(&self, first: Name, mut rest: Vec<Name>, overload: Option<Name>) -> OpRef {
        match rest.pop() {
            None => OpRef { domain: None, op: first, overload },
            Some(op) => OpRef { domain: Some(self.dotted(first, rest)), op, overload },
        }
    }

    /// A node.
    #[allow(clippy::too_many_arguments)]
    pub fn node(
        &self,
        label: Option<(Name, usize)>,
        outputs: Vec<Name>,
        eq: usize,
        op: OpRef,
        attributes: Vec<Attribute>,
        after: bool,
        inputs: Vec<Name>,
        r: usize,
    ) -> Node {
        let start = match &label {
            Some((_, l)) => self.span(*l, *l),
            None => outputs.first().map_or(self.span(eq, eq), |n| n.span),
        };
        let label = label.map(|(n, _)| n);
        let span = start.to(self.end(r));
        let attributes_after_inputs = after && !attributes.is_empty();
        Node {
            label,
            outputs,
            domain: op.domain,
            op: op.op,
            overload: op.overload,
            attributes,
            attributes_after_inputs,
            inputs,
            span,
        }
    }

    /// A literal as an attribute value.
    pub fn literal_value(&self, lit: Literal) -> AttrValue {
        let kind = match lit.kind {
            LiteralKind::Int(v) => AttrValueKind::Int(v),
            LiteralKind::Float(v) => AttrValueKind::Float(v),
            LiteralKind::Str(s) => AttrValueKind::Str(s),
        };
        AttrValue { kind, span: lit.span }
    }

    /// A tensor constant as an attribute value.
    pub fn tensor_const(
        &self,
        ty: TensorType,
        name: Option<Name>,
        data: TensorData,
        r: usize,
    ) -> PResult<'a, AttrValue> {
        let what = match &name {
            Some(n) => format!("tensor constant `{}`", n.text),
            None => "tensor constant".to_string(),
        };
        let t = Type { span: ty.span, kind: TypeKind::Tensor(ty) };
        let ty = check_tensor_type(&t, &what)?;
        check_data(&ty, &data, &what)?;
        let span = t.span.to(self.end(r));
        Ok(AttrValue { kind: AttrValueKind::Tensor(TensorConst { ty, name, data, span }), span })
    }

    /// An attribute, checked against its annotation.
    pub fn attribute(
        &self,
        name: Name,
        ty: Option<Name>,
        value: AttrValue,
        l: usize,
        r: usize,
    ) -> PResult<'a, Attribute> {
        let span = self.span(l, r);
        let declared = match ty {
            None => None,
            Some(t) => match AttrType::from_name(&t.text) {
                Some(a) => Some(Spanned { value: a, span: t.span }),
                None => {
                    let names: Vec<&str> = AttrType::ALL.iter().map(|a| a.name()).collect();
                    let mut d = Diagnostic::error(format!("unknown attribute type `{}`", t.text))
                        .with_span(t.span, "not an attribute type");
                    d = match errors::nearest(&t.text, &names) {
                        Some(n) => d.with_help(format!("did you mean `{n}`?")),
                        None => d.with_help(format!("attribute types are {}", errors::list_names(&names))),
                    };
                    if t.text == "int64" || t.text == "int32" {
                        d = d.with_note("integer attributes are annotated `int` (a list: `ints`)");
                    }
                    return fail(d);
                }
            },
        };
        let value =
            check_attr_value(&name, declared.as_ref(), value).map_err(|d| ParseError::User { error: Fail(d) })?;
        Ok(Attribute { name, declared, value, span })
    }

    /// The model, with its header checked.
    pub fn model(
        &self,
        header: Option<Vec<HeaderEntry>>,
        graph: Graph,
        functions: Vec<Function>,
    ) -> PResult<'a, Model> {
        let header = header.unwrap_or_default();
        check_header(&header, MODEL_KEYS)?;
        let start = header.first().map_or(graph.span, |e| e.span);
        let end = functions.last().map_or(graph.span, |f| f.span);
        Ok(Model { span: start.to(end), header, graph, functions })
    }

    /// A function, with its header checked.
    #[allow(clippy::too_many_arguments)]
    pub fn function(
        &self,
        header: Option<Vec<HeaderEntry>>,
        name: Name,
        attributes: Vec<FunctionAttr>,
        inputs: Vec<ValueInfo>,
        outputs: Vec<ValueInfo>,
        value_infos: Vec<ValueInfo>,
        nodes: Vec<Node>,
        r: usize,
    ) -> PResult<'a, Function> {
        let header = header.unwrap_or_default();
        check_header(&header, FUNCTION_KEYS)?;
        let start = header.first().map_or(name.span, |e| e.span);
        let span = start.to(self.end(r));
        Ok(Function { header, name, attributes, inputs, outputs, value_infos, nodes, span })
    }
}

/// An unsigned integer with a sign, if it fits in `i64`.
fn signed(negative: bool, v: u64) -> Option<i64> {
    if negative {
        if v == 1u64 << 63 { Some(i64::MIN) } else { i64::try_from(v).ok().map(|v| -v) }
    } else {
        i64::try_from(v).ok()
    }
}

fn int_overflow(span: Span, negative: bool) -> Diagnostic {
    let bound = if negative { i64::MIN.to_string() } else { i64::MAX.to_string() };
    Diagnostic::error("integer literal does not fit in 64 bits")
        .with_span(span, format!("the limit is {bound}"))
        .with_help(format!("integers must lie in {}..={}", i64::MIN, i64::MAX))
}

/// The type of an initializer or tensor constant: a tensor type with numeric dimensions.
fn check_tensor_type<'a>(ty: &Type, what: &str) -> PResult<'a, TensorType> {
    let Some(t) = ty.as_tensor() else {
        return fail(
            Diagnostic::error(format!("{what} must have a tensor type"))
                .with_span(ty.span, "not a tensor type")
                .with_help("constant data can only be given for tensor types such as `float[2, 3]`"),
        );
    };
    let Some(dims) = &t.dims else {
        return fail(
            Diagnostic::error(format!("{what} needs a known shape"))
                .with_span(t.span, "`[]` leaves the rank unknown")
                .with_help(format!(
                    "give the dimensions, e.g. `{}[2, 3]`, or write `{}` for a scalar",
                    t.elem.name(),
                    t.elem.name()
                )),
        );
    };
    for d in dims {
        match &d.value {
            Dim::Int(_) => {}
            Dim::Sym(s) => {
                return fail(
                    Diagnostic::error(format!("{what} has a symbolic dimension `{s}`"))
                        .with_span(d.span, "not a number")
                        .with_help("the dimensions of constant data must be numbers"),
                );
            }
            Dim::Unknown => {
                return fail(
                    Diagnostic::error(format!("{what} has an unknown dimension"))
                        .with_span(d.span, "not a number")
                        .with_help("the dimensions of constant data must be numbers"),
                );
            }
        }
    }
    Ok(t.clone())
}

/// Inline values must suit the element type, as in the reference parser.
fn check_data<'a>(ty: &TensorType, data: &TensorData, what: &str) -> PResult<'a, ()> {
    let TensorData::Inline(values) = data else {
        return Ok(());
    };
    let elem = ty.elem;
    for v in values {
        let ok = match (&v.kind, elem) {
            (LiteralKind::Str(_), PrimType::String) => true,
            (LiteralKind::Str(_), _) | (_, PrimType::String) => false,
            (LiteralKind::Int(_), _) => true,
            (LiteralKind::Float(_), e) => !e.takes_int_data(),
        };
        if !ok {
            let expected = if elem == PrimType::String {
                "strings"
            } else if elem.takes_int_data() {
                "integers"
            } else {
                "numbers"
            };
            let found = match v.kind {
                LiteralKind::Int(_) => "an integer",
                LiteralKind::Float(_) => "a float",
                LiteralKind::Str(_) => "a string",
            };
            let mut d = Diagnostic::error(format!("the data of {what} must be {expected}, found {found}"))
                .with_span(v.span, format!("not valid for `{}`", elem.name()))
                .with_secondary(ty.elem_span, "element type declared here");
            if elem == PrimType::Bool {
                d = d.with_help("booleans are written `0` and `1`");
            } else if elem.takes_int_data() && matches!(v.kind, LiteralKind::Float(_)) {
                d = d.with_help(format!("`{}` holds integers; use `float` for fractional values", elem.name()));
            } else if elem == PrimType::String {
                d = d.with_help("quote the values: `\"...\"`");
            }
            return fail(d);
        }
    }
    Ok(())
}

fn describe_attr_type(t: AttrType) -> &'static str {
    match t {
        AttrType::Float => "a float",
        AttrType::Int => "an integer",
        AttrType::String => "a string",
        AttrType::Tensor => "a tensor",
        AttrType::Graph => "a graph",
        AttrType::SparseTensor => "a sparse tensor",
        AttrType::TypeProto => "a type",
        AttrType::Floats => "a list of floats",
        AttrType::Ints => "a list of integers",
        AttrType::Strings => "a list of strings",
        AttrType::Tensors => "a list of tensors",
        AttrType::Graphs => "a list of graphs",
        AttrType::SparseTensors => "a list of sparse tensors",
        AttrType::TypeProtos => "a list of types",
    }
}

/// A single value of a list or attribute against the expected singleton type; integers are
/// accepted (and converted) where floats are expected.
fn check_single(attr: &Name, expected: AttrType, declared_span: Span, v: AttrValue) -> Result<AttrValue, Diagnostic> {
    if let AttrValueKind::Int(i) = v.kind
        && expected == AttrType::Float
    {
        return Ok(AttrValue { kind: AttrValueKind::Float(i as f64), span: v.span });
    }
    match v.inferred_type() {
        None => Ok(v),
        Some(t) if t == expected => Ok(v),
        Some(t) => Err(Diagnostic::error(format!(
            "attribute `{}` is declared {} but this value is {}",
            attr.text,
            describe_attr_type(expected),
            describe_attr_type(t)
        ))
        .with_span(v.span, format!("{} value", t.name()))
        .with_secondary(declared_span, "declared here")),
    }
}

fn check_attr_value(attr: &Name, declared: Option<&Spanned<AttrType>>, v: AttrValue) -> Result<AttrValue, Diagnostic> {
    let AttrValueKind::List(items) = v.kind else {
        // A single value.
        return match declared {
            None => Ok(v),
            Some(_) if matches!(v.kind, AttrValueKind::Ref(_)) => Ok(v),
            Some(d) if d.value.is_list() => Err(Diagnostic::error(format!(
                "attribute `{}` is declared `{}` but its value is not a list",
                attr.text,
                d.value.name()
            ))
            .with_span(v.span, "a single value")
            .with_secondary(d.span, "declared here")
            .with_help(format!("write the value as a list: `[...]`, or declare it `{}`", d.value.element().name()))),
            Some(d) => check_single(attr, d.value, d.span, v),
        };
    };
    let span = v.span;
    for item in &items {
        if let AttrValueKind::Ref(n) = &item.kind {
            return Err(Diagnostic::error(format!("attribute reference `@{}` cannot be a list element", n.text))
                .with_span(item.span, "inside a list")
                .with_help(format!(
                    "a reference stands for a whole attribute value: write `{} = @{}`",
                    attr.text, n.text
                )));
        }
    }
    let items = match declared {
        Some(d) => {
            if !d.value.is_list() {
                return Err(Diagnostic::error(format!(
                    "attribute `{}` is declared `{}` but its value is a list",
                    attr.text,
                    d.value.name()
                ))
                .with_span(span, "a list")
                .with_secondary(d.span, "declared here")
                .with_help(format!("declare it `{}`, or give a single value", d.value.list().name())));
            }
            let elem = d.value.element();
            items.into_iter().map(|i| check_single(attr, elem, d.span, i)).collect::<Result<Vec<_>, _>>()?
        }
        None => {
            let Some(first) = items.first() else {
                return Err(Diagnostic::error(format!(
                    "the empty list of attribute `{}` needs a type annotation",
                    attr.text
                ))
                .with_span(span, "type unknown")
                .with_help(format!("annotate the type, e.g. `{}: ints = []`", attr.text)));
            };
            let numbers = items.iter().all(|i| matches!(i.kind, AttrValueKind::Int(_) | AttrValueKind::Float(_)));
            if numbers {
                let any_float = items.iter().any(|i| matches!(i.kind, AttrValueKind::Float(_)));
                if any_float {
                    let float_span = first.span;
                    items
                        .into_iter()
                        .map(|i| check_single(attr, AttrType::Float, float_span, i))
                        .collect::<Result<_, _>>()?
                } else {
                    items
                }
            } else {
                let first_ty = first.inferred_type();
                if let Some(bad) = items.iter().find(|i| i.inferred_type() != first_ty) {
                    let a = first_ty.map_or("a value", describe_attr_type);
                    let b = bad.inferred_type().map_or("a value", describe_attr_type);
                    return Err(Diagnostic::error(format!("the list of attribute `{}` mixes {a} and {b}", attr.text))
                        .with_span(bad.span, b)
                        .with_secondary(first.span, a)
                        .with_help("all elements of an attribute list have the same type"));
                }
                items
            }
        }
    };
    Ok(AttrValue { kind: AttrValueKind::List(items), span })
}

/// What a known header key takes.
#[derive(Clone, Copy, PartialEq)]
enum KeyKind {
    Int,
    Str,
    Opsets,
    StrPairs,
}

const MODEL_KEYS: &[(&str, KeyKind)] = &[
    ("ir_version", KeyKind::Int),
    ("opset_import", KeyKind::Opsets),
    ("producer_name", KeyKind::Str),
    ("producer_version", KeyKind::Str),
    ("domain", KeyKind::Str),
    ("model_version", KeyKind::Int),
    ("doc_string", KeyKind::Str),
    ("metadata_props", KeyKind::StrPairs),
];

const FUNCTION_KEYS: &[(&str, KeyKind)] = &[
    ("opset_import", KeyKind::Opsets),
    ("domain", KeyKind::Str),
    ("doc_string", KeyKind::Str),
    ("overload", KeyKind::Str),
];

fn describe_literal(l: &Literal) -> &'static str {
    match l.kind {
        LiteralKind::Int(_) => "an integer",
        LiteralKind::Float(_) => "a float",
        LiteralKind::Str(_) => "a string",
    }
}

/// Known header keys appear once, with values of the right kind; other keys are kept as they
/// are.
fn check_header<'a>(header: &[HeaderEntry], known: &[(&str, KeyKind)]) -> PResult<'a, ()> {
    for (i, e) in header.iter().enumerate() {
        let Some(&(key, kind)) = known.iter().find(|(k, _)| *k == e.key.text) else {
            continue;
        };
        if let Some(prev) = header[..i].iter().find(|p| p.key.text == e.key.text) {
            return fail(
                Diagnostic::error(format!("`{key}` is given twice"))
                    .with_span(e.key.span, "given again here")
                    .with_secondary(prev.key.span, "first given here")
                    .with_help("remove one of the two entries"),
            );
        }
        let problem: Option<(Span, String, String)> = match (kind, &e.value.kind) {
            (KeyKind::Int, HeaderValueKind::Literal(l)) if l.as_i64().is_some() => None,
            (KeyKind::Int, HeaderValueKind::Literal(l)) => Some((
                l.span,
                format!("`{key}` must be an integer, found {}", describe_literal(l)),
                format!("`{key}: 1`"),
            )),
            (KeyKind::Str, HeaderValueKind::Literal(l)) if l.as_str().is_some() => None,
            (KeyKind::Str, HeaderValueKind::Literal(l)) => Some((
                l.span,
                format!("`{key}` must be a string, found {}", describe_literal(l)),
                format!("`{key}: \"...\"`"),
            )),
            (KeyKind::Int | KeyKind::Str, HeaderValueKind::List(_)) => {
                let what = if kind == KeyKind::Int { "an integer" } else { "a string" };
                Some((
                    e.value.span,
                    format!("`{key}` must be {what}, found a list"),
                    format!("`{key}: ...` without brackets"),
                ))
            }
            (KeyKind::Opsets | KeyKind::StrPairs, HeaderValueKind::Literal(l)) => Some((
                l.span,
                format!("`{key}` must be a list, found {}", describe_literal(l)),
                if kind == KeyKind::Opsets {
                    format!("`{key}: [\"\" : 17]`")
                } else {
                    format!("`{key}: [\"key\" : \"value\"]`")
                },
            )),
            (KeyKind::Opsets, HeaderValueKind::List(items)) => items.iter().find_map(|item| {
                let good = item.key.as_ref().is_some_and(|k| k.as_str().is_some()) && item.value.as_i64().is_some();
                (!good).then(|| {
                    (
                        item.span,
                        format!("each `{key}` entry is a domain and a version"),
                        "`\"domain\" : version`, e.g. `\"\" : 17`".to_string(),
                    )
                })
            }),
            (KeyKind::StrPairs, HeaderValueKind::List(items)) => items.iter().find_map(|item| {
                let good = item.key.as_ref().is_some_and(|k| k.as_str().is_some()) && item.value.as_str().is_some();
                (!good).then(|| {
                    (item.span, format!("each `{key}` entry is a pair of strings"), "`\"key\" : \"value\"`".to_string())
                })
            }),
        };
        if let Some((span, message, form)) = problem {
            return fail(
                Diagnostic::error(message)
                    .with_span(span, "wrong kind of value")
                    .with_help(format!("write it as {form}")),
            );
        }
    }
    Ok(())
}

/// Which grammar to run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Goal {
    Model,
    Graph,
}

fn run(file: FileId, text: &str, goal: Goal) -> Result<Parsed, Diagnostic> {
    let lexed = tokenize(file, text)?;
    // Feed the parser the tokens before the first bracket problem: its own error wins when it
    // comes first; otherwise it stops at the end of the input and the bracket problem is
    // reported.
    let limit = lexed.bracket_issue.as_ref().map_or(lexed.tokens.len(), |b| b.index.min(lexed.tokens.len()));
    let fed = &lexed.tokens[..limit];
    let ctx = Ctx::new(file, text, fed);
    let start = match goal {
        Goal::Model => Tok::StartModel,
        Goal::Graph => Tok::StartGraph,
    };
    let stream = std::iter::once(Ok::<_, Fail>((0, start, 0)))
        .chain(fed.iter().enumerate().map(|(i, t)| Ok((i, t.tok.clone(), i + 1))));
    let parsed = StartParser::new().parse(&ctx, stream).map_err(|e| errors::translate(file, text, &lexed, e))?;
    // The tokens before a stray closing bracket can form a whole model.
    match &lexed.bracket_issue {
        Some(issue) => Err(errors::bracket_diagnostic(file, text, &lexed, issue)),
        None => Ok(parsed),
    }
}

/// Parses a whole model: optional header, main graph, local functions.
pub fn parse_model(file: FileId, text: &str) -> Result<Model, Diagnostic> {
    match run(file, text, Goal::Model)? {
        Parsed::Model(m) => Ok(m),
        Parsed::Graph(g) => {
            Err(Diagnostic::error("internal error: the model grammar produced a graph").with_span(g.span, ""))
        }
    }
}

/// Parses a graph alone (`name (inputs) => (outputs) <...> { nodes }`), without a model
/// header or functions.
pub fn parse_graph(file: FileId, text: &str) -> Result<Graph, Diagnostic> {
    match run(file, text, Goal::Graph)? {
        Parsed::Graph(g) => Ok(g),
        Parsed::Model(m) => {
            Err(Diagnostic::error("internal error: the graph grammar produced a model").with_span(m.span, ""))
        }
    }
}
