//! The functional core of the emulator: machine state and one exhaustive `step`.
//!
//! [`step`] executes one instruction on a [`Machine`] — DRAM, the on-chip buffers sized by the
//! hardware configuration, the layer table — and returns the [`Work`] it did (bytes moved,
//! rows added, vectors matched…), from which the timing and energy models charge cycles and
//! picojoules. Every buffer and DRAM access is bounds-checked: a bad program *traps* (a
//! [`TrapKind`] with the facts: which buffer, address, layer…), it never panics. Pattern matching runs here, at run time, on the actual spikes.
//!
//! The buffers are arrays of 32-bit words, so that every line-aligned region can be viewed as
//! the integers it holds (`i32` partial sums and membranes, `i16` PWP rows and match indices,
//! `u32` residual masks, `i8` weights) without copying; the views are little-endian, as the ISA
//! specifies, which requires a little-endian host. Two caches of pure functions keep the
//! emulator fast without changing any result: the matcher's per-vector results per pattern set,
//! and whole match instructions (the backend re-matches a row tile for every column tile).

#[cfg(target_endian = "big")]
compile_error!("the emulator views buffer bytes as little-endian integers: it needs a little-endian host");

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::ops::Range;
use std::rc::Rc;

use phi_dialect::isa::{Buffer, Dma, Inst, LINE};
use phi_dialect::ops::snn::Reset;
use phi_dialect::program::{InputKind, InputMap, LayerDesc, ProgramMeta, TableSource};

use crate::neuron::FixedLif;
use crate::phi::PatternPlanes;

/// Why execution stopped: which instruction, and what it did wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    /// Index of the instruction.
    pub pc: usize,
    /// What went wrong.
    pub kind: TrapKind,
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trap at instruction {}: {}", self.pc, self.kind)
    }
}

impl std::error::Error for Trap {}

/// What an instruction did wrong ([`Machine::step`]'s error; a [`Trap`] adds its index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrapKind {
    /// An access of `len` bytes at `line` of buffer `buf` runs past its `size` bytes.
    Buffer {
        /// The buffer.
        buf: Buffer,
        /// The first line (16 bytes each).
        line: u16,
        /// Bytes accessed.
        len: usize,
        /// The buffer's size in bytes.
        size: usize,
    },
    /// One instruction names the same buffer for two of its operands.
    SameBuffer,
    /// A buffer region is not aligned for the integers it holds.
    Misaligned {
        /// bytemuck's reason.
        error: bytemuck::PodCastError,
    },
    /// An access outside the DRAM image.
    Dram(DramFault),
    /// A row an accumulation adds lies outside the table region it reads.
    RowOutside {
        /// The table row.
        row: usize,
    },
    /// A match index that is not below the layer's pattern count.
    MatchIndex {
        /// The index.
        index: i16,
        /// The layer's pattern count.
        q: usize,
    },
    /// A residual mask with bits at or above the partition width.
    ResidualMask {
        /// The mask.
        mask: u32,
        /// The partition width.
        k: usize,
    },
    /// An instruction names a layer the layer table does not have.
    NoLayer {
        /// The layer index.
        layer: u8,
        /// Layers in the table.
        layers: usize,
    },
    /// A `lif` on a layer without a neuron.
    NoNeuron {
        /// The layer index.
        layer: u8,
    },
    /// A `lif` row whose membrane slot lies below the region's first slot `p0`.
    MembraneSlot {
        /// The layer row.
        row: usize,
        /// Its membrane slot.
        slot: usize,
        /// The region's first slot.
        p0: usize,
    },
    /// A `pwp.fetch` on a layer without a PWP table.
    NoPwp {
        /// The layer index.
        layer: u8,
    },
    /// A `pwp.fetch` of columns or partitions the layer does not have.
    PwpFetchRange {
        /// The layer index.
        layer: u8,
        /// First column.
        col0: usize,
        /// Columns.
        cols: usize,
        /// First partition.
        part0: u16,
        /// Partitions.
        parts: usize,
    },
    /// A `match` on a layer without patterns (or with a partition width other than 8, 16, 32).
    NoPatterns {
        /// The layer index.
        layer: u8,
        /// Its partition width.
        k: usize,
        /// Its pattern count.
        q: usize,
    },
    /// A `match` of partitions the layer does not have.
    MatchPartitions {
        /// First partition.
        part0: u16,
        /// Partitions.
        parts: usize,
        /// The layer's partitions.
        layer_parts: u32,
    },
    /// A `gather` of rows or columns the layer's input does not have.
    GatherRange {
        /// The layer index.
        layer: u8,
        /// First row.
        row0: u16,
        /// Rows.
        rows: u16,
        /// First column.
        k0: u16,
        /// Columns.
        kcols: u16,
        /// The layer's rows.
        layer_rows: u32,
        /// The layer's input columns.
        layer_cols: u32,
    },
    /// A `gather` of more elements than the rows of its tile hold.
    GatherWidth {
        /// Spikes (bits) or integers (4 bytes).
        kind: InputKind,
        /// Columns gathered.
        cols: usize,
        /// Bytes per tile row.
        row_bytes: usize,
    },
    /// An input index table entry past the source's elements of one time step.
    TableEntry {
        /// The entry.
        entry: usize,
        /// Elements per step of the source.
        limit: usize,
    },
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrapKind::Buffer { buf, line, len, size } => write!(
                f,
                "{} buffer access of {len} bytes at line {line} (byte {}) exceeds its {size} bytes",
                buf.name(),
                *line as usize * LINE
            ),
            TrapKind::SameBuffer => write!(f, "an instruction names one buffer twice"),
            TrapKind::Misaligned { error } => write!(f, "misaligned buffer view ({error})"),
            TrapKind::Dram(fault) => fault.fmt(f),
            TrapKind::RowOutside { row } => write!(f, "row {row} lies outside its buffer region"),
            TrapKind::MatchIndex { index, q } => write!(f, "match index {index} ≥ q = {q}"),
            TrapKind::ResidualMask { mask, k } => {
                write!(f, "residual mask {mask:#x} has bits beyond the partition width {k}")
            }
            TrapKind::NoLayer { layer, layers } => write!(f, "layer {layer} does not exist ({layers} layers)"),
            TrapKind::NoNeuron { layer } => write!(f, "layer {layer} has no neuron"),
            TrapKind::MembraneSlot { row, slot, p0 } => {
                write!(f, "lif row {row} uses membrane slot {slot}, below the region's first slot {p0}")
            }
            TrapKind::NoPwp { layer } => write!(f, "layer {layer} has no PWP table"),
            TrapKind::PwpFetchRange { layer, col0, cols, part0, parts } => {
                write!(f, "pwp.fetch columns {col0}+{cols} / partitions {part0}+{parts} exceed layer {layer}")
            }
            TrapKind::NoPatterns { layer, k, q } => write!(f, "layer {layer} has no patterns (k = {k}, q = {q})"),
            TrapKind::MatchPartitions { part0, parts, layer_parts } => {
                write!(f, "match partitions {part0}+{parts} exceed the layer's {layer_parts}")
            }
            TrapKind::GatherRange { layer, row0, rows, k0, kcols, layer_rows, layer_cols } => write!(
                f,
                "gather rows {row0}+{rows}, columns {k0}+{kcols} exceed layer {layer} ({layer_rows} × {layer_cols})"
            ),
            TrapKind::GatherWidth { kind, cols, row_bytes } => {
                let what = match kind {
                    InputKind::Spikes => "columns",
                    InputKind::Int => "integers",
                };
                write!(f, "gather of {cols} {what} into rows of {row_bytes} bytes")
            }
            TrapKind::TableEntry { entry, limit } => {
                write!(f, "input table entry {entry} exceeds the source's {limit} elements per step")
            }
        }
    }
}

impl std::error::Error for TrapKind {}

impl From<DramFault> for TrapKind {
    fn from(fault: DramFault) -> Self {
        TrapKind::Dram(fault)
    }
}

/// An access of `len` bytes at `addr` outside a DRAM image of `size` bytes (or whose end
/// overflows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DramFault {
    /// The first byte.
    pub addr: u64,
    /// Bytes accessed.
    pub len: u64,
    /// The image's size in bytes.
    pub size: usize,
}

impl fmt::Display for DramFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DramFault { addr, len, size } = *self;
        match addr.checked_add(len) {
            Some(_) => write!(f, "DRAM access of {len} bytes at 0x{addr:08x} exceeds the {size}-byte image"),
            None => write!(f, "DRAM address overflow: an access of {len} bytes at 0x{addr:016x}"),
        }
    }
}

impl std::error::Error for DramFault {}

/// What one instruction did, for the timing, energy and operation counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Bytes read from DRAM.
    pub dram_read: u64,
    /// Bytes written to DRAM.
    pub dram_write: u64,
    /// Bytes read from / written to on-chip buffers, by buffer code.
    pub sram: [u64; 11],
    /// Partition vectors matched.
    pub vectors: u64,
    /// Patterns compared (vectors × q).
    pub comparisons: u64,
    /// Spikes seen by the matcher (the input's ones).
    pub spikes: u64,
    /// Partition vectors served by a pattern (matcher statistics).
    pub matched: u64,
    /// ±1 entries of the residuals the matcher produced (statistics).
    pub residual: u64,
    /// Level-1 hits (PWP rows added).
    pub l1_rows: u64,
    /// Level-2 ±1 entries (weight rows added or subtracted).
    pub l2_rows: u64,
    /// Weight rows added by the bit-sparse baseline.
    pub bs_rows: u64,
    /// Multiply-accumulates of the dense path.
    pub macs: u64,
    /// Row additions' width (output columns of the tile).
    pub cols: u64,
    /// Partial sums initialised.
    pub inits: u64,
    /// Neuron updates.
    pub lif: u64,
    /// Spikes emitted.
    pub fired: u64,
    /// Of the counts above, those of rows that belong to real samples (not to the zero samples
    /// that pad the last batch), for the operation counts and matcher statistics.
    pub real: Real,
}

/// The layer rows a tile holds: (layer, first row).
type Origin = (u8, u16);

/// Work on the rows of real samples (see [`Work::real`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Real {
    /// Non-zero partition vectors matched (the denominator of the L1 hit rate, as the
    /// interpreter's sparsity report counts it).
    pub vectors: u64,
    /// Vectors served by a pattern.
    pub matched: u64,
    /// Input spikes (of the matcher, the bit-sparse and the dense path: nonzero inputs).
    pub spikes: u64,
    /// Level-1 rows.
    pub l1_rows: u64,
    /// Level-2 entries.
    pub l2_rows: u64,
    /// Bit-sparse rows.
    pub bs_rows: u64,
    /// Spikes emitted.
    pub fired: u64,
}

/// What a PWP region holds: (layer, first partition, partitions, first column, columns).
type PwpTag = (u8, u16, u8, u16, u16);

/// The on-chip buffers: one word array per buffer, viewed as bytes of the configured size.
///
/// Lines of the matcher's output buffers (indices, residuals) carry write stamps: the time of
/// the last write into them, on a clock that ticks at every write. They tell the accumulation
/// units that a region still holds what a match wrote (see [`Machine::decoded`]).
struct Buffers {
    words: Vec<Vec<u32>>,
    sizes: Vec<usize>,
    /// Per buffer, per line: the clock of the last write (for [`STAMPED`] buffers only).
    stamps: Vec<Vec<u64>>,
    clock: u64,
}

/// The buffers whose writes are stamped. Only `load` (to any buffer) and `match` write them, and
/// both stamp what they write.
const STAMPED: [Buffer; 2] = [Buffer::Idx, Buffer::Res];

impl Buffers {
    /// Zeroed buffers of `meta`'s sizes, in the memory of `words` (an earlier machine's).
    fn new(meta: &ProgramMeta, mut words: Vec<Vec<u32>>) -> Self {
        let sizes: Vec<usize> = Buffer::ALL.iter().map(|&b| meta.hw.buffers.size(b) as usize).collect();
        let stamps = Buffer::ALL
            .iter()
            .zip(&sizes)
            .map(|(b, &s)| if STAMPED.contains(b) { vec![0; s.div_ceil(LINE)] } else { Vec::new() })
            .collect();
        words.resize_with(sizes.len(), Vec::new);
        for (w, &s) in words.iter_mut().zip(&sizes) {
            w.clear();
            w.resize(s.div_ceil(4), 0);
        }
        Buffers { words, sizes, stamps, clock: 0 }
    }

    /// Records a write to `range` (checked) of buffer `b`; returns its time.
    fn stamp(&mut self, b: Buffer, range: &Range<usize>) -> u64 {
        self.clock += 1;
        let lines = &mut self.stamps[b.code() as usize];
        if !lines.is_empty() && !range.is_empty() {
            lines[range.start / LINE..range.end.div_ceil(LINE)].fill(self.clock);
        }
        self.clock
    }

    /// Whether `range` (checked) of stamped buffer `b` is unwritten after time `t`.
    fn unchanged_since(&self, b: Buffer, range: &Range<usize>, t: u64) -> bool {
        let lines = &self.stamps[b.code() as usize];
        !lines.is_empty()
            && (range.is_empty() || lines[range.start / LINE..range.end.div_ceil(LINE)].iter().all(|&s| s <= t))
    }

    /// The byte range `[line·16, line·16 + len)` of a buffer, checked.
    fn range(&self, b: Buffer, line: u16, len: usize) -> R<Range<usize>> {
        let start = line as usize * LINE;
        let size = self.sizes[b.code() as usize];
        match start.checked_add(len) {
            Some(end) if end <= size => Ok(start..end),
            Some(_) | None => Err(TrapKind::Buffer { buf: b, line, len, size }),
        }
    }

    fn bytes(&self, b: Buffer) -> &[u8] {
        let i = b.code() as usize;
        &bytemuck::cast_slice(&self.words[i])[..self.sizes[i]]
    }

    fn bytes_mut(&mut self, b: Buffer) -> &mut [u8] {
        let i = b.code() as usize;
        &mut bytemuck::cast_slice_mut(&mut self.words[i])[..self.sizes[i]]
    }

    /// Several distinct buffers at once, as bytes.
    fn many<const N: usize>(&mut self, bs: [Buffer; N]) -> R<[&mut [u8]; N]> {
        let idx = bs.map(|b| b.code() as usize);
        let sizes = idx.map(|i| self.sizes[i]);
        let words = self.words.get_disjoint_mut(idx).map_err(|_| TrapKind::SameBuffer)?;
        let mut k = 0;
        Ok(words.map(|w| {
            let size = sizes[k];
            k += 1;
            &mut bytemuck::cast_slice_mut::<u32, u8>(w.as_mut_slice())[..size]
        }))
    }
}

/// A buffer region as integers (regions start on a line, so they are aligned).
fn view<T: bytemuck::AnyBitPattern>(b: &[u8]) -> R<&[T]> {
    bytemuck::try_cast_slice(b).map_err(|error| TrapKind::Misaligned { error })
}

fn view_mut<T: bytemuck::NoUninit + bytemuck::AnyBitPattern>(b: &mut [u8]) -> R<&mut [T]> {
    bytemuck::try_cast_slice_mut(b).map_err(|error| TrapKind::Misaligned { error })
}

/// The DRAM image: a zeroed writable array, and the program's constant regions (weights, PWP
/// tables, patterns), which are read in place from the program until an instruction writes
/// into one — then it is copied into the array first (copy on write). So a batch does not start
/// by copying megabytes of tables it only reads.
pub struct Dram<'p> {
    bytes: Vec<u8>,
    /// (address range, contents, copied into `bytes` yet).
    consts: Vec<(Range<usize>, &'p [u8], bool)>,
    /// The constant region the last read found (reads come in runs over one table).
    last: usize,
}

impl<'p> Dram<'p> {
    /// A zeroed image of `size` bytes, in the memory of `bytes`.
    fn new(mut bytes: Vec<u8>, size: usize) -> Self {
        if bytes.capacity() >= size {
            bytes.clear();
            bytes.resize(size, 0);
        } else {
            // fresh zeroed memory: the operating system maps pages as they are touched
            bytes = vec![0; size];
        }
        Dram { bytes, consts: Vec::new(), last: 0 }
    }

    /// Maps `data` at `addr` as a constant region (checked: inside the image).
    pub fn map(&mut self, addr: usize, data: &'p [u8]) -> Result<(), DramFault> {
        dram_range(self.bytes.len(), addr as u64, data.len() as u64)?;
        self.consts.push((addr..addr + data.len(), data, false));
        Ok(())
    }

    /// Image size in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the image is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Copies the constant regions that overlap `r` into the array.
    fn materialise(&mut self, r: &Range<usize>) {
        for (cr, data, copied) in &mut self.consts {
            if !*copied && cr.start < r.end && r.start < cr.end {
                self.bytes[cr.clone()].copy_from_slice(data);
                *copied = true;
            }
        }
    }

    /// The `len` bytes at `addr`, for reading (checked).
    pub fn read(&mut self, addr: u64, len: u64) -> Result<&[u8], DramFault> {
        let r = dram_range(self.bytes.len(), addr, len)?;
        let holds = |(cr, _, copied): &(Range<usize>, &[u8], bool)| !*copied && cr.start <= r.start && r.end <= cr.end;
        let inside = match self.consts.get(self.last) {
            Some(c) if holds(c) => Some(self.last),
            Some(_) | None => self.consts.iter().position(holds),
        };
        if let Some(i) = inside {
            self.last = i;
        }
        match inside {
            Some(i) => {
                let (cr, data, _) = &self.consts[i];
                Ok(&data[r.start - cr.start..r.end - cr.start])
            }
            None => {
                self.materialise(&r);
                Ok(&self.bytes[r])
            }
        }
    }

    /// The `len` bytes at `addr`, for writing (checked).
    pub fn write(&mut self, addr: u64, len: u64) -> Result<&mut [u8], DramFault> {
        let r = dram_range(self.bytes.len(), addr, len)?;
        self.materialise(&r);
        Ok(&mut self.bytes[r])
    }
}

/// A checked DRAM range of an image of `size` bytes.
fn dram_range(size: usize, addr: u64, len: u64) -> Result<Range<usize>, DramFault> {
    let fault = DramFault { addr, len, size };
    let end = addr.checked_add(len).ok_or(fault)?;
    if end > size as u64 {
        return Err(fault);
    }
    Ok(addr as usize..end as usize)
}

/// The accelerator's state.
pub struct Machine<'p> {
    /// Program metadata (layer table, hardware).
    pub meta: &'p ProgramMeta,
    /// DRAM image.
    pub dram: Dram<'p>,
    bufs: Buffers,
    /// The PWP prefetcher's tags: per PWP region (line offset), the slice it holds
    /// (layer, first partition, partitions, first column, columns) and which pattern rows are
    /// valid.
    pwp_tags: HashMap<u16, (PwpTag, Vec<bool>), BuildHasherDefault<VectorHasher>>,
    memo: MatchMemo,
    /// Whole match instructions memoised. The backend re-matches a row tile for every column
    /// tile; the emulator computes it once. A pure cache, bounded to [`MATCH_CACHE`] entries.
    matches: Vec<MatchEntry>,
    /// What the last matches wrote, decoded, by output region.
    written: Vec<Written>,
    /// Which layer rows a gathered tile holds: (buffer, line, layer, first row).
    origins: Vec<(Buffer, u16, u8, u16)>,
    /// Real samples in the batch (the rest are zeros that pad it), if known.
    real_samples: Option<usize>,
    /// Scratch: the row codes an accumulation adds.
    rows: Vec<u32>,
    /// Scratch for a gather through an index table.
    scratch: Vec<u8>,
    /// Scratch: the (row, input) pairs of a dense multiply-accumulate.
    macs: Vec<(u32, i32)>,
    /// Scratch: the PWP rows a fetch needs.
    used: Vec<bool>,
    /// Scratch: a bit set of residual rows.
    words: Vec<u64>,
    /// Match instructions executed (the cache's clock).
    match_count: u64,
}

/// A match instruction's inputs and result.
struct MatchEntry {
    /// (k, q, partitions, rows).
    shape: (usize, usize, usize, usize),
    spikes: Vec<u8>,
    patterns: Vec<u8>,
    /// When it was last used (for replacement).
    used: u64,
    idx: Vec<u8>,
    res: Vec<u8>,
    decoded: Rc<Decoded>,
    work: Work,
}

/// A match result decoded into the rows the accumulation units add, per row of the tile (row
/// `r`'s codes are `codes[start[r]..start[r + 1]]`). Decoded once per distinct match, used by
/// every column tile that accumulates it.
struct Decoded {
    l1: Vec<u32>,
    l1_start: Vec<u32>,
    l2: Vec<u32>,
    l2_start: Vec<u32>,
    /// Input spikes of the rows before row `r` (`rows + 1` entries).
    spikes_before: Vec<u64>,
    /// Matched vectors of the rows before row `r`.
    matched_before: Vec<u64>,
    /// Non-zero vectors of the rows before row `r`.
    nonzero_before: Vec<u64>,
}

impl Decoded {
    /// From a match's outputs and, per row, its input spikes and non-zero vectors.
    fn new(idx: &[i16], res: &[u32], row_stats: &[(u64, u64)], parts: usize, q: usize, k: usize) -> R<Decoded> {
        let (mut l1, mut l1_start, mut l2, mut l2_start) = (Vec::new(), vec![0], Vec::new(), vec![0]);
        let (mut spikes_before, mut matched_before, mut nonzero_before) = (vec![0], vec![0], vec![0]);
        let mut words = Vec::new();
        if parts > 0 {
            for ((is, masks), &(sp, nz)) in idx.chunks_exact(parts).zip(res.chunks_exact(2 * parts)).zip(row_stats) {
                l1_rows(is, q, &mut l1)?;
                l1_start.push(l1.len() as u32);
                l2_rows(masks, k, &mut words, &mut l2)?;
                l2_start.push(l2.len() as u32);
                spikes_before.push(spikes_before.last().copied().unwrap_or(0) + sp);
                let hits = is.iter().filter(|&&i| i >= 0).count() as u64;
                matched_before.push(matched_before.last().copied().unwrap_or(0) + hits);
                nonzero_before.push(nonzero_before.last().copied().unwrap_or(0) + nz);
            }
        }
        Ok(Decoded { l1, l1_start, l2, l2_start, spikes_before, matched_before, nonzero_before })
    }

    /// Level 1's codes for tile row `r`.
    #[inline]
    fn l1(&self, r: usize) -> &[u32] {
        &self.l1[self.l1_start[r] as usize..self.l1_start[r + 1] as usize]
    }

    /// Level 2's codes for tile row `r`.
    #[inline]
    fn l2(&self, r: usize) -> &[u32] {
        &self.l2[self.l2_start[r] as usize..self.l2_start[r + 1] as usize]
    }
}

/// A region a match wrote (indices or residuals) and its decoding.
struct Written {
    buf: Buffer,
    line: u16,
    /// Write time (the region's stamp).
    time: u64,
    /// (k, q, partitions, rows) of the match.
    shape: (usize, usize, usize, usize),
    decoded: Rc<Decoded>,
    /// The layer rows the match's tile held (see [`Machine::origin`]).
    origin: Option<Origin>,
}

/// Regions remembered in [`Machine::written`] (the oldest is forgotten).
const WRITTEN: usize = 16;

/// Entries of the match-instruction cache (the oldest is replaced).
const MATCH_CACHE: usize = 16;

/// The matcher's results memoised per pattern set, so that the emulator does not repeat q
/// comparisons for a vector it has matched against the same patterns before. The hardware does
/// repeat them, and the work counts say so: this is a cache of a pure function, and results are
/// identical without it. A memo outlives a machine (see [`Reusable`]).
#[derive(Default)]
struct MatchMemo {
    sets: HashMap<Vec<u32>, SetMemo, BuildHasherDefault<VectorHasher>>,
}

/// What is memoised for one pattern set.
struct SetMemo {
    /// The set, bit-sliced for the search.
    planes: PatternPlanes,
    /// Vector → match index (`None`: no pattern), for vectors of three or more spikes.
    vectors: VectorMap,
    /// Pattern → its first index. A two-spike vector matches only a pattern equal to it
    /// (`d + 1 < 2` needs `d = 0`), so one lookup here decides it.
    exact: HashMap<u32, u16, BuildHasherDefault<VectorHasher>>,
}

impl SetMemo {
    fn new(patterns: &[u32], k: usize) -> Self {
        let mut exact = HashMap::default();
        for (i, &p) in patterns.iter().enumerate().rev() {
            exact.insert(p, i as u16);
        }
        SetMemo { planes: PatternPlanes::new(patterns, k), vectors: VectorMap::default(), exact }
    }

    /// The matching rule ([`match_vector`](crate::phi::match_vector)) for the `k`-bit vector `x`
    /// against this memo's set.
    #[inline]
    fn lookup(&mut self, x: u32) -> Option<u16> {
        match x.count_ones() {
            0 | 1 => None,
            2 => self.exact.get(&x).copied(),
            _ => {
                let planes = &self.planes;
                *self.vectors.entry(x).or_insert_with(|| planes.match_vector(x).map(|(i, _)| i as u16))
            }
        }
    }
}

/// A map keyed by partition vectors, with a multiplicative hash (the keys are not adversarial:
/// at worst a slow run, never a wrong one).
type VectorMap = HashMap<u32, Option<u16>, BuildHasherDefault<VectorHasher>>;

/// Fibonacci hashing.
#[derive(Default)]
struct VectorHasher(u64);

impl std::hash::Hasher for VectorHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(23) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.0 = (x as u64 ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl MatchMemo {
    /// The memo of one pattern set, for `k`-bit vectors.
    fn table(&mut self, patterns: &[u32], k: usize) -> &mut SetMemo {
        if !self.sets.contains_key(patterns) {
            self.sets.insert(patterns.to_vec(), SetMemo::new(patterns, k));
        }
        self.sets.get_mut(patterns).expect("inserted above")
    }
}

type R<T> = Result<T, TrapKind>;

/// Reads a `k`-bit (8, 16 or 32) partition vector at byte `at` (little-endian).
#[inline]
fn part_vec(row: &[u8], at: usize, k: usize) -> u32 {
    match k {
        8 => row[at] as u32,
        16 => u16::from_le_bytes([row[at], row[at + 1]]) as u32,
        _ => u32::from_le_bytes([row[at], row[at + 1], row[at + 2], row[at + 3]]),
    }
}

/// One LIF update of a row of neurons: membranes `mem`, currents `cur`, spikes packed into `out`
/// (bit `c % 8` of byte `c / 8`); returns how many fired. The updates run in blocks of 64 into
/// a byte per neuron ([`FixedLif::step_slice`], vectorised), then pack into bits.
fn lif_row(lif: &FixedLif, mem: &mut [i32], cur: &[i32], out: &mut [u8]) -> u64 {
    let mut fired = [0u8; 64];
    let mut total = 0;
    for ((m, c), o) in mem.chunks_mut(64).zip(cur.chunks(64)).zip(out.chunks_mut(8)) {
        let f = &mut fired[..m.len()];
        lif.step_slice(m, c, f);
        for (byte, f8) in o.iter_mut().zip(f.chunks(8)) {
            *byte = f8.iter().enumerate().fold(0, |b, (l, &x)| b | (x << l));
            total += byte.count_ones() as u64;
        }
    }
    total
}

/// Columns per block of [`accumulate`]: a block of partial sums is a fixed-size array that stays
/// in vector registers while every row is added to it (the hardware tile is 32 lanes wide, so
/// most rows are exactly one block).
const BLOCK: usize = 32;

/// A row an accumulation adds: `row << 1 | subtract`.
#[inline(always)]
fn code(row: usize, subtract: bool) -> u32 {
    (row as u32) << 1 | subtract as u32
}

/// A row an accumulation applies: which table row, and how.
trait RowOp: Copy {
    /// The table row.
    fn row(self) -> usize;
    /// `a` updated by the table element `v`.
    fn apply(self, a: i32, v: i32) -> i32;
}

/// A row code (see [`code`]): add or subtract the row.
impl RowOp for u32 {
    #[inline(always)]
    fn row(self) -> usize {
        (self >> 1) as usize
    }
    #[inline(always)]
    fn apply(self, a: i32, v: i32) -> i32 {
        if self & 1 == 1 { a.wrapping_sub(v) } else { a.wrapping_add(v) }
    }
}

/// (row, x): add `x` times the row (the dense path's multiply-accumulate).
impl RowOp for (u32, i32) {
    #[inline(always)]
    fn row(self) -> usize {
        self.0 as usize
    }
    #[inline(always)]
    fn apply(self, a: i32, v: i32) -> i32 {
        a.wrapping_add(self.1.wrapping_mul(v))
    }
}

/// `acc[c] = op(acc[c], table[row · stride + c])` for every row op in `rows`: the accumulation
/// of Level 1 (PWP rows), Level 2 (±1 weight rows), the bit-sparse baseline (weight rows) and
/// the dense path (multiply-accumulate). The partial sums are held a block at a time while all
/// rows are applied, so each is loaded and stored once per instruction rather than once per row.
#[inline(always)]
fn accumulate<T: Copy, Op: RowOp>(
    acc: &mut [i32],
    table: &[T],
    rows: &[Op],
    stride: usize,
    widen: impl Fn(T) -> i32 + Copy,
) -> R<()> {
    #[inline(always)]
    fn apply_rows<T: Copy, Op: RowOp, A: AsMut<[i32]> + AsRef<[i32]>>(
        a: &mut A,
        table: &[T],
        rows: &[Op],
        stride: usize,
        off: usize,
        widen: impl Fn(T) -> i32 + Copy,
    ) -> R<()> {
        let width = a.as_ref().len();
        for &op in rows {
            let base = op.row() * stride + off;
            let r = table.get(base..base + width).ok_or(TrapKind::RowOutside { row: op.row() })?;
            a.as_mut().iter_mut().zip(r).for_each(|(x, &v)| *x = op.apply(*x, widen(v)));
        }
        Ok(())
    }
    let full = acc.len() / BLOCK * BLOCK;
    for (b, blk) in acc[..full].chunks_exact_mut(BLOCK).enumerate() {
        let mut a: [i32; BLOCK] = (&*blk).try_into().expect("a whole block");
        apply_rows(&mut a, table, rows, stride, b * BLOCK, widen)?;
        blk.copy_from_slice(&a);
    }
    if full < acc.len() {
        apply_rows(&mut &mut acc[full..], table, rows, stride, full, widen)?;
    }
    Ok(())
}

/// Spike-driven accumulation of a tile (the bit-sparse unit, and the dense path on spikes): each
/// row of `acc` (`[rows, cols]`) adds the weight row (of `weights`, `[kcols, cols]`) of every
/// spike in its row of `spikes` (`kcols` bits per row, whole bytes). Returns the weight rows added, in all rows and in the
/// first `real` rows. `sel` is scratch.
fn spike_accumulate(
    acc: &mut [i32],
    spikes: &[u8],
    weights: &[i8],
    kcols: usize,
    cols: usize,
    real: usize,
    sel: &mut Vec<u32>,
) -> R<(u64, u64)> {
    let row_bytes = kcols.div_ceil(8);
    let (mut all, mut useful) = (0, 0);
    if cols > 0 && row_bytes > 0 {
        for (r, (acc_row, bits)) in acc.chunks_exact_mut(cols).zip(spikes.chunks_exact(row_bytes)).enumerate() {
            sel.clear();
            spike_rows(bits, kcols, sel);
            accumulate(acc_row, weights, sel, cols, |v| v as i32)?;
            all += sel.len() as u64;
            if r < real {
                useful += sel.len() as u64;
            }
        }
    }
    Ok((all, useful))
}

/// The rows a row of spikes selects (bit `c % 8` of byte `c / 8` is column `c`; columns from
/// `kcols` on are ignored), as add codes appended to `out`.
#[inline(always)]
fn spike_rows(bits: &[u8], kcols: usize, out: &mut Vec<u32>) {
    for (byte, &b) in bits.iter().enumerate() {
        let mut m = b;
        while m != 0 {
            let kk = byte * 8 + m.trailing_zeros() as usize;
            m &= m - 1;
            if kk < kcols {
                out.push(code(kk, false));
            }
        }
    }
}

/// The rows Level 1 adds for one row of match indices (`-1`: no pattern): codes of
/// `j·q + index`, appended to `out`. Checks the indices against `q`.
#[inline(always)]
fn l1_rows(indices: &[i16], q: usize, out: &mut Vec<u32>) -> R<()> {
    let start = out.len();
    out.resize(start + indices.len(), 0);
    let (mut n, mut bad) = (start, false);
    // without a branch per partition: hits are data-dependent, a branch would mispredict
    for (j, &i) in indices.iter().enumerate() {
        out[n] = code((j * q).wrapping_add_signed(i as isize), false);
        n += (i >= 0) as usize;
        bad |= i as isize >= q as isize;
    }
    out.truncate(n);
    if bad {
        let i = indices.iter().find(|&&i| i as isize >= q as isize).copied().unwrap_or_default();
        return Err(TrapKind::MatchIndex { index: i, q });
    }
    Ok(())
}

/// The rows Level 2 adds for one row of residuals (a plus and a minus mask per partition of
/// width `k`): codes of `j·k + bit`, appended to `out`. The masks of all partitions form one bit
/// set per sign, walked a 64-bit word at a time (loop exits mispredict; this has one per word
/// rather than one per mask). Checks that no mask has bits beyond `k`.
#[inline(always)]
fn l2_rows(masks: &[u32], k: usize, words: &mut Vec<u64>, out: &mut Vec<u32>) -> R<()> {
    let parts = masks.len() / 2;
    for (sign, subtract) in [(0, false), (1, true)] {
        words.clear();
        words.resize((parts * k).div_ceil(64), 0);
        for (j, pm) in masks.chunks_exact(2).enumerate() {
            let mask = pm[sign];
            if k < 32 && mask >> k != 0 {
                return Err(TrapKind::ResidualMask { mask, k });
            }
            let bit = j * k;
            words[bit / 64] |= (mask as u64) << (bit % 64);
            if bit % 64 + k > 64 {
                // a partition width that does not divide 64 straddles two words
                words[bit / 64 + 1] |= (mask as u64) >> (64 - bit % 64);
            }
        }
        for (wi, &word) in words.iter().enumerate() {
            let mut m = word;
            while m != 0 {
                out.push(code(wi * 64 + m.trailing_zeros() as usize, subtract));
                m &= m - 1;
            }
        }
    }
    Ok(())
}

/// What a machine hands to the next one on the same worker thread ([`Machine::reusing`],
/// [`Machine::into_reusable`]): the memory of its DRAM image and buffers (zeroed again before
/// use, so that a new run does not pay the operating system for fresh pages) and the matcher's
/// memo (a cache of a pure function). Nothing of a run's state carries over.
#[derive(Default)]
pub struct Reusable {
    dram: Vec<u8>,
    words: Vec<Vec<u32>>,
    memo: MatchMemo,
}

impl<'p> Machine<'p> {
    /// A machine for `meta` with a DRAM image of `meta.dram_bytes` (zeroed) and empty buffers.
    pub fn new(meta: &'p ProgramMeta) -> Self {
        Self::reusing(meta, Reusable::default())
    }

    /// [`new`](Self::new), in the memory of an earlier machine.
    pub fn reusing(meta: &'p ProgramMeta, r: Reusable) -> Self {
        let Reusable { dram, words, memo } = r;
        Machine {
            meta,
            dram: Dram::new(dram, meta.dram_bytes as usize),
            bufs: Buffers::new(meta, words),
            pwp_tags: HashMap::default(),
            memo,
            matches: Vec::new(),
            origins: Vec::new(),
            real_samples: None,
            rows: Vec::new(),
            scratch: Vec::new(),
            macs: Vec::new(),
            used: Vec::new(),
            written: Vec::new(),
            words: Vec::new(),
            match_count: 0,
        }
    }

    /// Its memory and memo, for the next machine.
    pub fn into_reusable(self) -> Reusable {
        Reusable { dram: self.dram.bytes, words: self.bufs.words, memo: self.memo }
    }

    /// Declares that only the first `n` samples of the batch are real (the rest pad it): work
    /// on the padding rows is still done and timed, but left out of [`Work::real`].
    pub fn set_real_samples(&mut self, n: usize) {
        self.real_samples = Some(n);
    }

    /// The layer rows a gathered tile at `line` of `buf` holds: (layer, first row).
    fn origin(&self, buf: Buffer, line: u16) -> Option<Origin> {
        self.origins.iter().find(|o| o.0 == buf && o.1 == line).map(|o| (o.2, o.3))
    }

    /// How many of a tile's first `rows` rows, starting at layer row `origin`, belong to real
    /// samples (all of them when the origin or the real sample count is unknown).
    fn real_rows(&self, origin: Option<Origin>, rows: usize) -> usize {
        match (origin, self.real_samples) {
            (Some((layer, row0)), Some(n)) => {
                let per = self.meta.layers.get(layer as usize).map_or(0, |l| l.rows_per_sample as usize);
                rows.min((n * per).saturating_sub(row0 as usize))
            }
            (Some(_), None) | (None, _) => rows,
        }
    }

    fn layer(&self, id: u8) -> R<&'p LayerDesc> {
        self.meta.layers.get(id as usize).ok_or(TrapKind::NoLayer { layer: id, layers: self.meta.layers.len() })
    }

    fn dma(&mut self, d: &Dma, to_sram: bool, w: &mut Work) -> R<()> {
        let (rows, row_bytes) = (d.rows as usize, d.row_bytes as usize);
        let len = rows * row_bytes;
        let s = self.bufs.range(d.buf, d.sram, len)?;
        if to_sram {
            self.bufs.stamp(d.buf, &s);
            self.origins.retain(|o| o.0 != d.buf);
        }
        let buf = self.bufs.bytes_mut(d.buf);
        for r in 0..rows {
            let addr = d.dram as u64 + r as u64 * d.stride as u64;
            let off = s.start + r * row_bytes;
            if to_sram {
                buf[off..off + row_bytes].copy_from_slice(self.dram.read(addr, row_bytes as u64)?);
            } else {
                self.dram.write(addr, row_bytes as u64)?.copy_from_slice(&buf[off..off + row_bytes]);
            }
        }
        if to_sram {
            w.dram_read += len as u64;
        } else {
            w.dram_write += len as u64;
        }
        w.sram[d.buf.code() as usize] += len as u64;
        Ok(())
    }

    /// Executes one instruction. One that accesses outside a buffer or the DRAM image, or does
    /// not fit the layer table, stops there and returns what is wrong (a trap ends the run: the
    /// machine's state is then unspecified).
    pub fn step(&mut self, inst: &Inst) -> R<Work> {
        let mut w = Work::default();
        match *inst {
            Inst::Sync { .. } | Inst::Halt => {}
            Inst::Load { dma, .. } => self.dma(&dma, true, &mut w)?,
            Inst::Store { dma, .. } => self.dma(&dma, false, &mut w)?,
            Inst::Gather { layer, row0, rows, k0, kcols, sram, row_bytes, .. } => {
                self.gather(layer, row0, rows, k0, kcols, sram, row_bytes, &mut w)?
            }
            Inst::PwpFetch { layer, rows, part0, parts, col0, cols, idx, pwp, .. } => {
                self.pwp_fetch(layer, rows, part0, parts, col0, cols, idx, pwp, &mut w)?
            }
            Inst::Match { layer, rows, part0, parts, spk, pat, idx, res, .. } => {
                self.pattern_match(layer, rows, part0, parts, spk, pat, idx, res, &mut w)?
            }
            Inst::L1Acc { layer, rows, parts, cols, idx, pwp, psum, .. } => {
                let l = self.layer(layer)?;
                let (q, parts, cols, rows) = (l.q as usize, parts as usize, cols as usize, rows as usize);
                let ir = self.bufs.range(Buffer::Idx, idx, rows * parts * 2)?;
                let pr = self.bufs.range(Buffer::Pwp, pwp, parts * q * cols * 2)?;
                let sr = self.bufs.range(Buffer::Psum, psum, rows * cols * 4)?;
                let known = self.decoded(Buffer::Idx, idx, &ir, |(_, mq, mp, mr)| mq == q && mp == parts && mr >= rows);
                let real = self.real_rows(known.as_ref().and_then(|k| k.1), rows);
                let known = known.map(|k| k.0);
                let [ib, pb, sb] = self.bufs.many([Buffer::Idx, Buffer::Pwp, Buffer::Psum])?;
                let (ib, pb) = (view::<i16>(&ib[ir])?, view::<i16>(&pb[pr])?);
                let acc = view_mut::<i32>(&mut sb[sr])?;
                if cols > 0 && parts > 0 {
                    for (r, (acc_row, is)) in acc.chunks_exact_mut(cols).zip(ib.chunks_exact(parts)).enumerate() {
                        let codes = match &known {
                            Some(d) => d.l1(r),
                            None => {
                                self.rows.clear();
                                l1_rows(is, q, &mut self.rows)?;
                                &self.rows
                            }
                        };
                        accumulate(acc_row, pb, codes, cols, |v| v as i32)?;
                        w.l1_rows += codes.len() as u64;
                        if r < real {
                            w.real.l1_rows += codes.len() as u64;
                        }
                    }
                }
                w.sram[Buffer::Pwp.code() as usize] += w.l1_rows * (cols * 2) as u64;
                w.sram[Buffer::Idx.code() as usize] += (rows * parts * 2) as u64;
                w.sram[Buffer::Psum.code() as usize] += (w.l1_rows * cols as u64 * 8).max((rows * cols * 4) as u64);
                w.cols = cols as u64;
            }
            Inst::L2Acc { layer, rows, part0, parts, cols, res, wgt, psum, .. } => {
                let l = self.layer(layer)?;
                let (k, parts, cols, rows) = (l.k as usize, parts as usize, cols as usize, rows as usize);
                let _ = part0;
                let rr = self.bufs.range(Buffer::Res, res, rows * parts * 8)?;
                let wr = self.bufs.range(Buffer::Wgt, wgt, parts * k * cols)?;
                let sr = self.bufs.range(Buffer::Psum, psum, rows * cols * 4)?;
                let known = self.decoded(Buffer::Res, res, &rr, |(mk, _, mp, mr)| mk == k && mp == parts && mr >= rows);
                let real = self.real_rows(known.as_ref().and_then(|k| k.1), rows);
                let known = known.map(|k| k.0);
                let [rb, wb, sb] = self.bufs.many([Buffer::Res, Buffer::Wgt, Buffer::Psum])?;
                let (rb, wb) = (view::<u32>(&rb[rr])?, view::<i8>(&wb[wr])?);
                let acc = view_mut::<i32>(&mut sb[sr])?;
                if cols > 0 && parts > 0 {
                    for (r, (acc_row, masks)) in acc.chunks_exact_mut(cols).zip(rb.chunks_exact(parts * 2)).enumerate()
                    {
                        let codes = match &known {
                            Some(d) => d.l2(r),
                            None => {
                                self.rows.clear();
                                l2_rows(masks, k, &mut self.words, &mut self.rows)?;
                                &self.rows
                            }
                        };
                        accumulate(acc_row, wb, codes, cols, |v| v as i32)?;
                        w.l2_rows += codes.len() as u64;
                        if r < real {
                            w.real.l2_rows += codes.len() as u64;
                        }
                    }
                }
                w.sram[Buffer::Res.code() as usize] += (rows * parts * 8) as u64;
                w.sram[Buffer::Wgt.code() as usize] += w.l2_rows * cols as u64;
                w.sram[Buffer::Psum.code() as usize] += w.l2_rows * cols as u64 * 8;
                w.cols = cols as u64;
            }
            Inst::BsAcc { layer, rows, kcols, cols, spk, wgt, psum, .. } => {
                self.layer(layer)?;
                let (rows, kcols, cols) = (rows as usize, kcols as usize, cols as usize);
                let row_bytes = kcols.div_ceil(8);
                let xr = self.bufs.range(Buffer::Spk, spk, rows * row_bytes)?;
                let wr = self.bufs.range(Buffer::Wgt, wgt, kcols * cols)?;
                let pr = self.bufs.range(Buffer::Psum, psum, rows * cols * 4)?;
                let real = self.real_rows(self.origin(Buffer::Spk, spk), rows);
                let [xb, wb, sb] = self.bufs.many([Buffer::Spk, Buffer::Wgt, Buffer::Psum])?;
                let (xb, wb) = (&xb[xr], view::<i8>(&wb[wr])?);
                let acc = view_mut::<i32>(&mut sb[pr])?;
                (w.bs_rows, w.real.bs_rows) = spike_accumulate(acc, xb, wb, kcols, cols, real, &mut self.rows)?;
                w.real.spikes = w.real.bs_rows;
                w.sram[Buffer::Spk.code() as usize] += (rows * row_bytes) as u64;
                w.sram[Buffer::Wgt.code() as usize] += w.bs_rows * cols as u64;
                w.sram[Buffer::Psum.code() as usize] += w.bs_rows * cols as u64 * 8;
                w.spikes = w.bs_rows;
                w.cols = cols as u64;
            }
            Inst::DenseMac { layer, rows, kcols, cols, src, wgt, psum, .. } => {
                let l = self.layer(layer)?;
                let (rows, kcols, cols) = (rows as usize, kcols as usize, cols as usize);
                let wr = self.bufs.range(Buffer::Wgt, wgt, kcols * cols)?;
                let pr = self.bufs.range(Buffer::Psum, psum, rows * cols * 4)?;
                // the dense unit spends every MAC (counted below); the emulator skips the zeros,
                // which add nothing
                match l.input.kind {
                    InputKind::Spikes => {
                        let row_bytes = kcols.div_ceil(8);
                        let sr = self.bufs.range(Buffer::Spk, src, rows * row_bytes)?;
                        w.sram[Buffer::Spk.code() as usize] += sr.len() as u64;
                        let real = self.real_rows(self.origin(Buffer::Spk, src), rows);
                        let [xb, wb, sb] = self.bufs.many([Buffer::Spk, Buffer::Wgt, Buffer::Psum])?;
                        let (xb, wb) = (&xb[sr], view::<i8>(&wb[wr])?);
                        let acc = view_mut::<i32>(&mut sb[pr])?;
                        (w.spikes, w.real.spikes) = spike_accumulate(acc, xb, wb, kcols, cols, real, &mut self.rows)?;
                    }
                    InputKind::Int => {
                        let ar = self.bufs.range(Buffer::Act, src, rows * kcols * 4)?;
                        w.sram[Buffer::Act.code() as usize] += ar.len() as u64;
                        let real = self.real_rows(self.origin(Buffer::Act, src), rows);
                        let [ab, wb, sb] = self.bufs.many([Buffer::Act, Buffer::Wgt, Buffer::Psum])?;
                        let (xs, wb) = (view::<i32>(&ab[ar])?, view::<i8>(&wb[wr])?);
                        let acc = view_mut::<i32>(&mut sb[pr])?;
                        let sel = &mut self.macs;
                        if cols > 0 && kcols > 0 {
                            for (r, (acc_row, x)) in acc.chunks_exact_mut(cols).zip(xs.chunks_exact(kcols)).enumerate()
                            {
                                sel.clear();
                                sel.extend(
                                    x.iter().enumerate().filter(|&(_, &v)| v != 0).map(|(kk, &v)| (kk as u32, v)),
                                );
                                accumulate(acc_row, wb, sel, cols, |v| v as i32)?;
                                w.spikes += sel.len() as u64;
                                if r < real {
                                    w.real.spikes += sel.len() as u64;
                                }
                            }
                        }
                    }
                }
                w.macs = (rows * kcols * cols) as u64;
                w.cols = cols as u64;
                w.sram[Buffer::Wgt.code() as usize] += (rows * kcols * cols) as u64;
                w.sram[Buffer::Psum.code() as usize] += (rows * cols * 8) as u64;
            }
            Inst::PsumInit { layer, rows, cols, bias, psum, .. } => {
                let l = self.layer(layer)?;
                let (rows, cols) = (rows as usize, cols as usize);
                let pr = self.bufs.range(Buffer::Psum, psum, rows * cols * 4)?;
                let br = self.bufs.range(Buffer::Bias, bias, cols * 4)?;
                let [bb, sb] = self.bufs.many([Buffer::Bias, Buffer::Psum])?;
                let acc = view_mut::<i32>(&mut sb[pr])?;
                match l.bias {
                    Some(_) if cols > 0 => {
                        let b = view::<i32>(&bb[br])?;
                        acc.chunks_exact_mut(cols).for_each(|row| row.copy_from_slice(b));
                    }
                    Some(_) | None => acc.fill(0),
                }
                w.inits = (rows * cols) as u64;
                w.sram[Buffer::Bias.code() as usize] += (cols * 4) as u64;
                w.sram[Buffer::Psum.code() as usize] += (rows * cols * 4) as u64;
            }
            Inst::Lif { layer, row0, rows, p0, cols, psum, memb, out, .. } => {
                self.lif(layer, row0, rows, p0, cols, psum, memb, out, &mut w)?
            }
        }
        Ok(w)
    }

    #[allow(clippy::too_many_arguments)]
    fn pwp_fetch(
        &mut self,
        layer: u8,
        rows: u16,
        part0: u16,
        parts: u8,
        col0: u16,
        cols: u16,
        idx: u16,
        pwp: u16,
        w: &mut Work,
    ) -> R<()> {
        let l = self.layer(layer)?;
        let (q, n) = (l.q as usize, l.n as usize);
        let (parts, cols, col0) = (parts as usize, cols as usize, col0 as usize);
        let base = l.pwp.ok_or(TrapKind::NoPwp { layer })? as u64;
        if col0 + cols > n || part0 as u32 + parts as u32 > l.parts() {
            return Err(TrapKind::PwpFetchRange { layer, col0, cols, part0, parts });
        }
        let ir = self.bufs.range(Buffer::Idx, idx, rows as usize * parts * 2)?;
        let pr = self.bufs.range(Buffer::Pwp, pwp, parts * q * cols * 2)?;
        let mut used = std::mem::take(&mut self.used);
        used.clear();
        used.resize(parts * q, false);
        let known =
            self.decoded(Buffer::Idx, idx, &ir, |(_, mq, mp, mr)| mq == q && mp == parts && mr >= rows as usize);
        match known {
            Some((d, _)) => {
                for &c in &d.l1[..d.l1_start[rows as usize] as usize] {
                    used[(c >> 1) as usize] = true;
                }
            }
            None if parts > 0 => {
                for is in view::<i16>(&self.bufs.bytes(Buffer::Idx)[ir])?.chunks_exact(parts) {
                    for (j, &i) in is.iter().enumerate() {
                        if i >= 0 {
                            if i as usize >= q {
                                return Err(TrapKind::MatchIndex { index: i, q });
                            }
                            used[j * q + i as usize] = true;
                        }
                    }
                }
            }
            None => {}
        }
        w.sram[Buffer::Idx.code() as usize] += (rows as usize * parts * 2) as u64;
        // rows already held for the same slice are not fetched again
        let tag = (layer, part0, parts as u8, col0 as u16, cols as u16);
        let entry = self.pwp_tags.entry(pwp).or_insert_with(|| (tag, vec![false; parts * q]));
        if entry.0 != tag || entry.1.len() != parts * q {
            entry.0 = tag;
            entry.1.clear();
            entry.1.resize(parts * q, false);
        }
        let dst = self.bufs.bytes_mut(Buffer::Pwp);
        for (slot, (&u, held)) in used.iter().zip(entry.1.iter_mut()).enumerate() {
            if !u || *held {
                continue;
            }
            *held = true;
            let (j, i) = (slot / q, slot % q);
            let src = base + ((((part0 as usize + j) * q + i) * n + col0) * 2) as u64;
            let at = pr.start + slot * cols * 2;
            dst[at..at + cols * 2].copy_from_slice(self.dram.read(src, (cols * 2) as u64)?);
            w.dram_read += (cols * 2) as u64;
            w.sram[Buffer::Pwp.code() as usize] += (cols * 2) as u64;
        }
        self.used = used;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn pattern_match(
        &mut self,
        layer: u8,
        rows: u16,
        part0: u16,
        parts: u8,
        spk: u16,
        pat: u16,
        idx: u16,
        res: u16,
        w: &mut Work,
    ) -> R<()> {
        let l = self.layer(layer)?;
        let (k, q, parts, rows) = (l.k as usize, l.q as usize, parts as usize, rows as usize);
        if ![8, 16, 32].contains(&k) || q == 0 {
            return Err(TrapKind::NoPatterns { layer, k, q });
        }
        if part0 as u32 + parts as u32 > l.parts() {
            return Err(TrapKind::MatchPartitions { part0, parts, layer_parts: l.parts() });
        }
        let row_bytes = parts * k / 8;
        let sr = self.bufs.range(Buffer::Spk, spk, rows * row_bytes)?;
        let pr = self.bufs.range(Buffer::Pat, pat, parts * q * 4)?;
        let ir = self.bufs.range(Buffer::Idx, idx, rows * parts * 2)?;
        let rr = self.bufs.range(Buffer::Res, res, rows * parts * 8)?;
        let shape = (k, q, parts, rows);
        self.match_count += 1;
        let hit = {
            let (spikes, pats) = (&self.bufs.bytes(Buffer::Spk)[sr.clone()], &self.bufs.bytes(Buffer::Pat)[pr.clone()]);
            // spikes first: they differ early when they differ at all
            self.matches.iter().position(|e| e.shape == shape && e.spikes == spikes && e.patterns == pats)
        };
        let origin = self.origin(Buffer::Spk, spk);
        let real = self.real_rows(origin, rows);
        let real_work = |d: &Decoded| Real {
            vectors: d.nonzero_before[real],
            matched: d.matched_before[real],
            spikes: d.spikes_before[real],
            ..Real::default()
        };
        if let Some(h) = hit {
            self.matches[h].used = self.match_count;
            *w = self.matches[h].work;
            let decoded = self.matches[h].decoded.clone();
            w.real = real_work(&decoded);
            for (buf, line, range) in [(Buffer::Idx, idx, &ir), (Buffer::Res, res, &rr)] {
                // a region that still holds this very result (the previous column tile's) is
                // not written again
                let holds = self.written.iter().any(|x| {
                    x.buf == buf
                        && x.line == line
                        && x.shape == shape
                        && x.origin == origin
                        && Rc::ptr_eq(&x.decoded, &decoded)
                        && self.bufs.unchanged_since(buf, range, x.time)
                });
                if !holds {
                    let e = &self.matches[h];
                    let bytes = if buf == Buffer::Idx { &e.idx } else { &e.res };
                    self.bufs.bytes_mut(buf)[range.clone()].copy_from_slice(bytes);
                    self.remember(buf, line, range, shape, decoded.clone(), origin);
                }
            }
            return Ok(());
        }
        let [xb, pb, ib, rb] = self.bufs.many([Buffer::Spk, Buffer::Pat, Buffer::Idx, Buffer::Res])?;
        let (spikes, pats) = (&xb[sr], &pb[pr]);
        let pats_bytes = pats;
        let mut row_stats: Vec<(u64, u64)> = Vec::new();
        let pats = view::<u32>(pats)?;
        {
            let idx_out = view_mut::<i16>(&mut ib[ir.clone()])?;
            let res_out = view_mut::<u32>(&mut rb[rr.clone()])?;
            row_stats.clear();
            row_stats.resize(rows, (0, 0));
            for j in 0..parts {
                let pj = &pats[j * q..(j + 1) * q];
                let table = self.memo.table(pj, k);
                for (r, rs) in row_stats.iter_mut().enumerate() {
                    let x = part_vec(&spikes[r * row_bytes..], j * k / 8, k);
                    let e = r * parts + j;
                    w.spikes += x.count_ones() as u64;
                    *rs = (rs.0 + x.count_ones() as u64, rs.1 + (x != 0) as u64);
                    let m = table.lookup(x);
                    let (i, plus, minus) = match m {
                        Some(i) => {
                            let p = pj[i as usize];
                            w.matched += 1;
                            (i as i16, x & !p, p & !x)
                        }
                        None => (-1i16, x, 0),
                    };
                    w.residual += (plus.count_ones() + minus.count_ones()) as u64;
                    idx_out[e] = i;
                    res_out[e * 2] = plus;
                    res_out[e * 2 + 1] = minus;
                }
            }
        }
        w.vectors = (rows * parts) as u64;
        w.comparisons = w.vectors * q as u64;
        w.sram[Buffer::Spk.code() as usize] += spikes.len() as u64;
        w.sram[Buffer::Pat.code() as usize] += (parts * q * 4) as u64;
        w.sram[Buffer::Idx.code() as usize] += ir.len() as u64;
        w.sram[Buffer::Res.code() as usize] += rr.len() as u64;
        let decoded = Rc::new(Decoded::new(
            view::<i16>(&ib[ir.clone()])?,
            view::<u32>(&rb[rr.clone()])?,
            &row_stats,
            parts,
            q,
            k,
        )?);
        w.real = real_work(&decoded);
        let entry = MatchEntry {
            shape,
            spikes: spikes.to_vec(),
            patterns: pats_bytes.to_vec(),
            used: self.match_count,
            idx: ib[ir.clone()].to_vec(),
            res: rb[rr.clone()].to_vec(),
            decoded: decoded.clone(),
            work: *w,
        };
        if self.matches.len() < MATCH_CACHE {
            self.matches.push(entry);
        } else if let Some(lru) = self.matches.iter_mut().min_by_key(|e| e.used) {
            *lru = entry;
        }
        self.remember(Buffer::Idx, idx, &ir, shape, decoded.clone(), origin);
        self.remember(Buffer::Res, res, &rr, shape, decoded, origin);
        Ok(())
    }

    /// Stamps a region a match wrote and remembers its decoding.
    fn remember(
        &mut self,
        buf: Buffer,
        line: u16,
        range: &Range<usize>,
        shape: (usize, usize, usize, usize),
        decoded: Rc<Decoded>,
        origin: Option<Origin>,
    ) {
        let time = self.bufs.stamp(buf, range);
        let w = Written { buf, line, time, shape, decoded, origin };
        match self.written.iter().position(|x| x.buf == buf && x.line == line) {
            Some(i) => self.written[i] = w,
            None if self.written.len() < WRITTEN => self.written.push(w),
            None => {
                if let Some(oldest) = self.written.iter_mut().min_by_key(|x| x.time) {
                    *oldest = w;
                }
            }
        }
    }

    /// The decoding of what a match wrote at `line` of `buf` and the layer rows it covers, if
    /// the region an accumulation reads (`range`, its first `rows` rows) is unwritten since and
    /// the shapes agree (`fits` on the match's (k, q, partitions, rows)).
    fn decoded(
        &self,
        buf: Buffer,
        line: u16,
        range: &Range<usize>,
        fits: impl Fn((usize, usize, usize, usize)) -> bool,
    ) -> Option<(Rc<Decoded>, Option<Origin>)> {
        self.written
            .iter()
            .find(|x| x.buf == buf && x.line == line && fits(x.shape) && self.bufs.unchanged_since(buf, range, x.time))
            .map(|x| (x.decoded.clone(), x.origin))
    }

    #[allow(clippy::too_many_arguments)]
    fn lif(
        &mut self,
        layer: u8,
        row0: u16,
        rows: u16,
        p0: u16,
        cols: u16,
        psum: u16,
        memb: u16,
        out: u16,
        w: &mut Work,
    ) -> R<()> {
        let l = self.layer(layer)?;
        let n = l.neuron.ok_or(TrapKind::NoNeuron { layer })?;
        let lif = FixedLif {
            leak: n.leak,
            shift: n.shift.min(30),
            threshold: n.threshold,
            reset: if n.reset_zero { Reset::Zero } else { Reset::Subtract },
        };
        let (rows, cols, p0) = (rows as usize, cols as usize, p0 as usize);
        let positions = l.positions.max(1) as usize;
        let per_sample = l.rows_per_sample.max(1) as usize;
        let out_bytes = cols.div_ceil(8);
        let pr = self.bufs.range(Buffer::Psum, psum, rows * cols * 4)?;
        let or = self.bufs.range(Buffer::Out, out, rows * out_bytes)?;
        // membrane slot and fresh-sample flag of a row
        let slot =
            |r: usize| ((r / per_sample) * positions + (r % per_sample) % positions, (r % per_sample) < positions);
        let first = row0 as usize;
        let (lo, hi) = (first..first + rows).map(|r| slot(r).0).fold((usize::MAX, 0), |(a, b), s| (a.min(s), b.max(s)));
        if rows > 0 && lo < p0 {
            return Err(TrapKind::MembraneSlot { row: first, slot: lo, p0 });
        }
        let mr = self.bufs.range(Buffer::Memb, memb, if rows > 0 { (hi - p0 + 1) * cols * 4 } else { 0 })?;
        let real = self.real_rows(Some((layer, row0)), rows);
        let [sb, mb, ob] = self.bufs.many([Buffer::Psum, Buffer::Memb, Buffer::Out])?;
        let cur = view::<i32>(&sb[pr])?;
        let mem = view_mut::<i32>(&mut mb[mr])?;
        let spikes = &mut ob[or];
        spikes.fill(0);
        // the slot of each row, counted forward (no division per row)
        let (mut sample, mut within) = (first / per_sample, first % per_sample);
        let mut fired = 0u64;
        for r in 0..rows {
            let (s, fresh) = (sample * positions + within % positions, within < positions);
            within += 1;
            if within == per_sample {
                (sample, within) = (sample + 1, 0);
            }
            let m = &mut mem[(s - p0) * cols..(s - p0 + 1) * cols];
            if fresh {
                m.fill(0);
            }
            let c_row = &cur[r * cols..(r + 1) * cols];
            let o_row = &mut spikes[r * out_bytes..(r + 1) * out_bytes];
            let f = lif_row(&lif, m, c_row, o_row);
            fired += f;
            if r < real {
                w.real.fired += f;
            }
        }
        w.fired = fired;
        w.lif = (rows * cols) as u64;
        w.sram[Buffer::Psum.code() as usize] += (rows * cols * 4) as u64;
        w.sram[Buffer::Memb.code() as usize] += (rows * cols * 8) as u64;
        w.sram[Buffer::Out.code() as usize] += (rows * out_bytes) as u64;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn gather(
        &mut self,
        layer: u8,
        row0: u16,
        rows: u16,
        k0: u16,
        kcols: u16,
        sram: u16,
        row_bytes: u16,
        w: &mut Work,
    ) -> R<()> {
        let l = self.layer(layer)?;
        let buf = match l.input.kind {
            InputKind::Spikes => Buffer::Spk,
            InputKind::Int => Buffer::Act,
        };
        self.origins.retain(|o| !(o.0 == buf && o.1 == sram));
        self.origins.push((buf, sram, layer, row0));
        if row0 as usize + rows as usize > l.rows as usize || k0 as usize + kcols as usize > l.k_cols as usize {
            return Err(TrapKind::GatherRange {
                layer,
                row0,
                rows,
                k0,
                kcols,
                layer_rows: l.rows,
                layer_cols: l.k_cols,
            });
        }
        let (rows, k0, kcols, rb) = (rows as usize, k0 as usize, kcols as usize, row_bytes as usize);
        let src_rb = l.input.row_bytes as u64;
        if let InputMap::Table { table, steps, sources } = &l.input.map {
            let g = MappedGather {
                table: u64::from(*table),
                steps: *steps as usize,
                sources: sources.clone(),
                per_sample: l.rows_per_sample as usize,
                k_cols: l.k_cols as usize,
                kind: l.input.kind,
            };
            return self.gather_mapped(&g, row0 as usize, rows, k0, kcols, sram, rb, w);
        }
        match l.input.kind {
            InputKind::Spikes => {
                if kcols > rb * 8 {
                    return Err(TrapKind::GatherWidth { kind: InputKind::Spikes, cols: kcols, row_bytes: rb });
                }
                let dr = self.bufs.range(Buffer::Spk, sram, rows * rb)?;
                let tile = &mut self.bufs.bytes_mut(Buffer::Spk)[dr];
                tile.fill(0);
                for r in 0..rows {
                    let base = l.input.dram as u64 + (row0 as u64 + r as u64) * src_rb;
                    let bytes = self.dram.read(base + (k0 / 8) as u64, (k0 % 8 + kcols).div_ceil(8) as u64)?;
                    let dst = &mut tile[r * rb..(r + 1) * rb];
                    if k0 % 8 == 0 {
                        let full = kcols / 8;
                        dst[..full].copy_from_slice(&bytes[..full]);
                        if kcols % 8 != 0 {
                            dst[full] = bytes[full] & ((1u8 << (kcols % 8)) - 1);
                        }
                    } else {
                        for c in 0..kcols {
                            let b = k0 % 8 + c;
                            if bytes[b / 8] >> (b % 8) & 1 == 1 {
                                dst[c / 8] |= 1 << (c % 8);
                            }
                        }
                    }
                    w.dram_read += (kcols.div_ceil(8)) as u64;
                }
                w.sram[Buffer::Spk.code() as usize] += (rows * rb) as u64;
            }
            InputKind::Int => {
                if kcols * 4 > rb {
                    return Err(TrapKind::GatherWidth { kind: InputKind::Int, cols: kcols, row_bytes: rb });
                }
                let dr = self.bufs.range(Buffer::Act, sram, rows * rb)?;
                let tile = &mut self.bufs.bytes_mut(Buffer::Act)[dr];
                tile.fill(0);
                for r in 0..rows {
                    let base = l.input.dram as u64 + (row0 as u64 + r as u64) * src_rb + (k0 * 4) as u64;
                    tile[r * rb..r * rb + kcols * 4].copy_from_slice(self.dram.read(base, (kcols * 4) as u64)?);
                    w.dram_read += (kcols * 4) as u64;
                }
                w.sram[Buffer::Act.code() as usize] += (rows * rb) as u64;
            }
        }
        Ok(())
    }

    /// [`gather`](Self::gather) through an index table ([`InputMap::Table`]). Each GEMM row
    /// reads its `kcols` table entries and fetches the elements they name; DRAM traffic counts
    /// the gathered data (the table stands for an address generator's arithmetic).
    #[allow(clippy::too_many_arguments)]
    fn gather_mapped(
        &mut self,
        g: &MappedGather,
        row0: usize,
        rows: usize,
        k0: usize,
        kcols: usize,
        sram: u16,
        rb: usize,
        w: &mut Work,
    ) -> R<()> {
        let per_step = g.per_sample / g.steps.max(1);
        // the first entry of each source, and one past the last entry of all of them
        let mut starts = Vec::with_capacity(g.sources.len());
        let mut limit = 0usize;
        for s in &g.sources {
            starts.push(limit);
            limit += s.step_elements() as usize;
        }
        let buf = match g.kind {
            InputKind::Spikes => Buffer::Spk,
            InputKind::Int => Buffer::Act,
        };
        let fits = match g.kind {
            InputKind::Spikes => kcols <= rb * 8,
            InputKind::Int => kcols * 4 <= rb,
        };
        if !fits {
            return Err(TrapKind::GatherWidth { kind: g.kind, cols: kcols, row_bytes: rb });
        }
        let dr = self.bufs.range(buf, sram, rows * rb)?;
        let mut tile = std::mem::take(&mut self.scratch);
        tile.clear();
        tile.resize(rows * rb, 0);
        for r in 0..rows {
            let gr = row0 + r;
            let (sample, within) = (gr / g.per_sample, gr % g.per_sample);
            let (t, p) = (within / per_step, within % per_step);
            let entries = self.dram.read(g.table + ((p * g.k_cols + k0) * 4) as u64, (kcols * 4) as u64)?.to_vec();
            let dst = &mut tile[r * rb..(r + 1) * rb];
            // DRAM traffic: the gathered elements at their stored width (a bit or an i32)
            let mut bits = 0usize;
            for (c, e) in entries.chunks_exact(4).enumerate() {
                let e = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
                if e == InputMap::ZERO {
                    bits += match g.kind {
                        InputKind::Spikes => 1,
                        InputKind::Int => 32,
                    };
                    continue;
                }
                let e = e as usize;
                if e >= limit {
                    return Err(TrapKind::TableEntry { entry: e, limit });
                }
                let j = starts.partition_point(|&s| s <= e) - 1;
                let (src, local) = (&g.sources[j], e - starts[j]);
                let (cols, step_row) = (src.cols as usize, (sample * g.steps + t) * src.rows as usize);
                let (row, col) = ((step_row + local / cols) as u64, local % cols);
                let base = u64::from(src.dram) + row * u64::from(src.row_bytes);
                let value = match src.kind {
                    InputKind::Spikes => {
                        bits += 1;
                        i32::from(self.dram.read(base + (col / 8) as u64, 1)?[0] >> (col % 8) & 1)
                    }
                    InputKind::Int => {
                        bits += 32;
                        let v = self.dram.read(base + (col * 4) as u64, 4)?;
                        i32::from_le_bytes([v[0], v[1], v[2], v[3]])
                    }
                };
                match g.kind {
                    InputKind::Spikes => {
                        if value != 0 {
                            dst[c / 8] |= 1 << (c % 8);
                        }
                    }
                    InputKind::Int => dst[c * 4..c * 4 + 4].copy_from_slice(&value.to_le_bytes()),
                }
            }
            w.dram_read += bits.div_ceil(8) as u64;
        }
        self.bufs.bytes_mut(buf)[dr].copy_from_slice(&tile);
        self.scratch = tile;
        w.sram[buf.code() as usize] += (rows * rb) as u64;
        Ok(())
    }
}

/// The geometry of a gather through an index table.
struct MappedGather {
    table: u64,
    steps: usize,
    sources: Vec<TableSource>,
    per_sample: usize,
    k_cols: usize,
    kind: InputKind,
}
