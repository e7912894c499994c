//! Tokens of the IR text (MLIR generic syntax), produced by a `logos` lexer.
//!
//! MLIR writes shapes as `8x64xf32`; that run is one [`Tok::DimsElem`] token here, which the
//! type parser splits. Uppercase hex (`0x7F800000`) stays a [`Tok::Hex`] integer; lowercase hex
//! that also looks like a shape (`0xff…`) is reinterpreted by the parser where a number is due.

use logos::Logos;

/// A token of the IR text.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
pub enum Tok {
    /// `%name` or `%name#3` (a result of a multi-result op).
    #[regex(r"%[A-Za-z0-9_$.\-]+(#[0-9]+)?")]
    Value,
    /// `^bb0`
    #[regex(r"\^[A-Za-z0-9_$.\-]+")]
    Caret,
    /// `@name`
    #[regex(r"@[A-Za-z_][A-Za-z0-9_$.]*")]
    Symbol,
    /// `#alias` (not supported; reported)
    #[regex(r"#[A-Za-z_][A-Za-z0-9_$.]*")]
    Hash,
    /// A string literal.
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    Str,
    /// An unterminated string literal (error).
    #[regex(r#""([^"\\\n]|\\[^\n])*"#, priority = 1)]
    UnterminatedStr,
    /// A bare identifier.
    #[regex(r"[A-Za-z_][A-Za-z0-9_$.]*")]
    Ident,
    /// A shape and element type run, `8x64xf32`.
    #[regex(r"[0-9]+(x[0-9]+)*x[a-z][a-z0-9]*", priority = 5)]
    DimsElem,
    /// A decimal integer.
    #[regex(r"-?[0-9]+")]
    Int,
    /// A hexadecimal integer.
    #[regex(r"0x[0-9A-Fa-f]+")]
    Hex,
    /// A float literal.
    #[regex(r"-?[0-9]+\.[0-9]*([eE][-+]?[0-9]+)?")]
    Float,
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
    /// `{`
    #[token("{")]
    LBrace,
    /// `}`
    #[token("}")]
    RBrace,
    /// `[`
    #[token("[")]
    LBracket,
    /// `]`
    #[token("]")]
    RBracket,
    /// `<`
    #[token("<")]
    Lt,
    /// `>`
    #[token(">")]
    Gt,
    /// `:`
    #[token(":")]
    Colon,
    /// `,`
    #[token(",")]
    Comma,
    /// `=`
    #[token("=")]
    Eq,
    /// `->`
    #[token("->")]
    Arrow,
    /// `?` (dynamic dimension; not supported)
    #[token("?")]
    Question,
    /// `{-#`, start of the file metadata section.
    #[token("{-#")]
    MetaOpen,
    /// `#-}`, end of the file metadata section.
    #[token("#-}")]
    MetaClose,
}

impl Tok {
    /// How the token is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Tok::Value => "an SSA value",
            Tok::Caret => "a block label",
            Tok::Symbol => "a symbol",
            Tok::Hash => "an attribute alias",
            Tok::Str => "a string",
            Tok::UnterminatedStr => "an unterminated string",
            Tok::Ident => "an identifier",
            Tok::DimsElem => "a shape",
            Tok::Int => "an integer",
            Tok::Hex => "a hex integer",
            Tok::Float => "a float",
            Tok::LParen => "`(`",
            Tok::RParen => "`)`",
            Tok::LBrace => "`{`",
            Tok::RBrace => "`}`",
            Tok::LBracket => "`[`",
            Tok::RBracket => "`]`",
            Tok::Lt => "`<`",
            Tok::Gt => "`>`",
            Tok::Colon => "`:`",
            Tok::Comma => "`,`",
            Tok::Eq => "`=`",
            Tok::Arrow => "`->`",
            Tok::Question => "`?`",
            Tok::MetaOpen => "`{-#`",
            Tok::MetaClose => "`#-}`",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        Tok::lexer(s).map(|t| t.unwrap()).collect()
    }

    #[test]
    fn shapes_and_numbers() {
        assert_eq!(toks("tensor<8x64xi1>"), vec![Tok::Ident, Tok::Lt, Tok::DimsElem, Tok::Gt]);
        assert_eq!(toks("tensor<f32>"), vec![Tok::Ident, Tok::Lt, Tok::Ident, Tok::Gt]);
        assert_eq!(toks("-3 0x7F800000 1.5e-3 -> %0#1"), vec![Tok::Int, Tok::Hex, Tok::Float, Tok::Arrow, Tok::Value]);
        assert_eq!(toks("{-# a #-}"), vec![Tok::MetaOpen, Tok::Ident, Tok::MetaClose]);
        assert_eq!(toks(r#""a\"b" // c"#), vec![Tok::Str]);
        assert_eq!(toks(r#""abc"#), vec![Tok::UnterminatedStr]);
    }
}
