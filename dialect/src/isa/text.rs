//! The text listing of programs (`phic --emit=isa`), and its parser.
//!
//! One instruction per line (the syntax is specified in `docs/isa.md`):
//!
//! ```text
//!   12: match      L1 rows=256 part0=0 parts=8 spk=@0x000 pat=@0x040 idx=@0x000 res=@0x100  [compute -prev +next]
//!   13: load       wgt @0x040 <- dram 0x0012_3400 rows=64 x 32B stride=256  [load +next]
//! ```
//!
//! — the index (only in a [`listing`]), the mnemonic padded to 10 columns, the layer `L<n>`, the
//! fields as `name=value` in encoding order (SRAM line offsets as `@0x…`), DMA transfers in
//! arrow form, and in brackets the queue followed by the token flags (`-prev`: pop a token from
//! the previous queue, `-next`: pop from the next, `+prev`/`+next`: push). `;` starts a comment.
//!
//! [`parse_inst`] reads back what [`format_inst`] prints (and the lines of a [`listing`]); it is
//! a little more lenient, for hand-written tests: fields in any order, numbers in decimal or
//! `0x` hexadecimal with `_` separators, and the bracket (or the queue in it) may be omitted.
//! Whatever it returns encodes ([`super::encode::encode`]).

use std::fmt::Write as _;

use super::Inst;
use super::encode::{self, FieldKind, MAX_FIELDS, Opcode, assemble, field_values, fits, max_value, queue_name};
use super::{Buffer, Deps};

/// Width of the mnemonic column.
const MNEMONIC_WIDTH: usize = 10;

/// The listing spelling of the token flags, in [`encode::DEP_FLAGS`] order.
const FLAG_WORDS: [&str; 4] = ["-prev", "-next", "+prev", "+next"];

fn flags(d: Deps) -> [bool; 4] {
    [d.pop_prev, d.pop_next, d.push_prev, d.push_next]
}

fn line(value: u64) -> String {
    format!("@{value:#05x}")
}

fn dram(value: u64) -> String {
    format!("0x{:04x}_{:04x}", value >> 16, value & 0xffff)
}

fn buffer_name(code: u64) -> &'static str {
    u8::try_from(code).ok().and_then(Buffer::from_code).map_or("?", Buffer::name)
}

/// One instruction, without its index.
pub fn format_inst(inst: &Inst) -> String {
    let op = Opcode::of(inst);
    let v = field_values(inst);
    let mut s = format!("{:<MNEMONIC_WIDTH$}", op.mnemonic());
    match op {
        Opcode::Load | Opcode::Store => {
            let arrow = if op == Opcode::Load { "<-" } else { "->" };
            let _ = write!(
                s,
                " {} {} {arrow} dram {} rows={} x {}B stride={}",
                buffer_name(v[0]),
                line(v[1]),
                dram(v[2]),
                v[3],
                v[4],
                v[5]
            );
        }
        Opcode::Sync
        | Opcode::Halt
        | Opcode::Gather
        | Opcode::PwpFetch
        | Opcode::Match
        | Opcode::L1Acc
        | Opcode::L2Acc
        | Opcode::BsAcc
        | Opcode::DenseMac
        | Opcode::PsumInit
        | Opcode::Lif => {
            for (fld, &value) in op.fields().iter().zip(&v) {
                let _ = match fld.kind {
                    FieldKind::Layer => write!(s, " L{value}"),
                    FieldKind::Uint => write!(s, " {}={value}", fld.name),
                    FieldKind::Line => write!(s, " {}={}", fld.name, line(value)),
                    FieldKind::Buffer => write!(s, " {}={}", fld.name, buffer_name(value)),
                    FieldKind::Dram => write!(s, " {}={}", fld.name, dram(value)),
                };
            }
        }
    }
    let mut s = s.trim_end().to_string();
    let _ = write!(s, "  [{}", queue_name(inst.queue()));
    for (set, word) in flags(inst.deps()).into_iter().zip(FLAG_WORDS) {
        if set {
            let _ = write!(s, " {word}");
        }
    }
    s.push(']');
    s
}

/// The header line of a [`listing`].
pub const LISTING_HEADER: &str = "; index: mnemonic  layer and fields (SRAM offsets in 16-byte lines)  \
[queue tokens: -prev/-next pop a token from the previous/next queue, +prev/+next push one]";

/// A whole program: the header comment, then `index: instruction` per line.
pub fn listing(code: &[Inst]) -> String {
    let mut out = String::from(LISTING_HEADER);
    out.push('\n');
    for (i, inst) in code.iter().enumerate() {
        let _ = writeln!(out, "{i:>4}: {}", format_inst(inst));
    }
    out
}

/// Parses a number: decimal, or hexadecimal after `0x`; `_` separators allowed.
fn number(text: &str) -> Result<u64, String> {
    let digits: String = text.chars().filter(|&c| c != '_').collect();
    let (radix, digits) = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => (16, hex.to_string()),
        None => (10, digits),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(format!("`{text}` is not a number"));
    }
    u64::from_str_radix(&digits, radix).map_err(|_| format!("`{text}` is too large"))
}

/// Parses a field's value (with `@` for SRAM lines) and checks its width.
fn field_value(op: Opcode, name: &str, bits: u32, kind: FieldKind, text: &str) -> Result<u64, String> {
    let value = match kind {
        FieldKind::Line => {
            let digits = text.strip_prefix('@').ok_or_else(|| {
                format!("{}: field `{name}` is an SRAM line offset, written `@0x…`, not `{text}`", op.mnemonic())
            })?;
            number(digits)
        }
        FieldKind::Buffer => Buffer::ALL
            .iter()
            .find(|b| b.name() == text)
            .map(|b| u64::from(b.code()))
            .ok_or_else(|| format!("`{text}` is not a buffer (expected one of {})", buffer_names())),
        FieldKind::Layer | FieldKind::Uint | FieldKind::Dram => number(text),
    }
    .map_err(|e| format!("{}: field `{name}`: {e}", op.mnemonic()))?;
    if !fits(value, bits) {
        return Err(format!(
            "{}: field `{name}` = {value} does not fit in {bits} bits (allowed 0..={})",
            op.mnemonic(),
            max_value(bits)
        ));
    }
    Ok(value)
}

fn buffer_names() -> String {
    Buffer::ALL.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
}

fn expect<'a>(words: &mut impl Iterator<Item = &'a str>, what: &str, op: Opcode) -> Result<&'a str, String> {
    words.next().ok_or_else(|| format!("{}: expected {what}, found the end of the line", op.mnemonic()))
}

fn literal<'a>(words: &mut impl Iterator<Item = &'a str>, want: &str, op: Opcode) -> Result<(), String> {
    let got = expect(words, &format!("`{want}`"), op)?;
    if got == want { Ok(()) } else { Err(format!("{}: expected `{want}`, found `{got}`", op.mnemonic())) }
}

/// `key=value` with the given key.
fn keyed<'a>(word: &'a str, key: &str, op: Opcode) -> Result<&'a str, String> {
    word.strip_prefix(key)
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or_else(|| format!("{}: expected `{key}=…`, found `{word}`", op.mnemonic()))
}

/// `buf @line <- dram 0xADDR rows=N x NB stride=N` (`->` for a store).
fn dma_operands<'a>(
    op: Opcode,
    words: &mut impl Iterator<Item = &'a str>,
    v: &mut [u64; MAX_FIELDS],
) -> Result<(), String> {
    let fields = op.fields();
    let arrow = if op == Opcode::Load { "<-" } else { "->" };
    let value = |i: usize, text: &str| {
        fields
            .get(i)
            .ok_or_else(|| "internal: DMA layout".to_string())
            .and_then(|fld| field_value(op, fld.name, fld.bits, fld.kind, text))
    };
    v[0] = value(0, expect(words, "a buffer name", op)?)?;
    v[1] = value(1, expect(words, "an SRAM offset `@0x…`", op)?)?;
    literal(words, arrow, op)?;
    literal(words, "dram", op)?;
    v[2] = value(2, expect(words, "a DRAM address", op)?)?;
    v[3] = value(3, keyed(expect(words, "`rows=…`", op)?, "rows", op)?)?;
    literal(words, "x", op)?;
    let bytes = expect(words, "the row size `…B`", op)?;
    let bytes = bytes
        .strip_suffix('B')
        .ok_or_else(|| format!("{}: expected the row size `…B`, found `{bytes}`", op.mnemonic()))?;
    v[4] = value(4, bytes)?;
    v[5] = value(5, keyed(expect(words, "`stride=…`", op)?, "stride", op)?)?;
    Ok(())
}

/// `L<layer> name=value …`, the fields in any order, each exactly once.
fn named_operands<'a>(
    op: Opcode,
    words: &mut impl Iterator<Item = &'a str>,
    v: &mut [u64; MAX_FIELDS],
) -> Result<(), String> {
    let fields = op.fields();
    let mut seen = [false; MAX_FIELDS];
    for (i, fld) in fields.iter().enumerate() {
        if fld.kind == FieldKind::Layer {
            let word = expect(words, "the layer `L<n>`", op)?;
            let n = word
                .strip_prefix('L')
                .ok_or_else(|| format!("{}: expected the layer `L<n>`, found `{word}`", op.mnemonic()))?;
            v[i] = field_value(op, fld.name, fld.bits, fld.kind, n)?;
            seen[i] = true;
        }
    }
    for word in words {
        if fields.is_empty() {
            return Err(format!("{}: takes no operands, found `{word}`", op.mnemonic()));
        }
        let (key, text) =
            word.split_once('=').ok_or_else(|| format!("{}: expected `name=value`, found `{word}`", op.mnemonic()))?;
        let i = fields.iter().position(|fld| fld.name == key && fld.kind != FieldKind::Layer).ok_or_else(|| {
            let names: Vec<_> = fields.iter().filter(|fld| fld.kind != FieldKind::Layer).map(|fld| fld.name).collect();
            format!("{}: unknown field `{key}` (fields: {})", op.mnemonic(), names.join(", "))
        })?;
        if seen[i] {
            return Err(format!("{}: field `{key}` given twice", op.mnemonic()));
        }
        let fld = fields[i];
        v[i] = field_value(op, fld.name, fld.bits, fld.kind, text)?;
        seen[i] = true;
    }
    if let Some(missing) = fields.iter().zip(seen).find(|&(_, s)| !s).map(|(fld, _)| fld.name) {
        return Err(format!("{}: missing field `{missing}`", op.mnemonic()));
    }
    Ok(())
}

/// `[queue flag…]`: the optional queue name, then the token flags, each at most once.
fn tokens(op: Opcode, text: &str) -> Result<(Option<&str>, Deps), String> {
    let mut set = [false; 4];
    let mut queue = None;
    for (n, word) in text.split_whitespace().enumerate() {
        if let Some(i) = FLAG_WORDS.iter().position(|&w| w == word) {
            if set[i] {
                return Err(format!("{}: token flag `{word}` given twice", op.mnemonic()));
            }
            set[i] = true;
        } else if n == 0 {
            queue = Some(word);
        } else {
            return Err(format!(
                "{}: `{word}` is not a token flag (expected -prev, -next, +prev or +next)",
                op.mnemonic()
            ));
        }
    }
    let [pop_prev, pop_next, push_prev, push_next] = set;
    Ok((queue, Deps { pop_prev, pop_next, push_prev, push_next }))
}

/// Parses one line of a listing (or what [`format_inst`] prints): an optional `index:`, the
/// instruction, an optional `[queue flags]`, an optional `; comment`.
pub fn parse_inst(line: &str) -> Result<Inst, String> {
    let text = line.split(';').next().unwrap_or("").trim();
    let text = match text.split_once(':') {
        Some((index, rest)) if !index.trim().is_empty() && index.trim().chars().all(|c| c.is_ascii_digit()) => {
            rest.trim()
        }
        Some(_) | None => text,
    };
    let (body, bracket) = match text.split_once('[') {
        Some((body, rest)) => {
            let inner =
                rest.trim_end().strip_suffix(']').filter(|inner| !inner.contains(['[', ']'])).ok_or_else(|| {
                    format!("malformed token bracket `[{rest}` (expected `[queue flags]` at the end)")
                })?;
            (body, Some(inner))
        }
        None => (text, None),
    };
    let mut words = body.split_whitespace();
    let mnemonic = words.next().ok_or_else(|| "empty line: expected an instruction".to_string())?;
    let op = Opcode::from_mnemonic(mnemonic).ok_or_else(|| {
        let all: Vec<_> = Opcode::ALL.iter().map(|op| op.mnemonic()).collect();
        format!("unknown mnemonic `{mnemonic}` (expected one of {})", all.join(", "))
    })?;
    let mut values = [0u64; MAX_FIELDS];
    match op {
        Opcode::Load | Opcode::Store => {
            dma_operands(op, &mut words, &mut values)?;
            if let Some(extra) = words.next() {
                return Err(format!("{}: unexpected `{extra}` after the transfer", op.mnemonic()));
            }
        }
        Opcode::Sync
        | Opcode::Halt
        | Opcode::Gather
        | Opcode::PwpFetch
        | Opcode::Match
        | Opcode::L1Acc
        | Opcode::L2Acc
        | Opcode::BsAcc
        | Opcode::DenseMac
        | Opcode::PsumInit
        | Opcode::Lif => named_operands(op, &mut words, &mut values)?,
    }
    let (queue, deps) = match bracket {
        Some(inner) => tokens(op, inner)?,
        None => (None, Deps::default()),
    };
    if !op.has_deps() && deps != Deps::default() {
        return Err(format!("{}: takes no token flags", op.mnemonic()));
    }
    let inst = assemble(op, deps, &values)
        .map_err(|(field, code)| format!("{}: field `{field}`: {code} is not a buffer code", op.mnemonic()))?;
    if let Some(q) = queue {
        let want = queue_name(inst.queue());
        if q != want {
            return Err(format!("{}: runs in the {want} queue, not `{q}`", op.mnemonic()));
        }
    }
    encode::encode(&inst).map_err(|e| e.to_string())?;
    Ok(inst)
}

/// Parses a whole [`listing`]: blank lines and `;` comments are skipped; an `index:` prefix, when
/// present, must be the instruction's position. Errors name the line (1-based).
pub fn parse_listing(text: &str) -> Result<Vec<Inst>, String> {
    let mut code = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let body = raw.split(';').next().unwrap_or("").trim();
        if body.is_empty() {
            continue;
        }
        if let Some((index, _)) = body.split_once(':') {
            let index = index.trim();
            if !index.is_empty() && index.chars().all(|c| c.is_ascii_digit()) && index.parse() != Ok(code.len()) {
                return Err(format!("line {}: index {index}, expected {}", n + 1, code.len()));
            }
        }
        code.push(parse_inst(raw).map_err(|e| format!("line {}: {e}", n + 1))?);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Dma;

    #[test]
    fn match_line_looks_as_documented() {
        let inst = Inst::Match {
            deps: Deps { pop_prev: true, push_next: true, ..Deps::default() },
            layer: 1,
            rows: 256,
            part0: 0,
            parts: 8,
            spk: 0,
            pat: 0x40,
            idx: 0,
            res: 0x100,
        };
        assert_eq!(
            format_inst(&inst),
            "match      L1 rows=256 part0=0 parts=8 spk=@0x000 pat=@0x040 idx=@0x000 res=@0x100  [compute -prev +next]"
        );
    }

    #[test]
    fn dma_line_looks_as_documented() {
        let dma = Dma { buf: Buffer::Wgt, sram: 0x40, dram: 0x0012_3400, rows: 64, row_bytes: 32, stride: 256 };
        let load = Inst::Load { deps: Deps { push_next: true, ..Deps::default() }, dma };
        assert_eq!(
            format_inst(&load),
            "load       wgt @0x040 <- dram 0x0012_3400 rows=64 x 32B stride=256  [load +next]"
        );
        assert_eq!(parse_inst(&format_inst(&load)), Ok(load));
        let store = Inst::Store { deps: Deps::default(), dma: Dma { buf: Buffer::Out, ..dma } };
        assert_eq!(format_inst(&store), "store      out @0x040 -> dram 0x0012_3400 rows=64 x 32B stride=256  [store]");
        assert_eq!(format_inst(&Inst::Halt), "halt  [compute]");
    }

    #[test]
    fn lenient_forms() {
        let a = parse_inst("  7: psum.init  L2 psum=@0x10 bias=@0 rows=0x1_0 cols=32 ; hand-written").unwrap();
        assert_eq!(a, Inst::PsumInit { deps: Deps::default(), layer: 2, rows: 16, cols: 32, bias: 0, psum: 16 });
        let b = parse_inst("sync [-prev +prev]").unwrap();
        assert_eq!(b, Inst::Sync { deps: Deps { pop_prev: true, push_prev: true, ..Deps::default() } });
    }

    #[test]
    fn errors() {
        let bad = [
            ("", "empty line"),
            ("jump L1", "unknown mnemonic"),
            ("psum.init L2 rows=1 cols=1024 bias=@0 psum=@0", "does not fit in 10 bits"),
            ("psum.init L2 rows=1 cols=1 bias=@0", "missing field `psum`"),
            ("psum.init L2 rows=1 rows=1 cols=1 bias=@0 psum=@0", "given twice"),
            ("psum.init L2 rows=1 cols=1 bias=0 psum=@0", "SRAM line offset"),
            ("psum.init L2 rows=1 cols=1 bias=@0 psum=@0 wgt=@0", "unknown field `wgt`"),
            ("psum.init L256 rows=1 cols=1 bias=@0 psum=@0", "does not fit in 8 bits"),
            ("load wgt @0x040 <- dram 0x0 rows=1 x 2B stride=16777216", "does not fit in 24 bits"),
            ("load wgt @0x040 -> dram 0x0 rows=1 x 2B stride=1", "expected `<-`"),
            ("load zzz @0x040 <- dram 0x0 rows=1 x 2B stride=1", "not a buffer"),
            ("load wgt @0x040 <- dram 0x0 rows=1 x 2B stride=1 [load -prev]", "not allowed in the load queue"),
            ("store out @0x040 -> dram 0x0 rows=1 x 2B stride=1 [store +next]", "not allowed in the store queue"),
            ("lif L0 row0=0 rows=1 p0=0 cols=1 psum=@0 memb=@0 out=@0 [load]", "runs in the compute queue"),
            ("halt [compute -prev]", "takes no token flags"),
            ("sync [-prev -prev]", "given twice"),
            ("sync [compute -up]", "not a token flag"),
            ("sync [compute", "malformed token bracket"),
            ("sync L0", "takes no operands"),
        ];
        for (line, want) in bad {
            let e = parse_inst(line).expect_err(line);
            assert!(e.contains(want), "{line:?}: {e:?} should contain {want:?}");
        }
    }

    #[test]
    fn listing_round_trips() {
        let code = [
            Inst::Sync { deps: Deps { pop_next: true, ..Deps::default() } },
            Inst::PsumInit { deps: Deps::default(), layer: 0, rows: 4, cols: 10, bias: 1, psum: 2 },
            Inst::Halt,
        ];
        let text = listing(&code);
        assert!(text.starts_with("; index: mnemonic"));
        assert!(text.contains("\n   1: psum.init  L0 rows=4 cols=10 bias=@0x001 psum=@0x002  [compute]\n"), "{text}");
        assert_eq!(parse_listing(&text), Ok(code.to_vec()));
        let e = parse_listing("0: halt\n2: halt").unwrap_err();
        assert!(e.contains("line 2: index 2, expected 1"), "{e}");
    }
}
