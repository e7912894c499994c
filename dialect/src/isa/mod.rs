//! The Phi ISA: tile-level, fixed-width (128-bit) instructions in the spirit of TVM's VTA.
//!
//! One instruction stream is dispatched to three queues — **load** (DMA into the on-chip
//! buffers, including the activation gather and the selective PWP prefetch), **compute**
//! (pattern matching, Level-1 and Level-2 accumulation, the baselines' bit-sparse and dense
//! accumulation, partial-sum initialisation, LIF) and **store** (DMA out). Queues run
//! concurrently; they synchronise through dependency tokens between neighbouring queues
//! (load ↔ compute ↔ store), exactly as VTA: an instruction may *pop* a token from the queue
//! before or after it (waiting until one is there) and *push* one when it finishes. Executed in
//! stream order, a program computes its results; the tokens only matter for timing.
//!
//! Per-layer constants (shapes, partition width, neuron parameters, DRAM addresses, the input
//! mapping) live in the program's layer table ([`crate::program::LayerDesc`]); an instruction
//! names its layer by index and carries only the tile-specific fields. SRAM offsets are in
//! 16-byte lines ([`LINE`]) of the named buffer; DRAM addresses are bytes.
//!
//! The binary encoding, every field's width and range, and the text listing are specified in
//! `docs/isa.md` and implemented in [`encode`] and [`text`].

pub mod encode;
pub mod mlir;
pub mod text;

/// Bytes per SRAM line: SRAM offsets count lines.
pub const LINE: usize = 16;

/// On-chip buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Buffer {
    /// Input spike rows, packed bits (LSB first), `row_bytes` per row.
    Spk,
    /// Integer activations (i32) for layers with non-binary inputs.
    Act,
    /// Weights (i8), `K × n` slices.
    Wgt,
    /// Patterns (u32 bit vectors), `parts × q`.
    Pat,
    /// Pattern-weight products (i16), `parts × q × cols`.
    Pwp,
    /// Match indices (i16, −1 = none), `rows × parts`.
    Idx,
    /// Level-2 residual masks: per row and partition two u32 (`+1` bits, `−1` bits).
    Res,
    /// Bias (i32).
    Bias,
    /// Partial sums (i32), `rows × cols`.
    Psum,
    /// Membrane potentials (i32), `positions × cols`.
    Memb,
    /// Output spike rows, packed bits (LSB first).
    Out,
}

impl Buffer {
    /// Every buffer, in encoding order.
    pub const ALL: [Buffer; 11] = [
        Buffer::Spk,
        Buffer::Act,
        Buffer::Wgt,
        Buffer::Pat,
        Buffer::Pwp,
        Buffer::Idx,
        Buffer::Res,
        Buffer::Bias,
        Buffer::Psum,
        Buffer::Memb,
        Buffer::Out,
    ];

    /// The listing name.
    pub fn name(self) -> &'static str {
        match self {
            Buffer::Spk => "spk",
            Buffer::Act => "act",
            Buffer::Wgt => "wgt",
            Buffer::Pat => "pat",
            Buffer::Pwp => "pwp",
            Buffer::Idx => "idx",
            Buffer::Res => "res",
            Buffer::Bias => "bias",
            Buffer::Psum => "psum",
            Buffer::Memb => "memb",
            Buffer::Out => "out",
        }
    }

    /// The 4-bit code.
    #[inline]
    pub fn code(self) -> u8 {
        Buffer::ALL.iter().position(|&b| b == self).expect("listed") as u8
    }

    /// The buffer of a code.
    pub fn from_code(c: u8) -> Option<Buffer> {
        Buffer::ALL.get(c as usize).copied()
    }
}

/// Dependency-token flags of an instruction (VTA semantics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Deps {
    /// Wait for a token from the previous queue (compute: from load; store: from compute).
    pub pop_prev: bool,
    /// Wait for a token from the next queue (load: from compute; compute: from store).
    pub pop_next: bool,
    /// Give a token to the previous queue when done.
    pub push_prev: bool,
    /// Give a token to the next queue when done.
    pub push_next: bool,
}

/// A DMA transfer between DRAM and a buffer: `rows` rows of `row_bytes` bytes, consecutive in
/// SRAM from `sram` (lines), `stride` bytes apart in DRAM from `dram`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dma {
    /// The buffer.
    pub buf: Buffer,
    /// SRAM offset in lines (16 bits).
    pub sram: u16,
    /// DRAM byte address (32 bits).
    pub dram: u32,
    /// Rows (16 bits).
    pub rows: u16,
    /// Bytes per row (16 bits).
    pub row_bytes: u16,
    /// DRAM bytes between row starts (24 bits).
    pub stride: u32,
}

/// One instruction. Field widths are documented per field; [`Inst::validate`] checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Inst {
    /// Only token traffic.
    Sync {
        /// Tokens.
        deps: Deps,
    },
    /// End of program (after all queues drain).
    Halt,
    /// DRAM → buffer (load queue).
    Load {
        /// Tokens.
        deps: Deps,
        /// The transfer.
        dma: Dma,
    },
    /// Buffer → DRAM (store queue).
    Store {
        /// Tokens.
        deps: Deps,
        /// The transfer.
        dma: Dma,
    },
    /// Gathers GEMM input rows `row0 .. row0+rows`, columns `k0 .. k0+kcols`, of layer `layer`
    /// from the layer's input tensor in DRAM through its input mapping (identity rows, im2col,
    /// flatten) into `Spk` (bits) or `Act` (i32) at `sram`, `row_bytes` bytes per row (load queue).
    Gather {
        /// Tokens.
        deps: Deps,
        /// Layer index (8 bits).
        layer: u8,
        /// First GEMM row of the sample (16 bits).
        row0: u16,
        /// Rows (16 bits).
        rows: u16,
        /// First input column (16 bits).
        k0: u16,
        /// Columns (16 bits).
        kcols: u16,
        /// Destination line offset in `Spk` (spike layers) or `Act` (integer layers) (16 bits).
        sram: u16,
        /// Bytes per destination row (16 bits).
        row_bytes: u16,
    },
    /// Selective PWP prefetch (load queue; it waits through a token for the `match` whose
    /// indices it reads): for rows `0..rows` and partitions
    /// `part0 .. part0+parts` of the `Idx` tile at `idx`, loads from the layer's PWP table in DRAM
    /// only the rows of the patterns actually matched, columns `col0 .. col0+cols`, into `Pwp` at
    /// `pwp` (layout `parts × q × cols` i16; unused slots are not written).
    PwpFetch {
        /// Tokens.
        deps: Deps,
        /// Layer (8 bits).
        layer: u8,
        /// Rows of the tile (16 bits).
        rows: u16,
        /// First partition (16 bits).
        part0: u16,
        /// Partitions (8 bits).
        parts: u8,
        /// First output column (16 bits).
        col0: u16,
        /// Output columns (10 bits, ≤ 1023).
        cols: u16,
        /// `Idx` line offset (16 bits).
        idx: u16,
        /// `Pwp` line offset (16 bits).
        pwp: u16,
    },
    /// Pattern matching (compute): for `rows` spike rows at `spk` (`row_bytes` per row, the
    /// tile's columns starting at partition `part0`) and `parts` partitions with patterns at
    /// `pat` (`parts × q` u32), writes indices to `Idx` at `idx` (`rows × parts` i16) and the
    /// residual masks to `Res` at `res` (`rows × parts × 2` u32).
    Match {
        /// Tokens.
        deps: Deps,
        /// Layer (8 bits).
        layer: u8,
        /// Rows (16 bits).
        rows: u16,
        /// First partition (16 bits).
        part0: u16,
        /// Partitions (8 bits).
        parts: u8,
        /// `Spk` line offset (16 bits).
        spk: u16,
        /// `Pat` line offset (16 bits).
        pat: u16,
        /// `Idx` line offset (16 bits).
        idx: u16,
        /// `Res` line offset (16 bits).
        res: u16,
    },
    /// Level 1 (compute): `psum[r][c] += PWP[p][idx[r][p]][c]` for matched entries.
    L1Acc {
        /// Tokens.
        deps: Deps,
        /// Layer (8 bits).
        layer: u8,
        /// Rows (16 bits).
        rows: u16,
        /// Partitions (8 bits).
        parts: u8,
        /// Columns (10 bits).
        cols: u16,
        /// `Idx` line offset (16 bits).
        idx: u16,
        /// `Pwp` line offset (16 bits).
        pwp: u16,
        /// `Psum` line offset (16 bits).
        psum: u16,
    },
    /// Level 2 (compute): `psum[r][c] ±= W[k][c]` for the `±1` bits of the residual masks;
    /// weights at `wgt` are `(parts·k) × cols` i8 (rows from partition `part0`).
    L2Acc {
        /// Tokens.
        deps: Deps,
        /// Layer (8 bits).
        layer: u8,
        /// Rows (16 bits).
        rows: u16,
        /// First partition (16 bits).
        part0: u16,
        /// Partitions (8 bits).
        parts: u8,
        /// Columns (10 bits).
        cols: u16,
        /// `Res` line offset (16 bits).
        res: u16,
        /// `Wgt` line offset (16 bits).
        wgt: u16,
        /// `Psum` line offset (16 bits).
        psum: u16,
    },
    /// Bit-sparse accumulation, the Stellar/PTB-like baseline (compute): for every spike of the
    /// `rows × kcols` tile at `spk`, `psum[r] += W[k]` (weights `kcols × cols` at `wgt`).
    BsAcc {
        /// Tokens.
        deps: Deps,
        /// Layer (8 bits).
        layer: u8,
        /// Rows (16 bits).
        rows: u16,
        /// Input columns (16 bits).
        kcols: u16,
        /// Columns (10 bits).
        cols: u16,
        /// `Spk` line offset (16 bits).
        spk: u16,
        /// `Wgt` line offset (16 bits).
        wgt: u16,
        /// `Psum` line offset (16 bits).
        psum: u16,
    },
    /// Dense multiply-accumulate, the Eyeriss-like baseline and the path of non-binary inputs
    /// (compute): `psum[r][c] += Σ_k x[r][k]·W[k][c]` over the whole tile, `x` from `Spk` (bits)
    /// or `Act` (i32) at `src` as the layer's input kind says.
    DenseMac {
        /// Tokens.
        deps: Deps,
        /// Layer (8 bits).
        layer: u8,
        /// Rows (16 bits).
        rows: u16,
        /// Input columns (16 bits).
        kcols: u16,
        /// Columns (10 bits).
        cols: u16,
        /// Input line offset (16 bits).
        src: u16,
        /// `Wgt` line offset (16 bits).
        wgt: u16,
        /// `Psum` line offset (16 bits).
        psum: u16,
    },
    /// Initialises a partial-sum tile with the bias `Bias[col0 ..]` at `bias` (or zeros when
    /// the layer has no bias) (compute).
    PsumInit {
        /// Tokens.
        deps: Deps,
        /// Layer (8 bits).
        layer: u8,
        /// Rows (16 bits).
        rows: u16,
        /// Columns (10 bits).
        cols: u16,
        /// `Bias` line offset (16 bits).
        bias: u16,
        /// `Psum` line offset (16 bits).
        psum: u16,
    },
    /// Leaky integrate-and-fire over a partial-sum tile (compute): rows `row0 .. row0+rows` of
    /// the batch in order. Row `r` is sample `s = r / M`, time step `t = (r mod M) / P`,
    /// position `p = r mod P` (`M` rows per sample, `P` positions, from the layer table); its
    /// neuron uses membrane slot `s·P + p − p0` of the `Memb` region at `memb` (`slots × cols`
    /// i32), and at `t = 0` starts from a zero membrane (a fresh sample). Output spikes go to
    /// `Out` at `out` (`rows × ⌈cols/8⌉` bytes). The neuron parameters are the layer's.
    Lif {
        /// Tokens.
        deps: Deps,
        /// Layer (8 bits).
        layer: u8,
        /// First row (16 bits).
        row0: u16,
        /// Rows (16 bits).
        rows: u16,
        /// Membrane slot held first in `Memb` (16 bits).
        p0: u16,
        /// Columns (10 bits).
        cols: u16,
        /// `Psum` line offset (16 bits).
        psum: u16,
        /// `Memb` line offset (16 bits).
        memb: u16,
        /// `Out` line offset (16 bits).
        out: u16,
    },
}

/// The three queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Queue {
    /// DMA in.
    Load,
    /// Compute units.
    Compute,
    /// DMA out.
    Store,
}

/// Largest value of a 10-bit column count.
pub const MAX_COLS: u16 = 1023;

impl Inst {
    /// The mnemonic.
    #[inline]
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Inst::Sync { .. } => "sync",
            Inst::Halt => "halt",
            Inst::Load { .. } => "load",
            Inst::Store { .. } => "store",
            Inst::Gather { .. } => "gather",
            Inst::PwpFetch { .. } => "pwp.fetch",
            Inst::Match { .. } => "match",
            Inst::L1Acc { .. } => "l1.acc",
            Inst::L2Acc { .. } => "l2.acc",
            Inst::BsAcc { .. } => "bs.acc",
            Inst::DenseMac { .. } => "dense.mac",
            Inst::PsumInit { .. } => "psum.init",
            Inst::Lif { .. } => "lif",
        }
    }

    /// The queue that executes it (`Sync` and `Halt` go to compute, as in VTA).
    #[inline]
    pub fn queue(&self) -> Queue {
        match self {
            Inst::Load { .. } | Inst::Gather { .. } | Inst::PwpFetch { .. } => Queue::Load,
            Inst::Store { .. } => Queue::Store,
            Inst::Sync { .. }
            | Inst::Halt
            | Inst::Match { .. }
            | Inst::L1Acc { .. }
            | Inst::L2Acc { .. }
            | Inst::BsAcc { .. }
            | Inst::DenseMac { .. }
            | Inst::PsumInit { .. }
            | Inst::Lif { .. } => Queue::Compute,
        }
    }

    /// The dependency flags.
    #[inline]
    pub fn deps(&self) -> Deps {
        match *self {
            Inst::Halt => Deps::default(),
            Inst::Sync { deps }
            | Inst::Load { deps, .. }
            | Inst::Store { deps, .. }
            | Inst::Gather { deps, .. }
            | Inst::PwpFetch { deps, .. }
            | Inst::Match { deps, .. }
            | Inst::L1Acc { deps, .. }
            | Inst::L2Acc { deps, .. }
            | Inst::BsAcc { deps, .. }
            | Inst::DenseMac { deps, .. }
            | Inst::PsumInit { deps, .. }
            | Inst::Lif { deps, .. } => deps,
        }
    }

    /// Mutable access to the dependency flags (`None` for `Halt`).
    pub fn deps_mut(&mut self) -> Option<&mut Deps> {
        match self {
            Inst::Halt => None,
            Inst::Sync { deps }
            | Inst::Load { deps, .. }
            | Inst::Store { deps, .. }
            | Inst::Gather { deps, .. }
            | Inst::PwpFetch { deps, .. }
            | Inst::Match { deps, .. }
            | Inst::L1Acc { deps, .. }
            | Inst::L2Acc { deps, .. }
            | Inst::BsAcc { deps, .. }
            | Inst::DenseMac { deps, .. }
            | Inst::PsumInit { deps, .. }
            | Inst::Lif { deps, .. } => Some(deps),
        }
    }

    /// Checks the fields that are narrower than their Rust type (24-bit strides, 10-bit column
    /// counts) and the token flags a queue may use (load has no previous queue, store no next).
    pub fn validate(&self) -> Result<(), String> {
        let cols_ok =
            |c: u16| if c <= MAX_COLS { Ok(()) } else { Err(format!("{}: cols {c} > {MAX_COLS}", self.mnemonic())) };
        match self {
            Inst::Load { dma, .. } | Inst::Store { dma, .. } => {
                if dma.stride >= 1 << 24 {
                    return Err(format!("{}: stride {} does not fit 24 bits", self.mnemonic(), dma.stride));
                }
            }
            Inst::PwpFetch { cols, .. }
            | Inst::L1Acc { cols, .. }
            | Inst::L2Acc { cols, .. }
            | Inst::BsAcc { cols, .. }
            | Inst::DenseMac { cols, .. }
            | Inst::PsumInit { cols, .. }
            | Inst::Lif { cols, .. } => cols_ok(*cols)?,
            Inst::Sync { .. } | Inst::Halt | Inst::Gather { .. } | Inst::Match { .. } => {}
        }
        let d = self.deps();
        match self.queue() {
            Queue::Load if d.pop_prev || d.push_prev => {
                Err(format!("{}: the load queue has no previous queue", self.mnemonic()))
            }
            Queue::Store if d.pop_next || d.push_next => {
                Err(format!("{}: the store queue has no next queue", self.mnemonic()))
            }
            Queue::Load | Queue::Store | Queue::Compute => Ok(()),
        }
    }
}
