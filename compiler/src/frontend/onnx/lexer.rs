//! Lexer of the ONNX textual syntax.
//!
//! A `logos` state machine cuts the text into raw tokens (identifiers, numbers, strings and
//! punctuation; whitespace and `#` comments to the end of the line are skipped). The raw tokens
//! are then classified into the [`Tok`]ens the grammar sees: identifiers that name an ONNX
//! primitive type (`float`, `int64`, ...) or a type constructor (`seq`, `map`, ...) become
//! keyword tokens, `inf`/`infinity`/`nan` (any case) become float words, string literals are
//! unescaped and integer literals are read as `u64`.
//!
//! String escapes follow the reference parser: a backslash makes the next character literal
//! (`\"` is a quote, `\\` a backslash, `\n` is the letter `n`); strings may span lines.
//!
//! The lexer also checks bracket balance and nesting depth (see [`MAX_DEPTH`]) so that the
//! parser and the syntax tree never recurse deeper than that.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use logos::Logos;
use phi_dialect::diag::{Diagnostic, FileId, Span};

use super::ast::PrimType;

/// Deepest bracket nesting (`(`, `[`, `{`, `<` together) the frontend accepts.
///
/// It bounds the depth of the syntax tree (nested types, nested graph attributes), so that
/// building, walking and dropping a tree never overflows the stack.
pub const MAX_DEPTH: usize = 128;

/// Raw tokens, as cut by the `logos` state machine.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"([ \t\r\n\x0B\x0C\u{FEFF}]|#[^\n]*)+")]
enum Raw {
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r"[0-9]+")]
    Int,
    #[regex(r"[0-9]+\.[0-9]*([eE][+-]?[0-9]+)?")]
    #[regex(r"[0-9]+[eE][+-]?[0-9]+")]
    Float,
    #[regex(r#""([^"\\]|\\(.|\n))*""#)]
    Str,
    #[regex(r#""([^"\\]|\\(.|\n))*\\?"#)]
    UnterminatedStr,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
    #[token("=")]
    Eq,
    #[token("=>")]
    Arrow,
    #[token("?")]
    Question,
    #[token("@")]
    At,
    #[token("-")]
    Minus,
}

/// A token of the ONNX textual syntax, as the grammar sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok<'a> {
    /// An identifier that is not a keyword: `[A-Za-z_][A-Za-z0-9_]*`.
    Ident(&'a str),
    /// The name of an ONNX primitive type (`float`, `int64`, `float8e4m3fn`, ...).
    Prim(PrimType),
    /// `seq`.
    Seq,
    /// `map`.
    Map,
    /// `optional`.
    Optional,
    /// `sparse_tensor`.
    SparseTensor,
    /// `opaque`.
    Opaque,
    /// `inf`, `infinity` or `nan`, in any case: a float literal where a value is expected,
    /// an identifier elsewhere.
    FloatWord(&'a str),
    /// An unsigned integer literal.
    Int(u64),
    /// An unsigned float literal (with a `.` or an exponent).
    Float(f64),
    /// A string literal, unescaped.
    Str(Cow<'a, str>),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `[`.
    LBracket,
    /// `]`.
    RBracket,
    /// `{`.
    LBrace,
    /// `}`.
    RBrace,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `,`.
    Comma,
    /// `:`.
    Colon,
    /// `.`.
    Dot,
    /// `=`.
    Eq,
    /// `=>`.
    Arrow,
    /// `?`.
    Question,
    /// `@`.
    At,
    /// `-`.
    Minus,
    /// Never produced by the lexer: put first by the driver to select the model grammar.
    StartModel,
    /// Never produced by the lexer: put first by the driver to select the graph grammar.
    StartGraph,
}

impl Tok<'_> {
    /// The bracket this token opens, if it is an opening bracket.
    pub fn opens(&self) -> Option<char> {
        if matches!(self, Tok::LParen) {
            Some('(')
        } else if matches!(self, Tok::LBracket) {
            Some('[')
        } else if matches!(self, Tok::LBrace) {
            Some('{')
        } else if matches!(self, Tok::Lt) {
            Some('<')
        } else {
            None
        }
    }

    /// The bracket this token closes, if it is a closing bracket (as the matching opener).
    pub fn closes(&self) -> Option<char> {
        if matches!(self, Tok::RParen) {
            Some('(')
        } else if matches!(self, Tok::RBracket) {
            Some('[')
        } else if matches!(self, Tok::RBrace) {
            Some('{')
        } else if matches!(self, Tok::Gt) {
            Some('<')
        } else {
            None
        }
    }
}

impl fmt::Display for Tok<'_> {
    /// How a token is named in diagnostics ("found ...").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "identifier `{}`", shorten(s)),
            Tok::Prim(p) => write!(f, "type `{}`", p.name()),
            Tok::Seq => f.write_str("`seq`"),
            Tok::Map => f.write_str("`map`"),
            Tok::Optional => f.write_str("`optional`"),
            Tok::SparseTensor => f.write_str("`sparse_tensor`"),
            Tok::Opaque => f.write_str("`opaque`"),
            Tok::FloatWord(s) => write!(f, "`{s}`"),
            Tok::Int(v) => write!(f, "integer `{v}`"),
            Tok::Float(v) => write!(f, "number `{v}`"),
            Tok::Str(s) => {
                let short: String = s.chars().take(24).collect();
                let dots = if short.len() < s.len() { "..." } else { "" };
                write!(f, "string \"{}{dots}\"", short.escape_debug())
            }
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::LBracket => f.write_str("`[`"),
            Tok::RBracket => f.write_str("`]`"),
            Tok::LBrace => f.write_str("`{`"),
            Tok::RBrace => f.write_str("`}`"),
            Tok::Lt => f.write_str("`<`"),
            Tok::Gt => f.write_str("`>`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::Colon => f.write_str("`:`"),
            Tok::Dot => f.write_str("`.`"),
            Tok::Eq => f.write_str("`=`"),
            Tok::Arrow => f.write_str("`=>`"),
            Tok::Question => f.write_str("`?`"),
            Tok::At => f.write_str("`@`"),
            Tok::Minus => f.write_str("`-`"),
            Tok::StartModel | Tok::StartGraph => f.write_str("the start of the file"),
        }
    }
}

/// A token and the byte range it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct Token<'a> {
    /// The token.
    pub tok: Tok<'a>,
    /// Its bytes in the text.
    pub range: Range<usize>,
}

/// The result of [`tokenize`]: the tokens, and the first bracket problem if there is one.
#[derive(Clone, Debug)]
pub struct Tokens<'a> {
    /// All tokens of the text, in order (up to a lexical error, see [`tokenize`]).
    pub tokens: Vec<Token<'a>>,
    /// The first bracket problem: a closer that does not match, nesting deeper than
    /// [`MAX_DEPTH`], or openers left unclosed at the end. The parser is only fed the tokens
    /// before [`BracketIssue::index`]; its own error wins if it comes earlier.
    pub bracket_issue: Option<BracketIssue>,
}

/// What is wrong with the brackets of a text.
#[derive(Clone, Debug, PartialEq)]
pub enum BracketKind {
    /// A closing bracket that does not match the innermost open one (or closes nothing).
    Mismatch {
        /// The innermost open bracket and its byte range, if any is open.
        open: Option<(char, Range<usize>)>,
    },
    /// An opening bracket past [`MAX_DEPTH`].
    TooDeep,
    /// Brackets still open at the end of the text; the innermost one and its byte range.
    Unclosed {
        /// The innermost unclosed bracket.
        open: (char, Range<usize>),
    },
}

/// A bracket problem found by [`tokenize`].
#[derive(Clone, Debug, PartialEq)]
pub struct BracketIssue {
    /// Index of the offending token (the token count for [`BracketKind::Unclosed`]).
    pub index: usize,
    /// What is wrong.
    pub kind: BracketKind,
}

/// The closing bracket of an opener.
pub fn closer_of(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        _ => '>',
    }
}

/// Cuts a text into tokens.
///
/// A lexical error (an unexpected character, an unterminated string, a malformed or too large
/// number) is returned as a diagnostic. Bracket problems are not errors here: they are
/// reported in [`Tokens::bracket_issue`] so that the parser can report an earlier syntax
/// error first.
pub fn tokenize(file: FileId, text: &str) -> Result<Tokens<'_>, Diagnostic> {
    let mut lex = Raw::lexer(text);
    let mut tokens = Vec::new();
    let mut stack: Vec<(char, Range<usize>)> = Vec::new();
    let mut bracket_issue = None;
    while let Some(raw) = lex.next() {
        let range = lex.span();
        let slice = lex.slice();
        let span = Span::new(file, range.clone());
        let tok = match raw {
            Ok(raw) => classify(raw, slice, span)?,
            Err(()) => return Err(unexpected_char(file, text, range.start)),
        };
        if bracket_issue.is_none() {
            if let Some(open) = tok.opens() {
                if stack.len() >= MAX_DEPTH {
                    bracket_issue = Some(BracketIssue { index: tokens.len(), kind: BracketKind::TooDeep });
                } else {
                    stack.push((open, range.clone()));
                }
            } else if let Some(open) = tok.closes() {
                match stack.last() {
                    Some((o, _)) if *o == open => {
                        stack.pop();
                    }
                    last => {
                        bracket_issue = Some(BracketIssue {
                            index: tokens.len(),
                            kind: BracketKind::Mismatch { open: last.cloned() },
                        });
                    }
                }
            }
        }
        tokens.push(Token { tok, range });
    }
    if bracket_issue.is_none()
        && let Some(open) = stack.pop()
    {
        bracket_issue = Some(BracketIssue { index: tokens.len(), kind: BracketKind::Unclosed { open } });
    }
    Ok(Tokens { tokens, bracket_issue })
}

/// Turns a raw token into a grammar token.
fn classify<'a>(raw: Raw, slice: &'a str, span: Span) -> Result<Tok<'a>, Diagnostic> {
    Ok(match raw {
        Raw::Ident => classify_ident(slice),
        Raw::Int => match slice.parse::<u64>() {
            Ok(v) => Tok::Int(v),
            Err(_) => {
                return Err(Diagnostic::error(format!("integer literal `{}` is too large", shorten(slice)))
                    .with_span(span, "does not fit in 64 bits")
                    .with_help(format!("integers must lie in {}..={}", i64::MIN, i64::MAX)));
            }
        },
        Raw::Float => match slice.parse::<f64>() {
            Ok(v) if v.is_finite() => Tok::Float(v),
            _ => {
                return Err(Diagnostic::error(format!("float literal `{}` is out of range", shorten(slice)))
                    .with_span(span, "too large for a 64-bit float")
                    .with_help("write `inf` for an infinite value"));
            }
        },
        Raw::Str => Tok::Str(unescape(&slice[1..slice.len() - 1])),
        Raw::UnterminatedStr => {
            let start = Span { end: span.start + 1, ..span };
            return Err(Diagnostic::error("unterminated string")
                .with_span(start, "this string is never closed")
                .with_help("close the string with `\"`; inside a string, write a quote as `\\\"`"));
        }
        Raw::LParen => Tok::LParen,
        Raw::RParen => Tok::RParen,
        Raw::LBracket => Tok::LBracket,
        Raw::RBracket => Tok::RBracket,
        Raw::LBrace => Tok::LBrace,
        Raw::RBrace => Tok::RBrace,
        Raw::Lt => Tok::Lt,
        Raw::Gt => Tok::Gt,
        Raw::Comma => Tok::Comma,
        Raw::Colon => Tok::Colon,
        Raw::Dot => Tok::Dot,
        Raw::Eq => Tok::Eq,
        Raw::Arrow => Tok::Arrow,
        Raw::Question => Tok::Question,
        Raw::At => Tok::At,
        Raw::Minus => Tok::Minus,
    })
}

/// Keywords, float words and plain identifiers.
fn classify_ident(s: &str) -> Tok<'_> {
    if let Some(p) = PrimType::from_name(s) {
        return Tok::Prim(p);
    }
    match s {
        "seq" => Tok::Seq,
        "map" => Tok::Map,
        "optional" => Tok::Optional,
        "sparse_tensor" => Tok::SparseTensor,
        "opaque" => Tok::Opaque,
        _ if is_float_word(s) => Tok::FloatWord(s),
        _ => Tok::Ident(s),
    }
}

/// `inf`, `infinity` or `nan`, in any case.
pub fn is_float_word(s: &str) -> bool {
    ["inf", "infinity", "nan"].iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// The value of a float word (see [`is_float_word`]).
pub fn float_word_value(s: &str) -> f64 {
    if s.eq_ignore_ascii_case("nan") { f64::NAN } else { f64::INFINITY }
}

/// Removes the escapes of a string literal's body: `\c` stands for `c`.
fn unescape(body: &str) -> Cow<'_, str> {
    if !body.contains('\\') {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The first characters of a long slice, for messages.
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 32 { s.to_string() } else { format!("{}...", s.chars().take(32).collect::<String>()) }
}

/// The diagnostic for a character no token starts with.
fn unexpected_char(file: FileId, text: &str, at: usize) -> Diagnostic {
    let c = text[at..].chars().next().unwrap_or('\0');
    let span = Span::new(file, at..at + c.len_utf8().max(1));
    let shown =
        if c.is_ascii_graphic() || c.is_alphabetic() { c.to_string() } else { format!("U+{:04X}", u32::from(c)) };
    let d = Diagnostic::error(format!("unexpected character `{shown}`")).with_span(span, "no ONNX token starts here");
    match c {
        '\'' => d.with_help("strings and quoted names use double quotes: `\"...\"`"),
        ';' => d.with_help("nodes are not separated by `;`; put each node on its own line"),
        '+' => d.with_help("numbers are written without a leading `+`"),
        '/' => d.with_help("comments start with `#`; names containing `/` must be quoted: `\"a/b\"`"),
        _ if c.is_alphanumeric() || c == '$' || c == '!' || c == '%' || c == '&' => {
            d.with_help("identifiers only contain ASCII letters, digits and `_`; quote other names: `\"my name\"`")
        }
        _ => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok<'_>> {
        tokenize(FileId(0), text).expect("lexes").tokens.into_iter().map(|t| t.tok).collect()
    }

    fn err(text: &str) -> Diagnostic {
        tokenize(FileId(0), text).expect_err("should not lex")
    }

    #[test]
    fn punctuation_and_arrow() {
        assert_eq!(
            toks("( ) [ ] { } < > , : . = => ? @ -"),
            vec![
                Tok::LParen,
                Tok::RParen,
                Tok::LBracket,
                Tok::RBracket,
                Tok::LBrace,
                Tok::RBrace,
                Tok::Lt,
                Tok::Gt,
                Tok::Comma,
                Tok::Colon,
                Tok::Dot,
                Tok::Eq,
                Tok::Arrow,
                Tok::Question,
                Tok::At,
                Tok::Minus
            ]
        );
        // `= >` is two tokens, `=>` one.
        assert_eq!(toks("= >"), vec![Tok::Eq, Tok::Gt]);
    }

    #[test]
    fn keywords_and_identifiers() {
        assert_eq!(
            toks("float int64 float8e4m3fn seq map optional sparse_tensor opaque Float x_1 _y"),
            vec![
                Tok::Prim(PrimType::Float),
                Tok::Prim(PrimType::Int64),
                Tok::Prim(PrimType::Float8e4m3fn),
                Tok::Seq,
                Tok::Map,
                Tok::Optional,
                Tok::SparseTensor,
                Tok::Opaque,
                Tok::Ident("Float"),
                Tok::Ident("x_1"),
                Tok::Ident("_y"),
            ]
        );
        assert_eq!(
            toks("inf NaN Infinity info"),
            vec![Tok::FloatWord("inf"), Tok::FloatWord("NaN"), Tok::FloatWord("Infinity"), Tok::Ident("info")]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(toks("0 42 18446744073709551615"), vec![Tok::Int(0), Tok::Int(42), Tok::Int(u64::MAX)]);
        assert_eq!(
            toks("1.5 2. 1e3 4E+1 5.5e-10"),
            vec![Tok::Float(1.5), Tok::Float(2.0), Tok::Float(1000.0), Tok::Float(40.0), Tok::Float(5.5e-10)]
        );
        assert_eq!(toks("-3"), vec![Tok::Minus, Tok::Int(3)]);
        let d = err("x 18446744073709551616");
        assert!(d.message.contains("too large"), "{}", d.message);
        let d = err("1e999");
        assert!(d.message.contains("out of range"), "{}", d.message);
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(toks(r#""abc""#), vec![Tok::Str(Cow::Borrowed("abc"))]);
        assert_eq!(toks(r#""123\"56\\89""#), vec![Tok::Str(Cow::Owned("123\"56\\89".into()))]);
        assert_eq!(toks(r#""a\nb""#), vec![Tok::Str(Cow::Owned("anb".into()))]);
        assert_eq!(toks("\"two\nlines\""), vec![Tok::Str(Cow::Borrowed("two\nlines"))]);
        assert_eq!(toks(r#""""#), vec![Tok::Str(Cow::Borrowed(""))]);
        assert_eq!(toks("\"é # not a comment\""), vec![Tok::Str(Cow::Borrowed("é # not a comment"))]);
    }

    #[test]
    fn unterminated_string() {
        let d = err("x = \"abc");
        assert_eq!(d.message, "unterminated string");
        assert!(d.notes.iter().any(|n| n.starts_with("help:")));
        let d = err("x = \"abc\\");
        assert_eq!(d.message, "unterminated string");
    }

    #[test]
    fn comments_and_whitespace() {
        assert_eq!(toks("a # comment ( [ {\n\tb#c\r\n"), vec![Tok::Ident("a"), Tok::Ident("b")]);
        assert_eq!(toks("# only a comment"), vec![]);
        assert_eq!(toks(""), vec![]);
    }

    #[test]
    fn unexpected_characters() {
        let d = err("a = $b");
        assert_eq!(d.message, "unexpected character `$`");
        let d = err("x = 'a'");
        assert!(d.notes.iter().any(|n| n.contains("double quotes")));
        let d = err("é");
        assert_eq!(d.message, "unexpected character `é`");
    }

    #[test]
    fn spans() {
        let t = tokenize(FileId(0), "ab  \"c\"\n=>").unwrap().tokens;
        assert_eq!(t[0].range, 0..2);
        assert_eq!(t[1].range, 4..7);
        assert_eq!(t[2].range, 8..10);
    }

    #[test]
    fn brackets() {
        let t = tokenize(FileId(0), "( [ ) ]").unwrap();
        assert_eq!(
            t.bracket_issue,
            Some(BracketIssue { index: 2, kind: BracketKind::Mismatch { open: Some(('[', 2..3)) } })
        );
        let t = tokenize(FileId(0), "{ <").unwrap();
        assert_eq!(t.bracket_issue, Some(BracketIssue { index: 2, kind: BracketKind::Unclosed { open: ('<', 2..3) } }));
        let t = tokenize(FileId(0), "a => b").unwrap();
        assert_eq!(t.bracket_issue, None);
        let deep = "[".repeat(100_000);
        let t = tokenize(FileId(0), &deep).unwrap();
        assert_eq!(t.bracket_issue, Some(BracketIssue { index: MAX_DEPTH, kind: BracketKind::TooDeep }));
    }
}
