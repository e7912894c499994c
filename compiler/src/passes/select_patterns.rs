//! `select-patterns`: choose `q` patterns per partition of every calibrated spiking GEMM.
//!
//! Reads the statistics `calibrate` attached (`phi.calib`), runs the selection of
//! [`crate::patterns`] on every partition — the paper's weighted Hamming k-means
//! (`algo=kmeans`), or the cost-aware refinement that minimises the real operation count
//! `Σ min(popcount(x), 1 + d(x, p))` starting from it (`algo=cost-aware`, the default, never
//! worse) — and attaches `phi.patterns = dense_resource<W.patterns> : tensor<P×q×i32>` (unused
//! slots are 0) and `phi.k`. A remark per layer reports both objectives on the calibration data:
//! the k-means solution's and the chosen one's operation counts, against bit sparsity.
//!
//! `k` may be narrower than the calibrated width when it divides it: the statistics of the
//! narrower partitions are derived exactly by splitting each calibrated vector.

use phi_dialect::ir::{Module, OpId};
use phi_dialect::phi_attrs;
use phi_dialect::weights::WeightData;
use phi_dialect::{DResult, Diagnostic, ElemType, TensorType};
use rayon::prelude::*;

use super::calibrate::{decode_stats, spiking_gemms};
use super::{HwParam, OptDefault, OptionSpec, Pass, PassContext, PassInfo, PassOptions};
use crate::patterns::{Algorithm, Init, PartitionStats, SelectOptions, Selection, select};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "select-patterns",
    summary: "choose q patterns per k-column partition by weighted Hamming k-means (or its cost-aware refinement)",
    options: &[
        OptionSpec {
            name: "k",
            default: OptDefault::Hw(HwParam::K),
            help: "partition width (8, 16, 32); must divide the calibrated width",
        },
        OptionSpec { name: "q", default: OptDefault::Hw(HwParam::Q), help: "patterns per partition (1..=256)" },
        OptionSpec { name: "seed", default: OptDefault::Value("0"), help: "seed of the k-means++ initialisation" },
        OptionSpec {
            name: "algo",
            default: OptDefault::Value("cost-aware"),
            help: "kmeans (the paper's) or cost-aware",
        },
        OptionSpec { name: "init", default: OptDefault::Value("kmeans++"), help: "kmeans++ or frequency" },
        OptionSpec {
            name: "iters",
            default: OptDefault::Value("50"),
            help: "k-means iteration cap (and local-search passes)",
        },
    ],
    create: |o: &PassOptions, _: &phi_dialect::target::Target| {
        let k = o.uint("k", 1..=32)? as u32;
        if ![8, 16, 32].contains(&k) {
            return Err(format!("option `k` of `select-patterns` is {k}; choose 8, 16 or 32"));
        }
        let algorithm = match o.choice("algo", &["kmeans", "cost-aware"])?.as_str() {
            "kmeans" => Algorithm::KMeans,
            _ => Algorithm::CostAware,
        };
        let init = match o.choice("init", &["kmeans++", "frequency"])?.as_str() {
            "frequency" => Init::Frequency,
            _ => Init::KMeansPlusPlus,
        };
        Ok(Box::new(SelectPatterns {
            k,
            opts: SelectOptions {
                q: o.uint("q", 1..=256)? as usize,
                seed: o.uint("seed", 0..=u64::MAX)?,
                max_iters: o.uint("iters", 1..=10_000)? as usize,
                init,
                algorithm,
            },
        }))
    },
};

/// The pass.
pub struct SelectPatterns {
    /// Partition width.
    pub k: u32,
    /// Selection options.
    pub opts: SelectOptions,
}

/// Splits statistics of width `from` into statistics of width `to` (`to` divides `from`).
pub fn split_stats(stats: &[PartitionStats], from: u32, to: u32, cols: usize) -> Vec<PartitionStats> {
    let ratio = (from / to) as usize;
    let parts = cols.div_ceil(to as usize);
    let mut acc: Vec<std::collections::BTreeMap<u32, u64>> = vec![Default::default(); parts];
    let mut rows = vec![0u64; parts];
    for s in stats {
        for j in 0..ratio {
            let p = s.partition * ratio + j;
            if p >= parts {
                break;
            }
            rows[p] = s.rows;
            let mask = if to == 32 { u32::MAX } else { (1u32 << to) - 1 };
            for &(v, c) in &s.vectors {
                *acc[p].entry((v >> (j as u32 * to)) & mask).or_insert(0) += c;
            }
        }
    }
    acc.into_iter()
        .enumerate()
        .map(|(p, m)| PartitionStats {
            partition: p,
            width: (cols - p * to as usize).min(to as usize) as u32,
            rows: rows[p],
            vectors: m.into_iter().collect(),
        })
        .collect()
}

fn calibrated(m: &Module, op: OpId) -> Option<(Vec<i32>, u32)> {
    let w = phi_attrs::calib_stats(m, op)?;
    let k = phi_attrs::calib_k(m, op)?;
    Some((m.weights.get(w).as_i32()?.to_vec(), k))
}

/// One partition's selection, with the k-means baseline when the cost-aware algorithm ran.
pub type LayerResult = (Selection, Option<Selection>);

/// Selects patterns for every partition (in parallel; the result does not depend on it),
/// with the k-means baseline alongside when the cost-aware algorithm is chosen.
pub fn select_layer(
    stats: &[PartitionStats],
    opts: &SelectOptions,
    progress: Option<&indicatif::ProgressBar>,
) -> Vec<LayerResult> {
    stats
        .par_iter()
        .map(|s| {
            let chosen = select(s, opts);
            let baseline = match opts.algorithm {
                Algorithm::CostAware => Some(select(s, &SelectOptions { algorithm: Algorithm::KMeans, ..*opts })),
                Algorithm::KMeans => None,
            };
            if let Some(p) = progress {
                p.inc(1);
            }
            (chosen, baseline)
        })
        .collect()
}

impl Pass for SelectPatterns {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        let gemms = spiking_gemms(m);
        let mut any = false;
        for &op in &gemms {
            let Some((table, ck)) = calibrated(m, op) else { continue };
            any = true;
            let cols = *m.ty(m.op(op).operands[0]).shape.last().expect("rank ≥ 2");
            if ck % self.k != 0 {
                return Err(Diagnostic::error(format!(
                    "the statistics were calibrated in partitions of {ck} columns; k = {} does not divide it",
                    self.k
                ))
                .with_loc(&m.op(op).loc, "")
                .with_help(format!("run calibrate{{k={}}} first", self.k)));
            }
            let base = decode_stats(&table, ck, cols);
            let stats = if ck == self.k { base } else { split_stats(&base, ck, self.k, cols) };
            let bar = cx.progress.then(|| {
                let b = indicatif::ProgressBar::new(stats.len() as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "select-patterns [{bar:30}] {pos}/{len} partitions {elapsed}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                b
            });
            let results = select_layer(&stats, &self.opts, bar.as_ref());
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let q = self.opts.q;
            let mut pats = vec![0i32; stats.len() * q];
            for (p, (sel, _)) in results.iter().enumerate() {
                for (i, &v) in sel.patterns.iter().enumerate() {
                    pats[p * q + i] = v as i32;
                }
            }
            let wname = match &m.op(op).kind {
                phi_dialect::OpKind::Snn(phi_dialect::SnnOp::Linear(l)) => m.weights.get(l.weight).name.clone(),
                phi_dialect::OpKind::Snn(_) | phi_dialect::OpKind::Phi(_) => "gemm".into(),
            };
            let ty = TensorType::new(vec![stats.len(), q], ElemType::I32);
            let w = match phi_attrs::patterns(m, op) {
                Some(w) => {
                    m.weights.set_data(w, ty, WeightData::I32(pats));
                    w
                }
                None => m.weights.add(&format!("{wname}.patterns"), ty, WeightData::I32(pats)),
            };
            phi_attrs::set_patterns(m, op, w, self.k);
            let sum = |f: &dyn Fn(&LayerResult) -> u64| results.iter().map(f).sum::<u64>();
            let ops = sum(&|r| r.0.ops_objective);
            let bits = sum(&|r| r.0.bit_sparse_ops);
            let ham = sum(&|r| r.0.hamming_objective);
            let used: usize = results.iter().map(|r| r.0.patterns.len()).sum();
            let mut msg = format!(
                "{wname}: {} partitions of {}, {used} patterns; calibration ops {ops} vs bit-sparse {bits} ({:.2}×), Hamming objective {ham}",
                stats.len(),
                self.k,
                bits as f64 / ops.max(1) as f64
            );
            if self.opts.algorithm == Algorithm::CostAware {
                let kops = sum(&|r| r.1.as_ref().map_or(0, |b| b.ops_objective));
                let kham = sum(&|r| r.1.as_ref().map_or(0, |b| b.hamming_objective));
                msg.push_str(&format!("; k-means alone: ops {kops}, Hamming objective {kham}"));
            }
            cx.remark(INFO.name, msg);
        }
        if !any && !gemms.is_empty() {
            return Err(Diagnostic::error("no calibrated spiking GEMM: select-patterns needs calibrate first")
                .with_help("run the pipeline calibrate,select-patterns"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_statistics_is_exact() {
        // one 16-bit partition over 12 columns → two 8-bit partitions (the second 4 wide)
        let s = vec![PartitionStats {
            partition: 0,
            width: 12,
            rows: 5,
            vectors: vec![(0x0000, 1), (0x0201, 3), (0x0F01, 1)],
        }];
        let out = split_stats(&s, 16, 8, 12);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].vectors, vec![(0x00, 1), (0x01, 4)]);
        assert_eq!(out[1].vectors, vec![(0x00, 1), (0x02, 3), (0x0F, 1)]);
        assert_eq!(out[1].width, 4);
        assert!(out.iter().all(|p| p.rows == 5));
    }
}
