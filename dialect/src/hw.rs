//! The hardware configuration a program is compiled for and emulated on.
//!
//! Defaults are the Phi paper's Table 1 as reported in DESIGN.md §2: k = 16, q = 128, n = 32,
//! m = 256, 500 MHz, 240 KB on-chip SRAM (64 KB PWP, 128 KB partial sums, the rest for spikes,
//! weights, patterns and the small buffers), DDR4 at 64 GB/s. Every throughput, latency and
//! energy constant, with its source, is in `docs/hardware-model.md`. A configuration is read
//! from TOML (`phic --hw FILE.toml`); missing keys keep their defaults.

use serde::{Deserialize, Serialize};

/// Sizes of the on-chip buffers, in bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Buffers {
    /// Input spike rows.
    pub spk: u32,
    /// Integer activations (non-binary inputs).
    pub act: u32,
    /// Weights.
    pub wgt: u32,
    /// Patterns.
    pub pat: u32,
    /// Pattern-weight products.
    pub pwp: u32,
    /// Match indices.
    pub idx: u32,
    /// Residual masks.
    pub res: u32,
    /// Bias.
    pub bias: u32,
    /// Partial sums.
    pub psum: u32,
    /// Membrane potentials.
    pub memb: u32,
    /// Output spikes.
    pub out: u32,
}

impl Default for Buffers {
    fn default() -> Self {
        // 64 KB PWP + 112 KB partial sums + 56 KB for the rest = 232 KB, within the paper's
        // 240 KB (its split: 64 KB PWP, 128 KB partial sums, the rest for spikes, weights and
        // patterns); this split leaves room for the match indices and residuals that let the
        // matcher run ahead of the accumulators.
        Buffers {
            spk: 4 << 10,
            act: 2 << 10,
            wgt: 8 << 10,
            pat: 4 << 10,
            pwp: 64 << 10,
            idx: 8 << 10,
            res: 16 << 10,
            bias: 4 << 10,
            psum: 112 << 10,
            memb: 8 << 10,
            out: 2 << 10,
        }
    }
}

impl Buffers {
    /// Total bytes.
    pub fn total(&self) -> u64 {
        [
            self.spk, self.act, self.wgt, self.pat, self.pwp, self.idx, self.res, self.bias, self.psum, self.memb,
            self.out,
        ]
        .iter()
        .map(|&b| b as u64)
        .sum()
    }

    /// The size of one buffer.
    pub fn size(&self, b: crate::isa::Buffer) -> u32 {
        use crate::isa::Buffer;
        match b {
            Buffer::Spk => self.spk,
            Buffer::Act => self.act,
            Buffer::Wgt => self.wgt,
            Buffer::Pat => self.pat,
            Buffer::Pwp => self.pwp,
            Buffer::Idx => self.idx,
            Buffer::Res => self.res,
            Buffer::Bias => self.bias,
            Buffer::Psum => self.psum,
            Buffer::Memb => self.memb,
            Buffer::Out => self.out,
        }
    }
}

/// Throughput of the units, per cycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Units {
    /// Partition vectors matched per cycle (each of the 16 lanes of the systolic matcher
    /// compares one vector against the 128 patterns per cycle, one lane per PWP bank).
    pub match_vectors: u32,
    /// Pipeline depth of the matcher, in cycles.
    pub match_latency: u32,
    /// PWP rows added per cycle by Level 1 (16 banks, 16-to-8 crossbar: 8).
    pub l1_rows: u32,
    /// Weight rows added per cycle by Level 2 (8 channels).
    pub l2_rows: u32,
    /// Lanes of a row addition (the output tile width n = 32).
    pub lanes: u32,
    /// Neurons updated per cycle by the LIF array (4 lanes of n = 32).
    pub lif_neurons: u32,
    /// Weight rows added per cycle by the bit-sparse baseline (the same adders as L1 + L2).
    pub bs_rows: u32,
    /// Multiply-accumulates per cycle of the dense baseline (the same adder budget).
    pub dense_macs: u32,
    /// Partial sums initialised per cycle.
    pub psum_init: u32,
    /// Fixed cost of issuing a compute instruction, in cycles.
    pub issue: u32,
}

impl Default for Units {
    fn default() -> Self {
        Units {
            match_vectors: 16,
            match_latency: 16,
            l1_rows: 8,
            l2_rows: 8,
            lanes: 32,
            lif_neurons: 128,
            bs_rows: 16,
            dense_macs: 512,
            psum_init: 128,
            issue: 1,
        }
    }
}

/// The DRAM interface.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dram {
    /// Bandwidth in GB/s (10^9 bytes per second).
    pub bandwidth_gbs: f64,
    /// Latency of a transfer, in cycles.
    pub latency: u32,
    /// Energy per bit transferred, in pJ (DRAMsim3 DDR4, DESIGN §2).
    pub pj_per_bit: f64,
}

impl Default for Dram {
    fn default() -> Self {
        Dram { bandwidth_gbs: 64.0, latency: 50, pj_per_bit: 12.45 }
    }
}

/// Energy per operation, in pJ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Energy {
    /// One 32-bit addition (one lane of a row add).
    pub add32: f64,
    /// One 8-bit × 8-bit multiply-accumulate into 32 bits.
    pub mac8: f64,
    /// One comparison of a 16-bit vector against one pattern (XOR + popcount).
    pub match_cmp: f64,
    /// One neuron update.
    pub lif: f64,
    /// SRAM energy per byte for a 1 KB array; larger arrays cost `sram_pj_per_byte_1kb ·
    /// sqrt(size / 1 KB)` (a CACTI-like square-root scaling of wire length).
    pub sram_pj_per_byte_1kb: f64,
    /// Leakage and clock power, in mW, spent for the whole run time.
    pub static_mw: f64,
}

impl Default for Energy {
    fn default() -> Self {
        Energy { add32: 0.1, mac8: 0.23, match_cmp: 0.05, lif: 0.3, sram_pj_per_byte_1kb: 0.2, static_mw: 35.0 }
    }
}

/// A hardware configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HwConfig {
    /// Clock in MHz.
    pub clock_mhz: f64,
    /// Partition width.
    pub k: u32,
    /// Patterns per partition.
    pub q: u32,
    /// Rows per tile.
    pub m: u32,
    /// Output columns per tile.
    pub n: u32,
    /// Buffer sizes.
    pub buffers: Buffers,
    /// Unit throughputs.
    pub units: Units,
    /// DRAM.
    pub dram: Dram,
    /// Energy constants.
    pub energy: Energy,
}

impl Default for HwConfig {
    fn default() -> Self {
        HwConfig {
            clock_mhz: 500.0,
            k: 16,
            q: 128,
            m: 256,
            n: 32,
            buffers: Buffers::default(),
            units: Units::default(),
            dram: Dram::default(),
            energy: Energy::default(),
        }
    }
}

impl HwConfig {
    /// DRAM bytes per cycle at the configured clock.
    pub fn dram_bytes_per_cycle(&self) -> f64 {
        self.dram.bandwidth_gbs * 1e9 / (self.clock_mhz * 1e6)
    }

    /// Checks ranges that would make a configuration meaningless (or its cycle and energy
    /// arithmetic overflow): a clock of 1 MHz to 100 GHz, a DRAM bandwidth of 1 MB/s to
    /// 100 TB/s and a latency up to 10⁶ cycles, finite non-negative energies up to 10⁶ pJ
    /// (static power up to 10⁶ mW), the pattern and tile sizes the ISA encodes, positive unit
    /// throughputs, and buffers that 16-bit line offsets address.
    pub fn validate(&self) -> Result<(), String> {
        let within = |v: f64, lo: f64, hi: f64, what: &str, unit: &str| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{what} = {v} is outside {lo}..={hi} {unit}"))
            }
        };
        within(self.clock_mhz, 1.0, 100_000.0, "clock_mhz", "MHz")?;
        within(self.dram.bandwidth_gbs, 0.001, 100_000.0, "dram.bandwidth_gbs", "GB/s")?;
        if self.dram.latency > 1_000_000 {
            return Err(format!("dram.latency = {} is outside 0..=1000000 cycles", self.dram.latency));
        }
        within(self.dram.pj_per_bit, 0.0, 1e6, "dram.pj_per_bit", "pJ")?;
        let e = &self.energy;
        for (v, name) in [
            (e.add32, "energy.add32"),
            (e.mac8, "energy.mac8"),
            (e.match_cmp, "energy.match_cmp"),
            (e.lif, "energy.lif"),
            (e.sram_pj_per_byte_1kb, "energy.sram_pj_per_byte_1kb"),
        ] {
            within(v, 0.0, 1e6, name, "pJ")?;
        }
        within(e.static_mw, 0.0, 1e6, "energy.static_mw", "mW")?;
        if ![8, 16, 32].contains(&self.k) {
            return Err(format!("k = {} must be 8, 16 or 32", self.k));
        }
        if self.q == 0 || self.q > 256 {
            return Err(format!("q = {} must be in 1..=256", self.q));
        }
        if self.m == 0 || self.n == 0 || self.n > crate::isa::MAX_COLS as u32 || !self.n.is_multiple_of(8) {
            return Err(format!("m = {} and n = {} must be positive, n a multiple of 8 up to 1016", self.m, self.n));
        }
        let u = &self.units;
        for (v, name) in [
            (u.match_vectors, "units.match_vectors"),
            (u.l1_rows, "units.l1_rows"),
            (u.l2_rows, "units.l2_rows"),
            (u.lanes, "units.lanes"),
            (u.lif_neurons, "units.lif_neurons"),
            (u.bs_rows, "units.bs_rows"),
            (u.dense_macs, "units.dense_macs"),
            (u.psum_init, "units.psum_init"),
        ] {
            if v == 0 {
                return Err(format!("{name} must be positive"));
            }
        }
        for b in crate::isa::Buffer::ALL {
            let size = self.buffers.size(b);
            if size as usize > (u16::MAX as usize + 1) * crate::isa::LINE {
                return Err(format!(
                    "buffer {} of {size} bytes exceeds what 16-bit line offsets address (1 MiB)",
                    b.name()
                ));
            }
        }
        Ok(())
    }
}

/// A configuration file that does not parse or does not validate.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// What is wrong.
    pub message: String,
    /// Where in the file, as a byte range (if the error has a place).
    pub span: Option<std::ops::Range<usize>>,
}

impl HwConfig {
    /// Reads a configuration from TOML text (missing keys keep their defaults, unknown keys are
    /// errors) and validates it.
    pub fn from_toml(text: &str) -> Result<HwConfig, ConfigError> {
        let hw: HwConfig =
            toml::from_str(text).map_err(|e| ConfigError { message: e.message().to_string(), span: e.span() })?;
        hw.validate().map_err(|message| ConfigError { message, span: None })?;
        Ok(hw)
    }

    /// The configuration as TOML text (every key, so that a user can start from it).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a HwConfig always serialises to TOML")
    }
}
