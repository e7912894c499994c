//! Turns parser errors into diagnostics that speak ONNX.
//!
//! lalrpop reports the offending token and the terminals it expected there. The terminals are
//! named for people (`a name`, `a type`, `` `=>` ``), the expected set and the tokens around the
//! error tell in what construct the error is (after the graph inputs, in an attribute list,
//! ...), and a few common slips get a `help:` note.

use lalrpop_util::ParseError;
use phi_dialect::diag::{Diagnostic, FileId, Span};

use super::ast::{AttrType, PrimType};
use super::lexer::{BracketIssue, BracketKind, MAX_DEPTH, Tok, Tokens, closer_of, shorten};
use super::parse::PError;

/// Edit distance between two short strings (bounded work: names are cut to 64 characters).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn nearest<'n>(word: &str, candidates: &[&'n str]) -> Option<&'n str> {
    let limit = match word.chars().count() {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `` `a`, `b` or `c` ``.
pub fn list_names(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    join_or(&quoted)
}

/// `a, b or c`.
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn prim_names() -> Vec<&'static str> {
    PrimType::ALL.iter().map(|p| p.name()).collect()
}

/// The ONNX element type a misspelt or foreign type name most likely means.
fn suggest_type(word: &str) -> Option<&'static str> {
    const ALIASES: &[(&str, &str)] = &[
        ("int", "int64"),
        ("long", "int64"),
        ("i64", "int64"),
        ("i32", "int32"),
        ("float32", "float"),
        ("f32", "float"),
        ("float64", "double"),
        ("f64", "double"),
        ("half", "float16"),
        ("fp16", "float16"),
        ("bf16", "bfloat16"),
        ("boolean", "bool"),
        ("str", "string"),
        ("byte", "uint8"),
    ];
    if let Some((_, t)) = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(word)) {
        return Some(t);
    }
    nearest(word, &prim_names())
}

/// A readable name for a terminal of the grammar, as lalrpop spells it in expected lists.
fn terminal_name(t: &str) -> Option<&'static str> {
    Some(match t {
        "\"(\"" => "`(`",
        "\")\"" => "`)`",
        "\"[\"" => "`[`",
        "\"]\"" => "`]`",
        "\"{\"" => "`{`",
        "\"}\"" => "`}`",
        "\"<\"" => "`<`",
        "\">\"" => "`>`",
        "\",\"" => "`,`",
        "\":\"" => "`:`",
        "\".\"" => "`.`",
        "\"=\"" => "`=`",
        "\"=>\"" => "`=>`",
        "\"?\"" => "`?`",
        "\"@\"" => "`@`",
        "\"-\"" => "`-`",
        "ident" => "a name",
        "prim" | "\"seq\"" | "\"map\"" | "\"optional\"" | "\"sparse_tensor\"" | "\"opaque\"" => "a type",
        "int" => "an integer",
        "float" => "a float",
        "string" => "a string",
        _ => return None,
    })
}

/// The expected terminals, named and merged, in a fixed order.
fn expected_names(expected: &[String]) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = expected.iter().filter_map(|t| terminal_name(t)).collect();
    let has = |names: &[&str], n: &str| names.contains(&n);
    if has(&names, "an integer") && has(&names, "a float") {
        names.retain(|n| *n != "an integer" && *n != "a float");
        names.push("a number");
        names.retain(|n| *n != "`-`");
    }
    if has(&names, "a name") {
        names.retain(|n| *n != "a type");
    }
    const ORDER: &[&str] = &[
        "`=>`",
        "`=`",
        "`(`",
        "`)`",
        "`[`",
        "`]`",
        "`{`",
        "`}`",
        "`<`",
        "`>`",
        "`,`",
        "`:`",
        "`.`",
        "`@`",
        "`?`",
        "`-`",
        "a type",
        "a name",
        "a number",
        "an integer",
        "a float",
        "a string",
    ];
    names.sort_by_key(|n| ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()));
    names.dedup();
    names
}

fn has(expected: &[String], t: &str) -> bool {
    expected.iter().any(|e| e == t)
}

/// What the tokens before index `at` say about where we are.
struct Place {
    /// Bracket depth before the token.
    depth: usize,
    /// Innermost open bracket and the index of its token.
    open: Option<(char, usize)>,
    /// Whether the main graph's node list has been closed (we are in the functions).
    in_functions: bool,
}

fn place(tokens: &Tokens<'_>, at: usize) -> Place {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let mut in_functions = false;
    for (i, t) in tokens.tokens.iter().enumerate().take(at) {
        if let Some(o) = t.tok.opens() {
            stack.push((o, i));
        } else if let Some(c) = t.tok.closes()
            && stack.last().is_some_and(|(o, _)| *o == c)
        {
            stack.pop();
            if c == '{' && stack.is_empty() {
                in_functions = true;
            }
        }
    }
    Place { depth: stack.len(), open: stack.last().copied(), in_functions }
}

/// The phrase that says where the error is, from the expected set and the tokens before.
fn context(tokens: &Tokens<'_>, at: usize, expected: &[String]) -> Option<String> {
    let toks = &tokens.tokens;
    let prev = at.checked_sub(1).and_then(|i| toks.get(i)).map(|t| &t.tok);
    let p = place(tokens, at);
    let owner = if p.depth == 0 && p.in_functions { "function" } else { "graph" };
    let opener = p.open.and_then(|(_, i)| i.checked_sub(1)).and_then(|i| toks.get(i)).map(|t| &t.tok);
    let only = |set: &[&str]| expected.iter().all(|e| set.contains(&e.as_str()));
    if only(&["\"=>\""]) {
        return Some(format!(" after the {owner} inputs"));
    }
    if has(expected, "\"{\"") && has(expected, "\"<\"") && !has(expected, "\"(\"") && prev == Some(&Tok::RParen) {
        return Some(format!(" after the {owner} outputs"));
    }
    if has(expected, "\"{\"") && prev == Some(&Tok::Gt) && !has(expected, "\"(\"") {
        return Some(format!(" after the {owner} value-infos"));
    }
    if only(&["\"=\"", "\",\""]) {
        return Some(" after the node outputs".into());
    }
    if prev == Some(&Tok::Arrow) {
        return Some(" after `=>`".into());
    }
    if p.depth == 0 && p.in_functions && prev == Some(&Tok::Gt) {
        return Some(" after the function header".into());
    }
    if has(expected, "\"}\"") && has(expected, "\"[\"") && has(expected, "\"=\"") {
        return Some(" at the start of a node".into());
    }
    if has(expected, "\"(\"") && has(expected, "\"<\"") && has(expected, "\".\"") {
        return Some(match prev {
            Some(Tok::Ident(s)) => format!(" after the operator name `{s}`"),
            _ => " after the operator name".into(),
        });
    }
    if has(expected, "\"=\"") && has(expected, "\":\"") {
        return Some(match prev {
            Some(Tok::Ident(s)) => format!(" after the attribute name `{s}`"),
            _ => " after the attribute name".into(),
        });
    }
    if p.open.is_some_and(|(c, _)| c == '<') && p.depth == 1 && opener.is_none() {
        return Some(" in the model header".into());
    }
    if p.open.is_some_and(|(c, _)| c == '<') && p.depth == 1 && opener == Some(&Tok::RBrace) {
        return Some(" in the function header".into());
    }
    if p.open.is_some_and(|(c, _)| c == '<') && matches!(opener, Some(Tok::Ident(_))) && at > 0 {
        return Some(" in the attribute list".into());
    }
    None
}

/// Whether token `at` is inside an attribute annotation `name: type` of an attribute list.
fn is_attr_type_position(tokens: &Tokens<'_>, at: usize, expected: &[String]) -> bool {
    let toks = &tokens.tokens;
    let prev = at.checked_sub(1).and_then(|i| toks.get(i)).map(|t| &t.tok);
    let prev2 = at.checked_sub(2).and_then(|i| toks.get(i)).map(|t| &t.tok);
    let p = place(tokens, at);
    let header =
        p.depth == 1 && p.open.is_some_and(|(_, i)| i == 0 || toks.get(i - 1).is_some_and(|t| t.tok == Tok::RBrace));
    prev == Some(&Tok::Colon)
        && matches!(
            prev2,
            Some(Tok::Ident(_) | Tok::Prim(_) | Tok::Seq | Tok::Map | Tok::Optional | Tok::SparseTensor | Tok::Opaque)
        )
        && p.open.is_some_and(|(c, _)| c == '<')
        && !header
        && has(expected, "ident")
}

/// The span of token `i`, or the end of the text.
fn token_span(file: FileId, text: &str, tokens: &Tokens<'_>, i: usize) -> Span {
    match tokens.tokens.get(i) {
        Some(t) => Span::new(file, t.range.clone()),
        None => Span::new(file, text.len()..text.len()),
    }
}

pub(crate) fn bracket_diagnostic(file: FileId, text: &str, tokens: &Tokens<'_>, issue: &BracketIssue) -> Diagnostic {
    let span = token_span(file, text, tokens, issue.index);
    match &issue.kind {
        BracketKind::TooDeep => Diagnostic::error(format!("brackets are nested more than {MAX_DEPTH} levels deep"))
            .with_span(span, "too deep")
            .with_help("flatten the nesting; no ONNX model needs this much"),
        BracketKind::Mismatch { open: Some((o, range)) } => {
            let found = tokens.tokens.get(issue.index).map_or(String::new(), |t| t.tok.to_string());
            Diagnostic::error(format!("unbalanced brackets: {found} does not close `{o}`"))
                .with_span(span, format!("expected `{}` first", closer_of(*o)))
                .with_secondary(Span::new(file, range.clone()), format!("`{o}` opened here"))
                .with_help(format!("close the `{o}` with `{}` before this, or remove the extra bracket", closer_of(*o)))
        }
        BracketKind::Mismatch { open: None } => {
            let found = tokens.tokens.get(issue.index).map_or(String::new(), |t| t.tok.to_string());
            Diagnostic::error(format!("unbalanced brackets: {found} closes nothing"))
                .with_span(span, "no bracket is open here")
                .with_help("remove it, or add the opening bracket it belongs to")
        }
        BracketKind::Unclosed { open: (o, range) } => {
            Diagnostic::error(format!("unbalanced brackets: `{o}` is never closed"))
                .with_span(Span::new(file, range.clone()), format!("this `{o}` has no `{}`", closer_of(*o)))
                .with_help(format!("add `{}` where the bracket should end", closer_of(*o)))
        }
    }
}

/// How the token at `at` is named in "found ...": numbers as written.
fn found_desc(text: &str, tokens: &Tokens<'_>, at: usize) -> String {
    match tokens.tokens.get(at) {
        None => "the end of the file".into(),
        Some(t) if matches!(t.tok, Tok::Int(_)) => {
            format!("integer `{}`", shorten(text.get(t.range.clone()).unwrap_or("")))
        }
        Some(t) if matches!(t.tok, Tok::Float(_)) => {
            format!("number `{}`", shorten(text.get(t.range.clone()).unwrap_or("")))
        }
        Some(t) => t.tok.to_string(),
    }
}

/// Help notes for common slips at token `at`.
fn help_for(tokens: &Tokens<'_>, at: usize, expected: &[String]) -> Option<String> {
    let toks = &tokens.tokens;
    let found = toks.get(at).map(|t| &t.tok);
    let next = toks.get(at + 1).map(|t| &t.tok);
    let prev = at.checked_sub(1).and_then(|i| toks.get(i)).map(|t| &t.tok);
    let prev2 = at.checked_sub(2).and_then(|i| toks.get(i)).map(|t| &t.tok);
    let p = place(tokens, at);
    let in_angle = p.open.is_some_and(|(c, _)| c == '<');
    let only = |set: &[&str]| expected.iter().all(|e| set.contains(&e.as_str()));
    let name_like =
        |t: Option<&Tok<'_>>| matches!(t, Some(Tok::Ident(_) | Tok::Str(_) | Tok::Prim(_) | Tok::FloatWord(_)));

    // `= >` for `=>`.
    if has(expected, "\"=>\"") && found == Some(&Tok::Eq) && next == Some(&Tok::Gt) {
        return Some("write `=>` without a space between `=` and `>`".into());
    }
    if only(&["\"=>\""]) {
        return Some("a graph is written `name (inputs) => (outputs) { nodes }`".into());
    }
    // A missing `=` in a node.
    if only(&["\"=\"", "\",\""]) {
        return Some("a node is written `outputs = Op(inputs)`; add the `=`".into());
    }
    // A second attribute list.
    if found == Some(&Tok::Lt) && has(expected, "\"}\"") && has(expected, "\"[\"") {
        return Some(
            "a node has one attribute list, before or after its inputs: `y = Op<a = 1>(x)` or `y = Op(x) <a = 1>`"
                .into(),
        );
    }
    // Inputs without parentheses.
    if has(expected, "\"(\"") && has(expected, "\"<\"") && has(expected, "\".\"") && name_like(found) {
        return Some("the inputs of a node are written in parentheses: `y = Op(x)`".into());
    }
    // `alpha 1.0` for `alpha = 1.0`.
    if has(expected, "\"=\"") && has(expected, "\":\"") {
        return Some("attributes are written `name = value` (or `name: type = value`)".into());
    }
    // `ir_version 8` for `ir_version: 8`.
    if only(&["\":\""]) && in_angle && p.depth == 1 {
        return Some("header entries are written `key: value`".into());
    }
    // An unquoted string as an attribute value.
    if let (Some(Tok::Ident(word)), Some(Tok::Eq)) = (prev, prev2)
        && in_angle
        && has(expected, "\"(\"")
        && !has(expected, "\".\"")
    {
        return Some(format!("if `{word}` is a string, quote it: `\"{word}\"`"));
    }
    // External-data values are strings.
    if prev == Some(&Tok::Colon) && only(&["string"]) {
        if let Some(Tok::Int(v)) = found {
            return Some(format!("the values are strings: write `\"{v}\"`"));
        }
        return Some("external data is a list of `\"key\": \"value\"` string pairs".into());
    }
    // A trailing comma.
    if prev == Some(&Tok::Comma) && matches!(found, Some(Tok::RParen | Tok::RBracket | Tok::Gt | Tok::RBrace)) {
        if found == Some(&Tok::RBrace) && has(expected, "\"=\"") {
            return Some("nodes are not separated by `,`; put each node on its own line".into());
        }
        return Some("remove the trailing `,`".into());
    }
    // An empty attribute list.
    if prev == Some(&Tok::Lt) && found == Some(&Tok::Gt) {
        return Some("an attribute list holds at least one attribute; remove the empty `<>`".into());
    }
    // Outputs without parentheses.
    if prev == Some(&Tok::Arrow) && only(&["\"(\""]) {
        return Some("the outputs are written in parentheses: `=> (float[N] y)`".into());
    }
    // `x: float` for `float x`.
    if found == Some(&Tok::Colon) && has(expected, "\")\"") && has(expected, "\",\"") && name_like(prev) {
        return Some("a type is written before the name: `float[N] x`".into());
    }
    // A graph value without a name.
    if has(expected, "\"@\"") && found == Some(&Tok::LParen) {
        return Some("a graph value starts with its name: `then_branch = g () => (float y) { ... }`".into());
    }
    // `["" 17]` for `["" : 17]` in a header list.
    if has(expected, "\":\"") && has(expected, "\"]\"") && p.depth == 2 {
        return Some("the entries of this list are written `\"key\" : value`".into());
    }
    // A missing comma between list items.
    if has(expected, "\",\"")
        && matches!(
            found,
            Some(Tok::Ident(_) | Tok::Prim(_) | Tok::Str(_) | Tok::Int(_) | Tok::Float(_) | Tok::Seq | Tok::Map)
        )
    {
        return Some("separate the items with `,`".into());
    }
    None
}

/// The diagnostic for an unexpected token at index `l`.
fn unrecognized(file: FileId, text: &str, tokens: &Tokens<'_>, l: usize, expected: &[String]) -> Diagnostic {
    let toks = &tokens.tokens;
    let found_tok = toks.get(l).map(|t| &t.tok);
    let prev = l.checked_sub(1).and_then(|i| toks.get(i)).map(|t| &t.tok);
    let span = token_span(file, text, tokens, l);
    let found = found_desc(text, tokens, l);
    let names = prim_names();

    // A misspelt type used as a type: `flaot[N] x`, `flaot x`.
    if let Some(Tok::Ident(word)) = prev {
        let used_as_type = matches!(found_tok, Some(Tok::LBracket | Tok::Ident(_) | Tok::Str(_)));
        if used_as_type
            && (has(expected, "\",\"") || has(expected, "\")\"") || has(expected, "\">\""))
            && let Some(n) = suggest_type(word)
        {
            return Diagnostic::error(format!("unknown type `{word}`"))
                .with_span(token_span(file, text, tokens, l - 1), "not an ONNX type")
                .with_help(format!("did you mean `{n}`?"));
        }
    }
    // An unknown type constructor: `tensor(float) x`, `sequence(float) x`.
    if let Some(Tok::Ident(word)) = prev
        && found_tok == Some(&Tok::LParen)
        && has(expected, "\")\"")
        && has(expected, "\",\"")
    {
        const CONSTRUCTORS: &[&str] = &["seq", "map", "optional", "sparse_tensor", "opaque"];
        let help = match nearest(word, CONSTRUCTORS) {
            Some(n) => Some(format!("did you mean `{n}`?")),
            None if *word == "tensor" => Some("tensor types are written with their element type: `float[N, 8]`".into()),
            None => None,
        };
        if let Some(help) = help {
            return Diagnostic::error(format!("unknown type `{word}`"))
                .with_span(token_span(file, text, tokens, l - 1), "not an ONNX type")
                .with_help(help);
        }
    }
    // A name where only a type may stand: `seq(flot)`.
    if let Some(Tok::Ident(word)) = found_tok
        && has(expected, "prim")
        && !has(expected, "ident")
    {
        let d = Diagnostic::error(format!("unknown type `{word}`")).with_span(span, "not an ONNX type");
        return match suggest_type(word) {
            Some(n) => d.with_help(format!("did you mean `{n}`?")),
            None => d.with_help(format!("ONNX element types are {}", list_names(&names))),
        };
    }
    // A bare name as an attribute value: `mode = constant`.
    let prev2 = l.checked_sub(2).and_then(|i| toks.get(i)).map(|t| &t.tok);
    if let (Some(Tok::Ident(word)), Some(Tok::Eq)) = (prev, prev2) {
        let in_angle = place(tokens, l).open.is_some_and(|(c, _)| c == '<');
        if in_angle && expected.len() == 1 && has(expected, "\"(\"") {
            return Diagnostic::error(format!("expected an attribute value, found the bare name `{word}`"))
                .with_span(token_span(file, text, tokens, l - 1), "not a value")
                .with_help(format!(
                    "if `{word}` is a string, quote it: `\"{word}\"`; a name only starts a graph value: `{word} (inputs) => (outputs) {{ ... }}`"
                ));
        }
    }
    // After `name:` in an attribute list: an attribute type.
    if is_attr_type_position(tokens, l, expected) {
        let d = Diagnostic::error(format!("expected an attribute type after `:`, found {found}"))
            .with_span(span, "expected an attribute type");
        let literal =
            matches!(found_tok, Some(Tok::Int(_) | Tok::Float(_) | Tok::Str(_) | Tok::Minus | Tok::LBracket | Tok::At));
        return if literal {
            d.with_help("attributes are written `name = value` (or `name: type = value`); replace `:` with `=`")
        } else {
            let types: Vec<&str> = AttrType::ALL.iter().map(|t| t.name()).collect();
            d.with_help(format!("attribute types are {}", list_names(&types)))
        };
    }
    // After the main graph: only functions.
    let p = place(tokens, l);
    if p.depth == 0 && p.in_functions && prev == Some(&Tok::RBrace) {
        return Diagnostic::error(format!("expected a local function or the end of the file, found {found}"))
            .with_span(span, "unexpected here")
            .with_help("only local functions may follow the main graph: `name (inputs) => (outputs) { nodes }`");
    }

    // A map key that is not a primitive type.
    if prev == Some(&Tok::LParen) && prev2 == Some(&Tok::Map) {
        return Diagnostic::error(format!("the key type of a map must be a primitive type, found {found}"))
            .with_span(span, "not a primitive type")
            .with_help("map keys are primitive types such as `int64` or `string`: `map(int64, float[N])`");
    }

    let names = expected_names(expected);
    let ctx = context(tokens, l, expected).unwrap_or_default();
    let mut what = join_or(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    if has(expected, "\"@\"") {
        what = "an attribute value".into();
    }
    let short =
        if names.len() <= 3 || what.len() < 24 { format!("expected {what}") } else { "unexpected here".to_string() };
    let mut d = Diagnostic::error(format!("expected {what}{ctx}, found {found}")).with_span(span, short);
    if let Some(h) = help_for(tokens, l, expected) {
        d = d.with_help(h);
    }
    d
}

/// Translates a parser error into a diagnostic.
pub(crate) fn translate(file: FileId, text: &str, tokens: &Tokens<'_>, e: PError<'_>) -> Diagnostic {
    match e {
        ParseError::User { error } => error.0,
        ParseError::InvalidToken { location } => {
            let span = token_span(file, text, tokens, location);
            Diagnostic::error("invalid token").with_span(span, "not understood here")
        }
        ParseError::UnrecognizedEof { location, expected } => {
            if let Some(issue) = &tokens.bracket_issue {
                return bracket_diagnostic(file, text, tokens, issue);
            }
            let names = expected_names(&expected);
            let ctx = context(tokens, location, &expected).unwrap_or_default();
            let span = Span::new(file, text.len()..text.len());
            if tokens.tokens.is_empty() {
                return Diagnostic::error("expected a model header `<...>` or a graph name, found the end of the file")
                    .with_span(span, "the file ends here")
                    .with_help(
                        "a model is written `<header> name (inputs) => (outputs) { nodes }`; the header is optional",
                    );
            }
            let what = if names.is_empty() {
                "more input".to_string()
            } else {
                join_or(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            };
            let mut d = Diagnostic::error(format!("expected {what}{ctx}, found the end of the file"))
                .with_span(span, "the file ends here");
            if let Some(h) = help_for(tokens, location, &expected) {
                d = d.with_help(h);
            }
            d
        }
        ParseError::UnrecognizedToken { token: (l, _, _), expected } => unrecognized(file, text, tokens, l, &expected),
        ParseError::ExtraToken { token: (l, tok, _) } => {
            let span = token_span(file, text, tokens, l);
            Diagnostic::error(format!("unexpected {tok} after the end of the model"))
                .with_span(span, "nothing may follow here")
                .with_help("only local functions may follow the main graph")
        }
    }
}
