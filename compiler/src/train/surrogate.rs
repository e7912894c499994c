//! The spike non-linearity: an exact Heaviside step whose backward pass is a
//! surrogate derivative.
//!
//! [`Heaviside`] is a candle [`CustomOp1`]. Its forward pass maps every element
//! `m` of the membrane tensor to exactly `1.0` when `m > threshold` (strict) and
//! to exactly `0.0` otherwise, so spike values never carry rounding noise. Its
//! [`CustomOp1::bwd`] multiplies the incoming gradient by the surrogate
//! derivative `σ'(m - threshold)` selected by [`Surrogate`]; that derivative is
//! itself evaluated by a second, gradient-free custom op
//! ([`SurrogateDerivative`]), so one backward step costs two element-wise
//! passes.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, WithDType};

/// The surrogate derivative used in place of the Heaviside step's Dirac delta
/// during back-propagation. `u = m - threshold` is the distance to threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Surrogate {
    /// snnTorch's `fast_sigmoid(slope)`: `σ'(u) = 1 / (1 + slope·|u|)²`.
    FastSigmoid {
        /// Steepness; larger values concentrate the gradient near threshold.
        slope: f32,
    },
    /// snnTorch's `atan(alpha)`: `σ'(u) = (alpha/2) / (1 + (π/2·alpha·u)²)`.
    Atan {
        /// Steepness; the peak derivative is `alpha / 2`.
        alpha: f32,
    },
}

impl Default for Surrogate {
    fn default() -> Self {
        Surrogate::FastSigmoid { slope: 25.0 }
    }
}

impl Surrogate {
    /// The surrogate derivative at distance-to-threshold `u`, in `f32`.
    pub fn derivative(self, u: f32) -> f32 {
        match self {
            Surrogate::FastSigmoid { slope } => {
                let d = 1.0 + slope * u.abs();
                1.0 / (d * d)
            }
            Surrogate::Atan { alpha } => {
                let z = std::f32::consts::FRAC_PI_2 * alpha * u;
                (alpha / 2.0) / (1.0 + z * z)
            }
        }
    }

    /// Checks that the parameter is finite and positive.
    pub(crate) fn validate(self) -> Result<(), String> {
        let (name, value) = match self {
            Surrogate::FastSigmoid { slope } => ("fast-sigmoid slope", slope),
            Surrogate::Atan { alpha } => ("atan alpha", alpha),
        };
        if value.is_finite() && value > 0.0 {
            Ok(())
        } else {
            Err(format!("{name} must be finite and > 0, got {value}"))
        }
    }
}

/// Applies `f` element-wise over a (possibly strided) CPU storage of `T`,
/// returning a contiguous result in logical (row-major) order.
fn map_elements<T: WithDType>(storage: &[T], layout: &Layout, f: impl Fn(T) -> T) -> Vec<T> {
    if let Some((start, end)) = layout.contiguous_offsets() {
        return storage[start..end].iter().map(|&x| f(x)).collect();
    }
    // General strided walk: odometer over the logical index.
    let dims = layout.dims();
    let stride = layout.stride();
    let count: usize = dims.iter().product();
    let mut out = Vec::with_capacity(count);
    if count == 0 {
        return out;
    }
    let mut index = vec![0usize; dims.len()];
    let mut offset = layout.start_offset();
    for _ in 0..count {
        out.push(f(storage[offset]));
        for d in (0..dims.len()).rev() {
            index[d] += 1;
            offset += stride[d];
            if index[d] < dims[d] {
                break;
            }
            offset -= stride[d] * dims[d];
            index[d] = 0;
        }
    }
    out
}

/// Maps an `f32`/`f64` CPU storage element-wise with an `f32` function
/// (`f64` inputs are evaluated in `f64` by the `f64` closure).
fn map_float(
    name: &'static str,
    storage: &CpuStorage,
    layout: &Layout,
    f32_fn: impl Fn(f32) -> f32,
    f64_fn: impl Fn(f64) -> f64,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let out = if let Ok(data) = storage.as_slice::<f32>() {
        CpuStorage::F32(map_elements(data, layout, f32_fn))
    } else if let Ok(data) = storage.as_slice::<f64>() {
        CpuStorage::F64(map_elements(data, layout, f64_fn))
    } else {
        return Err(candle_core::Error::Msg(format!("{name}: only f32 and f64 tensors are supported")).bt());
    };
    Ok((out, layout.shape().clone()))
}

/// The spike function `H(m - threshold)`: forward is the exact strict step
/// (`1.0` iff `m > threshold`), backward is `grad · σ'(m - threshold)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Heaviside {
    /// Firing threshold (the step is at `m = threshold`, which maps to 0).
    pub threshold: f32,
    /// Surrogate derivative used by the backward pass.
    pub surrogate: Surrogate,
}

impl CustomOp1 for Heaviside {
    fn name(&self) -> &'static str {
        "phi-heaviside"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let thr32 = self.threshold;
        let thr64 = f64::from(self.threshold);
        map_float(
            self.name(),
            storage,
            layout,
            |m| if m > thr32 { 1.0 } else { 0.0 },
            |m| if m > thr64 { 1.0 } else { 0.0 },
        )
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let slope = arg
            .detach()
            .apply_op1_no_bwd(&SurrogateDerivative { threshold: self.threshold, surrogate: self.surrogate })?;
        Ok(Some(grad_res.mul(&slope)?))
    }
}

/// Gradient-free element-wise op computing `σ'(m - threshold)`; used by
/// [`Heaviside`]'s backward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurrogateDerivative {
    /// Firing threshold.
    pub threshold: f32,
    /// The derivative to evaluate.
    pub surrogate: Surrogate,
}

impl CustomOp1 for SurrogateDerivative {
    fn name(&self) -> &'static str {
        "phi-surrogate-derivative"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let thr = self.threshold;
        let sg = self.surrogate;
        map_float(
            self.name(),
            storage,
            layout,
            |m| sg.derivative(m - thr),
            // f64 inputs: evaluate the f32 formula on the f32-rounded distance.
            |m| f64::from(sg.derivative((m - f64::from(thr)) as f32)),
        )
    }
}

/// Applies the spike function to a membrane tensor (`f32` or `f64`, CPU).
pub fn spike(membrane: &Tensor, threshold: f32, surrogate: Surrogate) -> candle_core::Result<Tensor> {
    membrane.apply_op1(Heaviside { threshold, surrogate })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn forward_is_exact_step() {
        let dev = Device::Cpu;
        let xs: Vec<f32> = vec![-3.0, 0.0, 0.999_999_9, 1.0, 1.000_000_1, 2.5, f32::MIN_POSITIVE];
        let t = Tensor::from_vec(xs.clone(), xs.len(), &dev).unwrap();
        let s = spike(&t, 1.0, Surrogate::default()).unwrap();
        let got = s.to_vec1::<f32>().unwrap();
        let want: Vec<f32> = xs.iter().map(|&x| if x > 1.0 { 1.0 } else { 0.0 }).collect();
        assert_eq!(got, want);
        for v in got {
            assert!(v.to_bits() == 1.0f32.to_bits() || v.to_bits() == 0.0f32.to_bits());
        }
    }

    #[test]
    fn forward_handles_strided_input() {
        let dev = Device::Cpu;
        let t = Tensor::from_vec(vec![0.0f32, 2.0, 3.0, 0.5, 1.5, 0.0], (2, 3), &dev).unwrap();
        let tt = t.t().unwrap(); // [3, 2], non-contiguous
        let s = spike(&tt, 1.0, Surrogate::default()).unwrap();
        assert_eq!(s.to_vec2::<f32>().unwrap(), vec![vec![0.0, 0.0], vec![1.0, 1.0], vec![1.0, 0.0]]);
    }

    fn check_gradient(surrogate: Surrogate) {
        let dev = Device::Cpu;
        let thr = 0.75f32;
        let xs: Vec<f32> = vec![-2.0, -0.1, 0.5, 0.75, 0.8, 1.0, 3.0];
        let weights: Vec<f32> = vec![1.0, -2.0, 0.5, 3.0, 1.5, -1.0, 2.0];
        let x = Var::from_vec(xs.clone(), xs.len(), &dev).unwrap();
        let w = Tensor::from_vec(weights.clone(), weights.len(), &dev).unwrap();
        let y = spike(x.as_tensor(), thr, surrogate).unwrap();
        let loss = y.mul(&w).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let g = grads.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
        for i in 0..xs.len() {
            let u = xs[i] - thr;
            let want = match surrogate {
                Surrogate::FastSigmoid { slope } => weights[i] / (1.0 + slope * u.abs()).powi(2),
                Surrogate::Atan { alpha } => {
                    weights[i] * (alpha / 2.0) / (1.0 + (std::f32::consts::PI / 2.0 * alpha * u).powi(2))
                }
            };
            assert!(
                (g[i] - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{surrogate:?} x={} got {} want {}",
                xs[i],
                g[i],
                want
            );
        }
    }

    #[test]
    fn gradient_is_fast_sigmoid_surrogate() {
        check_gradient(Surrogate::FastSigmoid { slope: 25.0 });
        check_gradient(Surrogate::FastSigmoid { slope: 2.0 });
    }

    #[test]
    fn gradient_is_atan_surrogate() {
        check_gradient(Surrogate::Atan { alpha: 2.0 });
    }

    #[test]
    fn peak_derivatives() {
        assert_eq!(Surrogate::FastSigmoid { slope: 25.0 }.derivative(0.0), 1.0);
        assert_eq!(Surrogate::Atan { alpha: 2.0 }.derivative(0.0), 1.0);
    }
}
