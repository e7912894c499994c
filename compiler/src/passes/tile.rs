//! `tile`: decide the batch and the tiling of every layer for the target's buffers.
//!
//! The layers are those the backend lowers ([`crate::analysis::layers`]: split GEMMs, integer
//! `snn.linear`s, with their fused neurons). The pass decides how many samples one run of the
//! program processes (`batch`, by default as many as one column tile of partial sums holds for
//! every layer) and, for each layer, the rows per row tile, the columns per column tile and the
//! K group (partitions per group in Phi mode, input columns per group on the baselines) — the
//! largest that fit the target's buffers ([`crate::analysis::tiling`] says how). It records them
//! as the module's `phi.batch` and each layer op's `phi.tile = array<i64: rows, cols, group>`
//! ([`phi_dialect::phi_attrs`]); the backend lowers exactly that plan. Tiles are an execution
//! schedule: the ops' semantics do not change.
//!
//! Options: `m` and `n` bound the tile (default: the hardware's `m` and `n`; a software tile may
//! be smaller than the hardware's, not larger), `batch` forces the sample count (`--batch` sets
//! it). A layer that cannot fit is an error naming the buffer. A module the backend cannot lower
//! (an op it has no lowering for, a float model) gets no plan and a remark saying why; the
//! backend then reports the same error with the op's location.

use phi_dialect::ir::Module;
use phi_dialect::phi_attrs;
use phi_dialect::program::LayerMode;
use phi_dialect::target::Target;
use phi_dialect::{DResult, Diagnostic};

use super::{HwParam, OptDefault, OptionSpec, Pass, PassContext, PassInfo, PassOptions};
use crate::analysis::layers;
use crate::analysis::tiling::{self, Geometry, Limits};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "tile",
    summary: "decide the batch and each layer's row tile, column tile and K group for the target's buffers",
    options: &[
        OptionSpec { name: "m", default: OptDefault::Hw(HwParam::M), help: "rows per tile, at most the hardware's m" },
        OptionSpec {
            name: "n",
            default: OptDefault::Hw(HwParam::N),
            help: "output columns per tile, at most the hardware's n",
        },
        OptionSpec {
            name: "batch",
            default: OptDefault::Value("auto"),
            help: "samples per run: auto (what the partial-sum buffer holds) or a count",
        },
    ],
    create: |o: &PassOptions, t: &Target| {
        let batch = match o.string("batch").as_str() {
            "auto" => None,
            _ => Some(o.uint("batch", 1..=65_536)? as u32),
        };
        let bounded = |key: &str, hw: u32| -> Result<usize, String> {
            let v = o.uint(key, 1..=1 << 20)?;
            if v > hw as u64 {
                return Err(format!(
                    "option `{key}` of `tile` is {v}; the hardware's tile is {key} = {hw} (its configuration, --hw): a tile may be smaller, not larger"
                ));
            }
            Ok(v as usize)
        };
        Ok(Box::new(Tile {
            lim: Limits { m: bounded("m", t.hw.m)?, n: bounded("n", t.hw.n)? },
            batch,
            target: t.clone(),
        }))
    },
};

/// The pass.
pub struct Tile {
    /// The largest tile.
    pub lim: Limits,
    /// A forced batch.
    pub batch: Option<u32>,
    /// What the plan is for.
    pub target: Target,
}

impl Pass for Tile {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        let hw = &self.target.hw;
        // A module the backend cannot lower gets no plan (the backend reports why, with the
        // op's location); the pipeline still serves `--emit=phi` and `--report-sparsity`.
        let found = match layers::gemms(m) {
            Ok(found) => found,
            Err(d) => {
                cx.remark(INFO.name, format!("no tile plan: {}", d.message));
                return Ok(());
            }
        };
        let geometry: Vec<Geometry> = found.iter().map(|g| Geometry::of(m, g, self.target.kind, hw.k)).collect();
        let batch = self.batch.unwrap_or_else(|| tiling::auto_batch(&geometry, self.lim, &hw.buffers));
        for (g, geo) in found.iter().zip(&geometry) {
            let plan = tiling::plan(geo, batch, self.lim, &hw.buffers).map_err(|msg| {
                Diagnostic::error(format!("layer `{}` does not fit the accelerator: {msg}", g.name))
                    .with_loc(&g.loc, "")
                    .with_help("give a hardware configuration with larger buffers (--hw), or lower --batch")
            })?;
            phi_attrs::set_tile(m, g.op, plan);
            let groups = match geo.mode {
                LayerMode::Phi => geo.parts(),
                LayerMode::BitSparse | LayerMode::Dense => geo.k_cols,
            }
            .div_ceil(plan.group as usize);
            let unit = match geo.mode {
                LayerMode::Phi => "partition(s)",
                LayerMode::BitSparse | LayerMode::Dense => "column(s)",
            };
            cx.remark(
                INFO.name,
                format!(
                    "{}: {} rows × {} columns in tiles of {}×{}, K in {groups} group(s) of {} {unit}",
                    g.name,
                    batch as usize * geo.rows_per_sample,
                    geo.n,
                    plan.rows,
                    plan.cols,
                    plan.group
                ),
            );
        }
        phi_attrs::set_batch(m, batch);
        cx.remark(INFO.name, format!("batch {batch} sample(s) per run"));
        Ok(())
    }
}
