//! The Phi ISA's binary encoding and text listing: round trips over the full field ranges, one
//! golden encoding per opcode, every decoding error, random bytes, and the tables of
//! `docs/isa.md` against the code.

use phi_dialect::isa::encode::{
    DEP_FLAGS, DEPS_SHIFT, DecodeError, EncodeError, FieldKind, INST_BYTES, Opcode, decode, decode_all, encode,
    encode_all, forbidden_flag, queue_name,
};
use phi_dialect::isa::text::{format_inst, listing, parse_inst, parse_listing};
use phi_dialect::isa::{Buffer, Deps, Dma, Inst, MAX_COLS, Queue};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Strategies

/// A value of the full range, with both ends more likely than uniform sampling makes them.
fn u8s() -> impl Strategy<Value = u8> {
    prop_oneof![1 => Just(0u8), 1 => Just(u8::MAX), 6 => any::<u8>()]
}

fn u16s() -> impl Strategy<Value = u16> {
    prop_oneof![1 => Just(0u16), 1 => Just(u16::MAX), 6 => any::<u16>()]
}

fn u32s() -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(0u32), 1 => Just(u32::MAX), 6 => any::<u32>()]
}

/// A 10-bit column count.
fn cols() -> impl Strategy<Value = u16> {
    prop_oneof![1 => Just(0u16), 1 => Just(MAX_COLS), 6 => 0..=MAX_COLS]
}

/// A 24-bit stride.
fn stride() -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(0u32), 1 => Just((1 << 24) - 1), 6 => 0..1u32 << 24]
}

fn deps() -> impl Strategy<Value = Deps> {
    any::<[bool; 4]>().prop_map(|[pop_prev, pop_next, push_prev, push_next]| Deps {
        pop_prev,
        pop_next,
        push_prev,
        push_next,
    })
}

fn dma() -> impl Strategy<Value = Dma> {
    (prop::sample::select(Buffer::ALL.to_vec()), u16s(), u32s(), u16s(), u16s(), stride())
        .prop_map(|(buf, sram, dram, rows, row_bytes, stride)| Dma { buf, sram, dram, rows, row_bytes, stride })
}

/// Clears the token flags the instruction's queue may not use.
fn legal(mut inst: Inst) -> Inst {
    let queue = inst.queue();
    if let Some(d) = inst.deps_mut() {
        match queue {
            Queue::Load => {
                d.pop_prev = false;
                d.push_prev = false;
            }
            Queue::Store => {
                d.pop_next = false;
                d.push_next = false;
            }
            Queue::Compute => {}
        }
    }
    inst
}

/// Every variant, every field over its full valid range, legal token flags.
fn inst() -> impl Strategy<Value = Inst> {
    prop_oneof![
        deps().prop_map(|deps| Inst::Sync { deps }),
        Just(Inst::Halt),
        (deps(), dma()).prop_map(|(deps, dma)| Inst::Load { deps, dma }),
        (deps(), dma()).prop_map(|(deps, dma)| Inst::Store { deps, dma }),
        (deps(), u8s(), u16s(), u16s(), u16s(), u16s(), u16s(), u16s()).prop_map(
            |(deps, layer, row0, rows, k0, kcols, sram, row_bytes)| Inst::Gather {
                deps,
                layer,
                row0,
                rows,
                k0,
                kcols,
                sram,
                row_bytes
            }
        ),
        (deps(), u8s(), u16s(), u16s(), u8s(), u16s(), cols(), u16s(), u16s()).prop_map(
            |(deps, layer, rows, part0, parts, col0, cols, idx, pwp)| Inst::PwpFetch {
                deps,
                layer,
                rows,
                part0,
                parts,
                col0,
                cols,
                idx,
                pwp
            }
        ),
        (deps(), u8s(), u16s(), u16s(), u8s(), u16s(), u16s(), u16s(), u16s()).prop_map(
            |(deps, layer, rows, part0, parts, spk, pat, idx, res)| Inst::Match {
                deps,
                layer,
                rows,
                part0,
                parts,
                spk,
                pat,
                idx,
                res
            }
        ),
        (deps(), u8s(), u16s(), u8s(), cols(), u16s(), u16s(), u16s()).prop_map(
            |(deps, layer, rows, parts, cols, idx, pwp, psum)| Inst::L1Acc {
                deps,
                layer,
                rows,
                parts,
                cols,
                idx,
                pwp,
                psum
            }
        ),
        (deps(), u8s(), u16s(), u16s(), u8s(), cols(), u16s(), u16s(), u16s()).prop_map(
            |(deps, layer, rows, part0, parts, cols, res, wgt, psum)| Inst::L2Acc {
                deps,
                layer,
                rows,
                part0,
                parts,
                cols,
                res,
                wgt,
                psum
            }
        ),
        (deps(), u8s(), u16s(), u16s(), cols(), u16s(), u16s(), u16s()).prop_map(
            |(deps, layer, rows, kcols, cols, spk, wgt, psum)| Inst::BsAcc {
                deps,
                layer,
                rows,
                kcols,
                cols,
                spk,
                wgt,
                psum
            }
        ),
        (deps(), u8s(), u16s(), u16s(), cols(), u16s(), u16s(), u16s()).prop_map(
            |(deps, layer, rows, kcols, cols, src, wgt, psum)| Inst::DenseMac {
                deps,
                layer,
                rows,
                kcols,
                cols,
                src,
                wgt,
                psum
            }
        ),
        (deps(), u8s(), u16s(), cols(), u16s(), u16s()).prop_map(|(deps, layer, rows, cols, bias, psum)| {
            Inst::PsumInit { deps, layer, rows, cols, bias, psum }
        }),
        (deps(), u8s(), u16s(), u16s(), u16s(), cols(), u16s(), u16s(), u16s()).prop_map(
            |(deps, layer, row0, rows, p0, cols, psum, memb, out)| Inst::Lif {
                deps,
                layer,
                row0,
                rows,
                p0,
                cols,
                psum,
                memb,
                out
            }
        ),
    ]
    .prop_map(legal)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12_000))]

    #[test]
    fn encode_decode_round_trip(inst in inst()) {
        prop_assert!(inst.validate().is_ok());
        let bytes = encode(&inst).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decode(&bytes), Ok(inst));
        prop_assert_eq!(bytes[0] & 0x3f, Opcode::of(&inst).code());
        let used = Opcode::of(&inst).reserved_start();
        prop_assert_eq!(u128::from_le_bytes(bytes).checked_shr(used).unwrap_or(0), 0);
    }

    #[test]
    fn format_parse_round_trip(inst in inst()) {
        let line = format_inst(&inst);
        prop_assert_eq!(parse_inst(&line), Ok(inst), "{}", line);
        prop_assert!(!line.contains('\n'));
        prop_assert!(line.starts_with(inst.mnemonic()));
    }

    /// The `isa`-level MLIR form (`isa::mlir`): print → parse gives the program back, and
    /// printing again gives the same text.
    #[test]
    fn mlir_round_trip(code in prop::collection::vec(inst(), 0..24), bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let meta = phi_dialect::program::ProgramMeta {
            format_version: phi_dialect::program::FORMAT_VERSION,
            model: "m \"q\" — ü".into(),
            target: phi_dialect::program::TargetKind::Phi,
            time_steps: 2,
            batch: 1,
            inputs: vec![],
            outputs: vec![],
            layers: vec![],
            regions: vec![],
            activations: 0,
            dram_bytes: 4096,
            hw: phi_dialect::hw::HwConfig::default(),
        };
        let p = phi_dialect::program::Program {
            meta,
            code,
            sections: vec![(".phi.weights".into(), bytes.clone()), (".phi.pwp".into(), vec![])],
            sample: if bytes.is_empty() { None } else { Some(bytes) },
        };
        let text = phi_dialect::isa::mlir::print(&p);
        let mut sources = phi_dialect::SourceMap::new();
        let file = sources.add("p.mlir", text.clone());
        prop_assert!(phi_dialect::isa::mlir::is_program(&sources, file) || p.code.is_empty());
        let back = phi_dialect::isa::mlir::parse(&sources, file).map_err(|d| TestCaseError::fail(d.to_string()))?;
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(phi_dialect::isa::mlir::print(&back), text);
    }

    #[test]
    fn programs_round_trip(code in prop::collection::vec(inst(), 0..24)) {
        let bytes = encode_all(&code).map_err(|(i, e)| TestCaseError::fail(format!("{i}: {e}")))?;
        prop_assert_eq!(bytes.len(), code.len() * INST_BYTES);
        prop_assert_eq!(decode_all(&bytes), Ok(code.clone()));
        prop_assert_eq!(parse_listing(&listing(&code)), Ok(code));
    }
}

// ---------------------------------------------------------------------------------------------
// Golden encodings: the format cannot drift without one of these failing.

fn d(pop_prev: bool, pop_next: bool, push_prev: bool, push_next: bool) -> Deps {
    Deps { pop_prev, pop_next, push_prev, push_next }
}

/// One instruction per opcode with distinct field values, and its 16 bytes.
fn golden() -> Vec<(Inst, [u8; 16])> {
    vec![
        (
            Inst::Sync { deps: d(true, false, false, true) },
            [0x41, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        ),
        (Inst::Halt, [0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
        (
            Inst::Load {
                deps: d(false, true, false, true),
                dma: Dma {
                    buf: Buffer::Wgt,
                    sram: 0x0040,
                    dram: 0x0012_3400,
                    rows: 64,
                    row_bytes: 32,
                    stride: 0x00ab_cdef,
                },
            },
            [0x83, 0x0a, 0x10, 0x00, 0x00, 0x8d, 0x04, 0x00, 0x10, 0x00, 0x08, 0xc0, 0x7b, 0xf3, 0x2a, 0x00],
        ),
        (
            Inst::Store {
                deps: d(true, false, true, false),
                dma: Dma { buf: Buffer::Out, sram: 0x1234, dram: 0xdead_beef, rows: 3, row_bytes: 4, stride: 0x10 },
            },
            [0x44, 0x29, 0x8d, 0xc4, 0xbb, 0x6f, 0xab, 0xf7, 0x00, 0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00],
        ),
        (
            Inst::Gather {
                deps: d(false, true, false, true),
                layer: 0x12,
                row0: 0x3456,
                rows: 0x789a,
                k0: 0xbcde,
                kcols: 0xf012,
                sram: 0x3456,
                row_bytes: 0x789a,
            },
            [0x85, 0x4a, 0x58, 0xd1, 0x68, 0xe2, 0x79, 0xf3, 0x4a, 0xc0, 0x5b, 0xd1, 0x68, 0xe2, 0x01, 0x00],
        ),
        (
            Inst::PwpFetch {
                deps: d(false, true, false, true),
                layer: 7,
                rows: 256,
                part0: 3,
                parts: 8,
                col0: 64,
                cols: 1023,
                idx: 0x0010,
                pwp: 0x0800,
            },
            [0x86, 0x1e, 0x00, 0x04, 0x0c, 0x00, 0x20, 0x00, 0x01, 0xfc, 0x0f, 0x01, 0x00, 0x80, 0x00, 0x00],
        ),
        (
            Inst::Match {
                deps: d(true, false, false, true),
                layer: 1,
                rows: 256,
                part0: 0,
                parts: 8,
                spk: 0,
                pat: 0x40,
                idx: 0,
                res: 0x100,
            },
            [0x47, 0x06, 0x00, 0x04, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x00],
        ),
        (
            Inst::L1Acc {
                deps: d(true, false, true, false),
                layer: 2,
                rows: 0xffff,
                parts: 0xff,
                cols: 32,
                idx: 0x0001,
                pwp: 0x0002,
                psum: 0x0003,
            },
            [0x48, 0x09, 0xfc, 0xff, 0xff, 0x83, 0x10, 0x00, 0x20, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00],
        ),
        (
            Inst::L2Acc {
                deps: d(false, false, false, false),
                layer: 0xfe,
                rows: 0x0101,
                part0: 0x0202,
                parts: 0x03,
                cols: 0x0304,
                res: 0x0505,
                wgt: 0x0606,
                psum: 0x0707,
            },
            [0x09, 0xf8, 0x07, 0x04, 0x08, 0x08, 0x0c, 0x10, 0x5c, 0x50, 0x60, 0x60, 0x70, 0x70, 0x00, 0x00],
        ),
        (
            Inst::BsAcc {
                deps: d(true, true, false, false),
                layer: 3,
                rows: 100,
                kcols: 784,
                cols: 10,
                spk: 0x0020,
                wgt: 0x0400,
                psum: 0x2000,
            },
            [0xca, 0x0c, 0x90, 0x01, 0x40, 0x0c, 0x28, 0x00, 0x02, 0x00, 0x40, 0x00, 0x00, 0x02, 0x00, 0x00],
        ),
        (
            Inst::DenseMac {
                deps: d(false, false, true, true),
                layer: 0,
                rows: 8,
                kcols: 64,
                cols: 256,
                src: 0x0a0a,
                wgt: 0x0b0b,
                psum: 0x0c0c,
            },
            [0x0b, 0x03, 0x20, 0x00, 0x00, 0x01, 0x00, 0xa4, 0xa0, 0xb0, 0xb0, 0xc0, 0xc0, 0x00, 0x00, 0x00],
        ),
        (
            Inst::PsumInit {
                deps: d(true, false, false, false),
                layer: 9,
                rows: 256,
                cols: 32,
                bias: 0x0002,
                psum: 0x1000,
            },
            [0x4c, 0x24, 0x00, 0x04, 0x80, 0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        ),
        (
            Inst::Lif {
                deps: d(false, true, false, false),
                layer: 4,
                row0: 0x0123,
                rows: 0x4567,
                p0: 0x89ab,
                cols: 0x3ff,
                psum: 0xcdef,
                memb: 0x0f0f,
                out: 0xf0f0,
            },
            [0x8d, 0x10, 0x8c, 0x04, 0x9c, 0x15, 0xad, 0x26, 0xfe, 0xff, 0xde, 0xfc, 0xf0, 0x00, 0x0f, 0x0f],
        ),
    ]
}

#[test]
fn golden_encodings() {
    let cases = golden();
    let mut ops: Vec<Opcode> = cases.iter().map(|(inst, _)| Opcode::of(inst)).collect();
    ops.dedup();
    assert_eq!(ops, Opcode::ALL.to_vec(), "one golden case per opcode, in opcode order");
    for (inst, bytes) in &cases {
        let got = encode(inst).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&got, bytes, "{}: encoded {:02x?}", format_inst(inst), got);
        assert_eq!(decode(bytes).as_ref(), Ok(inst));
    }
}

/// The golden `Match` is the example line of the brief; its fields at hand-computed offsets.
#[test]
fn golden_match_by_hand() {
    let (inst, bytes) = &golden()[6];
    let want: u128 = 0x07 // opcode
        | 1 << 6 // pop_prev
        | 1 << 9 // push_next
        | 1 << 10 // layer, bits 10..18
        | 256 << 18 // rows, bits 18..34
        // part0 = 0, bits 34..50
        | 8 << 50 // parts, bits 50..58
        // spk = 0, bits 58..74
        | 0x40 << 74 // pat, bits 74..90
        // idx = 0, bits 90..106
        | 0x100 << 106; // res, bits 106..122
    assert_eq!(u128::from_le_bytes(*bytes), want);
    assert_eq!(
        format_inst(inst),
        "match      L1 rows=256 part0=0 parts=8 spk=@0x000 pat=@0x040 idx=@0x000 res=@0x100  [compute -prev +next]"
    );
}

// ---------------------------------------------------------------------------------------------
// Decoding errors

fn word(bytes: &[u8; 16]) -> u128 {
    u128::from_le_bytes(*bytes)
}

#[test]
fn rejects_all_zero_bytes() {
    assert_eq!(decode(&[0; 16]), Err(DecodeError::UnknownOpcode { code: 0 }));
    assert_eq!(decode_all(&[0; 48]), Err((0, DecodeError::UnknownOpcode { code: 0 })));
}

#[test]
fn rejects_unknown_opcodes() {
    for code in 0u8..64 {
        if Opcode::from_code(code).is_some() {
            continue;
        }
        for high in [0u128, u128::MAX << 6] {
            let bytes = (u128::from(code) | high).to_le_bytes();
            assert_eq!(decode(&bytes), Err(DecodeError::UnknownOpcode { code }), "opcode {code}");
        }
    }
}

#[test]
fn rejects_bad_buffer_codes() {
    for (inst, bytes) in golden() {
        let op = Opcode::of(&inst);
        let Some((_, range)) = op.layout().into_iter().find(|(f, _)| f.kind == FieldKind::Buffer) else {
            continue;
        };
        for code in 0u8..16 {
            let w = word(&bytes) & !(0xf << range.start) | u128::from(code) << range.start;
            let got = decode(&w.to_le_bytes());
            if usize::from(code) < Buffer::ALL.len() {
                assert!(got.is_ok(), "{op}: buffer code {code}: {got:?}");
            } else {
                assert_eq!(got, Err(DecodeError::BadBuffer { op, field: "buf", code }));
            }
        }
    }
}

#[test]
fn rejects_reserved_bits() {
    for (inst, bytes) in golden() {
        let op = Opcode::of(&inst);
        for bit in op.reserved_start()..128 {
            let w = word(&bytes) ^ 1 << bit;
            assert_eq!(decode(&w.to_le_bytes()), Err(DecodeError::ReservedBit { op, bit }), "{op} bit {bit}");
        }
    }
}

#[test]
fn rejects_forbidden_token_flags() {
    let mut rejected = 0;
    for (inst, bytes) in golden() {
        let op = Opcode::of(&inst);
        if !op.has_deps() {
            continue;
        }
        for (i, flag) in DEP_FLAGS.iter().enumerate() {
            let w = word(&bytes) | 1 << (DEPS_SHIFT + i as u32);
            let got = decode(&w.to_le_bytes());
            let mut want = inst;
            let d = want.deps_mut().expect("has deps");
            match i {
                0 => d.pop_prev = true,
                1 => d.pop_next = true,
                2 => d.push_prev = true,
                _ => d.push_next = true,
            }
            match forbidden_flag(inst.queue(), want.deps()) {
                Some(f) => {
                    assert_eq!(&f, flag);
                    assert_eq!(got, Err(DecodeError::ForbiddenToken { op, flag: f, queue: inst.queue() }));
                    assert_eq!(encode(&want), Err(EncodeError::ForbiddenToken { op, flag: f, queue: inst.queue() }));
                    rejected += 1;
                }
                None => assert_eq!(got, Ok(want), "{op} {flag}"),
            }
        }
    }
    // load, gather and pwp.fetch: pop_prev, push_prev; store: pop_next, push_next
    assert!(rejected >= 8, "{rejected}");
}

#[test]
fn single_bit_flips_never_decode_silently_to_garbage() {
    // Every flip either fails to decode or decodes to another instruction that encodes to
    // exactly the flipped bytes; count how many are caught.
    let (mut caught, mut total) = (0, 0);
    for (_, bytes) in golden() {
        for bit in 0..128 {
            let flipped = (word(&bytes) ^ 1 << bit).to_le_bytes();
            total += 1;
            match decode(&flipped) {
                Ok(inst) => assert_eq!(encode(&inst), Ok(flipped)),
                Err(_) => caught += 1,
            }
        }
    }
    // at least every reserved bit (the opcode's and the forbidden token flags' flips add to it)
    let reserved: u32 = golden().iter().map(|(i, _)| 128 - Opcode::of(i).reserved_start()).sum();
    assert!(caught > reserved as usize, "only {caught} of {total} single-bit flips caught");
}

// ---------------------------------------------------------------------------------------------
// Encoding errors

#[test]
fn encode_rejects_out_of_range_fields() {
    let lif = Inst::Lif {
        deps: Deps::default(),
        layer: 0,
        row0: 0,
        rows: 1,
        p0: 0,
        cols: MAX_COLS + 1,
        psum: 0,
        memb: 0,
        out: 0,
    };
    let e = encode(&lif).unwrap_err();
    assert_eq!(e, EncodeError::FieldTooWide { op: Opcode::Lif, field: "cols", value: 1024, bits: 10 });
    assert_eq!(e.to_string(), "lif (opcode 0x0d): field `cols` = 1024 does not fit in 10 bits (allowed 0..=1023)");

    let dma = Dma { buf: Buffer::Spk, sram: 0, dram: 0, rows: 1, row_bytes: 1, stride: 1 << 24 };
    let e = encode(&Inst::Store { deps: Deps::default(), dma }).unwrap_err();
    assert_eq!(e, EncodeError::FieldTooWide { op: Opcode::Store, field: "stride", value: 1 << 24, bits: 24 });

    let gather = Inst::Gather {
        deps: Deps { push_prev: true, ..Deps::default() },
        layer: 0,
        row0: 0,
        rows: 0,
        k0: 0,
        kcols: 0,
        sram: 0,
        row_bytes: 0,
    };
    let e = encode(&gather).unwrap_err();
    assert_eq!(
        e.to_string(),
        "gather (opcode 0x05): token flag `push_prev` is not allowed in the load queue (the load queue has no previous queue)"
    );

    let code = [Inst::Halt, Inst::Halt, lif, Inst::Halt];
    assert_eq!(
        encode_all(&code),
        Err((2, EncodeError::FieldTooWide { op: Opcode::Lif, field: "cols", value: 1024, bits: 10 }))
    );
}

#[test]
fn decode_all_reports_the_failing_index() {
    let good = encode_all(&[Inst::Halt, Inst::Sync { deps: Deps::default() }]).unwrap();
    let mut bytes = good.clone();
    bytes.extend_from_slice(&[0xff; 16]);
    assert_eq!(decode_all(&bytes), Err((2, DecodeError::UnknownOpcode { code: 0x3f })));
    let mut short = good;
    short.extend_from_slice(&[0x02, 0, 0]);
    assert_eq!(decode_all(&short), Err((2, DecodeError::Truncated { len: 35 })));
    assert_eq!(decode_all(&[]), Ok(vec![]));
}

#[test]
fn error_messages() {
    let cases = [
        (DecodeError::UnknownOpcode { code: 0x2a }, "unknown opcode 0x2a (valid opcodes are 0x01..=0x0d)"),
        (
            DecodeError::BadBuffer { op: Opcode::Load, field: "buf", code: 13 },
            "load (opcode 0x03): field `buf` holds buffer code 13, which names no buffer (allowed 0..=10)",
        ),
        (
            DecodeError::ReservedBit { op: Opcode::Sync, bit: 77 },
            "sync (opcode 0x01): reserved bit 77 is set (bits 10..128 must be zero)",
        ),
        (
            DecodeError::ForbiddenToken { op: Opcode::Store, flag: "push_next", queue: Queue::Store },
            "store (opcode 0x04): token flag `push_next` is set, but it is not allowed in the store queue \
             (the store queue has no next queue)",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
}

// ---------------------------------------------------------------------------------------------
// Random bytes

/// SplitMix64: a tiny seeded generator, so the loop is the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn word(&mut self) -> u128 {
        u128::from(self.next()) << 64 | u128::from(self.next())
    }
}

#[test]
fn random_bytes_never_panic_and_decode_exactly() {
    let mut rng = SplitMix(0x5eed_f00d);
    let mut decoded = 0;
    for i in 0..200_000u32 {
        let mut w = rng.word();
        // Make three quarters of the cases likelier to decode, so the accepting path is
        // exercised as much as the rejecting one: a valid opcode, then zero reserved bits,
        // then a valid buffer code.
        if i % 4 != 0 {
            let op = Opcode::ALL[(rng.next() % Opcode::ALL.len() as u64) as usize];
            w = w & !0x3f | u128::from(op.code());
            if i % 4 != 1 {
                let keep = op.reserved_start();
                w &= (1u128 << keep) - 1;
            }
            if i % 4 == 3
                && let Some((_, r)) = op.layout().into_iter().find(|(f, _)| f.kind == FieldKind::Buffer)
            {
                let code = rng.next() % Buffer::ALL.len() as u64;
                w = w & !(0xf << r.start) | u128::from(code) << r.start;
            }
        }
        let bytes = w.to_le_bytes();
        if let Ok(inst) = decode(&bytes) {
            decoded += 1;
            assert_eq!(encode(&inst), Ok(bytes), "{}", format_inst(&inst));
            assert_eq!(parse_inst(&format_inst(&inst)), Ok(inst));
        }
    }
    assert!(decoded > 50_000, "only {decoded} random words decoded");
}

#[test]
fn parse_never_panics_on_garbage() {
    let mut rng = SplitMix(7);
    let alphabet: Vec<char> = "lL0x1@=[]:;_ -+.abcdefprvwnstmkuB<>\u{e9}9".chars().collect();
    let mut lines: Vec<String> = golden().iter().map(|(i, _)| format_inst(i)).collect();
    for _ in 0..20_000 {
        let len = (rng.next() % 60) as usize;
        let mut s: String = (0..len).map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize]).collect();
        if rng.next() & 1 == 0 {
            // mutate a real line instead
            let base = &lines[(rng.next() % lines.len() as u64) as usize];
            let cut = (rng.next() as usize) % (base.len() + 1);
            s = format!("{}{}", base.get(..cut).unwrap_or(base), s);
        }
        if let Ok(inst) = parse_inst(&s) {
            assert!(encode(&inst).is_ok(), "{s:?}");
            lines.push(format_inst(&inst));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// docs/isa.md agrees with the code

fn docs() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/isa.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bits(range: std::ops::Range<u32>) -> String {
    if range.len() == 1 { format!("{}", range.start) } else { format!("{}:{}", range.end - 1, range.start) }
}

/// The opcode table of docs/isa.md, as the code defines it.
fn opcode_table() -> String {
    let mut s = String::from("| opcode | mnemonic | queue | fields (after the token flags) | bits used |\n");
    s.push_str("|---|---|---|---|---|\n");
    for (inst, _) in golden() {
        let op = Opcode::of(&inst);
        let fields: Vec<_> = op.fields().iter().map(|f| format!("`{}`", f.name)).collect();
        let fields = if fields.is_empty() { "—".to_string() } else { fields.join(", ") };
        s.push_str(&format!(
            "| `{:#04x}` | `{}` | {} | {} | {} |\n",
            op.code(),
            op.mnemonic(),
            queue_name(inst.queue()),
            fields,
            op.reserved_start()
        ));
    }
    s
}

/// The bit-layout table of one instruction in docs/isa.md.
fn layout_table(op: Opcode, queue: Queue) -> String {
    let mut s = String::from("| bits | field | width | values |\n|---|---|---|---|\n");
    s.push_str(&format!("| 5:0 | opcode | 6 | `{:#04x}` |\n", op.code()));
    if op.has_deps() {
        for (i, flag) in DEP_FLAGS.iter().enumerate() {
            let alone = Deps { pop_prev: i == 0, pop_next: i == 1, push_prev: i == 2, push_next: i == 3 };
            let values = match forbidden_flag(queue, alone) {
                Some(_) => format!(
                    "0 (the {} queue has no {} queue)",
                    queue_name(queue),
                    if i % 2 == 0 { "previous" } else { "next" }
                ),
                None => "0, 1".to_string(),
            };
            s.push_str(&format!("| {} | `{flag}` | 1 | {values} |\n", DEPS_SHIFT as usize + i));
        }
    }
    for (f, range) in op.layout() {
        let values = match f.kind {
            FieldKind::Buffer => format!("0..={} (buffer code)", Buffer::ALL.len() - 1),
            FieldKind::Layer | FieldKind::Uint | FieldKind::Line | FieldKind::Dram => {
                format!("0..={}", if f.bits == 32 { u64::from(u32::MAX) } else { (1u64 << f.bits) - 1 })
            }
        };
        s.push_str(&format!("| {} | `{}` | {} | {values} |\n", bits(range.clone()), f.name, f.bits));
    }
    let start = op.reserved_start();
    if start < 128 {
        s.push_str(&format!("| {} | reserved | {} | 0 |\n", bits(start..128), 128 - start));
    }
    s
}

#[test]
fn docs_tables_match_the_code() {
    let text = docs();
    let mut missing = Vec::new();
    let table = opcode_table();
    if !text.contains(&table) {
        missing.push(format!("the opcode table:\n\n{table}"));
    }
    for (inst, _) in golden() {
        let op = Opcode::of(&inst);
        let heading = format!("### `{}` — opcode `{:#04x}`", op.mnemonic(), op.code());
        let table = layout_table(op, inst.queue());
        match text.split_once(&heading) {
            Some((_, section)) if section.split("\n### ").next().is_some_and(|s| s.contains(&table)) => {}
            Some(_) | None => missing.push(format!("{heading}\n\n{table}")),
        }
    }
    assert!(missing.is_empty(), "docs/isa.md is out of date; it should contain:\n\n{}", missing.join("\n\n"));
}

/// The example listing of docs/isa.md §6 is what `listing` prints for it.
#[test]
fn docs_listing_example_is_real() {
    let text = docs();
    let (_, section) = text.split_once("## 6. The listing").expect("section 6");
    let (_, block) = section.split_once("```text\n").expect("example block");
    let (example, _) = block.split_once("```").expect("end of the example block");
    let code = parse_listing(example).unwrap_or_else(|e| panic!("{e}"));
    assert!(!code.is_empty());
    assert_eq!(listing(&code), example);
}
