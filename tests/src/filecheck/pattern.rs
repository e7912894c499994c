//! One directive's pattern: parsing the FileCheck pattern syntax (literal text, `{{regex}}`,
//! `[[VAR:regex]]` / `[[VAR]]`, `[[#%fmt,VAR:]]` / `[[#expr]]`, `[[@LINE±n]]`) and matching it
//! against a region of the (canonicalised) input.
//!
//! Matching follows LLVM's FileCheck, which compiles a pattern into one POSIX regex with
//! `REG_NEWLINE`: a match never spans a newline (only `CHECK-EMPTY` consumes one), `^` and `$`
//! match at line boundaries and also at the edges of the searched region. Here each line of the
//! region is searched as its own haystack with the `regex` crate, which gives exactly that. Regex
//! syntax is the `regex` crate's (a superset of POSIX ERE for what FileCheck tests use).
//!
//! A variable used on the line that defines it (`[[X:...]] ... [[X]]`) is a back-reference in
//! LLVM; the `regex` crate has none, so such a use matches the definition's regex in its own
//! group, and a match counts when both groups captured the same text, or else when the pattern
//! with the use replaced by the definition's captured text matches at the same start. This finds
//! what LLVM finds in the usual cases; a definition that would have to capture something else
//! than its leftmost-first match at that start is not explored.

use std::collections::HashMap;
use std::fmt::Write as _;

use regex::Regex;

/// The kind of a directive (`CHECK`, `CHECK-NEXT`, …); `Eof` is the implicit end-of-input check
/// that carries trailing `CHECK-NOT`/`CHECK-DAG`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `CHECK:` (and `CHECK-COUNT-n:`)
    Plain,
    /// `CHECK-NEXT:`
    Next,
    /// `CHECK-SAME:`
    Same,
    /// `CHECK-NOT:`
    Not,
    /// `CHECK-DAG:`
    Dag,
    /// `CHECK-LABEL:`
    Label,
    /// `CHECK-EMPTY:`
    Empty,
    /// The implicit check at the end of the input.
    Eof,
}

impl Kind {
    /// The suffix after the prefix in the directive's name.
    pub fn suffix(self, count: usize) -> String {
        match self {
            Kind::Plain if count > 1 => "-COUNT".into(),
            Kind::Plain => String::new(),
            Kind::Next => "-NEXT".into(),
            Kind::Same => "-SAME".into(),
            Kind::Not => "-NOT".into(),
            Kind::Dag => "-DAG".into(),
            Kind::Label => "-LABEL".into(),
            Kind::Empty => "-EMPTY".into(),
            Kind::Eof => "-EOF".into(),
        }
    }

    /// The short name used to label annotations in the input dump (`check`, `next`, …).
    pub fn dump_name(self, count: usize) -> &'static str {
        match self {
            Kind::Plain if count > 1 => "count",
            Kind::Plain => "check",
            Kind::Next => "next",
            Kind::Same => "same",
            Kind::Not => "not",
            Kind::Dag => "dag",
            Kind::Label => "label",
            Kind::Empty => "empty",
            Kind::Eof => "eof",
        }
    }
}

/// How a numeric variable is printed and matched (`%u` by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumFormat {
    /// `%u`: unsigned decimal.
    Unsigned,
    /// `%d`: signed decimal.
    Signed,
    /// `%x`: lower-case hexadecimal.
    HexLower,
    /// `%X`: upper-case hexadecimal.
    HexUpper,
}

impl NumFormat {
    fn regex(self) -> &'static str {
        match self {
            NumFormat::Unsigned => "[0-9]+",
            NumFormat::Signed => "-?[0-9]+",
            NumFormat::HexLower => "[0-9a-f]+",
            NumFormat::HexUpper => "[0-9A-F]+",
        }
    }

    fn print(self, v: i128) -> String {
        match self {
            NumFormat::Unsigned | NumFormat::Signed => v.to_string(),
            NumFormat::HexLower => format!("{v:x}"),
            NumFormat::HexUpper => format!("{v:X}"),
        }
    }

    fn read(self, s: &str) -> Option<i128> {
        match self {
            NumFormat::Unsigned | NumFormat::Signed => s.parse().ok(),
            NumFormat::HexLower | NumFormat::HexUpper => i128::from_str_radix(s, 16).ok(),
        }
    }
}

/// The value of a pattern variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string variable (`[[X:regex]]`, `-DX=...`).
    Str(String),
    /// A numeric variable (`[[#X:]]`, `-D#X=...`) with the format it was defined with.
    Num(i128, NumFormat),
}

impl Value {
    /// The text this value matches.
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Num(v, f) => f.print(*v),
        }
    }
}

/// Variables defined so far: names starting with `$` are global (kept across `CHECK-LABEL`s
/// under `--enable-var-scope`).
pub type Vars = HashMap<String, Value>;

/// One operand of a numeric expression.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Term {
    Lit(i128),
    Var(String),
}

/// A numeric expression `a ± b ± …` (`@LINE` is resolved when the pattern is parsed).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Expr {
    terms: Vec<(bool, Term)>,
    /// The expression as written (for "with EXPR equal to VALUE" notes).
    text: String,
}

impl Expr {
    fn eval(&self, vars: &Vars, undefined: &mut Vec<String>) -> Option<i128> {
        let mut acc: i128 = 0;
        let mut ok = true;
        for (neg, t) in &self.terms {
            let v = match t {
                Term::Lit(v) => *v,
                Term::Var(name) => match vars.get(name) {
                    Some(Value::Num(v, _)) => *v,
                    Some(Value::Str(s)) => match s.parse() {
                        Ok(v) => v,
                        Err(_) => {
                            undefined.push(name.clone());
                            ok = false;
                            0
                        }
                    },
                    None => {
                        undefined.push(name.clone());
                        ok = false;
                        0
                    }
                },
            };
            acc = if *neg { acc - v } else { acc + v };
        }
        ok.then_some(acc)
    }

    /// The format of the first variable used, as LLVM infers an expression's format.
    fn implicit_format(&self, vars: &Vars) -> NumFormat {
        self.terms
            .iter()
            .find_map(|(_, t)| match t {
                Term::Var(name) => match vars.get(name) {
                    Some(Value::Num(_, f)) => Some(*f),
                    Some(Value::Str(_)) | None => None,
                },
                Term::Lit(_) => None,
            })
            .unwrap_or(NumFormat::Unsigned)
    }

    fn vars(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().filter_map(|(_, t)| match t {
            Term::Var(v) => Some(v.as_str()),
            Term::Lit(_) => None,
        })
    }
}

/// A piece of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// Literal text.
    Lit(String),
    /// `{{regex}}`.
    Re(String),
    /// `[[NAME:regex]]`.
    Def { name: String, re: String },
    /// `[[NAME]]`.
    Use { name: String },
    /// `[[#%f,NAME:]]` or `[[#%f,NAME:expr]]`.
    NumDef { name: String, format: Option<NumFormat>, expr: Option<Expr> },
    /// `[[#%f,expr]]`, `[[@LINE+n]]`.
    NumUse { format: Option<NumFormat>, expr: Expr },
}

/// A parse error: byte offset in the pattern text and message.
pub type ParseError = (usize, String);

/// A parsed pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// The directive kind.
    pub kind: Kind,
    /// How many consecutive matches `CHECK-COUNT-n` needs (1 otherwise).
    pub count: usize,
    /// The prefix the directive was written with (`CHECK`, `ERR`, …).
    pub prefix: String,
    /// Which source holds the pattern (0: the check file; others: `--implicit-check-not`).
    pub src: usize,
    /// Byte offset of the pattern text in its source (for diagnostics).
    pub loc: usize,
    /// Line (1-based) of the directive in its source.
    pub line: usize,
    pieces: Vec<Piece>,
    /// Offset in the pattern text of each piece's contents (for errors about a piece).
    offsets: Vec<usize>,
    full_lines: bool,
    strict_whitespace: bool,
    ignore_case: bool,
}

/// Where a pattern was written.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    /// Which source (0: the check file; others: `--implicit-check-not`).
    pub src: usize,
    /// Byte offset of the pattern text in that source.
    pub loc: usize,
    /// Line (1-based) of the directive.
    pub line: usize,
}

/// Settings that change how patterns are compiled.
#[derive(Clone, Copy, Debug, Default)]
pub struct PatternFlags {
    /// `--match-full-lines` (not applied to `CHECK-NOT`).
    pub match_full_lines: bool,
    /// `--strict-whitespace`.
    pub strict_whitespace: bool,
    /// `--ignore-case`.
    pub ignore_case: bool,
}

/// A match: byte range in the input and the variables it defines.
#[derive(Clone, Debug)]
pub struct Found {
    /// Start offset.
    pub pos: usize,
    /// Length in bytes.
    pub len: usize,
    /// Variables defined by the match, with the byte range each was captured from.
    pub defs: Vec<(String, Value, (usize, usize))>,
}

/// What a pattern compiles to once the values of the variables it uses are known.
#[derive(Debug)]
pub enum Compiled {
    /// A literal string.
    Fixed(String),
    /// A regex, the variable groups it defines, pairs of groups that must capture equal text
    /// (a use of a variable defined on the same line), and for those the regex source with the
    /// byte span of each use and the group of its definition.
    Re {
        re: Regex,
        defs: Vec<CompiledDef>,
        equal: Vec<(String, String)>,
        source: String,
        uses: Vec<(usize, usize, String)>,
    },
    /// `CHECK-EMPTY`: an empty line.
    Empty,
    /// The end of the region.
    Eof,
}

/// A variable definition captured by a named regex group.
#[derive(Debug)]
pub struct CompiledDef {
    group: String,
    name: String,
    num: Option<NumFormat>,
}

/// Why a pattern could not be compiled: the variables it uses that are undefined, with the
/// offset of each use in the pattern's source.
#[derive(Debug)]
pub struct Undefined(pub Vec<(String, usize)>);

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits a variable name (`$`-prefixed allowed) off the start of `s`.
fn take_name(s: &str) -> (&str, &str) {
    let body = s.strip_prefix('$').unwrap_or(s);
    let mut chars = body.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        Some(_) | None => return ("", s),
    }
    let end = chars.find(|&(_, c)| !is_name_char(c)).map_or(body.len(), |(i, _)| i);
    let len = end + (s.len() - body.len());
    (&s[..len], &s[len..])
}

/// Finds the `]]` closing a substitution block, skipping brackets of a regex inside it.
fn find_block_end(s: &str) -> Result<usize, String> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        if depth == 0 && b[i..].starts_with(b"]]") {
            return Ok(i);
        }
        match b[i] {
            b'\\' => i += 1,
            b'[' => depth += 1,
            b']' => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return Err("missing closing \"]\" for regex variable".into()),
            },
            _ => {}
        }
        i += 1;
    }
    Err("invalid substitution block, no ]] found".into())
}

fn check_regex(re: &str) -> Result<(), String> {
    Regex::new(re).map(|_| ()).map_err(|e| format!("invalid regex: {}", one_line(&e.to_string())))
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Parses a numeric expression (`@LINE` resolves to `line`).
fn parse_expr(s: &str, line: usize) -> Result<Expr, String> {
    let mut terms = Vec::new();
    let mut rest = s.trim_start();
    let mut neg = false;
    loop {
        let term;
        if let Some(r) = rest.strip_prefix("@LINE") {
            term = Term::Lit(line as i128);
            rest = r;
        } else if rest.starts_with(|c: char| c.is_ascii_digit()) {
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            let v = rest[..end].parse().map_err(|_| format!("unable to represent numeric value '{}'", &rest[..end]))?;
            term = Term::Lit(v);
            rest = &rest[end..];
        } else {
            let (name, r) = take_name(rest);
            if name.is_empty() {
                return Err(format!("invalid operand format '{}'", rest.trim_end()));
            }
            term = Term::Var(name.to_string());
            rest = r;
        }
        terms.push((neg, term));
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(Expr { terms, text: s.trim().to_string() });
        }
        neg = match rest.as_bytes()[0] {
            b'+' => false,
            b'-' => true,
            _ => return Err(format!("unsupported operation '{}'", rest.chars().next().unwrap_or(' '))),
        };
        rest = rest[1..].trim_start();
        if rest.is_empty() {
            return Err("missing operand in expression".into());
        }
    }
}

/// Parses the inside of `[[#...]]`.
fn parse_numeric(body: &str, line: usize) -> Result<Piece, String> {
    let mut s = body.trim();
    let mut format = None;
    if let Some(r) = s.strip_prefix('%') {
        let (f, r) = r.split_once(',').ok_or("invalid matching format specification in expression")?;
        format = Some(match f.trim() {
            "u" => NumFormat::Unsigned,
            "d" => NumFormat::Signed,
            "x" => NumFormat::HexLower,
            "X" => NumFormat::HexUpper,
            other => return Err(format!("invalid format specifier in expression '%{other}'")),
        });
        s = r.trim();
    }
    if let Some((lhs, rhs)) = s.split_once(':') {
        let (name, rest) = take_name(lhs.trim());
        if name.is_empty() || !rest.is_empty() {
            return Err(format!("invalid variable name in numeric variable definition '{}'", lhs.trim()));
        }
        if name.starts_with('@') {
            return Err("pseudo-variables cannot be defined".into());
        }
        let rhs = rhs.trim();
        let expr = if rhs.is_empty() { None } else { Some(parse_expr(rhs, line)?) };
        return Ok(Piece::NumDef { name: name.to_string(), format, expr });
    }
    if s.is_empty() {
        return Err("empty numeric expression should be followed by a matching constraint".into());
    }
    Ok(Piece::NumUse { format, expr: parse_expr(s, line)? })
}

impl Pattern {
    /// Parses a pattern's text (already trimmed as the options require). Offsets in errors are
    /// relative to `text`.
    pub fn parse(
        text: &str,
        kind: Kind,
        count: usize,
        prefix: &str,
        origin: Origin,
        flags: PatternFlags,
    ) -> Result<Pattern, ParseError> {
        let Origin { src, loc, line } = origin;
        let mut pieces = Vec::new();
        let mut offsets = Vec::new();
        let mut lit = String::new();
        let mut lit_start = 0;
        let mut i = 0;
        let mut defined_here: Vec<String> = Vec::new();
        while i < text.len() {
            let rest = &text[i..];
            if let Some(inner) = rest.strip_prefix("{{") {
                // As LLVM: the first `}}` ends the regex (write `{{a[}]}}` for a brace).
                let end = inner.find("}}").ok_or((i, "found start of regex string with no end '}}'".to_string()))?;
                let re = &inner[..end];
                check_regex(re).map_err(|e| (i + 2, e))?;
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    offsets.push(lit_start);
                }
                pieces.push(Piece::Re(re.to_string()));
                offsets.push(i + 2);
                i += 2 + end + 2;
            } else if let Some(inner) = rest.strip_prefix("[[") {
                let end = find_block_end(inner).map_err(|e| (i, e))?;
                let body = &inner[..end];
                let piece = if let Some(num) = body.strip_prefix('#') {
                    parse_numeric(num, line).map_err(|e| (i + 3, e))?
                } else if body.starts_with("@LINE") {
                    Piece::NumUse { format: None, expr: parse_expr(body, line).map_err(|e| (i + 2, e))? }
                } else {
                    let (name, after) = take_name(body);
                    if name.is_empty() {
                        return Err((i + 2, "invalid variable name".to_string()));
                    }
                    if after.is_empty() {
                        Piece::Use { name: name.to_string() }
                    } else if let Some(re) = after.strip_prefix(':') {
                        check_regex(re).map_err(|e| (i + 2 + name.len() + 1, e))?;
                        Piece::Def { name: name.to_string(), re: re.to_string() }
                    } else {
                        return Err((i + 2, format!("invalid name in string variable definition '{body}'")));
                    }
                };
                match &piece {
                    Piece::Def { name, .. } | Piece::NumDef { name, .. } => {
                        if defined_here.contains(name) {
                            return Err((i + 2, format!("variable '{name}' defined more than once in one pattern")));
                        }
                        defined_here.push(name.clone());
                    }
                    Piece::NumUse { expr, .. } => {
                        if let Some(v) = expr.vars().find(|v| defined_here.iter().any(|d| d == v)) {
                            return Err((
                                i + 3,
                                format!("numeric variable '{v}' defined earlier in the same CHECK directive"),
                            ));
                        }
                    }
                    Piece::Lit(_) | Piece::Re(_) | Piece::Use { .. } => {}
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    offsets.push(lit_start);
                }
                pieces.push(piece);
                offsets.push(if body.starts_with('#') { i + 3 } else { i + 2 });
                i += 2 + end + 2;
            } else {
                let c = rest.chars().next().unwrap_or(' ');
                if lit.is_empty() {
                    lit_start = i;
                }
                lit.push(c);
                i += c.len_utf8();
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
            offsets.push(lit_start);
        }
        Ok(Pattern {
            kind,
            count,
            prefix: prefix.to_string(),
            src,
            loc,
            line,
            pieces,
            offsets,
            full_lines: flags.match_full_lines && kind != Kind::Not,
            strict_whitespace: flags.strict_whitespace,
            ignore_case: flags.ignore_case,
        })
    }

    /// A pattern of a kind that matches no text (`CHECK-EMPTY`, the implicit end-of-input check).
    pub fn special(kind: Kind, prefix: &str, origin: Origin) -> Pattern {
        let Origin { src, loc, line } = origin;
        Pattern {
            kind,
            count: 1,
            prefix: prefix.to_string(),
            src,
            loc,
            line,
            pieces: Vec::new(),
            offsets: Vec::new(),
            full_lines: false,
            strict_whitespace: false,
            ignore_case: false,
        }
    }

    /// The directive's name as written, e.g. `CHECK-NEXT` or `ERR-DAG`.
    pub fn directive(&self) -> String {
        format!("{}{}", self.prefix, self.kind.suffix(self.count))
    }

    /// Whether the pattern defines or uses a variable (not allowed in `CHECK-LABEL`).
    pub fn has_variables(&self) -> bool {
        self.pieces.iter().any(Piece::uses_or_defines_variable)
    }

    /// The values of the variables and expressions the pattern uses, as LLVM's
    /// `with "X" equal to "…"` notes show them.
    pub fn used_values(&self, vars: &Vars) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut defined: Vec<&str> = Vec::new();
        for p in &self.pieces {
            let item = match p {
                Piece::Use { name } if !defined.contains(&name.as_str()) => {
                    vars.get(name).map(|v| (name.clone(), v.text()))
                }
                Piece::NumUse { format, expr } => expr.eval(vars, &mut Vec::new()).map(|v| {
                    let f = format.unwrap_or_else(|| expr.implicit_format(vars));
                    (expr.text.clone(), f.print(v))
                }),
                Piece::Def { name, .. } | Piece::NumDef { name, .. } => {
                    defined.push(name);
                    None
                }
                Piece::Use { .. } | Piece::Lit(_) | Piece::Re(_) => None,
            };
            if let Some(item) = item.filter(|i| !out.contains(i)) {
                out.push(item);
            }
        }
        out
    }

    /// What a "possible intended match" is compared with: the literal text of a literal
    /// pattern, else (as LLVM does) the regex text, without the values of variables.
    pub fn example(&self) -> String {
        let literal_only = self.pieces.iter().all(|p| matches!(p, Piece::Lit(_))) && !self.full_lines;
        let mut s = String::new();
        if self.full_lines {
            s.push_str(if self.strict_whitespace { "^" } else { "^ *" });
        }
        for p in &self.pieces {
            match p {
                Piece::Lit(l) if literal_only => s.push_str(l),
                Piece::Lit(l) => {
                    for c in l.chars() {
                        if "()^$|*+?.[]\\{}".contains(c) {
                            s.push('\\');
                        }
                        s.push(c);
                    }
                }
                Piece::Re(r) if r.contains('|') => {
                    let _ = write!(s, "({r})");
                }
                Piece::Re(r) => s.push_str(r),
                Piece::Def { re, .. } => {
                    let _ = write!(s, "({re})");
                }
                Piece::NumDef { format, .. } => {
                    let _ = write!(s, "({})", format.unwrap_or(NumFormat::Unsigned).regex());
                }
                Piece::Use { .. } | Piece::NumUse { .. } => {}
            }
        }
        if self.full_lines {
            s.push_str(if self.strict_whitespace { "$" } else { " *$" });
        }
        s
    }

    /// Compiles the pattern with the current values of the variables it uses.
    pub fn compile(&self, vars: &Vars) -> Result<Compiled, Undefined> {
        match self.kind {
            Kind::Empty => return Ok(Compiled::Empty),
            Kind::Eof => return Ok(Compiled::Eof),
            Kind::Plain | Kind::Next | Kind::Same | Kind::Not | Kind::Dag | Kind::Label => {}
        }
        let literal_only = self.pieces.iter().all(|p| matches!(p, Piece::Lit(_)));
        if literal_only && !self.full_lines && !self.ignore_case {
            return Ok(Compiled::Fixed(self.pieces.iter().map(Piece::literal).collect()));
        }
        let mut re = String::new();
        if self.ignore_case {
            re.push_str("(?i)");
        }
        if self.full_lines {
            re.push('^');
            if !self.strict_whitespace {
                re.push_str(" *");
            }
        }
        let mut defs = Vec::new();
        let mut equal = Vec::new();
        let mut uses = Vec::new();
        let mut undefined = Vec::new();
        let mut def_groups: HashMap<&str, (String, String)> = HashMap::new();
        for (k, p) in self.pieces.iter().enumerate() {
            let at = self.loc + self.offsets.get(k).copied().unwrap_or(0);
            let mut missing = Vec::new();
            match p {
                Piece::Lit(l) => re.push_str(&regex::escape(l)),
                Piece::Re(r) => {
                    let _ = write!(re, "(?:{r})");
                }
                Piece::Def { name, re: r } => {
                    let group = format!("fcdef{k}");
                    let _ = write!(re, "(?P<{group}>{r})");
                    def_groups.insert(name, (group.clone(), r.clone()));
                    defs.push(CompiledDef { group, name: name.clone(), num: None });
                }
                Piece::Use { name } => {
                    if let Some((group, r)) = def_groups.get(name.as_str()) {
                        let own = format!("fcuse{k}");
                        let from = re.len();
                        let _ = write!(re, "(?P<{own}>{r})");
                        uses.push((from, re.len(), group.clone()));
                        equal.push((group.clone(), own));
                    } else if let Some(v) = vars.get(name) {
                        re.push_str(&regex::escape(&v.text()));
                    } else {
                        missing.push(name.clone());
                    }
                }
                Piece::NumDef { name, format, expr } => {
                    let group = format!("fcdef{k}");
                    match expr {
                        None => {
                            let f = format.unwrap_or(NumFormat::Unsigned);
                            let _ = write!(re, "(?P<{group}>{})", f.regex());
                            defs.push(CompiledDef { group, name: name.clone(), num: Some(f) });
                        }
                        Some(e) => {
                            let f = format.unwrap_or_else(|| e.implicit_format(vars));
                            if let Some(v) = e.eval(vars, &mut missing) {
                                let _ = write!(re, "(?P<{group}>{})", regex::escape(&f.print(v)));
                                defs.push(CompiledDef { group, name: name.clone(), num: Some(f) });
                            }
                        }
                    }
                }
                Piece::NumUse { format, expr } => {
                    let f = format.unwrap_or_else(|| expr.implicit_format(vars));
                    if let Some(v) = expr.eval(vars, &mut missing) {
                        re.push_str(&regex::escape(&f.print(v)));
                    }
                }
            }
            undefined.extend(missing.into_iter().map(|n| (n, at)));
        }
        if !undefined.is_empty() {
            undefined.dedup();
            return Err(Undefined(undefined));
        }
        if self.full_lines {
            if !self.strict_whitespace {
                re.push_str(" *");
            }
            re.push('$');
        }
        // Every fragment was validated when parsed; a failure here is a bug, reported as a
        // pattern that matches nothing rather than a panic.
        let source = re;
        let re = Regex::new(&source).unwrap_or_else(|_| Regex::new("[^\\s\\S]").expect("static regex"));
        Ok(Compiled::Re { re, defs, equal, source, uses })
    }

    /// Finds the first match in `text[start..end]`.
    pub fn find(&self, compiled: &Compiled, text: &str, start: usize, end: usize) -> Option<Found> {
        match compiled {
            Compiled::Eof => Some(Found { pos: end, len: 0, defs: Vec::new() }),
            Compiled::Empty => {
                let b = text.as_bytes();
                (start..end).find(|&q| b[q] == b'\n' && (q + 1 == end || b[q + 1] == b'\n')).map(|q| Found {
                    pos: q + 1,
                    len: 0,
                    defs: Vec::new(),
                })
            }
            Compiled::Fixed(s) => {
                text[start..end].find(s.as_str()).map(|p| Found { pos: start + p, len: s.len(), defs: Vec::new() })
            }
            Compiled::Re { re, defs, equal, source, uses } => {
                let found = |caps: &regex::Captures<'_>, line_start: usize| {
                    let whole = caps.get(0).map_or(0..0, |m| m.range());
                    let defs = defs
                        .iter()
                        .filter_map(|d| {
                            let m = caps.name(&d.group)?;
                            let v = match d.num {
                                Some(f) => Value::Num(f.read(m.as_str())?, f),
                                None => Value::Str(m.as_str().to_string()),
                            };
                            Some((d.name.clone(), v, (line_start + m.start(), line_start + m.end())))
                        })
                        .collect();
                    Found { pos: line_start + whole.start, len: whole.len(), defs }
                };
                let mut line_start = start;
                loop {
                    let line_end = text[line_start..end].find('\n').map_or(end, |p| line_start + p);
                    let line = &text[line_start..line_end];
                    let mut at = 0;
                    while at <= line.len() {
                        let Some(caps) = re.captures_at(line, at) else { break };
                        let whole = caps.get(0).map_or(0..0, |m| m.range());
                        let consistent = equal
                            .iter()
                            .all(|(a, b)| caps.name(a).map(|m| m.as_str()) == caps.name(b).map(|m| m.as_str()));
                        if consistent {
                            return Some(found(&caps, line_start));
                        }
                        // A back-reference did not hold: retry at the same start with each use
                        // replaced by the text its definition captured.
                        if let Some(caps) = specialize(source, uses, &caps, line, whole.start) {
                            return Some(found(&caps, line_start));
                        }
                        at = whole.start + line[whole.start..].chars().next().map_or(1, char::len_utf8);
                    }
                    if line_end >= end {
                        return None;
                    }
                    line_start = line_end + 1;
                }
            }
        }
    }
}

/// Back-reference emulation: `source` with each use span replaced by the escaped text its
/// definition group captured in `caps`, matched at `start` of `line`; the match counts when the
/// definitions capture the same texts again.
fn specialize<'h>(
    source: &str,
    uses: &[(usize, usize, String)],
    caps: &regex::Captures<'_>,
    line: &'h str,
    start: usize,
) -> Option<regex::Captures<'h>> {
    let mut src = String::with_capacity(source.len());
    let mut last = 0;
    for (from, to, group) in uses {
        src.push_str(&source[last..*from]);
        src.push_str(&regex::escape(caps.name(group)?.as_str()));
        last = *to;
    }
    src.push_str(&source[last..]);
    let re = Regex::new(&src).ok()?;
    let again = re.captures_at(line, start)?;
    let same_start = again.get(0).is_some_and(|m| m.start() == start);
    let same_defs = uses.iter().all(|(_, _, g)| again.name(g).map(|m| m.as_str()) == caps.name(g).map(|m| m.as_str()));
    (same_start && same_defs).then_some(again)
}

impl Piece {
    fn literal(&self) -> &str {
        match self {
            Piece::Lit(l) => l,
            Piece::Re(_) | Piece::Def { .. } | Piece::Use { .. } | Piece::NumDef { .. } | Piece::NumUse { .. } => "",
        }
    }

    fn uses_or_defines_variable(&self) -> bool {
        match self {
            Piece::Lit(_) | Piece::Re(_) => false,
            Piece::Def { .. } | Piece::Use { .. } | Piece::NumDef { .. } => true,
            Piece::NumUse { expr, .. } => expr.vars().next().is_some(),
        }
    }
}

/// Parses `-D` definitions: `NAME=VALUE` (string) or `#NAME=N`, `#%x,NAME=N` (numeric).
pub fn parse_define(def: &str) -> Result<(String, Value), String> {
    if let Some(num) = def.strip_prefix('#') {
        let (lhs, rhs) = num.split_once('=').ok_or_else(|| format!("missing equal sign in '-D{def}'"))?;
        let (format, name) = match lhs.strip_prefix('%') {
            Some(r) => {
                let (f, n) = r.split_once(',').ok_or_else(|| format!("invalid format in '-D{def}'"))?;
                let f = match f {
                    "u" => NumFormat::Unsigned,
                    "d" => NumFormat::Signed,
                    "x" => NumFormat::HexLower,
                    "X" => NumFormat::HexUpper,
                    other => return Err(format!("invalid format specifier '%{other}' in '-D{def}'")),
                };
                (f, n)
            }
            None => (NumFormat::Unsigned, lhs),
        };
        let (n, rest) = take_name(name.trim());
        if n.is_empty() || !rest.is_empty() {
            return Err(format!("invalid variable name in '-D{def}'"));
        }
        let expr = parse_expr(rhs, 0).map_err(|e| format!("{e} in '-D{def}'"))?;
        let v = expr.eval(&Vars::new(), &mut Vec::new()).ok_or_else(|| format!("invalid value in '-D{def}'"))?;
        return Ok((n.to_string(), Value::Num(v, format)));
    }
    let (name, value) = def.split_once('=').ok_or_else(|| format!("missing equal sign in '-D{def}'"))?;
    let (n, rest) = take_name(name);
    if n.is_empty() || !rest.is_empty() {
        return Err(format!("invalid variable name in '-D{def}'"));
    }
    Ok((n.to_string(), Value::Str(value.to_string())))
}
