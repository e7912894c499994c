//! Binary encoding of instructions: 128 bits each, stored as 16 little-endian bytes.
//!
//! Read the instruction as one little-endian `u128` `w`; then
//!
//! | bits | content |
//! |---|---|
//! | `w[0..6]` | the opcode ([`Opcode`]; 0 is not an opcode, so zeroed memory never decodes) |
//! | `w[6]`, `w[7]`, `w[8]`, `w[9]` | the token flags `pop_prev`, `pop_next`, `push_prev`, `push_next` |
//! | `w[10..]` | the variant's fields, LSB first, in declaration order, each [`Field::bits`] wide |
//! | the rest | reserved, zero |
//!
//! `Halt` has no token flags: its bits `6..128` are all reserved. Each opcode's field list is
//! [`Opcode::fields`]; the same table drives the encoder, the decoder, the text listing
//! ([`super::text`]) and the bit-layout tables of `docs/isa.md` (a test keeps them equal).
//!
//! [`decode`] accepts exactly the images that [`encode`] produces: an unknown opcode, a buffer
//! code that names no buffer, a reserved bit set, or a token flag the instruction's queue may not
//! use (the load queue has no previous queue, the store queue no next one) is an error, so that a
//! flipped bit in a binary is caught whenever the result is not another valid instruction.
//! Neither function panics, whatever its input.

use std::fmt;
use std::ops::Range;

use super::{Buffer, Deps, Dma, Inst, Queue};

/// Bytes per encoded instruction.
pub const INST_BYTES: usize = 16;

/// Width of the opcode field (bits `0..6`).
pub const OPCODE_BITS: u32 = 6;

/// First bit of the token flags (`pop_prev`; then `pop_next`, `push_prev`, `push_next`).
pub const DEPS_SHIFT: u32 = 6;

/// First bit of the fields of every instruction that has token flags (all but `Halt`).
pub const FIELDS_SHIFT: u32 = 10;

/// The most fields any instruction has.
pub const MAX_FIELDS: usize = 8;

/// The token flags in bit order (bit `DEPS_SHIFT + i` is flag `i`), with their field names.
pub const DEP_FLAGS: [&str; 4] = ["pop_prev", "pop_next", "push_prev", "push_next"];

/// The operation code of an instruction (bits `0..6`). The numbers are stable: a binary written
/// today decodes tomorrow. Add new instructions with new numbers; never reuse one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Opcode {
    /// [`Inst::Sync`].
    Sync = 0x01,
    /// [`Inst::Halt`].
    Halt = 0x02,
    /// [`Inst::Load`].
    Load = 0x03,
    /// [`Inst::Store`].
    Store = 0x04,
    /// [`Inst::Gather`].
    Gather = 0x05,
    /// [`Inst::PwpFetch`].
    PwpFetch = 0x06,
    /// [`Inst::Match`].
    Match = 0x07,
    /// [`Inst::L1Acc`].
    L1Acc = 0x08,
    /// [`Inst::L2Acc`].
    L2Acc = 0x09,
    /// [`Inst::BsAcc`].
    BsAcc = 0x0a,
    /// [`Inst::DenseMac`].
    DenseMac = 0x0b,
    /// [`Inst::PsumInit`].
    PsumInit = 0x0c,
    /// [`Inst::Lif`].
    Lif = 0x0d,
}

/// How a field's value is interpreted (and printed in the listing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// An index into the program's layer table (listed as `L<n>`).
    Layer,
    /// A count, index or size.
    Uint,
    /// An SRAM offset in 16-byte lines (listed as `@0x…`).
    Line,
    /// A buffer code ([`Buffer::code`]); codes naming no buffer do not decode.
    Buffer,
    /// A DRAM byte address (listed as `0xhhhh_hhhh`).
    Dram,
}

/// One field of an instruction's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// The name (the Rust field's; `Dma` fields are named without the `dma.` prefix).
    pub name: &'static str,
    /// Width in bits; the value range is `0 ..= 2^bits − 1` (buffers: the defined codes).
    pub bits: u32,
    /// The interpretation.
    pub kind: FieldKind,
}

const fn f(name: &'static str, bits: u32, kind: FieldKind) -> Field {
    Field { name, bits, kind }
}

const LAYER: Field = f("layer", 8, FieldKind::Layer);

const DMA_FIELDS: [Field; 6] = [
    f("buf", 4, FieldKind::Buffer),
    f("sram", 16, FieldKind::Line),
    f("dram", 32, FieldKind::Dram),
    f("rows", 16, FieldKind::Uint),
    f("row_bytes", 16, FieldKind::Uint),
    f("stride", 24, FieldKind::Uint),
];

const GATHER_FIELDS: [Field; 7] = [
    LAYER,
    f("row0", 16, FieldKind::Uint),
    f("rows", 16, FieldKind::Uint),
    f("k0", 16, FieldKind::Uint),
    f("kcols", 16, FieldKind::Uint),
    f("sram", 16, FieldKind::Line),
    f("row_bytes", 16, FieldKind::Uint),
];

const PWP_FETCH_FIELDS: [Field; 8] = [
    LAYER,
    f("rows", 16, FieldKind::Uint),
    f("part0", 16, FieldKind::Uint),
    f("parts", 8, FieldKind::Uint),
    f("col0", 16, FieldKind::Uint),
    f("cols", 10, FieldKind::Uint),
    f("idx", 16, FieldKind::Line),
    f("pwp", 16, FieldKind::Line),
];

const MATCH_FIELDS: [Field; 8] = [
    LAYER,
    f("rows", 16, FieldKind::Uint),
    f("part0", 16, FieldKind::Uint),
    f("parts", 8, FieldKind::Uint),
    f("spk", 16, FieldKind::Line),
    f("pat", 16, FieldKind::Line),
    f("idx", 16, FieldKind::Line),
    f("res", 16, FieldKind::Line),
];

const L1_ACC_FIELDS: [Field; 7] = [
    LAYER,
    f("rows", 16, FieldKind::Uint),
    f("parts", 8, FieldKind::Uint),
    f("cols", 10, FieldKind::Uint),
    f("idx", 16, FieldKind::Line),
    f("pwp", 16, FieldKind::Line),
    f("psum", 16, FieldKind::Line),
];

const L2_ACC_FIELDS: [Field; 8] = [
    LAYER,
    f("rows", 16, FieldKind::Uint),
    f("part0", 16, FieldKind::Uint),
    f("parts", 8, FieldKind::Uint),
    f("cols", 10, FieldKind::Uint),
    f("res", 16, FieldKind::Line),
    f("wgt", 16, FieldKind::Line),
    f("psum", 16, FieldKind::Line),
];

const BS_ACC_FIELDS: [Field; 7] = [
    LAYER,
    f("rows", 16, FieldKind::Uint),
    f("kcols", 16, FieldKind::Uint),
    f("cols", 10, FieldKind::Uint),
    f("spk", 16, FieldKind::Line),
    f("wgt", 16, FieldKind::Line),
    f("psum", 16, FieldKind::Line),
];

const DENSE_MAC_FIELDS: [Field; 7] = [
    LAYER,
    f("rows", 16, FieldKind::Uint),
    f("kcols", 16, FieldKind::Uint),
    f("cols", 10, FieldKind::Uint),
    f("src", 16, FieldKind::Line),
    f("wgt", 16, FieldKind::Line),
    f("psum", 16, FieldKind::Line),
];

const PSUM_INIT_FIELDS: [Field; 5] = [
    LAYER,
    f("rows", 16, FieldKind::Uint),
    f("cols", 10, FieldKind::Uint),
    f("bias", 16, FieldKind::Line),
    f("psum", 16, FieldKind::Line),
];

const LIF_FIELDS: [Field; 8] = [
    LAYER,
    f("row0", 16, FieldKind::Uint),
    f("rows", 16, FieldKind::Uint),
    f("p0", 16, FieldKind::Uint),
    f("cols", 10, FieldKind::Uint),
    f("psum", 16, FieldKind::Line),
    f("memb", 16, FieldKind::Line),
    f("out", 16, FieldKind::Line),
];

impl Opcode {
    /// Every opcode, in numeric order.
    pub const ALL: [Opcode; 13] = [
        Opcode::Sync,
        Opcode::Halt,
        Opcode::Load,
        Opcode::Store,
        Opcode::Gather,
        Opcode::PwpFetch,
        Opcode::Match,
        Opcode::L1Acc,
        Opcode::L2Acc,
        Opcode::BsAcc,
        Opcode::DenseMac,
        Opcode::PsumInit,
        Opcode::Lif,
    ];

    /// The opcode number (1..=63).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The opcode of a number, if it is one.
    pub fn from_code(code: u8) -> Option<Opcode> {
        Opcode::ALL.iter().copied().find(|op| op.code() == code)
    }

    /// The opcode of a mnemonic (`"l1.acc"`), if it is one.
    pub fn from_mnemonic(mnemonic: &str) -> Option<Opcode> {
        Opcode::ALL.iter().copied().find(|op| op.mnemonic() == mnemonic)
    }

    /// The opcode of an instruction.
    pub fn of(inst: &Inst) -> Opcode {
        match inst {
            Inst::Sync { .. } => Opcode::Sync,
            Inst::Halt => Opcode::Halt,
            Inst::Load { .. } => Opcode::Load,
            Inst::Store { .. } => Opcode::Store,
            Inst::Gather { .. } => Opcode::Gather,
            Inst::PwpFetch { .. } => Opcode::PwpFetch,
            Inst::Match { .. } => Opcode::Match,
            Inst::L1Acc { .. } => Opcode::L1Acc,
            Inst::L2Acc { .. } => Opcode::L2Acc,
            Inst::BsAcc { .. } => Opcode::BsAcc,
            Inst::DenseMac { .. } => Opcode::DenseMac,
            Inst::PsumInit { .. } => Opcode::PsumInit,
            Inst::Lif { .. } => Opcode::Lif,
        }
    }

    /// The mnemonic (the same as [`Inst::mnemonic`]).
    pub fn mnemonic(self) -> &'static str {
        match self {
            Opcode::Sync => "sync",
            Opcode::Halt => "halt",
            Opcode::Load => "load",
            Opcode::Store => "store",
            Opcode::Gather => "gather",
            Opcode::PwpFetch => "pwp.fetch",
            Opcode::Match => "match",
            Opcode::L1Acc => "l1.acc",
            Opcode::L2Acc => "l2.acc",
            Opcode::BsAcc => "bs.acc",
            Opcode::DenseMac => "dense.mac",
            Opcode::PsumInit => "psum.init",
            Opcode::Lif => "lif",
        }
    }

    /// Whether the instruction carries token flags (all but `Halt`).
    pub fn has_deps(self) -> bool {
        !matches!(self, Opcode::Halt)
    }

    /// The first bit after the opcode and the token flags.
    pub fn fields_start(self) -> u32 {
        if self.has_deps() { FIELDS_SHIFT } else { OPCODE_BITS }
    }

    /// The fields after the token flags, in encoding order (LSB first).
    pub fn fields(self) -> &'static [Field] {
        match self {
            Opcode::Sync | Opcode::Halt => &[],
            Opcode::Load | Opcode::Store => &DMA_FIELDS,
            Opcode::Gather => &GATHER_FIELDS,
            Opcode::PwpFetch => &PWP_FETCH_FIELDS,
            Opcode::Match => &MATCH_FIELDS,
            Opcode::L1Acc => &L1_ACC_FIELDS,
            Opcode::L2Acc => &L2_ACC_FIELDS,
            Opcode::BsAcc => &BS_ACC_FIELDS,
            Opcode::DenseMac => &DENSE_MAC_FIELDS,
            Opcode::PsumInit => &PSUM_INIT_FIELDS,
            Opcode::Lif => &LIF_FIELDS,
        }
    }

    /// Every field with its bit range in the 128-bit word.
    pub fn layout(self) -> Vec<(Field, Range<u32>)> {
        let mut pos = self.fields_start();
        self.fields()
            .iter()
            .map(|&fld| {
                let range = pos..pos + fld.bits;
                pos = range.end;
                (fld, range)
            })
            .collect()
    }

    /// The first reserved bit (everything from it to bit 127 is zero).
    pub fn reserved_start(self) -> u32 {
        self.fields_start() + self.fields().iter().map(|fld| fld.bits).sum::<u32>()
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (opcode {:#04x})", self.mnemonic(), self.code())
    }
}

/// The name of a queue, as the listing and the messages spell it.
pub fn queue_name(queue: Queue) -> &'static str {
    match queue {
        Queue::Load => "load",
        Queue::Compute => "compute",
        Queue::Store => "store",
    }
}

/// The first token flag (by name) that `deps` sets and `queue` may not use.
pub fn forbidden_flag(queue: Queue, deps: Deps) -> Option<&'static str> {
    match queue {
        Queue::Load if deps.pop_prev => Some("pop_prev"),
        Queue::Load if deps.push_prev => Some("push_prev"),
        Queue::Store if deps.pop_next => Some("pop_next"),
        Queue::Store if deps.push_next => Some("push_next"),
        Queue::Load | Queue::Compute | Queue::Store => None,
    }
}

fn flag_reason(queue: Queue) -> &'static str {
    match queue {
        Queue::Load => "the load queue has no previous queue",
        Queue::Store => "the store queue has no next queue",
        Queue::Compute => "the compute queue has both neighbours",
    }
}

/// Why an instruction cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A field's value does not fit its width.
    FieldTooWide {
        /// The instruction.
        op: Opcode,
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Its width in bits.
        bits: u32,
    },
    /// A token flag the instruction's queue may not use.
    ForbiddenToken {
        /// The instruction.
        op: Opcode,
        /// The flag (`pop_prev`, …).
        flag: &'static str,
        /// The instruction's queue.
        queue: Queue,
    },
    /// [`Inst::validate`] rejected the instruction for another reason.
    Invalid {
        /// The instruction.
        op: Opcode,
        /// The validator's message.
        message: String,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FieldTooWide { op, field, value, bits } => write!(
                f,
                "{op}: field `{field}` = {value} does not fit in {bits} bits (allowed 0..={})",
                max_value(*bits)
            ),
            EncodeError::ForbiddenToken { op, flag, queue } => write!(
                f,
                "{op}: token flag `{flag}` is not allowed in the {} queue ({})",
                queue_name(*queue),
                flag_reason(*queue)
            ),
            EncodeError::Invalid { op, message } => write!(f, "{op}: invalid instruction: {message}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Why 16 bytes are not an instruction (or a byte string not a program).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Bits `0..6` are not an opcode (0 included: zeroed memory).
    UnknownOpcode {
        /// The number found.
        code: u8,
    },
    /// A buffer field holds a code that names no buffer.
    BadBuffer {
        /// The instruction.
        op: Opcode,
        /// The field.
        field: &'static str,
        /// The code found.
        code: u8,
    },
    /// A bit the instruction does not use is set.
    ReservedBit {
        /// The instruction.
        op: Opcode,
        /// The lowest reserved bit that is set.
        bit: u32,
    },
    /// A token flag the instruction's queue may not use is set.
    ForbiddenToken {
        /// The instruction.
        op: Opcode,
        /// The flag (`pop_prev`, …).
        flag: &'static str,
        /// The instruction's queue.
        queue: Queue,
    },
    /// [`Inst::validate`] rejected the decoded instruction.
    Invalid {
        /// The instruction.
        op: Opcode,
        /// The validator's message.
        message: String,
    },
    /// A program's length is not a multiple of [`INST_BYTES`].
    Truncated {
        /// The program's length in bytes.
        len: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownOpcode { code } => {
                write!(
                    f,
                    "unknown opcode {code:#04x} (valid opcodes are {:#04x}..={:#04x}",
                    first_code(),
                    last_code()
                )?;
                if *code == 0 {
                    write!(f, "; 0 is never an opcode: zeroed memory?")?;
                }
                write!(f, ")")
            }
            DecodeError::BadBuffer { op, field, code } => write!(
                f,
                "{op}: field `{field}` holds buffer code {code}, which names no buffer (allowed 0..={})",
                Buffer::ALL.len() - 1
            ),
            DecodeError::ReservedBit { op, bit } => {
                write!(f, "{op}: reserved bit {bit} is set (bits {}..128 must be zero)", op.reserved_start().min(*bit))
            }
            DecodeError::ForbiddenToken { op, flag, queue } => write!(
                f,
                "{op}: token flag `{flag}` is set, but it is not allowed in the {} queue ({})",
                queue_name(*queue),
                flag_reason(*queue)
            ),
            DecodeError::Invalid { op, message } => write!(f, "{op}: invalid instruction: {message}"),
            DecodeError::Truncated { len } => write!(
                f,
                "program length {len} bytes is not a multiple of {INST_BYTES} ({} trailing bytes)",
                len % INST_BYTES
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

fn first_code() -> u8 {
    Opcode::ALL.iter().map(|op| op.code()).min().unwrap_or(0)
}

fn last_code() -> u8 {
    Opcode::ALL.iter().map(|op| op.code()).max().unwrap_or(0)
}

/// `2^bits − 1` (for `bits ≤ 64`).
pub(crate) fn max_value(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

/// Whether `value` fits `bits` bits.
pub(crate) fn fits(value: u64, bits: u32) -> bool {
    value <= max_value(bits)
}

/// The values of an instruction's fields in [`Opcode::fields`] order (buffers as their codes);
/// unused slots are 0.
pub(crate) fn field_values(inst: &Inst) -> [u64; MAX_FIELDS] {
    fn pack(values: &[u64]) -> [u64; MAX_FIELDS] {
        let mut out = [0u64; MAX_FIELDS];
        out.iter_mut().zip(values).for_each(|(o, &v)| *o = v);
        out
    }
    fn dma_values(d: &Dma) -> [u64; MAX_FIELDS] {
        pack(&[d.buf.code().into(), d.sram.into(), d.dram.into(), d.rows.into(), d.row_bytes.into(), d.stride.into()])
    }
    match *inst {
        Inst::Sync { .. } | Inst::Halt => [0; MAX_FIELDS],
        Inst::Load { ref dma, .. } | Inst::Store { ref dma, .. } => dma_values(dma),
        Inst::Gather { layer, row0, rows, k0, kcols, sram, row_bytes, .. } => {
            pack(&[layer.into(), row0.into(), rows.into(), k0.into(), kcols.into(), sram.into(), row_bytes.into()])
        }
        Inst::PwpFetch { layer, rows, part0, parts, col0, cols, idx, pwp, .. } => pack(&[
            layer.into(),
            rows.into(),
            part0.into(),
            parts.into(),
            col0.into(),
            cols.into(),
            idx.into(),
            pwp.into(),
        ]),
        Inst::Match { layer, rows, part0, parts, spk, pat, idx, res, .. } => pack(&[
            layer.into(),
            rows.into(),
            part0.into(),
            parts.into(),
            spk.into(),
            pat.into(),
            idx.into(),
            res.into(),
        ]),
        Inst::L1Acc { layer, rows, parts, cols, idx, pwp, psum, .. } => {
            pack(&[layer.into(), rows.into(), parts.into(), cols.into(), idx.into(), pwp.into(), psum.into()])
        }
        Inst::L2Acc { layer, rows, part0, parts, cols, res, wgt, psum, .. } => pack(&[
            layer.into(),
            rows.into(),
            part0.into(),
            parts.into(),
            cols.into(),
            res.into(),
            wgt.into(),
            psum.into(),
        ]),
        Inst::BsAcc { layer, rows, kcols, cols, spk, wgt, psum, .. } => {
            pack(&[layer.into(), rows.into(), kcols.into(), cols.into(), spk.into(), wgt.into(), psum.into()])
        }
        Inst::DenseMac { layer, rows, kcols, cols, src, wgt, psum, .. } => {
            pack(&[layer.into(), rows.into(), kcols.into(), cols.into(), src.into(), wgt.into(), psum.into()])
        }
        Inst::PsumInit { layer, rows, cols, bias, psum, .. } => {
            pack(&[layer.into(), rows.into(), cols.into(), bias.into(), psum.into()])
        }
        Inst::Lif { layer, row0, rows, p0, cols, psum, memb, out, .. } => pack(&[
            layer.into(),
            row0.into(),
            rows.into(),
            p0.into(),
            cols.into(),
            psum.into(),
            memb.into(),
            out.into(),
        ]),
    }
}

/// Builds the instruction of `op` from its token flags and field values. The values must fit
/// their widths (then every narrowing below is exact); the only failure is a buffer code that
/// names no buffer: `(field, code)`.
pub(crate) fn assemble(op: Opcode, deps: Deps, v: &[u64; MAX_FIELDS]) -> Result<Inst, (&'static str, u64)> {
    let u8_ = |i: usize| v[i] as u8;
    let u16_ = |i: usize| v[i] as u16;
    let dma = || -> Result<Dma, (&'static str, u64)> {
        let buf = u8::try_from(v[0]).ok().and_then(Buffer::from_code).ok_or(("buf", v[0]))?;
        Ok(Dma { buf, sram: u16_(1), dram: v[2] as u32, rows: u16_(3), row_bytes: u16_(4), stride: v[5] as u32 })
    };
    Ok(match op {
        Opcode::Sync => Inst::Sync { deps },
        Opcode::Halt => Inst::Halt,
        Opcode::Load => Inst::Load { deps, dma: dma()? },
        Opcode::Store => Inst::Store { deps, dma: dma()? },
        Opcode::Gather => Inst::Gather {
            deps,
            layer: u8_(0),
            row0: u16_(1),
            rows: u16_(2),
            k0: u16_(3),
            kcols: u16_(4),
            sram: u16_(5),
            row_bytes: u16_(6),
        },
        Opcode::PwpFetch => Inst::PwpFetch {
            deps,
            layer: u8_(0),
            rows: u16_(1),
            part0: u16_(2),
            parts: u8_(3),
            col0: u16_(4),
            cols: u16_(5),
            idx: u16_(6),
            pwp: u16_(7),
        },
        Opcode::Match => Inst::Match {
            deps,
            layer: u8_(0),
            rows: u16_(1),
            part0: u16_(2),
            parts: u8_(3),
            spk: u16_(4),
            pat: u16_(5),
            idx: u16_(6),
            res: u16_(7),
        },
        Opcode::L1Acc => Inst::L1Acc {
            deps,
            layer: u8_(0),
            rows: u16_(1),
            parts: u8_(2),
            cols: u16_(3),
            idx: u16_(4),
            pwp: u16_(5),
            psum: u16_(6),
        },
        Opcode::L2Acc => Inst::L2Acc {
            deps,
            layer: u8_(0),
            rows: u16_(1),
            part0: u16_(2),
            parts: u8_(3),
            cols: u16_(4),
            res: u16_(5),
            wgt: u16_(6),
            psum: u16_(7),
        },
        Opcode::BsAcc => Inst::BsAcc {
            deps,
            layer: u8_(0),
            rows: u16_(1),
            kcols: u16_(2),
            cols: u16_(3),
            spk: u16_(4),
            wgt: u16_(5),
            psum: u16_(6),
        },
        Opcode::DenseMac => Inst::DenseMac {
            deps,
            layer: u8_(0),
            rows: u16_(1),
            kcols: u16_(2),
            cols: u16_(3),
            src: u16_(4),
            wgt: u16_(5),
            psum: u16_(6),
        },
        Opcode::PsumInit => {
            Inst::PsumInit { deps, layer: u8_(0), rows: u16_(1), cols: u16_(2), bias: u16_(3), psum: u16_(4) }
        }
        Opcode::Lif => Inst::Lif {
            deps,
            layer: u8_(0),
            row0: u16_(1),
            rows: u16_(2),
            p0: u16_(3),
            cols: u16_(4),
            psum: u16_(5),
            memb: u16_(6),
            out: u16_(7),
        },
    })
}

fn deps_bits(d: Deps) -> u128 {
    [d.pop_prev, d.pop_next, d.push_prev, d.push_next]
        .iter()
        .enumerate()
        .fold(0u128, |acc, (i, &set)| acc | (u128::from(set) << i))
}

fn deps_of_bits(bits: u128) -> Deps {
    let bit = |i: u32| (bits >> i) & 1 == 1;
    Deps { pop_prev: bit(0), pop_next: bit(1), push_prev: bit(2), push_next: bit(3) }
}

/// Encodes one instruction.
///
/// Fails when a field does not fit its width (a `cols` above 1023, a `stride` of 2^24 or more),
/// when a token flag is set that the instruction's queue may not use, or when
/// [`Inst::validate`] rejects the instruction.
pub fn encode(inst: &Inst) -> Result<[u8; INST_BYTES], EncodeError> {
    let op = Opcode::of(inst);
    if let Some(flag) = forbidden_flag(inst.queue(), inst.deps()) {
        return Err(EncodeError::ForbiddenToken { op, flag, queue: inst.queue() });
    }
    let mut word = u128::from(op.code());
    if op.has_deps() {
        word |= deps_bits(inst.deps()) << DEPS_SHIFT;
    }
    let values = field_values(inst);
    for ((fld, range), &value) in op.layout().into_iter().zip(&values) {
        if !fits(value, fld.bits) {
            return Err(EncodeError::FieldTooWide { op, field: fld.name, value, bits: fld.bits });
        }
        word |= u128::from(value) << range.start;
    }
    inst.validate().map_err(|message| EncodeError::Invalid { op, message })?;
    Ok(word.to_le_bytes())
}

/// Decodes one instruction; accepts exactly the images [`encode`] produces.
pub fn decode(bytes: &[u8; INST_BYTES]) -> Result<Inst, DecodeError> {
    let word = u128::from_le_bytes(*bytes);
    let code = (word & ((1 << OPCODE_BITS) - 1)) as u8;
    let op = Opcode::from_code(code).ok_or(DecodeError::UnknownOpcode { code })?;
    let deps = if op.has_deps() { deps_of_bits(word >> DEPS_SHIFT) } else { Deps::default() };
    let mut values = [0u64; MAX_FIELDS];
    for ((fld, range), value) in op.layout().into_iter().zip(values.iter_mut()) {
        *value = ((word >> range.start) as u64) & max_value(fld.bits);
    }
    let rest = word.checked_shr(op.reserved_start()).unwrap_or(0);
    if rest != 0 {
        return Err(DecodeError::ReservedBit { op, bit: op.reserved_start() + rest.trailing_zeros() });
    }
    let inst = assemble(op, deps, &values).map_err(|(field, code)| DecodeError::BadBuffer {
        op,
        field,
        code: code.min(255) as u8,
    })?;
    if let Some(flag) = forbidden_flag(inst.queue(), inst.deps()) {
        return Err(DecodeError::ForbiddenToken { op, flag, queue: inst.queue() });
    }
    inst.validate().map_err(|message| DecodeError::Invalid { op, message })?;
    Ok(inst)
}

/// Encodes a program; on failure, the index of the first instruction that does not encode.
pub fn encode_all(code: &[Inst]) -> Result<Vec<u8>, (usize, EncodeError)> {
    let mut out = Vec::with_capacity(code.len() * INST_BYTES);
    for (i, inst) in code.iter().enumerate() {
        out.extend_from_slice(&encode(inst).map_err(|e| (i, e))?);
    }
    Ok(out)
}

/// Decodes a program; on failure, the index of the first instruction that does not decode
/// (for a length that is not a multiple of 16, the index of the incomplete last instruction).
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Inst>, (usize, DecodeError)> {
    if !bytes.len().is_multiple_of(INST_BYTES) {
        return Err((bytes.len() / INST_BYTES, DecodeError::Truncated { len: bytes.len() }));
    }
    bytes
        .chunks_exact(INST_BYTES)
        .enumerate()
        .map(|(i, chunk)| {
            let mut word = [0u8; INST_BYTES];
            word.copy_from_slice(chunk);
            decode(&word).map_err(|e| (i, e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_are_distinct_nonzero_and_fit() {
        for (i, a) in Opcode::ALL.iter().enumerate() {
            assert!(a.code() != 0 && u32::from(a.code()) < 1 << OPCODE_BITS, "{a}");
            assert_eq!(Opcode::from_code(a.code()), Some(*a));
            assert_eq!(Opcode::from_mnemonic(a.mnemonic()), Some(*a));
            for b in &Opcode::ALL[i + 1..] {
                assert!(a.code() < b.code(), "ALL is in numeric order");
            }
        }
        assert_eq!(Opcode::from_code(0), None);
    }

    #[test]
    fn every_layout_fits_128_bits() {
        for op in Opcode::ALL {
            assert!(op.fields().len() <= MAX_FIELDS, "{op}");
            assert!(op.reserved_start() <= 128, "{op}: {} bits", op.reserved_start());
            for fld in op.fields() {
                // every field fits the Rust type it is decoded into (u8, u16, u32)
                assert!(fld.bits <= 32, "{op}: {}", fld.name);
            }
        }
    }

    #[test]
    fn field_values_round_trip_through_assemble() {
        let inst = Inst::Lif {
            deps: Deps { pop_prev: true, pop_next: false, push_prev: true, push_next: false },
            layer: 3,
            row0: 17,
            rows: 256,
            p0: 5,
            cols: 32,
            psum: 0x100,
            memb: 0x20,
            out: 7,
        };
        assert_eq!(assemble(Opcode::Lif, inst.deps(), &field_values(&inst)), Ok(inst));
    }

    #[test]
    fn halt_has_no_token_bits() {
        let bytes = encode(&Inst::Halt).unwrap();
        assert_eq!(u128::from_le_bytes(bytes), u128::from(Opcode::Halt.code()));
        let with_flag = (u128::from(Opcode::Halt.code()) | 1 << DEPS_SHIFT).to_le_bytes();
        assert_eq!(decode(&with_flag), Err(DecodeError::ReservedBit { op: Opcode::Halt, bit: DEPS_SHIFT }));
    }

    #[test]
    fn messages_name_the_problem() {
        let e = DecodeError::UnknownOpcode { code: 0 };
        assert!(e.to_string().contains("zeroed memory"), "{e}");
        let e = EncodeError::FieldTooWide { op: Opcode::Lif, field: "cols", value: 1024, bits: 10 };
        assert_eq!(e.to_string(), "lif (opcode 0x0d): field `cols` = 1024 does not fit in 10 bits (allowed 0..=1023)");
        let e = DecodeError::Truncated { len: 35 };
        assert_eq!(e.to_string(), "program length 35 bytes is not a multiple of 16 (3 trailing bytes)");
    }
}
