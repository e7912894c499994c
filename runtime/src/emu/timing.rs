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
//! tokens can never be satisfied is reported as a deadlock.

use std::collections::VecDeque;

use phi_dialect::hw::HwConfig;
use phi_dialect::isa::{Inst, Queue};

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

/// Simulates the queues over `code` with the given costs.
pub fn schedule(code: &[Inst], costs: &[Cost]) -> Result<Schedule, String> {
    let mut queues: [Vec<usize>; 3] = Default::default();
    for (i, inst) in code.iter().enumerate() {
        queues[qi(inst.queue())].push(i);
    }
    let mut head = [0usize; 3];
    let mut free = [0u64; 3];
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
                let mut start = free[q];
                if d.pop_prev
                    && let Some(t) = prev.and_then(|c| c.pop_front())
                {
                    start = start.max(t);
                }
                let (_, next) = ch.pops(queue);
                if d.pop_next
                    && let Some(t) = next.and_then(|c| c.pop_front())
                {
                    start = start.max(t);
                }
                let end = start + costs[i].busy;
                let done = end + costs[i].latency;
                s.start[i] = start;
                s.end[i] = done;
                s.busy[q] += costs[i].busy;
                free[q] = end;
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
            let stuck: Vec<String> = (0..3)
                .filter_map(|q| queues[q].get(head[q]).map(|&i| format!("{} at {i}", code[i].mnemonic())))
                .collect();
            return Err(format!("the queues deadlock waiting for tokens: {}", stuck.join(", ")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phi_dialect::isa::{Buffer, Deps, Dma};

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
        assert!(schedule(&code, &[Cost { busy: 1, latency: 0 }]).unwrap_err().contains("deadlock"));
    }
}
