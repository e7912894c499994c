//! `conv-to-gemm`: every `snn.conv2d` becomes a spiking GEMM over its im2col view.
//!
//! A convolution of `T×C×H×W` with `O×(C/g)×kh×kw` weights becomes, per group `g`:
//!
//! ```text
//! cols_g = snn.im2col(x) {channels = [g·C/G, C/G], kernel, strides, pads, dilations}   : T×P×K
//! y_g    = snn.linear(cols_g) {weight = W_g : K×(O/G), bias = b_g}                     : T×P×(O/G)
//! ```
//!
//! with `P = H'·W'` output positions as rows (so a GEMM's rows are `T × positions`, as in the
//! Phi paper) and `K = (C/G)·kh·kw` columns ordered `(c, ky, kx)`; then the groups are joined
//! (`snn.concat` along the channel axis when `G > 1`), brought back to channels-first
//! (`snn.transpose {perm = [0, 2, 1]}`: `T×O×P`) and reshaped to `T×O×H'×W'`. The weights
//! `W_g[k, o] = W[g·O/G + o, c, ky, kx]` keep their element type (float or quantised).
//!
//! That per-group form is `groups=split`. The default, `groups=block-diagonal`, lowers a grouped
//! convolution (`G > 1`) to one im2col over all `C` channels and one GEMM whose `(C·kh·kw) × O`
//! weights are block-diagonal — `W'[(c, ky, kx), o] = W[o, c − g(o)·C/G, ky, kx]` when channel
//! `c` is in output `o`'s group `g(o)`, else 0 — so the layer needs no `snn.concat` and the
//! accelerator runs it as one layer. The zeros add nothing (exactly, in float and in integer
//! arithmetic), so both forms compute the same values; the block-diagonal GEMM reads `G×` the
//! input columns of a per-group one, which is what it costs on the accelerator.

use phi_dialect::ir::Module;
use phi_dialect::ops::snn::{Conv2d, Im2col, Linear};
use phi_dialect::ops::{OpKind, SnnOp};
use phi_dialect::weights::{WeightData, WeightId};
use phi_dialect::{DResult, Diagnostic, TensorType};

use super::{OptDefault, OptionSpec, Pass, PassContext, PassInfo, PassOptions};

/// Registry entry.
pub static INFO: PassInfo = PassInfo {
    name: "conv-to-gemm",
    summary: "lower snn.conv2d to im2col + snn.linear (rows = T × output positions, K = C·kh·kw)",
    options: &[OptionSpec {
        name: "groups",
        default: OptDefault::Value("block-diagonal"),
        help: "grouped convolutions: block-diagonal (one GEMM) or split (one GEMM per group + snn.concat)",
    }],
    create: |o: &PassOptions, _| {
        let split = o.choice("groups", &["block-diagonal", "split"])? == "split";
        Ok(Box::new(ConvToGemm { split }))
    },
};

/// The pass.
pub struct ConvToGemm {
    /// Lower grouped convolutions per group (with `snn.concat`) rather than block-diagonally.
    pub split: bool,
}

impl Pass for ConvToGemm {
    fn name(&self) -> &'static str {
        INFO.name
    }

    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()> {
        let mut n = 0;
        for op in m.body().to_vec() {
            let OpKind::Snn(SnnOp::Conv2d(c)) = m.op(op).kind.clone() else { continue };
            lower_conv(m, op, &c, self.split)?;
            n += 1;
        }
        if n > 0 {
            cx.remark(INFO.name, format!("lowered {n} convolution(s) to GEMMs"));
        }
        Ok(())
    }
}

/// Slices and reorders the weights of group `g` into `K × (O/G)`.
fn group_weight(data: &WeightData, shape: &[usize], groups: usize, g: usize) -> WeightData {
    let (o, cg, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
    let og = o / groups;
    let k = cg * kh * kw;
    // W_g[kk, oo] = W[g·og + oo, kk] (W is O × K row-major)
    let src = |kk: usize, oo: usize| (g * og + oo) * k + kk;
    match data {
        WeightData::F32(v) => WeightData::F32((0..k).flat_map(|kk| (0..og).map(move |oo| v[src(kk, oo)])).collect()),
        WeightData::I8(v) => WeightData::I8((0..k).flat_map(|kk| (0..og).map(move |oo| v[src(kk, oo)])).collect()),
        WeightData::I1(_) | WeightData::I16(_) | WeightData::I32(_) | WeightData::Elided => data.clone(),
    }
}

/// The block-diagonal `(C·kh·kw) × O` weights of a grouped convolution: row `(c, ky, kx)`,
/// column `o` holds `W[o, c − g·C/G, ky, kx]` when channel `c` is in group `g` of output `o`.
fn block_diagonal_weight(data: &WeightData, shape: &[usize], groups: usize) -> WeightData {
    let (o, cg, kh, kw) = (shape[0], shape[1], shape[2], shape[3]);
    let (og, window) = (o / groups, kh * kw);
    let k = cg * window;
    let rows = groups * cg * window;
    // source index of (row, column), if the row's channel is in the column's group
    let src = move |row: usize, col: usize| {
        let (c, rest) = (row / window, row % window);
        (c / cg == col / og).then(|| col * k + (c % cg) * window + rest)
    };
    match data {
        WeightData::F32(v) => {
            WeightData::F32((0..rows).flat_map(|r| (0..o).map(move |c| src(r, c).map_or(0.0, |i| v[i]))).collect())
        }
        WeightData::I8(v) => {
            WeightData::I8((0..rows).flat_map(|r| (0..o).map(move |c| src(r, c).map_or(0, |i| v[i]))).collect())
        }
        WeightData::I1(_) | WeightData::I16(_) | WeightData::I32(_) | WeightData::Elided => data.clone(),
    }
}

fn slice_bias(data: &WeightData, from: usize, len: usize) -> WeightData {
    match data {
        WeightData::F32(v) => WeightData::F32(v[from..from + len].to_vec()),
        WeightData::I32(v) => WeightData::I32(v[from..from + len].to_vec()),
        WeightData::I1(_) | WeightData::I8(_) | WeightData::I16(_) | WeightData::Elided => data.clone(),
    }
}

fn lower_conv(m: &mut Module, op: phi_dialect::OpId, c: &Conv2d, split: bool) -> DResult<()> {
    let loc = m.op(op).loc.clone();
    let x = m.op(op).operands[0];
    let w = m.weights.get(c.weight).clone();
    if matches!(w.data, WeightData::Elided) {
        return Err(Diagnostic::error(format!("weight `{}` was elided; conv-to-gemm needs its data", w.name))
            .with_loc(&loc, ""));
    }
    let (o, cg, kh, kw) = (w.ty.shape[0], w.ty.shape[1], w.ty.shape[2], w.ty.shape[3]);
    let og = o / c.groups;
    let bias = c.bias.map(|b| m.weights.get(b).clone());
    let fail = |e: String| Diagnostic::error(e).with_loc(&loc, "lowering this convolution");
    // one GEMM over all channels: G groups of one (block-diagonal weights), or per group
    let (gemms, cg_read, og_out) = if c.groups > 1 && !split { (1, cg * c.groups, o) } else { (c.groups, cg, og) };
    let mut parts = Vec::new();
    for g in 0..gemms {
        let cols = m
            .insert_before_inferred(
                op,
                OpKind::Snn(SnnOp::Im2col(Im2col {
                    kernel: [kh, kw],
                    strides: c.strides,
                    pads: c.pads,
                    dilations: c.dilations,
                    channels: [g * cg_read, cg_read],
                })),
                vec![x],
                loc.clone(),
            )
            .map_err(fail)?;
        let suffix = if gemms > 1 { format!(".g{g}") } else { String::new() };
        let data = if gemms == c.groups {
            group_weight(&w.data, &w.ty.shape, c.groups, g)
        } else {
            block_diagonal_weight(&w.data, &w.ty.shape, c.groups)
        };
        let wg: WeightId = m.weights.add(
            &format!("{}{suffix}.gemm", w.name),
            TensorType::new(vec![cg_read * kh * kw, og_out], w.ty.elem),
            data,
        );
        let bg = bias.as_ref().map(|b| {
            m.weights.add(
                &format!("{}{suffix}", b.name),
                TensorType::new(vec![og_out], b.ty.elem),
                slice_bias(&b.data, g * og_out, og_out),
            )
        });
        let lin = m
            .insert_before_inferred(
                op,
                OpKind::Snn(SnnOp::Linear(Linear { weight: wg, bias: bg })),
                vec![m.result(cols)],
                loc.clone(),
            )
            .map_err(fail)?;
        parts.push(m.result(lin));
    }
    let joined = if parts.len() > 1 {
        let cat =
            m.insert_before_inferred(op, OpKind::Snn(SnnOp::Concat { axis: 2 }), parts, loc.clone()).map_err(fail)?;
        m.result(cat)
    } else {
        parts[0]
    };
    replace_with_rows(m, op, joined)
}

/// Replaces the windowed op `op` (`T×C×H×W → T×O×H'×W'`) by the GEMM result `rows`
/// (`T × positions × O`): `snn.transpose {perm = [0, 2, 1]}` back to channels-first, then
/// `snn.reshape` to `op`'s result type. Shared with `pool-to-gemm`.
pub(super) fn replace_with_rows(m: &mut Module, op: phi_dialect::OpId, rows: phi_dialect::ValueId) -> DResult<()> {
    let loc = m.op(op).loc.clone();
    let out = m.result(op);
    let out_ty = m.ty(out).clone();
    let tr = m
        .insert_before_inferred(op, OpKind::Snn(SnnOp::Transpose { perm: vec![0, 2, 1] }), vec![rows], loc.clone())
        .map_err(|e| Diagnostic::error(e).with_loc(&loc, "lowering this op to a GEMM"))?;
    let reshape = m.insert_before(op, OpKind::Snn(SnnOp::Reshape), vec![m.result(tr)], vec![out_ty], loc);
    let r = m.result(reshape);
    m.replace_all_uses(out, r);
    m.remove(op);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_diagonal_weights_put_each_group_in_its_own_block() {
        // O = 2 outputs, G = 2 groups of one channel, 1×2 kernels: W[o, 0, 0, x] = 10·o + x
        let w = WeightData::I8(vec![0, 1, 10, 11]);
        let WeightData::I8(b) = block_diagonal_weight(&w, &[2, 1, 1, 2], 2) else { panic!("i8") };
        // rows (c0, x0), (c0, x1), (c1, x0), (c1, x1); columns o0, o1
        assert_eq!(b, vec![0, 0, 1, 0, 0, 10, 0, 11]);
    }
}
