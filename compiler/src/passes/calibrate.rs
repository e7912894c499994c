//! `calibrate`: run the model on calibration inputs and record, for every spiking GEMM, the
//! statistics of its binary input activations.
//!
//! A spiking GEMM is an `snn.linear` whose input is spikes (`i1`; after `conv-to-gemm` this
//! includes every convolution). The reference interpreter runs the module as it stands — the
//! float model, or the integer model after `quantize`, which produces exactly the spikes the
//! hardware will see. For each spiking GEMM the rows of its input (`samples × T × positions`)
//! are packed into bit matrices and cut into partitions of `k` columns; what is kept is, per
//! partition, every distinct `k`-bit vector with its count — not the activations themselves.
//!
//! The statistics are attached to the op as discardable attributes:
//! `phi.calib = dense_resource<W.calib> : tensor<E×3×i32>` (rows `(partition, vector bits,
//! count)`, sorted), `phi.calib_rows` (rows counted) and `phi.calib_k` (the partition width).
//!
//! The calibration inputs are `--calib X.npy` (`[N, T, …]`), or else the file the model names
//! in its `metadata_props` under the key `phi.calibration` (relative to the model file); with
//! neither, the pass reports an error.

use std::collections::BTreeMap;

use phi_dialect::ir::{Module, OpId};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::phi_attrs;
use phi_dialect::weights::WeightData;
use phi_dialect::{DResult, Diagnostic, ElemType, TensorType};
use phi_runtime::{Options, Tensor};

use super::{HwParam, OptDefault, OptionSpec, Pass, PassContext, PassInfo, PassOptions};
use crate::data;
use crate::patterns::{BitMatrix, PartitionStats, count_partitions, merge_stats};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "calibrate",
    summary: "run calibration inputs and attach each spiking GEMM's partition-vector statistics",
    options: &[
        OptionSpec {
            name: "samples",
            default: OptDefault::Value("256"),
            help: "calibration samples used (the first N of the file)",
        },
        OptionSpec { name: "k", default: OptDefault::Hw(HwParam::K), help: "partition width in columns (8, 16 or 32)" },
    ],
    create: |o: &PassOptions, _: &phi_dialect::target::Target| {
        let k = o.uint("k", 1..=32)? as u32;
        if ![8, 16, 32].contains(&k) {
            return Err(format!("option `k` of `calibrate` is {k}; choose 8, 16 or 32"));
        }
        Ok(Box::new(Calibrate { samples: o.uint("samples", 1..=1 << 24)? as usize, k }))
    },
};

/// The pass.
pub struct Calibrate {
    /// Samples used.
    pub samples: usize,
    /// Partition width.
    pub k: u32,
}

/// The spiking GEMMs of a module: `snn.linear` ops reading spikes.
pub fn spiking_gemms(m: &Module) -> Vec<OpId> {
    m.body()
        .iter()
        .copied()
        .filter(|&op| {
            matches!(m.op(op).kind, OpKind::Snn(SnnOp::Linear(_))) && m.ty(m.op(op).operands[0]).elem == ElemType::I1
        })
        .collect()
}

/// Runs the module on `x` and returns each spiking GEMM's statistics at partition width `k`.
pub fn collect(
    m: &Module,
    x: &Tensor,
    k: u32,
    progress: Option<&indicatif::ProgressBar>,
) -> DResult<BTreeMap<OpId, (Vec<PartitionStats>, u64)>> {
    let gemms = spiking_gemms(m);
    let mut stats: BTreeMap<OpId, (Vec<PartitionStats>, u64)> =
        gemms.iter().map(|&g| (g, (Vec::new(), 0u64))).collect();
    let n = x.shape[0];
    let chunk = 32;
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        let part = x.samples(start, end);
        let mut observe = |op: OpId, operands: &[&Tensor], _: Option<&Tensor>| {
            if let Some((acc, rows)) = stats.get_mut(&op)
                && let Some(spikes) = operands[0].as_spikes()
            {
                let cols = *operands[0].shape.last().expect("rank ≥ 2");
                let r = spikes.len() / cols.max(1);
                if let Ok(bm) = BitMatrix::from_bytes(r, cols, spikes) {
                    merge_stats(acc, count_partitions(&bm, k));
                    *rows += r as u64;
                }
            }
        };
        phi_runtime::run_with(m, &[part], Options::default(), &mut observe)?;
        if let Some(p) = progress {
            p.inc((end - start) as u64);
        }
        start = end;
    }
    Ok(stats)
}

/// Encodes statistics as the `E × 3` i32 table of `phi.calib`.
pub fn encode_stats(stats: &[PartitionStats]) -> Result<Vec<i32>, String> {
    let mut out = Vec::new();
    for s in stats {
        for &(v, c) in &s.vectors {
            let c = i32::try_from(c).map_err(|_| format!("a count of {c} does not fit the statistics table"))?;
            out.extend([s.partition as i32, v as i32, c]);
        }
    }
    Ok(out)
}

/// Decodes a `phi.calib` table back into per-partition statistics (`k` columns, `cols` total).
pub fn decode_stats(table: &[i32], k: u32, cols: usize) -> Vec<PartitionStats> {
    let parts = cols.div_ceil(k as usize);
    let mut out: Vec<PartitionStats> = (0..parts)
        .map(|p| PartitionStats {
            partition: p,
            width: (cols - p * k as usize).min(k as usize) as u32,
            rows: 0,
            vectors: Vec::new(),
        })
        .collect();
    for e in table.chunks_exact(3) {
        if let Some(s) = out.get_mut(e[0] as usize) {
            s.vectors.push((e[1] as u32, e[2] as u64));
            s.rows += e[2] as u64;
        }
    }
    for s in &mut out {
        s.vectors.sort_unstable();
    }
    out
}

impl Pass for Calibrate {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        let gemms = spiking_gemms(m);
        if gemms.is_empty() {
            cx.remark(INFO.name, "no spiking GEMM to calibrate");
            return Ok(());
        }
        let path = data::calibration_path(m, &cx.model_dir, cx.calib.as_deref())?;
        let x = data::read_inputs(m, &path, self.samples)?;
        let n = x.shape[0];
        let bar = cx.progress.then(|| {
            let b = indicatif::ProgressBar::new(n as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("calibrate [{bar:30}] {pos}/{len} samples {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        let stats = collect(m, &x, self.k, bar.as_ref())?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        for (op, (s, rows)) in stats {
            let table = encode_stats(&s).map_err(|e| Diagnostic::error(e).with_loc(&m.op(op).loc, ""))?;
            let wname = match &m.op(op).kind {
                OpKind::Snn(SnnOp::Linear(l)) => m.weights.get(l.weight).name.clone(),
                OpKind::Snn(_) | OpKind::Phi(_) => "gemm".to_string(),
            };
            let ty = TensorType::new(vec![table.len() / 3, 3], ElemType::I32);
            let w = match phi_attrs::calib_stats(m, op) {
                Some(w) => {
                    m.weights.set_data(w, ty, WeightData::I32(table));
                    w
                }
                None => m.weights.add(&format!("{wname}.calib"), ty, WeightData::I32(table)),
            };
            phi_attrs::set_calibration(m, op, phi_attrs::Calibration { stats: w, rows, k: self.k });
            let distinct: usize = s.iter().map(|p| p.vectors.len()).sum();
            let ones: u64 = s.iter().map(PartitionStats::bit_sparse_ops).sum();
            let cols = *m.ty(m.op(op).operands[0]).shape.last().expect("rank ≥ 2");
            cx.remark(
                INFO.name,
                format!(
                    "{wname}: {rows} rows × {cols} columns from {n} samples, bit density {:.2}%, {} partitions, {distinct} distinct vectors",
                    100.0 * ones as f64 / (rows as f64 * cols as f64).max(1.0),
                    s.len()
                ),
            );
        }
        Ok(())
    }
}
