//! Emission of one layer's instructions from its tile plan, with buffer rings and tokens.
//!
//! For a group of row tiles whose partial sums fit the partial-sum buffer together (the whole
//! batch when it fits), each column tile initialises the partial sums, streams K once in groups
//! ([`phi_group`] in Phi mode, [`baseline_group`] for bit-sparse and dense layers) and then runs
//! the neuron and stores the spikes, or stores the currents ([`finish_column`]). The loaded
//! regions (spikes, patterns, weights) are rings of up to four slots, so that loads of the next
//! group overlap the current computation; the PWP buffer alternates its halves between column
//! tiles; bias and membranes alternate between layers. Tokens come from [`Emitter`].

use std::collections::{HashMap, VecDeque};

use phi_dialect::hw::Buffers;
use phi_dialect::isa::{Buffer, Deps, Dma, Inst, LINE};
use phi_dialect::program::{InputKind, LayerDesc, LayerMode};

use super::emit::{Batch, Emitter, StoreId};
use crate::analysis::tiling::{half, lines};

/// The tiling of one layer, as the backend uses it.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Rows per tile.
    pub mr: usize,
    /// Columns per tile.
    pub nt: usize,
    /// Column tiles.
    pub ct: usize,
    /// Partitions per group (Phi) or columns per group (baselines).
    pub group: usize,
}

/// A region of a buffer: `(buffer, first byte, bytes)`.
type Area = (Buffer, usize, usize);

/// Which batch last wrote each loaded region, across layers, and pending stores.
#[derive(Default)]
pub struct EmitState {
    /// Regions written by load batches, most recent last.
    owner: Vec<(Area, Batch)>,
    /// Round-robin counters of the rings.
    turn: HashMap<Buffer, usize>,
    /// Last store of each output half.
    out_store: [Option<StoreId>; 2],
    outputs: usize,
    /// Pending stores of partial-sum tiles (by row tile), for layers that output currents.
    psum_store: HashMap<usize, StoreId>,
}

/// A ring of equal slots in a buffer: as many slots of `need` bytes as fit, up to four (deeper
/// prefetch hides more DRAM latency), at least one.
fn ring(size: u32, need: usize) -> (usize, usize) {
    let slot = lines(need.max(1)) * LINE;
    let slots = (size as usize / slot).clamp(1, 4);
    (slots, slot)
}

impl EmitState {
    /// The next slot of a ring in buffer `b`: its byte offset.
    fn next_slot(&mut self, b: Buffer, (slots, slot): (usize, usize)) -> usize {
        let t = self.turn.entry(b).or_insert(0);
        let i = *t % slots;
        *t += 1;
        i * slot
    }

    /// The batches that last wrote anything overlapping `regions`.
    fn writes(&self, regions: &[Area]) -> Vec<Batch> {
        self.owner
            .iter()
            .filter(|((b, at, len), _)| {
                regions.iter().any(|(rb, rat, rlen)| rb == b && at < &(rat + rlen) && rat < &(at + len))
            })
            .map(|(_, id)| *id)
            .collect()
    }

    /// Records that batch `id` wrote `regions` (forgetting regions it covers entirely).
    fn own(&mut self, regions: &[Area], id: Batch) {
        self.owner.retain(|((b, at, len), _)| {
            !regions.iter().any(|(rb, rat, rlen)| rb == b && rat <= at && at + len <= rat + rlen)
        });
        for r in regions {
            self.owner.push((*r, id));
        }
    }
}

/// `v` as a 16-bit instruction field.
pub fn u16_of(v: usize, what: &str) -> Result<u16, String> {
    u16::try_from(v).map_err(|_| format!("{what} = {v} does not fit the 16-bit instruction field"))
}

/// A byte offset as a 16-bit line field.
fn line_of(bytes: usize, what: &str) -> Result<u16, String> {
    u16_of(bytes / LINE, what)
}

fn dma(buf: Buffer, sram_bytes: usize, dram: u32, rows: usize, row_bytes: usize, stride: usize) -> Result<Dma, String> {
    Ok(Dma {
        buf,
        sram: line_of(sram_bytes, "SRAM offset")?,
        dram,
        rows: u16_of(rows, "DMA rows")?,
        row_bytes: u16_of(row_bytes, "DMA row bytes")?,
        stride: if stride < 1 << 24 {
            stride as u32
        } else {
            return Err(format!("DMA stride {stride} exceeds 24 bits"));
        },
    })
}

const DEPS: Deps = Deps { pop_prev: false, pop_next: false, push_prev: false, push_next: false };

/// One layer being emitted: its description, plan, and the ring geometry derived from them.
struct Layer<'a> {
    li: u8,
    l: &'a LayerDesc,
    p: Plan,
    b: &'a Buffers,
    k: usize,
    q: usize,
    /// Bytes of one row tile of partial sums, line-aligned.
    psum_tile: usize,
    /// Byte offset of this layer's bias (its parity's half).
    bias_at: usize,
    in_buf: Buffer,
    in_ring: (usize, usize),
    w_ring: usize,
    idx_ring: (usize, usize),
    res_ring: (usize, usize),
    /// Slot sizes of the weight and pattern rings.
    w_slot: (usize, usize),
}

/// One K group: `(first column, columns, first partition, partitions)`.
#[derive(Clone, Copy)]
struct Group {
    k0: usize,
    kcols: usize,
    part0: usize,
    gp: usize,
}

/// One column tile.
#[derive(Clone, Copy)]
struct Cols {
    col0: usize,
    cols: usize,
}

/// A K group's weights (and patterns) once loaded.
struct Loaded {
    wb: Batch,
    wgt: u16,
    pat_at: usize,
}

impl<'a> Layer<'a> {
    fn new(li: u8, l: &'a LayerDesc, p: Plan, b: &'a Buffers) -> Layer<'a> {
        let (k, q) = (l.k as usize, l.q as usize);
        let (in_buf, in_size, in_row) = match (l.mode, l.input.kind) {
            (LayerMode::Phi, _) => (Buffer::Spk, b.spk, p.group * k / 8),
            (LayerMode::BitSparse | LayerMode::Dense, InputKind::Spikes) => (Buffer::Spk, b.spk, p.group.div_ceil(8)),
            (LayerMode::BitSparse | LayerMode::Dense, InputKind::Int) => (Buffer::Act, b.act, p.group * 4),
        };
        let w_rows = match l.mode {
            LayerMode::Phi => p.group * k,
            LayerMode::BitSparse | LayerMode::Dense => p.group,
        };
        Layer {
            li,
            l,
            p,
            b,
            k,
            q,
            psum_tile: lines(p.mr * p.nt * 4) * LINE,
            bias_at: (li as usize % 2) * half(b.bias),
            in_buf,
            in_ring: ring(in_size, p.mr * in_row),
            w_ring: ring(b.wgt, w_rows * p.nt).0.min(ring(b.pat, p.group * q * 4).0.max(1)),
            idx_ring: ring(b.idx, p.mr * p.group * 2),
            res_ring: ring(b.res, p.mr * p.group * 8),
            w_slot: (lines(w_rows * p.nt) * LINE, lines(p.group * q * 4) * LINE),
        }
    }

    /// Row tiles `(first row, rows)` in groups whose partial sums (one column tile each; every
    /// tile but the last of a group padded to a line) fit the buffer together.
    fn row_groups(&self) -> Vec<Vec<(usize, usize)>> {
        let (mr, rows) = (self.p.mr, self.l.rows as usize);
        let tiles: Vec<(usize, usize)> = (0..rows).step_by(mr).map(|r0| (r0, mr.min(rows - r0))).collect();
        let mut out = Vec::new();
        let mut start = 0;
        while start < tiles.len() {
            let mut end = start + 1;
            while end < tiles.len()
                && (end - start) * self.psum_tile + tiles[end].1 * self.p.nt * 4 <= self.b.psum as usize
            {
                end += 1;
            }
            out.push(tiles[start..end].to_vec());
            start = end;
        }
        out
    }

    /// The K groups of the layer.
    fn groups(&self) -> Vec<Group> {
        let (l, k, g) = (self.l, self.k, self.p.group);
        match l.mode {
            LayerMode::Phi => {
                let parts = l.parts() as usize;
                (0..parts)
                    .step_by(g)
                    .map(|p0| {
                        let gp = g.min(parts - p0);
                        Group { k0: p0 * k, kcols: (gp * k).min(l.k_cols as usize - p0 * k), part0: p0, gp }
                    })
                    .collect()
            }
            LayerMode::BitSparse | LayerMode::Dense => (0..l.k_cols as usize)
                .step_by(g)
                .map(|k0| Group { k0, kcols: g.min(l.k_cols as usize - k0), part0: 0, gp: 0 })
                .collect(),
        }
    }
}

/// Emits one layer.
pub fn emit_layer(
    e: &mut Emitter,
    st: &mut EmitState,
    li: u8,
    l: &LayerDesc,
    p: Plan,
    b: &Buffers,
) -> Result<(), String> {
    let x = Layer::new(li, l, p, b);
    let prologue = load_bias(e, st, &x)?;
    let groups = x.groups();
    for row_tiles in x.row_groups() {
        for c in 0..p.ct {
            let col0 = c * p.nt;
            let cols = Cols { col0, cols: p.nt.min(l.n as usize - col0) };
            init_psums(e, st, &x, &row_tiles, cols)?;
            for &g in &groups {
                match l.mode {
                    LayerMode::Phi => phi_group(e, st, &x, &row_tiles, cols, g)?,
                    LayerMode::BitSparse | LayerMode::Dense => baseline_group(e, st, &x, &row_tiles, cols, g)?,
                }
            }
            finish_column(e, st, &x, &row_tiles, cols)?;
        }
    }
    // later layers reuse the partial sums: their initialisations wait for pending stores
    for (_, s) in std::mem::take(&mut st.psum_store) {
        e.wait_store(s);
    }
    if let Some(pro) = prologue {
        e.release(pro);
    }
    Ok(())
}

/// The prologue: the bias of the layer, in the bias half of its parity.
fn load_bias(e: &mut Emitter, st: &mut EmitState, x: &Layer<'_>) -> Result<Option<Batch>, String> {
    let Some(addr) = x.l.bias else { return Ok(None) };
    let bytes = x.l.n as usize * 4;
    let region = [(Buffer::Bias, x.bias_at, bytes)];
    let over = st.writes(&region);
    let id =
        e.load_batch(vec![Inst::Load { deps: DEPS, dma: dma(Buffer::Bias, x.bias_at, addr, 1, bytes, 0)? }], &over);
    st.own(&region, id);
    e.acquire(id);
    Ok(Some(id))
}

/// The partial sums of every row tile of the group for one column tile (from the bias).
fn init_psums(
    e: &mut Emitter,
    st: &mut EmitState,
    x: &Layer<'_>,
    row_tiles: &[(usize, usize)],
    c: Cols,
) -> Result<(), String> {
    for (ri, &(_, rows)) in row_tiles.iter().enumerate() {
        if let Some(s) = st.psum_store.remove(&ri) {
            e.wait_store(s);
        }
        e.compute(Inst::PsumInit {
            deps: DEPS,
            layer: x.li,
            rows: u16_of(rows, "rows")?,
            cols: c.cols as u16,
            bias: line_of(x.bias_at + c.col0 * 4, "BIAS offset")?,
            psum: line_of(ri * x.psum_tile, "PSUM offset")?,
        });
    }
    Ok(())
}

/// Loads a K group's weights (and, in Phi mode, patterns) for one column tile, once for every
/// row tile; then takes the next PWP half (every mode turns the PWP ring, so that the halves a
/// program's Phi layers use do not depend on the modes of the layers before them).
fn load_group(e: &mut Emitter, st: &mut EmitState, x: &Layer<'_>, c: Cols, g: Group) -> Result<Loaded, String> {
    let l = x.l;
    let wi = st.next_slot(Buffer::Wgt, (x.w_ring, 1));
    let (wgt_at, pat_at) = (wi * x.w_slot.0, wi * x.w_slot.1);
    let mut loads = vec![Inst::Load {
        deps: DEPS,
        dma: dma(
            Buffer::Wgt,
            wgt_at,
            l.weights + (g.k0 * l.n as usize + c.col0) as u32,
            g.kcols,
            c.cols,
            l.n as usize,
        )?,
    }];
    let mut regions = vec![(Buffer::Wgt, wgt_at, x.w_slot.0)];
    if l.mode == LayerMode::Phi {
        let patterns = l.patterns.ok_or("Phi layer without patterns")?;
        loads.push(Inst::Load {
            deps: DEPS,
            dma: dma(Buffer::Pat, pat_at, patterns + (g.part0 * x.q * 4) as u32, 1, g.gp * x.q * 4, 0)?,
        });
        regions.push((Buffer::Pat, pat_at, x.w_slot.1));
    }
    let over = st.writes(&regions);
    let wb = e.load_batch(loads, &over);
    st.own(&regions, wb);
    Ok(Loaded { wb, wgt: line_of(wgt_at, "WGT offset")?, pat_at })
}

/// Input tiles gathered ahead of their use, as deep as the input ring allows.
struct Gathers {
    ahead: usize,
    queue: VecDeque<(Batch, u16)>,
}

impl Gathers {
    /// Gathers the first row tiles of the group.
    fn start(
        e: &mut Emitter,
        st: &mut EmitState,
        x: &Layer<'_>,
        rows: &[(usize, usize)],
        g: Group,
    ) -> Result<Gathers, String> {
        let ahead = x.in_ring.0.saturating_sub(1).max(1);
        let mut queue = VecDeque::new();
        for &(r0, n) in rows.iter().take(ahead) {
            queue.push_back(gather(e, st, x, r0, n, g)?);
        }
        Ok(Gathers { ahead, queue })
    }

    /// The input tile of row tile `ri`, gathering row tile `ri + ahead` behind it.
    fn next(
        &mut self,
        e: &mut Emitter,
        st: &mut EmitState,
        x: &Layer<'_>,
        rows: &[(usize, usize)],
        ri: usize,
        g: Group,
    ) -> Result<(Batch, u16), String> {
        let got = self.queue.pop_front().expect("gathered ahead");
        if let Some(&(r1, n1)) = rows.get(ri + self.ahead) {
            self.queue.push_back(gather(e, st, x, r1, n1, g)?);
        }
        Ok(got)
    }
}

/// Gathers one input tile into the next slot of the input ring.
fn gather(
    e: &mut Emitter,
    st: &mut EmitState,
    x: &Layer<'_>,
    r0: usize,
    rows: usize,
    g: Group,
) -> Result<(Batch, u16), String> {
    let at = st.next_slot(x.in_buf, x.in_ring);
    let region = [(x.in_buf, at, x.in_ring.1)];
    let over = st.writes(&region);
    let row_bytes = match x.l.mode {
        LayerMode::Phi => g.gp * x.k / 8,
        LayerMode::BitSparse | LayerMode::Dense => match x.l.input.kind {
            InputKind::Spikes => g.kcols.div_ceil(8),
            InputKind::Int => g.kcols * 4,
        },
    };
    let a = e.load_batch(
        vec![Inst::Gather {
            deps: DEPS,
            layer: x.li,
            row0: u16_of(r0, "row")?,
            rows: u16_of(rows, "rows")?,
            k0: u16_of(g.k0, "column")?,
            kcols: u16_of(g.kcols, "columns")?,
            sram: line_of(at, "input offset")?,
            row_bytes: u16_of(row_bytes, "row bytes")?,
        }],
        &over,
    );
    st.own(&region, a);
    Ok((a, line_of(at, "input offset")?))
}

/// A matched Phi row tile waiting for its Level-1/Level-2 work.
struct Matched {
    rows: u16,
    idx: u16,
    res: u16,
    pf: Batch,
    psum: u16,
}

/// One K group of a Phi layer, software-pipelined: the match (and PWP prefetch) of row tile r
/// runs before the Level-1/Level-2 work of row tiles r−d … (d as deep as the index/residual
/// rings allow), so matcher, prefetch and adders overlap. The PWP rows of this (group, column
/// tile) accumulate in one PWP half across the row tiles.
fn phi_group(
    e: &mut Emitter,
    st: &mut EmitState,
    x: &Layer<'_>,
    row_tiles: &[(usize, usize)],
    c: Cols,
    g: Group,
) -> Result<(), String> {
    let w = load_group(e, st, x, c, g)?;
    let ph = st.next_slot(Buffer::Pwp, (2, half(x.b.pwp)));
    let pwp_region = [(Buffer::Pwp, ph, half(x.b.pwp))];
    let pwp_owner = st.writes(&pwp_region);
    let pwp = line_of(ph, "PWP offset")?;
    let part0 = u16_of(g.part0, "partition")?;
    let mut gathers = Gathers::start(e, st, x, row_tiles, g)?;
    let depth = x.idx_ring.0.min(x.res_ring.0).saturating_sub(1);
    let mut pending: VecDeque<Matched> = VecDeque::new();
    let mut last_pf = None;
    for (ri, &(_, rows)) in row_tiles.iter().enumerate() {
        let (a, src) = gathers.next(e, st, x, row_tiles, ri, g)?;
        let rows = u16_of(rows, "rows")?;
        let slot = st.next_slot(Buffer::Idx, (x.idx_ring.0.min(x.res_ring.0), 1));
        let idx = line_of(slot * x.idx_ring.1, "IDX offset")?;
        let res = line_of(slot * x.res_ring.1, "RES offset")?;
        e.acquire(w.wb);
        e.acquire(a);
        e.compute(Inst::Match {
            deps: DEPS,
            layer: x.li,
            rows,
            part0,
            parts: g.gp as u8,
            spk: src,
            pat: line_of(w.pat_at, "PAT offset")?,
            idx,
            res,
        });
        e.release(a);
        // the prefetch waits for this match (through A's release) and, the first time, for the
        // previous user of the PWP half
        let mut over = vec![a];
        if ri == 0 {
            over.extend(pwp_owner.iter().copied());
        }
        let pf = e.load_batch(
            vec![Inst::PwpFetch {
                deps: DEPS,
                layer: x.li,
                rows,
                part0,
                parts: g.gp as u8,
                col0: u16_of(c.col0, "column")?,
                cols: c.cols as u16,
                idx,
                pwp,
            }],
            &over,
        );
        pending.push_back(Matched { rows, idx, res, pf, psum: line_of(ri * x.psum_tile, "PSUM offset")? });
        while pending.len() > depth {
            let t = pending.pop_front().expect("pending");
            level_ops(e, x.li, &t, part0, g.gp, c.cols, pwp, w.wgt);
            last_pf = Some(t.pf);
        }
    }
    while let Some(t) = pending.pop_front() {
        level_ops(e, x.li, &t, part0, g.gp, c.cols, pwp, w.wgt);
        last_pf = Some(t.pf);
    }
    e.release(w.wb);
    if let Some(pf) = last_pf {
        st.own(&pwp_region, pf);
    }
    Ok(())
}

/// Level 1 then Level 2 of one Phi row tile (the prefetched PWP rows are acquired first).
#[allow(clippy::too_many_arguments)]
fn level_ops(e: &mut Emitter, li: u8, t: &Matched, part0: u16, gp: usize, cols: usize, pwp: u16, wgt: u16) {
    e.acquire(t.pf);
    e.compute(Inst::L1Acc {
        deps: DEPS,
        layer: li,
        rows: t.rows,
        parts: gp as u8,
        cols: cols as u16,
        idx: t.idx,
        pwp,
        psum: t.psum,
    });
    e.release(t.pf);
    e.compute(Inst::L2Acc {
        deps: DEPS,
        layer: li,
        rows: t.rows,
        part0,
        parts: gp as u8,
        cols: cols as u16,
        res: t.res,
        wgt,
        psum: t.psum,
    });
}

/// One K group of a bit-sparse or dense layer: each row tile accumulates the group's weight
/// rows its inputs select (bit-sparse) or multiply (dense).
fn baseline_group(
    e: &mut Emitter,
    st: &mut EmitState,
    x: &Layer<'_>,
    row_tiles: &[(usize, usize)],
    c: Cols,
    g: Group,
) -> Result<(), String> {
    let w = load_group(e, st, x, c, g)?;
    // the PWP ring turns in every mode (see `load_group`)
    st.next_slot(Buffer::Pwp, (2, half(x.b.pwp)));
    let mut gathers = Gathers::start(e, st, x, row_tiles, g)?;
    let kcols = u16_of(g.kcols, "columns")?;
    for (ri, &(_, rows)) in row_tiles.iter().enumerate() {
        let (a, src) = gathers.next(e, st, x, row_tiles, ri, g)?;
        let (rows, psum) = (u16_of(rows, "rows")?, line_of(ri * x.psum_tile, "PSUM offset")?);
        let cols = c.cols as u16;
        e.acquire(w.wb);
        e.acquire(a);
        e.compute(match x.l.mode {
            LayerMode::BitSparse => {
                Inst::BsAcc { deps: DEPS, layer: x.li, rows, kcols, cols, spk: src, wgt: w.wgt, psum }
            }
            LayerMode::Dense | LayerMode::Phi => {
                Inst::DenseMac { deps: DEPS, layer: x.li, rows, kcols, cols, src, wgt: w.wgt, psum }
            }
        });
        e.release(a);
    }
    e.release(w.wb);
    Ok(())
}

/// After K: per row tile, the neuron and the store of its spikes, or the store of the currents.
fn finish_column(
    e: &mut Emitter,
    st: &mut EmitState,
    x: &Layer<'_>,
    row_tiles: &[(usize, usize)],
    c: Cols,
) -> Result<(), String> {
    let l = x.l;
    let (per, slots) = (l.rows_per_sample.max(1) as usize, l.positions.max(1) as usize);
    for (ri, &(r0, rows)) in row_tiles.iter().enumerate() {
        let psum = line_of(ri * x.psum_tile, "PSUM offset")?;
        match l.neuron {
            Some(_) => {
                let hidx = st.outputs % 2;
                st.outputs += 1;
                if let Some(s) = st.out_store[hidx] {
                    e.wait_store(s);
                }
                let out_at = hidx * half(x.b.out);
                e.compute(Inst::Lif {
                    deps: DEPS,
                    layer: x.li,
                    row0: u16_of(r0, "row")?,
                    rows: u16_of(rows, "rows")?,
                    p0: u16_of(r0 / per * slots, "membrane slot")?,
                    cols: c.cols as u16,
                    psum,
                    memb: 0,
                    out: line_of(out_at, "OUT offset")?,
                });
                let ob = l.n.div_ceil(8) as usize;
                let s = e.store(dma(
                    Buffer::Out,
                    out_at,
                    l.output + (r0 * ob + c.col0 / 8) as u32,
                    rows,
                    c.cols.div_ceil(8),
                    ob,
                )?);
                st.out_store[hidx] = Some(s);
            }
            None => {
                let s = e.store(dma(
                    Buffer::Psum,
                    ri * x.psum_tile,
                    l.output + ((r0 * l.n as usize + c.col0) * 4) as u32,
                    rows,
                    c.cols * 4,
                    l.n as usize * 4,
                )?);
                // the next column tile re-initialises this partial-sum tile after the store
                st.psum_store.insert(ri, s);
            }
        }
    }
    Ok(())
}
