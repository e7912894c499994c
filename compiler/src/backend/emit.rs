//! Instruction emission with dependency tokens (the VTA discipline).
//!
//! The [`Emitter`] appends instructions in stream order and places the token flags that make
//! the three queues safe to overlap:
//!
//! - a **load batch** (one or more `load`/`gather` writing double-buffered regions) pushes one
//!   load→compute token when done; the first compute instruction that reads the batch pops
//!   tokens until it has the batch's ([`Emitter::acquire`]);
//! - a batch is **released** by the compute instruction that last reads it: that instruction
//!   pushes a compute→load token ([`Emitter::release`]); a later batch that overwrites one of its
//!   regions pops compute→load tokens until it has that release ([`Emitter::load_batch`]);
//! - a **store** pops one compute→store token pushed by the compute instruction that produced
//!   its data and pushes a store→compute token when done; a compute instruction that overwrites
//!   a stored region first pops store→compute tokens until that store's ([`Emitter::wait_store`]).
//!
//! An instruction has one pop and one push flag per direction, so extra tokens go on `sync`
//! instructions (compute queue) or zero-length loads (load queue).

use phi_dialect::isa::{Buffer, Deps, Dma, Inst};

/// Identifies a load batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Batch(pub usize);

/// Identifies a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoreId(pub usize);

/// Builds an instruction stream with consistent tokens.
#[derive(Default)]
pub struct Emitter {
    /// The stream.
    pub code: Vec<Inst>,
    batches: usize,
    l2c_popped: usize,
    /// Position of each batch's release in the compute→load token sequence.
    release_pos: Vec<Option<usize>>,
    releases: usize,
    c2l_popped: usize,
    stores: usize,
    s2c_popped: usize,
    /// Compute→store tokens pushed but not yet claimed by a store.
    c2s_pending: usize,
}

fn token_load() -> Inst {
    Inst::Load {
        deps: Deps::default(),
        dma: Dma { buf: Buffer::Wgt, sram: 0, dram: 0, rows: 0, row_bytes: 0, stride: 0 },
    }
}

impl Emitter {
    /// A new emitter.
    pub fn new() -> Self {
        Emitter::default()
    }

    fn last_compute(&mut self) -> Option<&mut Inst> {
        self.code.iter_mut().rev().find(|i| matches!(i.queue(), phi_dialect::isa::Queue::Compute))
    }

    /// Appends a compute instruction.
    pub fn compute(&mut self, inst: Inst) {
        debug_assert_eq!(inst.queue(), phi_dialect::isa::Queue::Compute);
        self.code.push(inst);
    }

    /// Appends a load batch that may overwrite regions last used by `overwrites`; returns its id.
    pub fn load_batch(&mut self, mut insts: Vec<Inst>, overwrites: &[Batch]) -> Batch {
        // compute→load tokens to consume: up to the latest release among the overwritten batches
        let need = overwrites.iter().filter_map(|b| self.release_pos[b.0]).map(|p| p + 1).max().unwrap_or(0);
        let mut pops = need.saturating_sub(self.c2l_popped);
        let mut out = Vec::new();
        while pops > insts.len() {
            let mut t = token_load();
            if let Some(d) = t.deps_mut() {
                d.pop_next = true;
            }
            out.push(t);
            pops -= 1;
        }
        for inst in insts.iter_mut().take(pops) {
            if let Some(d) = inst.deps_mut() {
                d.pop_next = true;
            }
        }
        self.c2l_popped = self.c2l_popped.max(need);
        if let Some(d) = insts.last_mut().and_then(Inst::deps_mut) {
            d.push_next = true;
        }
        out.extend(insts);
        self.code.extend(out);
        let id = Batch(self.batches);
        self.batches += 1;
        self.release_pos.push(None);
        id
    }

    /// Makes the next compute instruction wait for batch `b` (pops load→compute tokens).
    pub fn acquire(&mut self, b: Batch) {
        while self.l2c_popped <= b.0 {
            self.code.push(Inst::Sync { deps: Deps { pop_prev: true, ..Deps::default() } });
            self.l2c_popped += 1;
        }
    }

    /// Releases batch `b` after the last compute instruction emitted (pushes compute→load).
    pub fn release(&mut self, b: Batch) {
        if self.release_pos[b.0].is_some() {
            return;
        }
        let pushed = match self.last_compute().and_then(Inst::deps_mut) {
            Some(d) if !d.push_prev => {
                d.push_prev = true;
                true
            }
            Some(_) | None => false,
        };
        if !pushed {
            self.code.push(Inst::Sync { deps: Deps { push_prev: true, ..Deps::default() } });
        }
        self.release_pos[b.0] = Some(self.releases);
        self.releases += 1;
    }

    /// Appends a store of data produced by earlier compute instructions; returns its id. A
    /// `sync` fence (all earlier compute done) gives the store its token, since several units
    /// may have produced the data.
    pub fn store(&mut self, dma: Dma) -> StoreId {
        self.code.push(Inst::Sync { deps: Deps { push_next: true, ..Deps::default() } });
        self.c2s_pending += 1;
        self.code.push(Inst::Store { deps: Deps { pop_prev: true, push_prev: true, ..Deps::default() }, dma });
        self.c2s_pending -= 1;
        let id = StoreId(self.stores);
        self.stores += 1;
        id
    }

    /// Makes the next compute instruction wait until store `s` has finished.
    pub fn wait_store(&mut self, s: StoreId) {
        while self.s2c_popped <= s.0 {
            self.code.push(Inst::Sync { deps: Deps { pop_next: true, ..Deps::default() } });
            self.s2c_popped += 1;
        }
    }

    /// Ends the program.
    pub fn halt(mut self) -> Vec<Inst> {
        self.code.push(Inst::Halt);
        self.code
    }
}
