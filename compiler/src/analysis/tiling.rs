//! The tile plan: how each layer is cut into tiles that fit the accelerator's buffers, and how
//! many samples one run of the program processes.
//!
//! This is the one place these decisions are made. The `tile` pass computes them
//! ([`auto_batch`], [`plan`]) and records them on the module (`phi.batch`, `phi.tile`, see
//! [`phi_dialect::phi_attrs`]); the backend reads them back and only checks ([`check`]) that a
//! recorded plan fits — it never plans again.
//!
//! A layer of `rows = batch × T × positions` rows, `N` output columns and `K` input columns is
//! cut into row tiles of at most `m` rows and column tiles of at most `n` columns; K is streamed
//! in groups of partitions (Phi) or of input columns (baselines), K-first. Row tiles hold whole
//! samples when one fits a tile, so that a sample's time steps meet in one tile and its
//! membranes live only in the tile; a sample longer than a tile (a convolution's T × positions
//! rows) is cut at time-step boundaries into equal parts that share its membrane slots. The
//! candidate row tiles, largest first, are whole samples (halving their count) and then parts of
//! `t` steps (`t` dividing `T`); the plan is the first candidate for which one K group fits every
//! loaded buffer half and one row tile of partial sums fits the partial-sum buffer, with the
//! largest group that fits.

use phi_dialect::hw::Buffers;
use phi_dialect::ir::Module;
use phi_dialect::isa::LINE;
use phi_dialect::phi_attrs::TilePlan;
use phi_dialect::program::{InputKind, LayerMode, TargetKind};

use super::layers::Gemm;

/// What the plan of one layer depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// How the layer computes.
    pub mode: LayerMode,
    /// What its input holds.
    pub input: InputKind,
    /// Rows of one sample (`T × positions`).
    pub rows_per_sample: usize,
    /// Rows of one time step of one sample.
    pub positions: usize,
    /// Input columns `K`.
    pub k_cols: usize,
    /// Output columns `N`.
    pub n: usize,
    /// Partition width.
    pub k: usize,
    /// Patterns per partition (0 off the Phi path).
    pub q: usize,
    /// Whether a neuron is fused into the layer.
    pub neuron: bool,
}

impl Geometry {
    /// The geometry of `g` compiled for `kind`; `k` is the partition width of layers without
    /// patterns (the hardware's).
    pub fn of(m: &Module, g: &Gemm, kind: TargetKind, k: u32) -> Geometry {
        let mode = g.mode(m, kind);
        let (k, q) = match (g.patterns, mode) {
            (Some((pat, k)), LayerMode::Phi) => (k as usize, m.weights.get(pat).ty.shape[1]),
            (Some((_, k)), LayerMode::BitSparse | LayerMode::Dense) => (k as usize, 0),
            (None, LayerMode::Phi | LayerMode::BitSparse | LayerMode::Dense) => (k as usize, 0),
        };
        let per = g.rows_per_sample(m);
        Geometry {
            mode,
            input: g.input_kind(m),
            rows_per_sample: per,
            positions: per / g.time_steps(m).max(1),
            k_cols: g.k_cols(m),
            n: g.n(m),
            k,
            q,
            neuron: g.neuron.is_some(),
        }
    }

    /// Partitions `⌈K / k⌉`.
    pub fn parts(&self) -> usize {
        self.k_cols.div_ceil(self.k.max(1))
    }

    /// Time steps of one sample.
    fn steps(&self) -> usize {
        (self.rows_per_sample.max(1) / self.positions.max(1)).max(1)
    }
}

/// The largest tile the software may use: at most the hardware's `m` rows and `n` columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Rows per tile.
    pub m: usize,
    /// Columns per tile.
    pub n: usize,
}

/// Bytes of a buffer half, line-aligned.
pub fn half(size: u32) -> usize {
    (size as usize / 2) / LINE * LINE
}

/// Lines of `bytes`, rounded up.
pub fn lines(bytes: usize) -> usize {
    bytes.div_ceil(LINE)
}

/// Columns per column tile.
fn cols(g: &Geometry, lim: Limits) -> usize {
    lim.n.min(g.n).max(1)
}

/// Samples per run when none is asked for: as many as one column tile of partial sums holds for
/// every layer (a row tile starts on a line: at most `LINE − 4` bytes of padding per tile; a
/// tile holds at least one sample, or — a sample longer than `m` rows — at least one time step
/// of it), at least 1 and at most what the 16-bit row fields allow. A larger batch is fine: row
/// tiles then run in groups that fit the buffer, each group loading the layer's weights (and PWP
/// rows) again.
pub fn auto_batch(layers: &[Geometry], lim: Limits, b: &Buffers) -> u32 {
    let max_per_sample = layers.iter().map(|g| g.rows_per_sample).max().unwrap_or(1).max(1);
    let auto = layers
        .iter()
        .map(|g| {
            let per = g.rows_per_sample.max(1);
            let tiles = if per > lim.m { g.steps() } else { 1 };
            b.psum as usize / (cols(g, lim) * 4 * per + (LINE - 4) * tiles)
        })
        .min()
        .unwrap_or(1)
        .clamp(1, (u16::MAX as usize / max_per_sample).max(1));
    auto as u32
}

/// The candidate row tiles of a layer at `batch` samples, largest first.
fn candidates(g: &Geometry, batch: usize, lim: Limits, b: &Buffers) -> Result<Vec<usize>, String> {
    let nt = cols(g, lim);
    let per = g.rows_per_sample.max(1);
    let positions = g.positions.max(1);
    let out_row = nt.div_ceil(8);
    if g.neuron && positions * nt * 4 > b.memb as usize {
        return Err(format!(
            "the membranes of one sample's positions needs {} bytes, the buffer has {}",
            positions * nt * 4,
            b.memb
        ));
    }
    let mut out = Vec::new();
    let mut samples = (lim.m / per).min(batch).min(half(b.out) / (out_row * per));
    if g.neuron {
        samples = samples.min(b.memb as usize / (positions * nt * 4));
    }
    while samples > 0 {
        out.push(samples * per);
        samples /= 2;
    }
    let steps = g.steps();
    for t in (1..steps).rev().filter(|&t| steps.is_multiple_of(t)) {
        let rows = t * positions;
        if rows <= lim.m && rows * out_row <= half(b.out) {
            out.push(rows);
        }
    }
    Ok(out)
}

/// Phi: for each loaded buffer, its name, the bytes of its half and the bytes one partition
/// needs at `mr` rows per tile.
fn phi_limits(g: &Geometry, mr: usize, nt: usize, b: &Buffers) -> [(&'static str, usize, usize); 6] {
    let (k, q) = (g.k, g.q);
    [
        ("spk", half(b.spk), (mr * k / 8).max(1)),
        ("pat", half(b.pat), (q * 4).max(1)),
        ("pwp", half(b.pwp), (q * nt * 2).max(1)),
        ("wgt", half(b.wgt), k * nt),
        ("idx", half(b.idx), mr * 2),
        ("res", half(b.res), mr * 8),
    ]
}

/// The largest K group that fits at `mr` rows per tile (0 if none does).
fn group_limit(g: &Geometry, mr: usize, nt: usize, b: &Buffers) -> usize {
    match g.mode {
        LayerMode::Phi => phi_limits(g, mr, nt, b)
            .iter()
            .map(|&(_, have, need)| have / need)
            .min()
            .unwrap_or(0)
            .min(g.parts())
            .min(255),
        LayerMode::BitSparse | LayerMode::Dense => {
            let per_row = match g.input {
                // whole bytes per row: a row of c columns takes ⌈c/8⌉ bytes
                InputKind::Spikes => half(b.spk) / mr * 8,
                InputKind::Int => half(b.act) / (mr * 4),
            };
            let cols = per_row.min(half(b.wgt) / nt).min(u16::MAX as usize);
            if cols >= g.k_cols {
                return g.k_cols;
            }
            match g.input {
                // a multiple of 8 columns, so that every group of packed spikes starts on a byte
                InputKind::Spikes => cols / 8 * 8,
                // integers are 4 bytes each: any number of columns
                InputKind::Int => cols,
            }
        }
    }
}

fn psum_fits(mr: usize, nt: usize, b: &Buffers) -> bool {
    lines(mr * nt * 4) * LINE <= b.psum as usize
}

fn fits(what: &str, need: usize, have: usize) -> Result<(), String> {
    if need <= have { Ok(()) } else { Err(format!("{what} needs {need} bytes, the buffer has {have}")) }
}

/// Plans one layer at `batch` samples; the error says which buffer is too small.
pub fn plan(g: &Geometry, batch: u32, lim: Limits, b: &Buffers) -> Result<TilePlan, String> {
    let nt = cols(g, lim);
    fits("the bias of a layer (in a buffer half)", g.n * 4, half(b.bias))?;
    let candidates = candidates(g, batch as usize, lim, b)?;
    let Some(&first) = candidates.first() else {
        return Err(format!(
            "one time step of a sample ({} rows × {nt} columns) does not fit a row tile of m = {} rows and the output buffer",
            g.positions.max(1),
            lim.m
        ));
    };
    let mut mr = first;
    loop {
        let group = group_limit(g, mr, nt, b);
        let psum = psum_fits(mr, nt, b);
        if group > 0 && psum {
            return Ok(TilePlan { rows: mr as u32, cols: nt as u32, group: group as u32 });
        }
        if let Some(&next) = candidates.iter().find(|&&c| c < mr) {
            mr = next;
            continue;
        }
        if !psum {
            return Err(format!(
                "one row tile of partial sums ({mr} rows × {nt} columns) needs {} bytes, the buffer has {}",
                lines(mr * nt * 4) * LINE,
                b.psum
            ));
        }
        return Err(match g.mode {
            LayerMode::Phi => {
                let short: Vec<String> = phi_limits(g, mr, nt, b)
                    .iter()
                    .filter(|&&(_, have, need)| have < need)
                    .map(|&(name, have, need)| format!("{name} needs {need} bytes per partition, its half has {have}"))
                    .collect();
                format!("one partition of {} columns × {nt} outputs does not fit: {}", g.k, short.join("; "))
            }
            LayerMode::BitSparse | LayerMode::Dense => "one input column does not fit the buffers".to_string(),
        });
    }
}

/// Whether `mr` rows per tile are whole samples (at most `batch`) or whole time steps of one
/// sample, within `m` rows, the output buffer's half and the membrane buffer.
fn valid_rows(g: &Geometry, batch: usize, mr: usize, lim: Limits, b: &Buffers) -> bool {
    let nt = cols(g, lim);
    let (per, positions) = (g.rows_per_sample.max(1), g.positions.max(1));
    let within = mr >= 1 && mr <= lim.m && mr * nt.div_ceil(8) <= half(b.out);
    let samples = mr / per;
    let whole =
        mr.is_multiple_of(per) && samples <= batch && (!g.neuron || samples * positions * nt * 4 <= b.memb as usize);
    let steps = mr / positions;
    let part = mr.is_multiple_of(positions) && steps < g.steps() && g.steps().is_multiple_of(steps.max(1));
    within && (whole || part)
}

/// Checks that a recorded plan (from `tile`, or from IR text) is one the buffers hold: row tiles
/// of whole samples or whole time steps within `m`, at most `n` columns, a K group within what
/// fits at that row tile, and a row tile of partial sums within the partial-sum buffer.
pub fn check(g: &Geometry, batch: u32, p: TilePlan, lim: Limits, b: &Buffers) -> Result<(), String> {
    let (mr, nt, group) = (p.rows as usize, p.cols as usize, p.group as usize);
    fits("the bias of a layer (in a buffer half)", g.n * 4, half(b.bias))?;
    if g.neuron {
        fits("the membranes of one sample's positions", g.positions.max(1) * nt * 4, b.memb as usize)?;
    }
    if nt > cols(g, lim) {
        return Err(format!("column tiles of {nt} exceed n = {} (or the layer's {} columns)", lim.n, g.n));
    }
    if !valid_rows(g, batch as usize, mr, lim, b) {
        return Err(format!(
            "row tiles of {mr} rows are not whole samples (or whole time steps of one) within m = {} and the buffers",
            lim.m
        ));
    }
    if !psum_fits(mr, nt, b) {
        return Err(format!("one row tile of partial sums ({mr} rows × {nt} columns) does not fit the buffer"));
    }
    let limit = group_limit(g, mr, nt, b);
    if group > limit {
        return Err(format!("a K group of {group} exceeds the {limit} that fit the buffers"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mlp(mode: LayerMode) -> Geometry {
        Geometry {
            mode,
            input: InputKind::Spikes,
            rows_per_sample: 8,
            positions: 1,
            k_cols: 64,
            n: 256,
            k: 16,
            q: if mode == LayerMode::Phi { 128 } else { 0 },
            neuron: true,
        }
    }

    #[test]
    fn whole_samples_per_tile_and_groups_by_the_tightest_buffer() {
        let b = Buffers::default();
        let lim = Limits { m: 256, n: 32 };
        let g = mlp(LayerMode::Phi);
        // 8 rows per sample, 3 samples: one tile of 24 rows; 32 columns per tile
        let p = plan(&g, 3, lim, &b).unwrap();
        assert_eq!((p.rows, p.cols), (24, 32));
        // pwp: 32 KiB half / (128 × 32 × 2) = 4; pat: 2 KiB / 512 = 4; wgt: 4 KiB / 512 = 8;
        // spk: 2 KiB / (24·16/8) = 42; 4 partitions in all
        assert_eq!(p.group, 4);
        check(&g, 3, p, lim, &b).unwrap();
        // a smaller m: 2 samples (16 rows) per tile, halving from ⌊m / 8⌋
        let p = plan(&g, 3, Limits { m: 16, n: 32 }, &b).unwrap();
        assert_eq!(p.rows, 16);
        assert!(check(&g, 3, TilePlan { rows: 12, ..p }, lim, &b).is_err(), "12 rows split a sample");
        assert!(check(&g, 3, TilePlan { rows: 32, ..p }, lim, &b).is_err(), "4 samples exceed the batch");
        assert!(check(&g, 3, TilePlan { group: 5, ..p }, lim, &b).is_err(), "5 partitions do not fit");
        assert!(check(&g, 3, TilePlan { cols: 64, ..p }, lim, &b).is_err(), "64 columns exceed n");
    }

    #[test]
    fn baselines_group_whole_bytes_of_columns() {
        let b = Buffers::default();
        let lim = Limits { m: 256, n: 32 };
        let p = plan(&mlp(LayerMode::BitSparse), 3, lim, &b).unwrap();
        // spk half 2048 / 24 rows × 8 = 680 columns, wgt half 4096 / 32 = 128: K = 64 fits whole
        assert_eq!(p.group, 64);
    }

    #[test]
    fn the_auto_batch_fills_one_column_tile_of_partial_sums() {
        let b = Buffers::default();
        // ⌊112 KiB / (32 columns × 4 bytes × 8 rows + 12 bytes of line padding)⌋ = 110
        assert_eq!(auto_batch(&[mlp(LayerMode::Phi)], Limits { m: 256, n: 32 }, &b), 110);
        assert_eq!(auto_batch(&[], Limits { m: 256, n: 32 }, &b), 1);
    }

    #[test]
    fn a_layer_that_cannot_fit_names_the_buffer() {
        let b = Buffers { pwp: 2 << 10, ..Buffers::default() };
        let e = plan(&mlp(LayerMode::Phi), 3, Limits { m: 256, n: 32 }, &b).unwrap_err();
        assert!(e.contains("pwp needs 8192 bytes per partition, its half has 1024"), "{e}");
    }
}
