//! The timing model: cycles per instruction from its work, and the overlap of the three queues.
//!
//! Each instruction occupies its queue for a duration computed from the work it actually did
//! (so timing depends on the data, e.g. on how many partition vectors found a pattern):
//!
//! | instruction | cycles |
//! |---|---|
//! | `load`, `store`, `gather` | `⌈bytes / bytes-per-cycle⌉` busy (bandwidth at the clock), data ready `dram.latency` later |
//! | `pwp.fetch` | the same, for the PWP rows actually used |
//! | `match` | `issue + match_latency + ⌈vectors / match_vectors⌉` |
//! | `l1.acc` | `issue + ⌈hits / l1_rows⌉ · ⌈cols / lanes⌉` |
//! | `l2.acc` | `issue + ⌈±1 entries / l2_rows⌉ · ⌈cols / lanes⌉` |
//! | `bs.acc` | `issue + ⌈spikes / bs_rows⌉ · ⌈cols / lanes⌉` |
//! | `dense.mac` | `issue + ⌈rows · kcols · cols / dense_macs⌉` |
//! | `psum.init` | `issue + ⌈rows · cols / psum_init⌉` |
//! | `lif` | `issue + ⌈rows · cols / lif_neurons⌉` |
//! | `sync`, `halt` | 0 |
//!
//! DMA is pipelined: a transfer occupies its queue for its transfer time, and its data (and the
//! tokens it pushes) arrive `dram.latency` cycles after that, while the queue already issues the
//! next transfer.
//!
//! The queues run concurrently. A queue executes its instructions in stream order; an
//! instruction starts when its queue is free and every token it pops has been pushed (a token
//! is available from the completion time of the instruction that pushed it); it pushes its
//! tokens when it completes. The run takes until the last instruction completes. A program whose
//! tokens can never be satisfied is reported as a [`Deadlock`].

use std::collections::VecDeque;
use std::fmt;

use phi_dialect::hw::HwConfig;
use phi_dialect::isa::{Buffer, Inst, Queue};

use super::machine::Work;

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

/// The cost of an instruction: cycles it occupies its queue, and cycles after that until its
/// results (and tokens) are ready.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Queue occupancy.
    pub busy: u64,
    /// Extra completion latency (DMA).
    pub latency: u64,
}

/// The cost of one instruction given the work it did.
pub fn duration(hw: &HwConfig, inst: &Inst, w: &Work) -> Cost {
    let u = &hw.units;
    let dma = |bytes: u64| {
        if bytes == 0 {
            Cost::default()
        } else {
            Cost {
                // (a float-to-int cast saturates; the arithmetic below saturates too)
                busy: ((bytes as f64 / hw.dram_bytes_per_cycle()).ceil() as u64).max(1),
                latency: hw.dram.latency as u64,
            }
        }
    };
    let lanes = |cols: u64| div_ceil(cols, u.lanes as u64);
    let busy = |c: u64| Cost { busy: c, latency: 0 };
    match inst {
        Inst::Sync { .. } | Inst::Halt => Cost::default(),
        Inst::Load { .. } | Inst::Gather { .. } | Inst::PwpFetch { .. } => dma(w.dram_read),
        Inst::Store { .. } => dma(w.dram_write),
        Inst::Match { .. } => {
            busy(u.issue as u64 + u.match_latency as u64 + div_ceil(w.vectors, u.match_vectors as u64))
        }
        Inst::L1Acc { .. } => busy(u.issue as u64 + div_ceil(w.l1_rows, u.l1_rows as u64) * lanes(w.cols)),
        Inst::L2Acc { .. } => busy(u.issue as u64 + div_ceil(w.l2_rows, u.l2_rows as u64) * lanes(w.cols)),
        Inst::BsAcc { .. } => busy(u.issue as u64 + div_ceil(w.bs_rows, u.bs_rows as u64) * lanes(w.cols)),
        Inst::DenseMac { .. } => busy(u.issue as u64 + div_ceil(w.macs, u.dense_macs as u64)),
        Inst::PsumInit { .. } => busy(u.issue as u64 + div_ceil(w.inits, u.psum_init as u64)),
        Inst::Lif { .. } => busy(u.issue as u64 + div_ceil(w.lif, u.lif_neurons as u64)),
    }
}

/// A program whose queues wait for tokens that are never pushed: the instruction at the head of
/// each queue that still has instructions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadlock {
    /// The blocked instructions, in queue order (load, compute, store).
    pub waiting: Vec<Waiting>,
}

/// An instruction that waits for a token in a [`Deadlock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// Its index in the code.
    pub pc: usize,
    /// Its mnemonic.
    pub mnemonic: &'static str,
    /// Its queue.
    pub queue: Queue,
}

impl fmt::Display for Deadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the queues deadlock waiting for tokens: ")?;
        for (n, w) in self.waiting.iter().enumerate() {
            write!(f, "{}{} at {}", if n == 0 { "" } else { ", " }, w.mnemonic, w.pc)?;
        }
        Ok(())
    }
}

impl std::error::Error for Deadlock {}

/// When each instruction ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Start cycle of each instruction.
    pub start: Vec<u64>,
    /// Completion cycle of each instruction (its end plus any DMA latency).
    pub end: Vec<u64>,
    /// Cycles until the last instruction ends.
    pub total: u64,
    /// Busy cycles per queue (load, compute, store).
    pub busy: [u64; 3],
}

fn qi(q: Queue) -> usize {
    match q {
        Queue::Load => 0,
        Queue::Compute => 1,
        Queue::Store => 2,
    }
}

/// Token channels: load→compute, compute→load, compute→store, store→compute.
#[derive(Default)]
struct Channels {
    l2c: VecDeque<u64>,
    c2l: VecDeque<u64>,
    c2s: VecDeque<u64>,
    s2c: VecDeque<u64>,
}

impl Channels {
    /// The channels an instruction of queue `q` pops from (prev, next) and pushes to (prev, next).
    fn pops(&mut self, q: Queue) -> (Option<&mut VecDeque<u64>>, Option<&mut VecDeque<u64>>) {
        match q {
            Queue::Load => (None, Some(&mut self.c2l)),
            Queue::Compute => (Some(&mut self.l2c), Some(&mut self.s2c)),
            Queue::Store => (Some(&mut self.c2s), None),
        }
    }
    fn push(&mut self, q: Queue, prev: bool, next: bool, t: u64) {
        match q {
            Queue::Load => {
                if next {
                    self.l2c.push_back(t);
                }
            }
            Queue::Compute => {
                if prev {
                    self.c2l.push_back(t);
                }
                if next {
                    self.c2s.push_back(t);
                }
            }
            Queue::Store => {
                if prev {
                    self.s2c.push_back(t);
                }
            }
        }
    }
}

/// How an instruction touches a buffer region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    /// Accumulation into partial sums: accumulations commute (the adder trees merge them), so
    /// they do not wait for each other, only for plain reads and writes.
    Accum,
}

/// The compute units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Unit {
    Matcher,
    L1,
    L2,
    BitSparse,
    Dense,
    Init,
    Lif,
}

/// A buffer region (buffer, line offset) and how it is used.
type RegionUse = (Buffer, u16, Access);

/// The unit and the buffer regions a compute instruction uses.
fn compute_use(inst: &Inst) -> Option<(Unit, Vec<RegionUse>)> {
    use Access::{Accum, Read, Write};
    Some(match *inst {
        Inst::Match { spk, pat, idx, res, .. } => (
            Unit::Matcher,
            vec![
                (Buffer::Spk, spk, Read),
                (Buffer::Pat, pat, Read),
                (Buffer::Idx, idx, Write),
                (Buffer::Res, res, Write),
            ],
        ),
        Inst::L1Acc { idx, pwp, psum, .. } => {
            (Unit::L1, vec![(Buffer::Idx, idx, Read), (Buffer::Pwp, pwp, Read), (Buffer::Psum, psum, Accum)])
        }
        Inst::L2Acc { res, wgt, psum, .. } => {
            (Unit::L2, vec![(Buffer::Res, res, Read), (Buffer::Wgt, wgt, Read), (Buffer::Psum, psum, Accum)])
        }
        Inst::BsAcc { spk, wgt, psum, .. } => {
            (Unit::BitSparse, vec![(Buffer::Spk, spk, Read), (Buffer::Wgt, wgt, Read), (Buffer::Psum, psum, Accum)])
        }
        Inst::DenseMac { src, wgt, psum, .. } => (
            Unit::Dense,
            vec![
                (Buffer::Spk, src, Read),
                (Buffer::Act, src, Read),
                (Buffer::Wgt, wgt, Read),
                (Buffer::Psum, psum, Accum),
            ],
        ),
        Inst::PsumInit { bias, psum, .. } => {
            (Unit::Init, vec![(Buffer::Bias, bias, Read), (Buffer::Psum, psum, Write)])
        }
        Inst::Lif { psum, memb, out, .. } => {
            (Unit::Lif, vec![(Buffer::Psum, psum, Read), (Buffer::Memb, memb, Write), (Buffer::Out, out, Write)])
        }
        Inst::Sync { .. }
        | Inst::Halt
        | Inst::Load { .. }
        | Inst::Store { .. }
        | Inst::Gather { .. }
        | Inst::PwpFetch { .. } => {
            return None;
        }
    })
}

/// Completion times of the last accesses to one region.
#[derive(Clone, Copy, Default)]
struct RegionState {
    write: u64,
    accum: u64,
    read: u64,
}

/// Simulates the queues over `code` with the given costs.
///
/// The load and store queues execute one instruction at a time. The compute queue issues in
/// order, at most one instruction per cycle, to its units (matcher, Level 1, Level 2, bit-sparse,
/// dense, partial-sum init, LIF), which work concurrently: an instruction starts when its unit is
/// free and every buffer region it uses is free of hazards (a read waits for writes and
/// accumulations to the region, a write for everything, an accumulation for plain reads and
/// writes — so Level 1 and Level 2 add into the same partial sums at the same time). A `sync`
/// that pushes a token is a fence: it waits until every earlier compute instruction has
/// completed.
pub fn schedule(code: &[Inst], costs: &[Cost]) -> Result<Schedule, Deadlock> {
    let mut queues: [Vec<usize>; 3] = Default::default();
    for (i, inst) in code.iter().enumerate() {
        queues[qi(inst.queue())].push(i);
    }
    let mut head = [0usize; 3];
    let mut free = [0u64; 3];
    let mut units: std::collections::HashMap<Unit, u64> = std::collections::HashMap::new();
    let mut regions: std::collections::HashMap<(Buffer, u16), RegionState> = std::collections::HashMap::new();
    let mut last_issue = 0u64;
    let mut compute_done = 0u64;
    let mut ch = Channels::default();
    let mut s = Schedule { start: vec![0; code.len()], end: vec![0; code.len()], total: 0, busy: [0; 3] };
    loop {
        let mut progressed = false;
        for q in 0..3 {
            while let Some(&i) = queues[q].get(head[q]) {
                let inst = &code[i];
                let d = inst.deps();
                let queue = inst.queue();
                let (prev, next) = ch.pops(queue);
                let prev_ok = !d.pop_prev || prev.as_ref().is_some_and(|c| !c.is_empty());
                let next_ok = !d.pop_next || next.as_ref().is_some_and(|c| !c.is_empty());
                if !(prev_ok && next_ok) {
                    break;
                }
                let mut ready = 0u64;
                if d.pop_prev
                    && let Some(t) = prev.and_then(|c| c.pop_front())
                {
                    ready = ready.max(t);
                }
                let (_, next) = ch.pops(queue);
                if d.pop_next
                    && let Some(t) = next.and_then(|c| c.pop_front())
                {
                    ready = ready.max(t);
                }
                let (start, end) = if queue == Queue::Compute {
                    let mut start = ready.max(last_issue);
                    let usage = compute_use(inst);
                    match &usage {
                        Some((unit, accesses)) => {
                            start = start.max(units.get(unit).copied().unwrap_or(0));
                            for &(b, off, kind) in accesses {
                                let r = regions.get(&(b, off)).copied().unwrap_or_default();
                                start = start.max(match kind {
                                    Access::Read => r.write.max(r.accum),
                                    Access::Write => r.write.max(r.accum).max(r.read),
                                    Access::Accum => r.write.max(r.read),
                                });
                            }
                        }
                        // a sync that gives a token (or halt) is a fence: the token says that
                        // everything before it is done; a sync that only waits is not
                        None if d.push_prev || d.push_next || matches!(inst, Inst::Halt) => {
                            start = start.max(compute_done)
                        }
                        None => {}
                    }
                    let end = start.saturating_add(costs[i].busy);
                    if let Some((unit, accesses)) = usage {
                        units.insert(unit, end);
                        for (b, off, kind) in accesses {
                            let r = regions.entry((b, off)).or_default();
                            match kind {
                                Access::Read => r.read = r.read.max(end),
                                Access::Write => r.write = r.write.max(end),
                                Access::Accum => r.accum = r.accum.max(end),
                            }
                        }
                    }
                    last_issue = start.saturating_add((costs[i].busy > 0) as u64);
                    compute_done = compute_done.max(end);
                    (start, end)
                } else {
                    let start = ready.max(free[q]);
                    let end = start.saturating_add(costs[i].busy);
                    free[q] = end;
                    (start, end)
                };
                let done = end.saturating_add(costs[i].latency);
                s.start[i] = start;
                s.end[i] = done;
                s.busy[q] = s.busy[q].saturating_add(costs[i].busy);
                s.total = s.total.max(done);
                ch.push(queue, d.push_prev, d.push_next, done);
                head[q] += 1;
                progressed = true;
            }
        }
        if (0..3).all(|q| head[q] == queues[q].len()) {
            return Ok(s);
        }
        if !progressed {
            let waiting = (0..3)
                .filter_map(|q| queues[q].get(head[q]))
                .map(|&pc| Waiting { pc, mnemonic: code[pc].mnemonic(), queue: code[pc].queue() })
                .collect();
            return Err(Deadlock { waiting });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phi_dialect::isa::{Deps, Dma};

    fn load(push_next: bool, pop_next: bool) -> Inst {
        Inst::Load {
            deps: Deps { push_next, pop_next, ..Deps::default() },
            dma: Dma { buf: Buffer::Wgt, sram: 0, dram: 0, rows: 1, row_bytes: 16, stride: 16 },
        }
    }

    fn compute(pop_prev: bool, push_prev: bool) -> Inst {
        Inst::PsumInit {
            deps: Deps { pop_prev, push_prev, ..Deps::default() },
            layer: 0,
            rows: 1,
            cols: 8,
            bias: 0,
            psum: 0,
        }
    }

    #[test]
    fn loads_overlap_compute_through_tokens() {
        // load0, compute0 (waits for load0), load1 (overlaps compute0), compute1 (waits load1)
        let code = [load(true, false), compute(true, true), load(true, false), compute(true, true)];
        let c = |b| Cost { busy: b, latency: 0 };
        let s = schedule(&code, &[c(10), c(20), c(10), c(20)]).unwrap();
        assert_eq!((s.start[0], s.end[0]), (0, 10));
        assert_eq!((s.start[1], s.end[1]), (10, 30));
        assert_eq!((s.start[2], s.end[2]), (10, 20));
        assert_eq!((s.start[3], s.end[3]), (30, 50));
        assert_eq!(s.total, 50);
        assert_eq!(s.busy, [20, 40, 0]);
    }

    #[test]
    fn level1_and_level2_overlap_but_lif_waits_for_both() {
        let d = Deps::default();
        let l1 = Inst::L1Acc { deps: d, layer: 0, rows: 1, parts: 1, cols: 8, idx: 0, pwp: 0, psum: 0 };
        let l2 = Inst::L2Acc { deps: d, layer: 0, rows: 1, part0: 0, parts: 1, cols: 8, res: 0, wgt: 0, psum: 0 };
        let lif = Inst::Lif { deps: d, layer: 0, row0: 0, rows: 1, p0: 0, cols: 8, psum: 0, memb: 0, out: 0 };
        let c = |b| Cost { busy: b, latency: 0 };
        let s = schedule(&[l1, l2, lif], &[c(10), c(20), c(5)]).unwrap();
        assert_eq!(s.start[1], 1, "L2 issues one cycle after L1 and runs beside it");
        assert_eq!(s.start[2], 21, "the LIF reads the partial sums both accumulate");
        assert_eq!(s.total, 26);
    }

    #[test]
    fn a_load_waiting_for_a_free_slot_waits_for_compute() {
        // the third load pops compute→load: it cannot start before compute0 ends
        let code = [load(true, false), compute(true, true), load(true, false), load(true, true), compute(true, true)];
        let c = |b| Cost { busy: b, latency: 0 };
        let s = schedule(&code, &[c(10), c(50), c(10), c(10), c(5)]).unwrap();
        assert_eq!(s.start[3], 60);
        // with DMA latency, the load queue issues the next transfer while data is in flight
        let l = |b| Cost { busy: b, latency: 100 };
        let s = schedule(&code[..3], &[l(10), c(50), l(10)]).unwrap();
        assert_eq!((s.start[2], s.end[2]), (10, 120));
        assert_eq!(s.start[1], 110);
    }

    #[test]
    fn deadlock_is_reported() {
        let code = [compute(true, false)];
        let e = schedule(&code, &[Cost { busy: 1, latency: 0 }]).unwrap_err();
        assert_eq!(e.waiting, [Waiting { pc: 0, mnemonic: "psum.init", queue: Queue::Compute }]);
        assert_eq!(e.to_string(), "the queues deadlock waiting for tokens: psum.init at 0");
    }
}
