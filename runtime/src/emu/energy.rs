//! The energy model: picojoules per instruction from the work it did.
//!
//! - DRAM: `bytes · 8 · dram.pj_per_bit` (DRAMsim3 DDR4, 12.45 pJ/bit);
//! - SRAM: bytes read or written in each buffer × the buffer's energy per byte,
//!   `sram_pj_per_byte_1kb · sqrt(size / 1 KB)` (CACTI-like: access energy grows with the
//!   square root of the array size);
//! - operations: `add32` per lane of a row addition (Level 1, Level 2, bit-sparse), `mac8` per
//!   multiply-accumulate, `match_cmp` per pattern comparison, `lif` per neuron update, `add32`
//!   per partial sum initialised;
//! - static: `static_mw` for the whole run time (added by the caller, which knows the time).
//!
//! Every constant and its source is listed in `docs/hardware-model.md`.

use phi_dialect::hw::HwConfig;
use phi_dialect::isa::{Buffer, Inst};
use serde::Serialize;

use super::machine::Work;

/// Energy by component, pJ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Breakdown {
    /// DRAM transfers.
    pub dram_pj: f64,
    /// On-chip buffer accesses.
    pub sram_pj: f64,
    /// Arithmetic, matching and neuron updates.
    pub compute_pj: f64,
    /// Leakage and clock over the run time.
    pub static_pj: f64,
}

impl Breakdown {
    /// Dynamic energy (DRAM + SRAM + compute).
    pub fn total(&self) -> f64 {
        self.dram_pj + self.sram_pj + self.compute_pj
    }

    /// Adds another breakdown.
    pub fn add(&mut self, o: &Breakdown) {
        self.dram_pj += o.dram_pj;
        self.sram_pj += o.sram_pj;
        self.compute_pj += o.compute_pj;
        self.static_pj += o.static_pj;
    }
}

/// Energy per byte of a buffer of `bytes`.
pub fn sram_pj_per_byte(hw: &HwConfig, bytes: u32) -> f64 {
    hw.energy.sram_pj_per_byte_1kb * (bytes as f64 / 1024.0).max(1.0).sqrt()
}

/// The dynamic energy of one instruction.
pub fn of(hw: &HwConfig, _inst: &Inst, w: &Work) -> Breakdown {
    let e = &hw.energy;
    let dram_pj = (w.dram_read + w.dram_write) as f64 * 8.0 * hw.dram.pj_per_bit;
    let sram_pj: f64 =
        Buffer::ALL.iter().map(|&b| w.sram[b.code() as usize] as f64 * sram_pj_per_byte(hw, hw.buffers.size(b))).sum();
    let adds = (w.l1_rows + w.l2_rows + w.bs_rows) * w.cols + w.inits;
    let compute_pj =
        adds as f64 * e.add32 + w.macs as f64 * e.mac8 + w.comparisons as f64 * e.match_cmp + w.lif as f64 * e.lif;
    Breakdown { dram_pj, sram_pj, compute_pj, static_pj: 0.0 }
}
