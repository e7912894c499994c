//! Compute kernels of the reference interpreter: synaptic layers, pooling, addition.
//!
//! All kernels are time-batched: activations are `[N, T, …]` and a synaptic layer treats the
//! `N·T` leading positions as rows of one GEMM (DESIGN §2). Float accumulation order is fixed
//! (input features ascending, then the bias) so that results are deterministic; integer
//! accumulation is 32-bit two's complement (wrapping), the width of the hardware accumulators.

use crate::tensor::Data;

/// Weights of a synaptic layer, float or integer.
#[derive(Clone, Copy, Debug)]
pub enum Weights<'a> {
    /// Float model.
    F32(&'a [f32]),
    /// Integer model.
    I8(&'a [i8]),
}

/// Bias of a synaptic layer.
#[derive(Clone, Copy, Debug)]
pub enum Bias<'a> {
    /// No bias.
    None,
    /// Float bias.
    F32(&'a [f32]),
    /// Integer bias.
    I32(&'a [i32]),
}

/// `rows × K` input times `K × N` weights (+ bias) → `rows × N`.
pub fn linear(x: &Data, rows: usize, k: usize, w: Weights<'_>, b: Bias<'_>, n: usize) -> Data {
    match w {
        Weights::F32(w) => {
            let mut out = vec![0f32; rows * n];
            for (r, acc) in out.chunks_exact_mut(n).enumerate() {
                for kk in 0..k {
                    let xv = x.get_f32(r * k + kk);
                    if xv == 0.0 {
                        continue;
                    }
                    let row = &w[kk * n..(kk + 1) * n];
                    if xv == 1.0 {
                        acc.iter_mut().zip(row).for_each(|(a, &wv)| *a += wv);
                    } else {
                        acc.iter_mut().zip(row).for_each(|(a, &wv)| *a += xv * wv);
                    }
                }
                if let Bias::F32(b) = b {
                    acc.iter_mut().zip(b).for_each(|(a, &bv)| *a += bv);
                }
            }
            Data::F32(out)
        }
        Weights::I8(w) => {
            let mut out = vec![0i32; rows * n];
            for (r, acc) in out.chunks_exact_mut(n).enumerate() {
                for kk in 0..k {
                    let xv = match x {
                        Data::Spikes(v) => v[r * k + kk] as i32,
                        Data::I32(v) => v[r * k + kk],
                        Data::F32(_) => unreachable!("the verifier rejects f32 inputs to integer layers"),
                    };
                    if xv == 0 {
                        continue;
                    }
                    let row = &w[kk * n..(kk + 1) * n];
                    acc.iter_mut().zip(row).for_each(|(a, &wv)| *a = a.wrapping_add(xv.wrapping_mul(wv as i32)));
                }
                if let Bias::I32(b) = b {
                    acc.iter_mut().zip(b).for_each(|(a, &bv)| *a = a.wrapping_add(bv));
                }
            }
            Data::I32(out)
        }
    }
}

/// Geometry of a 2-D convolution or pooling window over `C × H × W` images.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Kernel (h, w).
    pub kernel: [usize; 2],
    /// Strides (h, w).
    pub strides: [usize; 2],
    /// Pads (top, left, bottom, right).
    pub pads: [usize; 4],
    /// Dilations (h, w).
    pub dilations: [usize; 2],
}

impl Geometry {
    /// The geometry of an `snn.im2col` over images `C × H × W` (`chw`, the last three
    /// dimensions of its verified input), its output size from the window rule.
    pub fn im2col(chw: &[usize], c: &phi_dialect::ops::snn::Im2col) -> Geometry {
        let [ch, h, w] = [chw[0], chw[1], chw[2]];
        // shapes were verified, so the windows fit
        let out = |n: usize, d: usize| {
            phi_dialect::ops::snn::window_out(n, c.kernel[d], c.strides[d], c.pads[d], c.pads[d + 2], c.dilations[d])
                .unwrap_or(0)
        };
        Geometry {
            c: ch,
            h,
            w,
            oh: out(h, 0),
            ow: out(w, 1),
            kernel: c.kernel,
            strides: c.strides,
            pads: c.pads,
            dilations: c.dilations,
        }
    }
}

impl Geometry {
    /// The input coordinate of output `o` and kernel tap `k` along axis `a`, if inside the image.
    #[inline]
    fn input_at(&self, a: usize, o: usize, k: usize) -> Option<usize> {
        let pos = (o * self.strides[a] + k * self.dilations[a]) as isize - self.pads[a] as isize;
        let lim = if a == 0 { self.h } else { self.w };
        (pos >= 0 && (pos as usize) < lim).then_some(pos as usize)
    }
}

/// 2-D convolution of `images` images (`C×H×W` each) with `O × C/g × kh × kw` weights.
pub fn conv2d(x: &Data, images: usize, g: Geometry, o: usize, groups: usize, w: Weights<'_>, b: Bias<'_>) -> Data {
    let (cg, og) = (g.c / groups, o / groups);
    let [kh, kw] = g.kernel;
    let in_img = g.c * g.h * g.w;
    let out_img = o * g.oh * g.ow;
    let mut acc_f = Vec::new();
    let mut acc_i = Vec::new();
    match w {
        Weights::F32(_) => acc_f = vec![0f32; images * out_img],
        Weights::I8(_) => acc_i = vec![0i32; images * out_img],
    }
    for img in 0..images {
        for oc in 0..o {
            let grp = oc / og;
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let out_idx = img * out_img + (oc * g.oh + oy) * g.ow + ox;
                    let mut sf = 0f32;
                    let mut si = 0i32;
                    for ci in 0..cg {
                        let c = grp * cg + ci;
                        for ky in 0..kh {
                            let Some(iy) = g.input_at(0, oy, ky) else { continue };
                            for kx in 0..kw {
                                let Some(ix) = g.input_at(1, ox, kx) else { continue };
                                let xi = img * in_img + (c * g.h + iy) * g.w + ix;
                                let wi = ((oc * cg + ci) * kh + ky) * kw + kx;
                                match w {
                                    Weights::F32(w) => {
                                        let xv = x.get_f32(xi);
                                        if xv != 0.0 {
                                            sf += xv * w[wi];
                                        }
                                    }
                                    Weights::I8(w) => {
                                        let xv = match x {
                                            Data::Spikes(v) => v[xi] as i32,
                                            Data::I32(v) => v[xi],
                                            Data::F32(_) => {
                                                unreachable!("the verifier rejects f32 inputs to integer layers")
                                            }
                                        };
                                        si = si.wrapping_add(xv.wrapping_mul(w[wi] as i32));
                                    }
                                }
                            }
                        }
                    }
                    match b {
                        Bias::None => {}
                        Bias::F32(b) => sf += b[oc],
                        Bias::I32(b) => si = si.wrapping_add(b[oc]),
                    }
                    match w {
                        Weights::F32(_) => acc_f[out_idx] = sf,
                        Weights::I8(_) => acc_i[out_idx] = si,
                    }
                }
            }
        }
    }
    match w {
        Weights::F32(_) => Data::F32(acc_f),
        Weights::I8(_) => Data::I32(acc_i),
    }
}

/// How a pooling window reduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// Sum (integer counts for integer input).
    Sum,
    /// Average over the window (including padding, or over the in-image taps only).
    Avg {
        /// Whether padding counts in the divisor.
        count_include_pad: bool,
    },
}

/// Pooling over `images` images of `C×H×W`.
pub fn pool(x: &Data, images: usize, g: Geometry, kind: PoolKind) -> Data {
    let in_img = g.c * g.h * g.w;
    let out_img = g.c * g.oh * g.ow;
    let int_out = kind == PoolKind::Sum && !matches!(x, Data::F32(_));
    let mut out_f = if int_out { Vec::new() } else { vec![0f32; images * out_img] };
    let mut out_i = if int_out { vec![0i32; images * out_img] } else { Vec::new() };
    for img in 0..images {
        for c in 0..g.c {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut sf = 0f32;
                    let mut si = 0i32;
                    let mut taps = 0usize;
                    for ky in 0..g.kernel[0] {
                        let Some(iy) = g.input_at(0, oy, ky) else { continue };
                        for kx in 0..g.kernel[1] {
                            let Some(ix) = g.input_at(1, ox, kx) else { continue };
                            let xi = img * in_img + (c * g.h + iy) * g.w + ix;
                            taps += 1;
                            match x {
                                Data::Spikes(v) => si = si.wrapping_add(v[xi] as i32),
                                Data::I32(v) => si = si.wrapping_add(v[xi]),
                                Data::F32(v) => sf += v[xi],
                            }
                        }
                    }
                    let oi = img * out_img + (c * g.oh + oy) * g.ow + ox;
                    if int_out {
                        out_i[oi] = si;
                    } else {
                        let s = if matches!(x, Data::F32(_)) { sf } else { si as f32 };
                        out_f[oi] = match kind {
                            PoolKind::Sum => s,
                            PoolKind::Avg { count_include_pad: true } => s / (g.kernel[0] * g.kernel[1]) as f32,
                            PoolKind::Avg { count_include_pad: false } => s / taps.max(1) as f32,
                        };
                    }
                }
            }
        }
    }
    if int_out { Data::I32(out_i) } else { Data::F32(out_f) }
}

/// Element-wise `a + b`, where `b` repeats over `a` (its length divides `a`'s).
pub fn add(a: &Data, b: &Data, float: bool) -> Data {
    let n = a.len();
    let m = b.len().max(1);
    if float {
        Data::F32((0..n).map(|i| a.get_f32(i) + b.get_f32(i % m)).collect())
    } else {
        let get = |d: &Data, i: usize| match d {
            Data::Spikes(v) => v[i] as i32,
            Data::I32(v) => v[i],
            Data::F32(v) => v[i] as i32,
        };
        Data::I32((0..n).map(|i| get(a, i).wrapping_add(get(b, i % m))).collect())
    }
}

/// Element-wise product with suffix broadcasting, as [`add`] (wrapping in i32).
pub fn mul(a: &Data, b: &Data, float: bool) -> Data {
    let n = a.len();
    let m = b.len().max(1);
    if float {
        Data::F32((0..n).map(|i| a.get_f32(i) * b.get_f32(i % m)).collect())
    } else {
        let get = |d: &Data, i: usize| match d {
            Data::Spikes(v) => v[i] as i32,
            Data::I32(v) => v[i],
            Data::F32(v) => v[i] as i32,
        };
        Data::I32((0..n).map(|i| get(a, i).wrapping_mul(get(b, i % m))).collect())
    }
}

/// Builds data of the same element type as `d` with `n` elements, element `i` taken from
/// `d[src(i)]` (zero when `src` gives `None`).
fn gather(d: &Data, n: usize, src: impl Fn(usize) -> Option<usize>) -> Data {
    match d {
        Data::Spikes(v) => Data::Spikes((0..n).map(|i| src(i).map_or(0, |j| v[j])).collect()),
        Data::I32(v) => Data::I32((0..n).map(|i| src(i).map_or(0, |j| v[j])).collect()),
        Data::F32(v) => Data::F32((0..n).map(|i| src(i).map_or(0.0, |j| v[j])).collect()),
    }
}

/// The im2col view of `images` images `C×H×W`: for channels `[first, first + count)`, output
/// `images × (oh·ow) × (count·kh·kw)`, column index `(c·kh + ky)·kw + kx` (the order of a
/// convolution weight's `C/groups × kh × kw` block), zero outside the image.
pub fn im2col(x: &Data, images: usize, g: Geometry, channels: [usize; 2]) -> Data {
    let [first, count] = channels;
    let [kh, kw] = g.kernel;
    let cols = count * kh * kw;
    let per_img = g.oh * g.ow * cols;
    let in_img = g.c * g.h * g.w;
    gather(x, images * per_img, |i| {
        let img = i / per_img;
        let rem = i % per_img;
        let (pos, col) = (rem / cols, rem % cols);
        let (oy, ox) = (pos / g.ow, pos % g.ow);
        let (c, kk) = (col / (kh * kw), col % (kh * kw));
        let (ky, kx) = (kk / kw, kk % kw);
        let iy = g.input_at(0, oy, ky)?;
        let ix = g.input_at(1, ox, kx)?;
        Some(img * in_img + ((first + c) * g.h + iy) * g.w + ix)
    })
}

/// Permutes the dimensions of a row-major tensor of `shape`: output dimension `i` is input
/// dimension `perm[i]`.
pub fn transpose(x: &Data, shape: &[usize], perm: &[usize]) -> Data {
    let rank = shape.len();
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut in_strides = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        in_strides[d] = in_strides[d + 1] * shape[d + 1];
    }
    let n: usize = shape.iter().product();
    gather(x, n, |i| {
        let mut rem = i;
        let mut src = 0;
        for d in (0..rank).rev() {
            let coord = rem % out_shape[d];
            rem /= out_shape[d];
            src += coord * in_strides[perm[d]];
        }
        Some(src)
    })
}

/// Joins tensors along `axis` (all other dimensions equal) into `out_shape`.
pub fn concat(parts: &[&crate::tensor::Tensor], axis: usize, out_shape: &[usize]) -> Data {
    let outer: usize = out_shape[..axis].iter().product();
    let inner: usize = out_shape[axis + 1..].iter().product();
    let mut chunks: Vec<Data> = Vec::new();
    for o in 0..outer {
        for p in parts {
            let len = p.shape[axis] * inner;
            chunks.push(gather(&p.data, len, |i| Some(o * len + i)));
        }
    }
    // spikes joined with integers become 0/1 integers (the verifier's rule)
    let int = parts.iter().any(|p| matches!(p.data, Data::I32(_)));
    let mut out = match parts.first().map(|p| &p.data) {
        Some(Data::Spikes(_)) | None if !int => Data::Spikes(Vec::new()),
        Some(Data::Spikes(_) | Data::I32(_)) | None => Data::I32(Vec::new()),
        Some(Data::F32(_)) => Data::F32(Vec::new()),
    };
    for c in chunks {
        match (&mut out, c) {
            (Data::Spikes(a), Data::Spikes(b)) => a.extend(b),
            (Data::I32(a), Data::I32(b)) => a.extend(b),
            (Data::I32(a), Data::Spikes(b)) => a.extend(b.into_iter().map(i32::from)),
            (Data::F32(a), Data::F32(b)) => a.extend(b),
            (Data::Spikes(_) | Data::I32(_) | Data::F32(_), _) => unreachable!("verified: one element type"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_float_and_int() {
        let x = Data::Spikes(vec![1, 0, 1, 0, 1, 1]);
        let w = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let out = linear(&x, 2, 3, Weights::F32(&w), Bias::F32(&[0.5, -0.5]), 2);
        assert_eq!(out, Data::F32(vec![6.5, 7.5, 8.5, 9.5]));
        let wi = [1i8, -2, 3, 4, -128, 127];
        let out = linear(&x, 2, 3, Weights::I8(&wi), Bias::I32(&[10, 0]), 2);
        assert_eq!(out, Data::I32(vec![-117, 125, -115, 131]));
    }

    #[test]
    fn conv_matches_hand_computation() {
        // one 1×3×3 image, one 2×2 kernel of ones, stride 1, pad 0 → 2×2 sums of windows
        let x = Data::Spikes(vec![1, 0, 1, 0, 1, 0, 1, 1, 1]);
        let g = Geometry {
            c: 1,
            h: 3,
            w: 3,
            oh: 2,
            ow: 2,
            kernel: [2, 2],
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
        };
        let out = conv2d(&x, 1, g, 1, 1, Weights::F32(&[1.0; 4]), Bias::None);
        assert_eq!(out, Data::F32(vec![2.0, 2.0, 3.0, 3.0]));
        // with padding 1 and stride 2: 2×2 output over the padded 5×5
        let g = Geometry { oh: 2, ow: 2, strides: [2, 2], pads: [1, 1, 1, 1], ..g };
        let out = conv2d(&x, 1, g, 1, 1, Weights::I8(&[1; 4]), Bias::I32(&[1]));
        assert_eq!(out, Data::I32(vec![2, 2, 2, 4]));
    }

    #[test]
    fn pools() {
        let x = Data::Spikes(vec![1, 1, 0, 1]);
        let g = Geometry {
            c: 1,
            h: 2,
            w: 2,
            oh: 1,
            ow: 1,
            kernel: [2, 2],
            strides: [2, 2],
            pads: [0; 4],
            dilations: [1, 1],
        };
        assert_eq!(pool(&x, 1, g, PoolKind::Sum), Data::I32(vec![3]));
        assert_eq!(pool(&x, 1, g, PoolKind::Avg { count_include_pad: true }), Data::F32(vec![0.75]));
        let g = Geometry { oh: 2, ow: 2, strides: [1, 1], pads: [1, 1, 0, 0], ..g };
        assert_eq!(pool(&x, 1, g, PoolKind::Avg { count_include_pad: false }), Data::F32(vec![1.0, 1.0, 0.5, 0.75]));
        assert_eq!(pool(&x, 1, g, PoolKind::Avg { count_include_pad: true }), Data::F32(vec![0.25, 0.5, 0.25, 0.75]));
    }

    #[test]
    fn im2col_then_gemm_is_conv() {
        // 2 channels 3×3, kernel 2×2, stride 1, pad 1: compare conv with im2col · W
        let x = Data::Spikes(vec![1, 0, 1, 0, 1, 1, 1, 0, 0, /**/ 0, 1, 1, 1, 0, 1, 0, 0, 1]);
        let g = Geometry {
            c: 2,
            h: 3,
            w: 3,
            oh: 4,
            ow: 4,
            kernel: [2, 2],
            strides: [1, 1],
            pads: [1; 4],
            dilations: [1, 1],
        };
        let w: Vec<f32> = (0..3 * 2 * 4).map(|i| i as f32 - 7.0).collect(); // O = 3
        let conv = conv2d(&x, 1, g, 3, 1, Weights::F32(&w), Bias::None);
        let cols = im2col(&x, 1, g, [0, 2]);
        // weight as K × N: K = c·kh·kw = 8, N = 3
        let wk: Vec<f32> = (0..8).flat_map(|k| (0..3).map(move |o| (o * 8 + k) as f32 - 7.0)).collect();
        let gemm = linear(&cols, 16, 8, Weights::F32(&wk), Bias::None, 3);
        // gemm is positions × O; conv is O × positions
        let t = transpose(&gemm, &[1, 16, 3], &[0, 2, 1]);
        assert_eq!(t, conv);
    }

    #[test]
    fn concat_along_an_axis() {
        let a = crate::tensor::Tensor::new(vec![2, 1, 2], Data::I32(vec![1, 2, 3, 4]));
        let b = crate::tensor::Tensor::new(vec![2, 1, 1], Data::I32(vec![9, 8]));
        assert_eq!(concat(&[&a, &b], 2, &[2, 1, 3]), Data::I32(vec![1, 2, 9, 3, 4, 8]));
    }

    #[test]
    fn broadcast_add() {
        let a = Data::F32(vec![1.0, 2.0, 3.0, 4.0]);
        let b = Data::F32(vec![10.0, 20.0]);
        assert_eq!(add(&a, &b, true), Data::F32(vec![11.0, 22.0, 13.0, 24.0]));
        let s = Data::Spikes(vec![1, 0, 1, 1]);
        assert_eq!(add(&s, &s, false), Data::I32(vec![2, 0, 2, 2]));
    }
}
