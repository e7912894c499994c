//! The functional core of the emulator: machine state and one exhaustive `step`.
//!
//! [`step`] executes one instruction on a [`Machine`] — DRAM, the on-chip buffers sized by the
//! hardware configuration, the layer table — and returns the [`Work`] it did (bytes moved,
//! rows added, vectors matched…), from which the timing and energy models charge cycles and
//! picojoules. Every buffer and DRAM access is bounds-checked: a bad program *traps* with a
//! message, it never panics. Pattern matching runs here, at run time, on the actual spikes.

use phi_dialect::isa::{Buffer, Dma, Inst, LINE};
use phi_dialect::ops::snn::Reset;
use phi_dialect::program::{InputKind, LayerDesc, ProgramMeta};

use crate::neuron::FixedLif;
use crate::phi::match_vector;

/// Why execution stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    /// Index of the instruction.
    pub pc: usize,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for Trap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "trap at instruction {}: {}", self.pc, self.message)
    }
}

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
}

/// What a PWP region holds: (layer, first partition, partitions, first column, columns).
type PwpTag = (u8, u16, u8, u16, u16);

/// The accelerator's state.
pub struct Machine<'p> {
    /// Program metadata (layer table, hardware).
    pub meta: &'p ProgramMeta,
    /// DRAM image.
    pub dram: Vec<u8>,
    bufs: Vec<Vec<u8>>,
    /// The PWP prefetcher's tags: per PWP region (line offset), the slice it holds
    /// (layer, first partition, partitions, first column, columns) and which pattern rows are
    /// valid.
    pwp_tags: std::collections::HashMap<u16, (PwpTag, Vec<bool>)>,
}

type R<T> = Result<T, String>;

fn rd_i16(b: &[u8], i: usize) -> i16 {
    i16::from_le_bytes([b[i], b[i + 1]])
}
fn rd_i32(b: &[u8], i: usize) -> i32 {
    i32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn rd_u32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn wr_i32(b: &mut [u8], i: usize, v: i32) {
    b[i..i + 4].copy_from_slice(&v.to_le_bytes());
}

/// Reads a `k`-bit (8, 16 or 32) partition vector at byte `at`.
#[inline]
fn part_vec(row: &[u8], at: usize, k: usize) -> u32 {
    match k {
        8 => row[at] as u32,
        16 => u16::from_le_bytes([row[at], row[at + 1]]) as u32,
        _ => u32::from_le_bytes([row[at], row[at + 1], row[at + 2], row[at + 3]]),
    }
}

impl<'p> Machine<'p> {
    /// A machine for `meta` with a DRAM image of `meta.dram_bytes` (zeroed) and empty buffers.
    pub fn new(meta: &'p ProgramMeta) -> Self {
        let bufs = Buffer::ALL.iter().map(|&b| vec![0u8; meta.hw.buffers.size(b) as usize]).collect();
        Machine { meta, dram: vec![0u8; meta.dram_bytes as usize], bufs, pwp_tags: std::collections::HashMap::new() }
    }

    fn layer(&self, id: u8) -> R<&'p LayerDesc> {
        self.meta
            .layers
            .get(id as usize)
            .ok_or_else(|| format!("layer {id} does not exist ({} layers)", self.meta.layers.len()))
    }

    /// The byte range `[line·16, line·16 + len)` of a buffer, checked.
    fn range(&self, b: Buffer, line: u16, len: usize) -> R<std::ops::Range<usize>> {
        let start = line as usize * LINE;
        let size = self.bufs[b.code() as usize].len();
        match start.checked_add(len) {
            Some(end) if end <= size => Ok(start..end),
            Some(_) | None => Err(format!(
                "{} buffer access of {len} bytes at line {line} (byte {start}) exceeds its {size} bytes",
                b.name()
            )),
        }
    }

    fn dram_range(&self, addr: u64, len: u64) -> R<std::ops::Range<usize>> {
        let end = addr.checked_add(len).ok_or("DRAM address overflow")?;
        if end > self.dram.len() as u64 {
            return Err(format!(
                "DRAM access of {len} bytes at 0x{addr:08x} exceeds the {}-byte image",
                self.dram.len()
            ));
        }
        Ok(addr as usize..end as usize)
    }

    fn dma(&mut self, d: &Dma, to_sram: bool, w: &mut Work) -> R<()> {
        let len = d.rows as usize * d.row_bytes as usize;
        let s = self.range(d.buf, d.sram, len)?;
        for r in 0..d.rows as u64 {
            let src = self.dram_range(d.dram as u64 + r * d.stride as u64, d.row_bytes as u64)?;
            let off = s.start + r as usize * d.row_bytes as usize;
            let buf = &mut self.bufs[d.buf.code() as usize];
            if to_sram {
                buf[off..off + d.row_bytes as usize].copy_from_slice(&self.dram[src]);
            } else {
                self.dram[src].copy_from_slice(&buf[off..off + d.row_bytes as usize]);
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

    /// Executes one instruction.
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
                let l = self.layer(layer)?;
                let (q, n) = (l.q as usize, l.n as usize);
                let (parts, cols, col0) = (parts as usize, cols as usize, col0 as usize);
                let base = l.pwp.ok_or_else(|| format!("layer {layer} has no PWP table"))? as u64;
                if col0 + cols > n || part0 as u32 + parts as u32 > l.parts() {
                    return Err(format!(
                        "pwp.fetch columns {col0}+{cols} / partitions {part0}+{parts} exceed layer {layer}"
                    ));
                }
                let ir = self.range(Buffer::Idx, idx, rows as usize * parts * 2)?;
                let pr = self.range(Buffer::Pwp, pwp, parts * q * cols * 2)?;
                let mut used = vec![false; parts * q];
                {
                    let ib = &self.bufs[Buffer::Idx.code() as usize][ir.clone()];
                    for e in 0..rows as usize * parts {
                        let i = rd_i16(ib, e * 2);
                        if i >= 0 {
                            if i as usize >= q {
                                return Err(format!("match index {i} ≥ q = {q}"));
                            }
                            used[(e % parts) * q + i as usize] = true;
                        }
                    }
                }
                w.sram[Buffer::Idx.code() as usize] += (rows as usize * parts * 2) as u64;
                // rows already held for the same slice are not fetched again
                let tag = (layer, part0, parts as u8, col0 as u16, cols as u16);
                let entry = self.pwp_tags.entry(pwp).or_insert_with(|| (tag, vec![false; parts * q]));
                if entry.0 != tag || entry.1.len() != parts * q {
                    *entry = (tag, vec![false; parts * q]);
                }
                let fetch: Vec<usize> =
                    used.iter().enumerate().filter(|(i, u)| **u && !entry.1[*i]).map(|(i, _)| i).collect();
                for &i in &fetch {
                    entry.1[i] = true;
                }
                for slot in fetch {
                    let (j, i) = (slot / q, slot % q);
                    let src = base + ((((part0 as usize + j) * q + i) * n + col0) * 2) as u64;
                    let s = self.dram_range(src, (cols * 2) as u64)?;
                    let dst = pr.start + slot * cols * 2;
                    self.bufs[Buffer::Pwp.code() as usize][dst..dst + cols * 2].copy_from_slice(&self.dram[s]);
                    w.dram_read += (cols * 2) as u64;
                    w.sram[Buffer::Pwp.code() as usize] += (cols * 2) as u64;
                }
            }
            Inst::Match { layer, rows, part0, parts, spk, pat, idx, res, .. } => {
                let l = self.layer(layer)?;
                let (k, q, parts) = (l.k as usize, l.q as usize, parts as usize);
                if ![8, 16, 32].contains(&k) || q == 0 {
                    return Err(format!("layer {layer} has no patterns (k = {k}, q = {q})"));
                }
                if part0 as u32 + parts as u32 > l.parts() {
                    return Err(format!("match partitions {part0}+{parts} exceed the layer's {}", l.parts()));
                }
                let row_bytes = parts * k / 8;
                let sr = self.range(Buffer::Spk, spk, rows as usize * row_bytes)?;
                let pr = self.range(Buffer::Pat, pat, parts * q * 4)?;
                let ir = self.range(Buffer::Idx, idx, rows as usize * parts * 2)?;
                let rr = self.range(Buffer::Res, res, rows as usize * parts * 8)?;
                let pats: Vec<u32> = {
                    let pb = &self.bufs[Buffer::Pat.code() as usize][pr];
                    (0..parts * q).map(|i| rd_u32(pb, i * 4)).collect()
                };
                let spikes = self.bufs[Buffer::Spk.code() as usize][sr].to_vec();
                let mut idx_out = vec![0u8; rows as usize * parts * 2];
                let mut res_out = vec![0u8; rows as usize * parts * 8];
                for r in 0..rows as usize {
                    let row = &spikes[r * row_bytes..(r + 1) * row_bytes];
                    for j in 0..parts {
                        let x = part_vec(row, j * k / 8, k);
                        let e = r * parts + j;
                        w.spikes += x.count_ones() as u64;
                        let (i, plus, minus) = match match_vector(x, &pats[j * q..(j + 1) * q]) {
                            Some((i, _)) => {
                                let p = pats[j * q + i];
                                w.matched += 1;
                                (i as i16, x & !p, p & !x)
                            }
                            None => (-1i16, x, 0),
                        };
                        w.residual += (plus.count_ones() + minus.count_ones()) as u64;
                        idx_out[e * 2..e * 2 + 2].copy_from_slice(&i.to_le_bytes());
                        res_out[e * 8..e * 8 + 4].copy_from_slice(&plus.to_le_bytes());
                        res_out[e * 8 + 4..e * 8 + 8].copy_from_slice(&minus.to_le_bytes());
                    }
                }
                self.bufs[Buffer::Idx.code() as usize][ir].copy_from_slice(&idx_out);
                self.bufs[Buffer::Res.code() as usize][rr].copy_from_slice(&res_out);
                w.vectors = (rows as usize * parts) as u64;
                w.comparisons = w.vectors * q as u64;
                w.sram[Buffer::Spk.code() as usize] += spikes.len() as u64;
                w.sram[Buffer::Pat.code() as usize] += (parts * q * 4) as u64;
                w.sram[Buffer::Idx.code() as usize] += idx_out.len() as u64;
                w.sram[Buffer::Res.code() as usize] += res_out.len() as u64;
            }
            Inst::L1Acc { layer, rows, parts, cols, idx, pwp, psum, .. } => {
                let l = self.layer(layer)?;
                let (q, parts, cols, rows) = (l.q as usize, parts as usize, cols as usize, rows as usize);
                let ir = self.range(Buffer::Idx, idx, rows * parts * 2)?;
                let pr = self.range(Buffer::Pwp, pwp, parts * q * cols * 2)?;
                let sr = self.range(Buffer::Psum, psum, rows * cols * 4)?;
                let ib = self.bufs[Buffer::Idx.code() as usize][ir].to_vec();
                let pb = self.bufs[Buffer::Pwp.code() as usize][pr].to_vec();
                let acc = &mut self.bufs[Buffer::Psum.code() as usize][sr];
                for r in 0..rows {
                    for j in 0..parts {
                        let i = rd_i16(&ib, (r * parts + j) * 2);
                        if i < 0 {
                            continue;
                        }
                        if i as usize >= q {
                            return Err(format!("match index {i} ≥ q = {q}"));
                        }
                        let base = (j * q + i as usize) * cols * 2;
                        for c in 0..cols {
                            let a = (r * cols + c) * 4;
                            let v = rd_i32(acc, a).wrapping_add(rd_i16(&pb, base + c * 2) as i32);
                            wr_i32(acc, a, v);
                        }
                        w.l1_rows += 1;
                        w.sram[Buffer::Pwp.code() as usize] += (cols * 2) as u64;
                    }
                }
                w.cols = cols as u64;
                w.sram[Buffer::Idx.code() as usize] += ib.len() as u64;
                w.sram[Buffer::Psum.code() as usize] += (w.l1_rows * cols as u64 * 8).max((rows * cols * 4) as u64);
            }
            Inst::L2Acc { layer, rows, part0, parts, cols, res, wgt, psum, .. } => {
                let l = self.layer(layer)?;
                let (k, parts, cols, rows) = (l.k as usize, parts as usize, cols as usize, rows as usize);
                let _ = part0;
                let rr = self.range(Buffer::Res, res, rows * parts * 8)?;
                let wr = self.range(Buffer::Wgt, wgt, parts * k * cols)?;
                let sr = self.range(Buffer::Psum, psum, rows * cols * 4)?;
                let rb = self.bufs[Buffer::Res.code() as usize][rr].to_vec();
                let wb = self.bufs[Buffer::Wgt.code() as usize][wr].to_vec();
                let acc = &mut self.bufs[Buffer::Psum.code() as usize][sr];
                for r in 0..rows {
                    for j in 0..parts {
                        let e = (r * parts + j) * 8;
                        for (mask, sign) in [(rd_u32(&rb, e), 1i32), (rd_u32(&rb, e + 4), -1i32)] {
                            let mut m = mask;
                            while m != 0 {
                                let b = m.trailing_zeros() as usize;
                                m &= m - 1;
                                if b >= k {
                                    return Err(format!("residual bit {b} beyond the partition width {k}"));
                                }
                                let row = (j * k + b) * cols;
                                for c in 0..cols {
                                    let a = (r * cols + c) * 4;
                                    let v = rd_i32(acc, a).wrapping_add(sign.wrapping_mul(wb[row + c] as i8 as i32));
                                    wr_i32(acc, a, v);
                                }
                                w.l2_rows += 1;
                            }
                        }
                    }
                }
                w.cols = cols as u64;
                w.sram[Buffer::Res.code() as usize] += rb.len() as u64;
                w.sram[Buffer::Wgt.code() as usize] += w.l2_rows * cols as u64;
                w.sram[Buffer::Psum.code() as usize] += w.l2_rows * cols as u64 * 8;
            }
            Inst::BsAcc { layer, rows, kcols, cols, spk, wgt, psum, .. } => {
                self.layer(layer)?;
                let (rows, kcols, cols) = (rows as usize, kcols as usize, cols as usize);
                let row_bytes = kcols.div_ceil(8);
                let sr = self.range(Buffer::Spk, spk, rows * row_bytes)?;
                let wr = self.range(Buffer::Wgt, wgt, kcols * cols)?;
                let pr = self.range(Buffer::Psum, psum, rows * cols * 4)?;
                let sb = self.bufs[Buffer::Spk.code() as usize][sr].to_vec();
                let wb = self.bufs[Buffer::Wgt.code() as usize][wr].to_vec();
                let acc = &mut self.bufs[Buffer::Psum.code() as usize][pr];
                for r in 0..rows {
                    for kk in 0..kcols {
                        if sb[r * row_bytes + kk / 8] >> (kk % 8) & 1 == 0 {
                            continue;
                        }
                        for c in 0..cols {
                            let a = (r * cols + c) * 4;
                            wr_i32(acc, a, rd_i32(acc, a).wrapping_add(wb[kk * cols + c] as i8 as i32));
                        }
                        w.bs_rows += 1;
                    }
                }
                w.spikes = w.bs_rows;
                w.cols = cols as u64;
                w.sram[Buffer::Spk.code() as usize] += sb.len() as u64;
                w.sram[Buffer::Wgt.code() as usize] += w.bs_rows * cols as u64;
                w.sram[Buffer::Psum.code() as usize] += w.bs_rows * cols as u64 * 8;
            }
            Inst::DenseMac { layer, rows, kcols, cols, src, wgt, psum, .. } => {
                let l = self.layer(layer)?;
                let (rows, kcols, cols) = (rows as usize, kcols as usize, cols as usize);
                let wr = self.range(Buffer::Wgt, wgt, kcols * cols)?;
                let pr = self.range(Buffer::Psum, psum, rows * cols * 4)?;
                let wb = self.bufs[Buffer::Wgt.code() as usize][wr].to_vec();
                let x: Vec<i32> = match l.input.kind {
                    InputKind::Spikes => {
                        let row_bytes = kcols.div_ceil(8);
                        let sr = self.range(Buffer::Spk, src, rows * row_bytes)?;
                        let sb = &self.bufs[Buffer::Spk.code() as usize][sr];
                        w.sram[Buffer::Spk.code() as usize] += sb.len() as u64;
                        (0..rows * kcols)
                            .map(|i| ((sb[(i / kcols) * row_bytes + (i % kcols) / 8] >> (i % kcols % 8)) & 1) as i32)
                            .collect()
                    }
                    InputKind::Int => {
                        let ar = self.range(Buffer::Act, src, rows * kcols * 4)?;
                        let ab = &self.bufs[Buffer::Act.code() as usize][ar];
                        w.sram[Buffer::Act.code() as usize] += ab.len() as u64;
                        (0..rows * kcols).map(|i| rd_i32(ab, i * 4)).collect()
                    }
                };
                let acc = &mut self.bufs[Buffer::Psum.code() as usize][pr];
                for r in 0..rows {
                    for kk in 0..kcols {
                        let xv = x[r * kcols + kk];
                        w.spikes += (xv != 0) as u64;
                        if xv == 0 {
                            continue; // a zero adds nothing; the dense unit still spends the MAC (counted below)
                        }
                        for c in 0..cols {
                            let a = (r * cols + c) * 4;
                            let v = rd_i32(acc, a).wrapping_add(xv.wrapping_mul(wb[kk * cols + c] as i8 as i32));
                            wr_i32(acc, a, v);
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
                let pr = self.range(Buffer::Psum, psum, rows * cols * 4)?;
                let b: Vec<u8> = if l.bias.is_some() {
                    let br = self.range(Buffer::Bias, bias, cols * 4)?;
                    self.bufs[Buffer::Bias.code() as usize][br].to_vec()
                } else {
                    vec![0u8; cols * 4]
                };
                let acc = &mut self.bufs[Buffer::Psum.code() as usize][pr];
                for r in 0..rows {
                    acc[r * cols * 4..(r + 1) * cols * 4].copy_from_slice(&b);
                }
                w.inits = (rows * cols) as u64;
                w.sram[Buffer::Bias.code() as usize] += (cols * 4) as u64;
                w.sram[Buffer::Psum.code() as usize] += (rows * cols * 4) as u64;
            }
            Inst::Lif { layer, row0, rows, p0, cols, psum, memb, out, .. } => {
                let l = self.layer(layer)?;
                let n = l.neuron.ok_or_else(|| format!("layer {layer} has no neuron"))?;
                let lif = FixedLif {
                    leak: n.leak,
                    shift: n.shift.min(30),
                    threshold: n.threshold,
                    reset: if n.reset_zero { Reset::Zero } else { Reset::Subtract },
                };
                let (rows, cols) = (rows as usize, cols as usize);
                let positions = l.positions.max(1) as usize;
                let per_sample = l.rows_per_sample.max(1) as usize;
                let out_bytes = cols.div_ceil(8);
                let pr = self.range(Buffer::Psum, psum, rows * cols * 4)?;
                let or = self.range(Buffer::Out, out, rows * out_bytes)?;
                // membrane slot and fresh-sample flag of every row
                let first = row0 as usize;
                let slots: Vec<(usize, bool)> = (first..first + rows)
                    .map(|r| {
                        ((r / per_sample) * positions + (r % per_sample) % positions, (r % per_sample) < positions)
                    })
                    .collect();
                let lo = slots.iter().map(|s| s.0).min().unwrap_or(0);
                let hi = slots.iter().map(|s| s.0).max().unwrap_or(0);
                if lo < p0 as usize {
                    return Err(format!("lif row {first} uses membrane slot {lo}, below the region's first slot {p0}"));
                }
                let mr = self.range(Buffer::Memb, memb, (hi - p0 as usize + 1) * cols * 4)?;
                let cur = self.bufs[Buffer::Psum.code() as usize][pr].to_vec();
                let mut spikes = vec![0u8; rows * out_bytes];
                {
                    let mb = &mut self.bufs[Buffer::Memb.code() as usize][mr];
                    for (r, &(slot, fresh)) in slots.iter().enumerate() {
                        let si = slot - p0 as usize;
                        for c in 0..cols {
                            let mi = (si * cols + c) * 4;
                            let mut v = if fresh { 0 } else { rd_i32(mb, mi) };
                            if lif.step(&mut v, rd_i32(&cur, (r * cols + c) * 4)) {
                                spikes[r * out_bytes + c / 8] |= 1 << (c % 8);
                                w.fired += 1;
                            }
                            wr_i32(mb, mi, v);
                        }
                    }
                }
                self.bufs[Buffer::Out.code() as usize][or].copy_from_slice(&spikes);
                w.lif = (rows * cols) as u64;
                w.sram[Buffer::Psum.code() as usize] += cur.len() as u64;
                w.sram[Buffer::Memb.code() as usize] += (rows * cols * 8) as u64;
                w.sram[Buffer::Out.code() as usize] += spikes.len() as u64;
            }
        }
        Ok(w)
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
        let (rows, k0, kcols, rb) = (rows as usize, k0 as usize, kcols as usize, row_bytes as usize);
        if row0 as usize + rows > l.rows as usize || k0 + kcols > l.k_cols as usize {
            return Err(format!(
                "gather rows {row0}+{rows}, columns {k0}+{kcols} exceed layer {layer} ({} × {})",
                l.rows, l.k_cols
            ));
        }
        let src_rb = l.input.row_bytes as u64;
        match l.input.kind {
            InputKind::Spikes => {
                if kcols > rb * 8 {
                    return Err(format!("gather of {kcols} columns into rows of {rb} bytes"));
                }
                let dr = self.range(Buffer::Spk, sram, rows * rb)?;
                let mut tile = vec![0u8; rows * rb];
                for r in 0..rows {
                    let base = l.input.dram as u64 + (row0 as u64 + r as u64) * src_rb;
                    let src = self.dram_range(base + (k0 / 8) as u64, (k0 % 8 + kcols).div_ceil(8) as u64)?;
                    let bytes = &self.dram[src];
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
                self.bufs[Buffer::Spk.code() as usize][dr].copy_from_slice(&tile);
                w.sram[Buffer::Spk.code() as usize] += tile.len() as u64;
            }
            InputKind::Int => {
                if kcols * 4 > rb {
                    return Err(format!("gather of {kcols} integers into rows of {rb} bytes"));
                }
                let dr = self.range(Buffer::Act, sram, rows * rb)?;
                let mut tile = vec![0u8; rows * rb];
                for r in 0..rows {
                    let base = l.input.dram as u64 + (row0 as u64 + r as u64) * src_rb + (k0 * 4) as u64;
                    let src = self.dram_range(base, (kcols * 4) as u64)?;
                    tile[r * rb..r * rb + kcols * 4].copy_from_slice(&self.dram[src]);
                    w.dram_read += (kcols * 4) as u64;
                }
                self.bufs[Buffer::Act.code() as usize][dr].copy_from_slice(&tile);
                w.sram[Buffer::Act.code() as usize] += tile.len() as u64;
            }
        }
        Ok(())
    }
}
