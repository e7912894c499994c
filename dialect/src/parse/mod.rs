//! The parser of the IR text (MLIR generic operation syntax), the inverse of [`crate::print`].
//!
//! It reads what the printer writes — and the usual freedoms of MLIR text: any value names
//! (`%x`, `%0`), comments, an optional entry block label, optional `loc(...)` after ops, integer
//! attributes without a type (i64), floats without a type (f32 here), and attributes in any order.
//! An op without `loc(...)` gets the location of its own text (`file:line:col`), as in MLIR.
//!
//! Resource blobs come at the end of the file, so parsing is two-phase: ops are read into a
//! generic form first, then the `{-# dialect_resources … #-}` section, then the typed module is
//! built with weight references resolved. Errors are [`Diagnostic`]s with spans. The parser never
//! panics and bounds its recursion depth; sizes come from the text itself, never from a number
//! read in it.

pub mod lexer;

use std::collections::HashMap;

use logos::Logos;

use crate::attr::{Attr, IntTy};
use crate::diag::{DResult, Diagnostic, FileId, SourceMap, Span};
use crate::ir::{Module, ValueId};
use crate::location::Location;
use crate::ops::{AttrReader, NamedAttr, OpKind};
use crate::print::ELIDED;
use crate::types::{ElemType, MAX_RANK, TensorType};
use crate::weights::{WeightData, WeightId, decode_blob};
use lexer::Tok;

const MAX_DEPTH: usize = 64;

/// Parses a module from file `file` of `sources`.
pub fn parse_module(sources: &SourceMap, file: FileId) -> DResult<Module> {
    let (generic, resources) = parse_generic(sources, file)?;
    build(generic, resources)
}

/// The generic syntax alone: the module's ops with their attributes, and the resource blobs
/// by name, before any op is interpreted (the `isa` level reads programs from it).
pub(crate) fn parse_generic(sources: &SourceMap, file: FileId) -> DResult<(GenericModule, Resources)> {
    let f = sources.file(file);
    let mut p = Parser::new(file, f.name(), f.text(), sources)?;
    p.skip_loc_alias_defs()?;
    let generic = p.module()?;
    p.skip_loc_alias_defs()?;
    let resources = p.resources()?;
    p.skip_loc_alias_defs()?;
    p.expect_eof()?;
    Ok((generic, resources))
}

/// Resource blobs by name: the blob text and where it was written.
pub(crate) type Resources = HashMap<String, (String, Span)>;

#[derive(Clone, Copy, Debug)]
struct Token<'s> {
    tok: Tok,
    text: &'s str,
    span: Span,
}

pub(crate) struct GenericOp {
    pub(crate) name: String,
    pub(crate) name_span: Span,
    results: Vec<(String, Span)>,
    num_results: usize,
    pub(crate) operands: Vec<(String, Span)>,
    pub(crate) attrs: Vec<NamedAttr>,
    operand_types: Vec<TensorType>,
    result_types: Vec<TensorType>,
    type_span: Span,
    loc: Location,
}

pub(crate) struct GenericModule {
    pub(crate) name: String,
    pub(crate) attrs: Vec<NamedAttr>,
    pub(crate) ops: Vec<GenericOp>,
}

struct Parser<'s> {
    toks: Vec<Token<'s>>,
    pos: usize,
    file: FileId,
    file_name: std::sync::Arc<str>,
    sources: &'s SourceMap,
    eof: Span,
    /// Location aliases, `#name = loc(…)` (MLIR prints locations this way with
    /// `--mlir-print-debuginfo`): the token index of each definition's `loc`.
    loc_aliases: HashMap<String, usize>,
}

impl<'s> Parser<'s> {
    fn new(file: FileId, name: &str, text: &'s str, sources: &'s SourceMap) -> DResult<Self> {
        let mut toks = Vec::new();
        let mut lex = Tok::lexer(text);
        while let Some(t) = lex.next() {
            let span = Span::new(file, lex.span());
            match t {
                Ok(Tok::UnterminatedStr) => {
                    return Err(Diagnostic::error("unterminated string")
                        .with_span(span, "this string has no closing quote")
                        .with_help("close the string with `\"` on the same line"));
                }
                Ok(tok) => toks.push(Token { tok, text: lex.slice(), span }),
                Err(()) => {
                    return Err(Diagnostic::error(format!("unexpected character `{}`", lex.slice()))
                        .with_span(span, "not part of the IR syntax"));
                }
            }
        }
        let eof = Span::new(file, text.len()..text.len());
        // location aliases may be used before their definition (MLIR prints them after the
        // module): collect every `#name = loc` first
        let loc_aliases = toks
            .windows(3)
            .enumerate()
            .filter(|(_, w)| {
                w[0].tok == Tok::Hash && w[1].tok == Tok::Eq && w[2].tok == Tok::Ident && w[2].text == "loc"
            })
            .map(|(i, w)| (w[0].text.to_string(), i + 2))
            .collect();
        Ok(Parser { toks, pos: 0, file, file_name: name.into(), sources, eof, loc_aliases })
    }

    fn peek(&self) -> Option<Token<'s>> {
        self.toks.get(self.pos).copied()
    }

    fn peek_is(&self, tok: Tok) -> bool {
        self.peek().is_some_and(|t| t.tok == tok)
    }

    fn peek_ident(&self, word: &str) -> bool {
        self.peek().is_some_and(|t| t.tok == Tok::Ident && t.text == word)
    }

    fn bump(&mut self) -> Option<Token<'s>> {
        let t = self.peek();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    fn here(&self) -> Span {
        self.peek().map_or(self.eof, |t| t.span)
    }

    fn unexpected(&self, what: &str) -> Diagnostic {
        match self.peek() {
            Some(t) => Diagnostic::error(format!("expected {what}, found {} `{}`", t.tok.describe(), t.text))
                .with_span(t.span, format!("expected {what}")),
            None => Diagnostic::error(format!("expected {what}, found the end of the file"))
                .with_span(self.eof, format!("expected {what}")),
        }
    }

    fn expect(&mut self, tok: Tok) -> DResult<Token<'s>> {
        match self.peek() {
            Some(t) if t.tok == tok => {
                self.pos += 1;
                Ok(t)
            }
            Some(_) | None => Err(self.unexpected(tok.describe())),
        }
    }

    fn expect_ident(&mut self, word: &str) -> DResult<Token<'s>> {
        if self.peek_ident(word) {
            Ok(self.bump().expect("peeked"))
        } else {
            Err(self.unexpected(&format!("`{word}`")))
        }
    }

    fn eat(&mut self, tok: Tok) -> bool {
        if self.peek_is(tok) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_eof(&self) -> DResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.unexpected("the end of the file")),
        }
    }

    fn location_of(&self, span: Span) -> Location {
        let (line, col) = self.sources.file(self.file).line_col(span.start as usize);
        Location::FileLineCol { file: self.file_name.clone(), line, col }
    }

    fn string(&mut self) -> DResult<(String, Span)> {
        let t = self.expect(Tok::Str)?;
        Ok((unescape(t.text, t.span)?, t.span))
    }

    fn module(&mut self) -> DResult<GenericModule> {
        let (name, span) = self.string()?;
        if name != "builtin.module" {
            return Err(Diagnostic::error(format!("expected a `builtin.module` op at the top level, found `{name}`"))
                .with_span(span, "the file must hold one module")
                .with_help("print a module with `phic MODEL --emit=snn` and start from that"));
        }
        self.expect(Tok::LParen)?;
        self.expect(Tok::RParen)?;
        let props = self.properties()?;
        self.expect(Tok::LParen)?;
        self.expect(Tok::LBrace)?;
        if self.peek_is(Tok::Caret) {
            let label = self.bump().expect("peeked");
            if self.peek_is(Tok::LParen) {
                return Err(Diagnostic::error("the module block takes no arguments")
                    .with_span(label.span, "block with arguments"));
            }
            self.expect(Tok::Colon)?;
        }
        let mut ops = Vec::new();
        while !self.peek_is(Tok::RBrace) {
            if self.peek().is_none() {
                return Err(self.unexpected("`}` closing the module region"));
            }
            ops.push(self.op()?);
        }
        self.expect(Tok::RBrace)?;
        self.expect(Tok::RParen)?;
        let mut attrs = props;
        if self.peek_is(Tok::LBrace) {
            attrs.extend(self.attr_dict()?);
        }
        self.expect(Tok::Colon)?;
        self.expect(Tok::LParen)?;
        self.expect(Tok::RParen)?;
        self.expect(Tok::Arrow)?;
        self.expect(Tok::LParen)?;
        self.expect(Tok::RParen)?;
        if self.peek_ident("loc") {
            self.loc()?;
        }
        let name = match attrs.iter().position(|a| a.name == "sym_name") {
            Some(i) => match attrs.remove(i) {
                NamedAttr { value: Attr::Str(s), .. } => s,
                NamedAttr { span, .. } => {
                    let mut d = Diagnostic::error("`sym_name` of the module must be a string");
                    if let Some(s) = span {
                        d = d.with_span(s, "");
                    }
                    return Err(d);
                }
            },
            None => "module".to_string(),
        };
        Ok(GenericModule { name, attrs, ops })
    }

    fn op(&mut self) -> DResult<GenericOp> {
        let start = self.here();
        let mut results = Vec::new();
        let mut num_results = 0;
        if self.peek_is(Tok::Value) {
            let t = self.bump().expect("peeked");
            if t.text.contains('#') {
                return Err(Diagnostic::error(format!("`{}` names a result of another op", t.text))
                    .with_span(t.span, "a definition cannot use `#`"));
            }
            num_results = 1;
            if self.eat(Tok::Colon) {
                let n = self.expect(Tok::Int)?;
                num_results = n.text.parse::<usize>().ok().filter(|&k| (1..=64).contains(&k)).ok_or_else(|| {
                    Diagnostic::error(format!("bad result count `{}`", n.text)).with_span(n.span, "expected 1..=64")
                })?;
            }
            results.push((t.text.to_string(), t.span));
            self.expect(Tok::Eq)?;
        }
        if !self.peek_is(Tok::Str) {
            return Err(self.unexpected("an op name in quotes (generic syntax, e.g. `\"snn.lif\"`)"));
        }
        let (name, name_span) = self.string()?;
        self.expect(Tok::LParen)?;
        let mut operands = Vec::new();
        if !self.peek_is(Tok::RParen) {
            loop {
                let t = self.expect(Tok::Value)?;
                operands.push((t.text.to_string(), t.span));
                if !self.eat(Tok::Comma) {
                    break;
                }
            }
        }
        self.expect(Tok::RParen)?;
        let mut attrs = self.properties()?;
        if self.peek_is(Tok::LParen) {
            return Err(
                Diagnostic::error(format!("`{name}` has no regions")).with_span(self.here(), "unexpected region")
            );
        }
        if self.peek_is(Tok::LBrace) {
            attrs.extend(self.attr_dict()?);
        }
        self.expect(Tok::Colon)?;
        let type_start = self.here();
        let (operand_types, result_types) = self.fn_type()?;
        let type_span = type_start.to(self.toks[self.pos - 1].span);
        let loc = if self.peek_ident("loc") { self.loc()? } else { self.location_of(start) };
        Ok(GenericOp {
            name,
            name_span,
            results,
            num_results,
            operands,
            attrs,
            operand_types,
            result_types,
            type_span,
            loc,
        })
    }

    /// MLIR's properties, `<{…}>` after the operands (how MLIR prints inherent attributes in
    /// the generic form); they are read as attributes like the `{…}` dictionary.
    fn properties(&mut self) -> DResult<Vec<NamedAttr>> {
        if !self.peek_is(Tok::Lt) {
            return Ok(Vec::new());
        }
        self.expect(Tok::Lt)?;
        let attrs = self.attr_dict()?;
        self.expect(Tok::Gt)?;
        Ok(attrs)
    }

    fn fn_type(&mut self) -> DResult<(Vec<TensorType>, Vec<TensorType>)> {
        self.expect(Tok::LParen)?;
        let ins = self.type_list(Tok::RParen)?;
        self.expect(Tok::Arrow)?;
        let outs = if self.eat(Tok::LParen) { self.type_list(Tok::RParen)? } else { vec![self.ty()?] };
        Ok((ins, outs))
    }

    fn type_list(&mut self, close: Tok) -> DResult<Vec<TensorType>> {
        let mut out = Vec::new();
        if !self.eat(close) {
            loop {
                out.push(self.ty()?);
                if !self.eat(Tok::Comma) {
                    break;
                }
            }
            self.expect(close)?;
        }
        Ok(out)
    }

    fn ty(&mut self) -> DResult<TensorType> {
        let kw = self.here();
        if !self.peek_ident("tensor") {
            return Err(self.unexpected("a tensor type such as `tensor<8x64xi1>`"));
        }
        self.bump();
        self.expect(Tok::Lt)?;
        let t = match self.bump() {
            Some(t) if t.tok == Tok::DimsElem => {
                let mut parts: Vec<&str> = t.text.split('x').collect();
                let elem = parts.pop().unwrap_or("");
                let mut shape = Vec::new();
                for d in parts {
                    let v = d.parse::<usize>().map_err(|_| {
                        Diagnostic::error(format!("dimension `{d}` is too large")).with_span(t.span, "")
                    })?;
                    shape.push(v);
                }
                (shape, elem, t.span)
            }
            Some(t) if t.tok == Tok::Ident => (Vec::new(), t.text, t.span),
            Some(t) if self.toks[self.pos - 1..].iter().take(4).any(|x| x.tok == Tok::Question) => {
                return Err(Diagnostic::error("dynamic dimensions are not supported")
                    .with_span(t.span, "every dimension must be a constant")
                    .with_help("the Phi IR has static shapes only; give the size, e.g. `tensor<8x64xi1>`"));
            }
            Some(t) => {
                return Err(Diagnostic::error(format!("expected a shape such as `8x64xf32`, found `{}`", t.text))
                    .with_span(t.span, "expected a shape"));
            }
            None => return Err(self.unexpected("a shape")),
        };
        let (shape, elem_text, span) = t;
        let elem = ElemType::from_name(elem_text).ok_or_else(|| {
            Diagnostic::error(format!("unknown element type `{elem_text}`"))
                .with_span(span, "")
                .with_help("element types are i1, i8, i16, i32 and f32")
        })?;
        self.expect(Tok::Gt)?;
        let ty = TensorType::new(shape, elem);
        if ty.rank() > MAX_RANK || ty.checked_num_elements().is_none() {
            return Err(Diagnostic::error(format!("tensor type {ty} is too large"))
                .with_span(kw.to(span), format!("at most rank {MAX_RANK} and 2^40 elements")));
        }
        Ok(ty)
    }

    fn attr_dict(&mut self) -> DResult<Vec<NamedAttr>> {
        self.expect(Tok::LBrace)?;
        let mut out: Vec<NamedAttr> = Vec::new();
        if self.eat(Tok::RBrace) {
            return Ok(out);
        }
        loop {
            let (name, span) = match self.bump() {
                Some(t) if t.tok == Tok::Ident => (t.text.to_string(), t.span),
                Some(t) if t.tok == Tok::Str => (unescape(t.text, t.span)?, t.span),
                Some(_) | None => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.unexpected("an attribute name"));
                }
            };
            if let Some(prev) = out.iter().find(|a| a.name == name) {
                let mut d =
                    Diagnostic::error(format!("attribute `{name}` is given twice")).with_span(span, "again here");
                if let Some(p) = prev.span {
                    d = d.with_secondary(p, "first here");
                }
                return Err(d);
            }
            let value = if self.eat(Tok::Eq) { self.attr(0)? } else { Attr::Bool(true) };
            let vspan = span.to(self.toks[self.pos - 1].span);
            out.push(NamedAttr { name, value, span: Some(vspan) });
            if !self.eat(Tok::Comma) {
                break;
            }
        }
        self.expect(Tok::RBrace)?;
        Ok(out)
    }

    fn attr(&mut self, depth: usize) -> DResult<Attr> {
        if depth > MAX_DEPTH {
            return Err(Diagnostic::error("attributes nest too deeply").with_span(self.here(), "here"));
        }
        let Some(t) = self.peek() else { return Err(self.unexpected("an attribute value")) };
        match t.tok {
            Tok::Int => {
                self.bump();
                let v: i64 = t.text.parse().map_err(|_| {
                    Diagnostic::error(format!("integer `{}` does not fit in 64 bits", t.text)).with_span(t.span, "")
                })?;
                let ty = if self.eat(Tok::Colon) {
                    let ty_tok = self.expect(Tok::Ident)?;
                    if ty_tok.text == "f32" {
                        return Ok(Attr::F32(v as f32));
                    }
                    IntTy::from_name(ty_tok.text).ok_or_else(|| {
                        Diagnostic::error(format!("`{}` is not an integer type", ty_tok.text))
                            .with_span(ty_tok.span, "")
                            .with_help("use i8, i16, i32 or i64")
                    })?
                } else {
                    IntTy::I64
                };
                if !ty.fits(v) {
                    return Err(Diagnostic::error(format!("{v} does not fit in {}", ty.name())).with_span(t.span, ""));
                }
                Ok(Attr::Int(v, ty))
            }
            Tok::Float => {
                self.bump();
                let v: f32 = t.text.parse().map_err(|_| {
                    Diagnostic::error(format!("bad float `{}`", t.text)).with_span(t.span, "")
                })?;
                self.float_suffix()?;
                Ok(Attr::F32(v))
            }
            Tok::Hex | Tok::DimsElem if t.text.starts_with("0x") => {
                self.bump();
                let bits = u32::from_str_radix(&t.text[2..], 16).map_err(|_| {
                    Diagnostic::error(format!("hex float `{}` must have 8 hex digits", t.text)).with_span(t.span, "")
                })?;
                if !self.peek_is(Tok::Colon) {
                    return Err(self.unexpected("`: f32` after a hexadecimal float"));
                }
                self.float_suffix()?;
                Ok(Attr::F32(f32::from_bits(bits)))
            }
            Tok::Str => {
                let (s, _) = self.string()?;
                Ok(Attr::Str(s))
            }
            Tok::LBracket => {
                self.bump();
                let mut items = Vec::new();
                if !self.eat(Tok::RBracket) {
                    loop {
                        items.push(self.attr(depth + 1)?);
                        if !self.eat(Tok::Comma) {
                            break;
                        }
                    }
                    self.expect(Tok::RBracket)?;
                }
                Ok(Attr::Array(items))
            }
            Tok::Ident => match t.text {
                "true" | "false" => {
                    self.bump();
                    Ok(Attr::Bool(t.text == "true"))
                }
                "array" => {
                    self.bump();
                    self.expect(Tok::Lt)?;
                    let et = self.expect(Tok::Ident)?;
                    if et.text != "i64" {
                        return Err(Diagnostic::error(format!("only `array<i64: ...>` is supported, found `{}`", et.text))
                            .with_span(et.span, ""));
                    }
                    let mut v = Vec::new();
                    if self.eat(Tok::Colon) {
                        loop {
                            let n = self.expect(Tok::Int)?;
                            v.push(n.text.parse::<i64>().map_err(|_| {
                                Diagnostic::error(format!("integer `{}` does not fit in 64 bits", n.text))
                                    .with_span(n.span, "")
                            })?);
                            if !self.eat(Tok::Comma) {
                                break;
                            }
                        }
                    }
                    self.expect(Tok::Gt)?;
                    Ok(Attr::I64Array(v))
                }
                "dense_resource" => {
                    self.bump();
                    self.expect(Tok::Lt)?;
                    let n = self.expect(Tok::Ident)?;
                    self.expect(Tok::Gt)?;
                    self.expect(Tok::Colon)?;
                    let ty = self.ty()?;
                    Ok(Attr::Resource { name: n.text.to_string(), ty })
                }
                "dense" => Err(Diagnostic::error("inline `dense<...>` constants are not supported")
                    .with_span(t.span, "")
                    .with_help("constants live in the weight store: use `dense_resource<name> : tensor<...>`")),
                other => Err(Diagnostic::error(format!("unknown attribute value `{other}`"))
                    .with_span(t.span, "")
                    .with_help("attribute values are integers, floats, strings, true/false, array<i64: ...>, [...] or dense_resource<...>")),
            },
            Tok::Hash => Err(Diagnostic::error("attribute aliases (`#name`) are not supported")
                .with_span(t.span, "")
                .with_help("write the attribute value inline")),
            Tok::Hex
            | Tok::DimsElem
            | Tok::Value
            | Tok::Caret
            | Tok::Symbol
            | Tok::UnterminatedStr
            | Tok::LParen
            | Tok::RParen
            | Tok::LBrace
            | Tok::RBrace
            | Tok::RBracket
            | Tok::Lt
            | Tok::Gt
            | Tok::Colon
            | Tok::Comma
            | Tok::Eq
            | Tok::Arrow
            | Tok::Question
            | Tok::MetaOpen
            | Tok::MetaClose => Err(self.unexpected("an attribute value")),
        }
    }

    fn float_suffix(&mut self) -> DResult<()> {
        if self.eat(Tok::Colon) {
            let ty = self.expect(Tok::Ident)?;
            if ty.text != "f32" {
                return Err(Diagnostic::error(format!("float attributes are f32, found `{}`", ty.text))
                    .with_span(ty.span, "")
                    .with_help("write `: f32`"));
            }
        }
        Ok(())
    }

    fn loc(&mut self) -> DResult<Location> {
        self.loc_inner_at(0)
    }

    /// Skips top-level location alias definitions, `#name = loc(…)` (checking their syntax).
    fn skip_loc_alias_defs(&mut self) -> DResult<()> {
        while self.peek_is(Tok::Hash) && self.toks.get(self.pos + 1).is_some_and(|t| t.tok == Tok::Eq) {
            self.pos += 2;
            self.loc_inner_at(0)?;
        }
        Ok(())
    }

    /// `loc(…)` at the current position, nested `depth` deep.
    fn loc_inner_at(&mut self, depth: usize) -> DResult<Location> {
        self.expect_ident("loc")?;
        self.expect(Tok::LParen)?;
        let l = self.loc_inner(depth + 1)?;
        self.expect(Tok::RParen)?;
        Ok(l)
    }

    fn loc_inner(&mut self, depth: usize) -> DResult<Location> {
        if depth > MAX_DEPTH {
            return Err(Diagnostic::error("locations nest too deeply").with_span(self.here(), "here"));
        }
        if self.peek_is(Tok::Hash) {
            // a location alias: parse its definition where it stands
            let t = self.bump().expect("peeked");
            let Some(&at) = self.loc_aliases.get(t.text) else {
                return Err(Diagnostic::error(format!("unknown location alias `{}`", t.text))
                    .with_span(t.span, "no `#… = loc(…)` defines it"));
            };
            let back = self.pos;
            self.pos = at;
            let l = self.loc_inner_at(depth + 1);
            self.pos = back;
            return l;
        }
        if self.peek_ident("unknown") {
            self.bump();
            return Ok(Location::Unknown);
        }
        if self.peek_ident("fused") {
            self.bump();
            self.expect(Tok::LBracket)?;
            let mut locs = Vec::new();
            if !self.eat(Tok::RBracket) {
                loop {
                    locs.push(self.loc_inner(depth + 1)?);
                    if !self.eat(Tok::Comma) {
                        break;
                    }
                }
                self.expect(Tok::RBracket)?;
            }
            return Ok(Location::Fused(locs));
        }
        let (file, _) = self.string()?;
        if self.eat(Tok::LParen) {
            // A name location, `"name"(child)`: keep the child.
            let child = self.loc_inner(depth + 1)?;
            self.expect(Tok::RParen)?;
            return Ok(child);
        }
        if !self.eat(Tok::Colon) {
            return Ok(Location::Unknown);
        }
        let line = self.small_int()?;
        self.expect(Tok::Colon)?;
        let col = self.small_int()?;
        Ok(Location::FileLineCol { file: file.into(), line, col })
    }

    fn small_int(&mut self) -> DResult<u32> {
        let t = self.expect(Tok::Int)?;
        t.text
            .parse::<u32>()
            .map_err(|_| Diagnostic::error(format!("`{}` is not a line/column", t.text)).with_span(t.span, ""))
    }

    fn resources(&mut self) -> DResult<HashMap<String, (String, Span)>> {
        let mut out = HashMap::new();
        if !self.eat(Tok::MetaOpen) {
            return Ok(out);
        }
        loop {
            if self.eat(Tok::MetaClose) {
                break;
            }
            let key = self.expect(Tok::Ident)?;
            self.expect(Tok::Colon)?;
            self.expect(Tok::LBrace)?;
            match key.text {
                "dialect_resources" => {
                    while !self.eat(Tok::RBrace) {
                        let dialect = self.expect(Tok::Ident)?;
                        if dialect.text != "builtin" {
                            return Err(Diagnostic::error(format!("unknown resource dialect `{}`", dialect.text))
                                .with_span(dialect.span, "only `builtin` resources are read"));
                        }
                        self.expect(Tok::Colon)?;
                        self.expect(Tok::LBrace)?;
                        while !self.eat(Tok::RBrace) {
                            let name = self.expect(Tok::Ident)?;
                            self.expect(Tok::Colon)?;
                            let (blob, span) = self.string()?;
                            if out.insert(name.text.to_string(), (blob, span)).is_some() {
                                return Err(Diagnostic::error(format!("resource `{}` is defined twice", name.text))
                                    .with_span(name.span, ""));
                            }
                            if !self.eat(Tok::Comma) {
                                self.expect(Tok::RBrace)?;
                                break;
                            }
                        }
                        if !self.eat(Tok::Comma) {
                            self.expect(Tok::RBrace)?;
                            break;
                        }
                    }
                }
                other => {
                    return Err(Diagnostic::error(format!("unknown metadata section `{other}`"))
                        .with_span(key.span, "expected `dialect_resources`"));
                }
            }
            self.eat(Tok::Comma);
        }
        Ok(out)
    }
}

/// Decodes an MLIR string literal (with its quotes).
fn unescape(lit: &str, span: Span) -> DResult<String> {
    let body = &lit[1..lit.len() - 1];
    let mut out = Vec::with_capacity(body.len());
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let bad = || {
            Diagnostic::error("bad escape sequence in string")
                .with_span(span, "")
                .with_help("escapes are \\\\, \\\", \\n, \\t and \\XX (two hex digits)")
        };
        match bytes.get(i + 1) {
            Some(b'\\') => out.push(b'\\'),
            Some(b'"') => out.push(b'"'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(&h) if h.is_ascii_hexdigit() => {
                let l = *bytes.get(i + 2).filter(|c| c.is_ascii_hexdigit()).ok_or_else(bad)?;
                let hex = |c: u8| (c as char).to_digit(16).expect("hex digit") as u8;
                out.push(hex(h) << 4 | hex(l));
                i += 1;
            }
            Some(_) | None => return Err(bad()),
        }
        i += 2;
    }
    String::from_utf8(out).map_err(|_| Diagnostic::error("string is not valid UTF-8").with_span(span, ""))
}

fn build(g: GenericModule, resources: Resources) -> DResult<Module> {
    let mut m = Module::new(g.name);
    for a in g.attrs {
        m.attrs.insert(a.name, a.value);
    }
    let mut values: HashMap<String, (Vec<ValueId>, Span)> = HashMap::new();
    let mut weight_cache: HashMap<String, WeightId> = HashMap::new();
    for op in g.ops {
        // Operands: resolve names, check the written types against the defining types.
        if op.operands.len() != op.operand_types.len() {
            return Err(Diagnostic::error(format!(
                "`{}` has {} operands but its type lists {}",
                op.name,
                op.operands.len(),
                op.operand_types.len()
            ))
            .with_span(op.type_span, "function type here"));
        }
        let mut operands = Vec::with_capacity(op.operands.len());
        for ((name, span), ty) in op.operands.iter().zip(&op.operand_types) {
            let (base, idx) = match name.split_once('#') {
                Some((b, i)) => (b, i.parse::<usize>().unwrap_or(usize::MAX)),
                None => (name.as_str(), 0),
            };
            let (vals, _) = values.get(base).ok_or_else(|| {
                Diagnostic::error(format!("use of undefined value `{base}`"))
                    .with_span(*span, "not defined above")
                    .with_help("values must be defined before they are used")
            })?;
            if vals.len() > 1 && !name.contains('#') {
                return Err(Diagnostic::error(format!(
                    "`{base}` names {} results; pick one with `{base}#N`",
                    vals.len()
                ))
                .with_span(*span, ""));
            }
            let v = *vals.get(idx).ok_or_else(|| {
                Diagnostic::error(format!("`{name}` is out of range: the op has {} results", vals.len()))
                    .with_span(*span, "")
            })?;
            if m.ty(v) != ty {
                return Err(Diagnostic::error(format!("`{name}` has type {}, but the op's type says {ty}", m.ty(v)))
                    .with_span(*span, "")
                    .with_secondary(op.type_span, "function type here"));
            }
            operands.push(v);
        }
        let mut resolve = |name: &str, ty: &TensorType, span: Option<Span>| -> DResult<WeightId> {
            let at = |d: Diagnostic| match span {
                Some(s) => d.with_span(s, ""),
                None => d,
            };
            if name == ELIDED {
                return Ok(m.weights.add(ELIDED, ty.clone(), WeightData::Elided));
            }
            if let Some(&w) = weight_cache.get(name) {
                if &m.weights.get(w).ty != ty {
                    return Err(at(Diagnostic::error(format!(
                        "resource `{name}` is used as {ty} here but as {} before",
                        m.weights.get(w).ty
                    ))));
                }
                return Ok(w);
            }
            let (blob, blob_span) = resources.get(name).ok_or_else(|| {
                at(Diagnostic::error(format!("resource `{name}` has no blob")).with_help(
                    "the file must end with a `{-# dialect_resources: { builtin: { ... } } #-}` section holding it",
                ))
            })?;
            let data = decode_blob(blob, ty.elem)
                .map_err(|e| Diagnostic::error(format!("resource `{name}`: {e}")).with_span(*blob_span, ""))?;
            if Some(data.len()) != ty.checked_num_elements() {
                return Err(Diagnostic::error(format!(
                    "resource `{name}` holds {} elements but is used as {ty}",
                    data.len()
                ))
                .with_span(*blob_span, "blob here"));
            }
            let w = m.weights.add(name, ty.clone(), data);
            weight_cache.insert(name.to_string(), w);
            Ok(w)
        };
        let mut reader = AttrReader::new(&op.name, Some(op.name_span), op.attrs, &mut resolve);
        let kind = OpKind::from_generic(&op.name, Some(op.name_span), &mut reader)?;
        let discardable = reader.finish()?;
        // Resources in discardable attributes (e.g. calibration statistics) are weights too.
        for a in &discardable {
            if let Attr::Resource { name, ty } = &a.value {
                resolve(name, ty, a.span)?;
            }
        }
        let want = kind.num_results();
        if op.num_results != want || op.result_types.len() != want {
            return Err(Diagnostic::error(format!(
                "`{}` has {want} result(s), but {} are named and {} typed",
                op.name,
                op.num_results,
                op.result_types.len()
            ))
            .with_span(op.name_span, ""));
        }
        if !kind.arity().accepts(operands.len()) {
            return Err(Diagnostic::error(format!("`{}` cannot take {} operands", op.name, operands.len()))
                .with_span(op.name_span, format!("expects {:?}", kind.arity())));
        }
        let id = m.push(kind, operands, op.result_types, op.loc);
        for a in discardable {
            m.op_mut(id).attrs.insert(a.name, a.value);
        }
        if let Some((name, span)) = op.results.first() {
            if let Some((_, prev)) = values.get(name) {
                return Err(Diagnostic::error(format!("value `{name}` is defined twice"))
                    .with_span(*span, "redefined here")
                    .with_secondary(*prev, "first defined here"));
            }
            values.insert(name.clone(), (m.op(id).results.clone(), *span));
        }
    }
    // Unused blobs are ignored, as MLIR does.
    Ok(m)
}

#[cfg(test)]
mod tests;
