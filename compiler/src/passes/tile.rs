//! `tile`: choose the tiling of every `phi` GEMM for the accelerator's buffers.
//!
//! A GEMM of `M` rows (time steps × positions), `N` output columns and `P` partitions is cut into
//! tiles of `m` rows × `n` columns (defaults: the paper's m = 256, n = 32), iterated K-first: for
//! one output tile the partitions are streamed in groups of `kp`, each group's PWP rows
//! (`q × n` i16 per partition) held in the PWP buffer. The pass checks the tile against the
//! buffers — partial sums `m × n` i32 in the psum buffer, at least one partition's PWP slice in
//! the PWP buffer — picks the largest `kp` that fits, and records the decision on the Level-1
//! and Level-2 ops as `phi.tile = array<i64: m, n, kp>` for the backend. The ops' semantics do
//! not change (tiling is an execution schedule); tiles at the edges are partial.

use phi_dialect::attr::Attr;
use phi_dialect::ir::Module;
use phi_dialect::ops::{OpKind, PhiOp};
use phi_dialect::{DResult, Diagnostic};

use super::{OptionSpec, Pass, PassContext, PassInfo, PassOptions};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "tile",
    summary: "tile each phi GEMM into m×n output tiles with K-first partition groups fitting the PWP/psum buffers",
    options: &[
        OptionSpec { name: "m", default: "256", help: "rows per tile" },
        OptionSpec { name: "n", default: "32", help: "output columns per tile (SIMD width)" },
        OptionSpec { name: "pwp-kb", default: "64", help: "PWP buffer size in KiB" },
        OptionSpec { name: "psum-kb", default: "128", help: "partial-sum buffer size in KiB" },
    ],
    create: |o: &PassOptions| {
        Ok(Box::new(Tile {
            m: o.uint("m", 1..=1 << 20)? as usize,
            n: o.uint("n", 1..=1 << 16)? as usize,
            pwp_bytes: o.uint("pwp-kb", 1..=1 << 20)? as usize * 1024,
            psum_bytes: o.uint("psum-kb", 1..=1 << 20)? as usize * 1024,
        }))
    },
};

/// The pass.
pub struct Tile {
    /// Rows per tile.
    pub m: usize,
    /// Columns per tile.
    pub n: usize,
    /// PWP buffer bytes.
    pub pwp_bytes: usize,
    /// Partial-sum buffer bytes.
    pub psum_bytes: usize,
}

impl Pass for Tile {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        if self.m * self.n * 4 > self.psum_bytes {
            return Err(Diagnostic::error(format!(
                "a {}×{} tile of i32 partial sums needs {} bytes; the psum buffer has {}",
                self.m,
                self.n,
                self.m * self.n * 4,
                self.psum_bytes
            ))
            .with_help("lower m or n, or raise psum-kb"));
        }
        for op in m.body().to_vec() {
            let OpKind::Phi(PhiOp::L1Accumulate { pwp, .. }) = m.op(op).kind else { continue };
            let shape = m.weights.get(pwp).ty.shape.clone();
            let (parts, q, n_out) = (shape[0], shape[1], shape[2]);
            let slice = q * self.n * 2;
            if slice > self.pwp_bytes {
                return Err(Diagnostic::error(format!(
                    "one partition's PWP slice ({q} patterns × {} columns × 2 bytes = {slice}) exceeds the {}-byte PWP buffer",
                    self.n, self.pwp_bytes
                ))
                .with_loc(&m.op(op).loc, "this GEMM")
                .with_help("lower q or n, or raise pwp-kb"));
            }
            let kp = (self.pwp_bytes / slice).min(parts).max(1);
            let rows: usize = m.ty(m.result(op)).shape[..m.ty(m.result(op)).rank() - 1].iter().product();
            let tile = Attr::I64Array(vec![self.m as i64, self.n as i64, kp as i64]);
            m.op_mut(op).attrs.insert("phi.tile".into(), tile.clone());
            let acc = m.result(op);
            for (user, _) in m.uses(acc) {
                if matches!(m.op(user).kind, OpKind::Phi(PhiOp::L2Accumulate { .. })) {
                    m.op_mut(user).attrs.insert("phi.tile".into(), tile.clone());
                }
            }
            let tiles = rows.div_ceil(self.m) * n_out.div_ceil(self.n) * parts.div_ceil(kp);
            cx.remark(
                INFO.name,
                format!(
                    "GEMM {rows}×{n_out} in {parts} partitions: tiles {}×{} with {kp} partition(s) per PWP load, {tiles} tile step(s) per sample",
                    self.m, self.n
                ),
            );
        }
        Ok(())
    }
}
