//! Model inputs as the integer model and the accelerator take them.
//!
//! Spikes (rate coding) and integer counts are taken as they are. A real-valued
//! (direct-encoded) input is quantised on the way in, to 8-bit signed codes at the input's
//! scale `s` (chosen by the `quantize` pass from calibration data: `max |x| / 127`):
//!
//! ```text
//! code(x) = clamp(round(x / s), −127, 127)        (f32 arithmetic, halves away from zero)
//! ```
//!
//! so the first layer's current is `Σ code · w_q`, in units of `s · s_w`. The integer reference
//! interpreter and the emulator both convert with [`quantize`], which is what makes them agree
//! bit for bit; the accelerator receives the codes (its first layer runs on the dense path, as
//! every layer whose input is not spikes).

use phi_dialect::ElemType;

use crate::npy::{NpyArray, to_tensor};
use crate::tensor::{Data, Tensor};

/// The largest input code in magnitude.
pub const CODE_MAX: f32 = 127.0;

/// The scale that maps `max_abs` to the largest code (1 for an all-zero or non-finite range).
pub fn scale_for(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() { max_abs / CODE_MAX } else { 1.0 }
}

/// The code of `x` at `scale` (NaN becomes 0).
#[inline]
pub fn quantize(x: f32, scale: f32) -> i32 {
    let q = (x / scale).round().clamp(-CODE_MAX, CODE_MAX);
    if q.is_nan() { 0 } else { q as i32 }
}

/// A tensor for a model input of element type `elem`: with `scale` (a quantised real-valued
/// input), real values become their codes; otherwise the array is converted as
/// [`to_tensor`] does (integer arrays given for a quantised input are taken as codes).
pub fn tensor(a: &NpyArray, elem: ElemType, scale: Option<f32>) -> Result<Tensor, String> {
    match (scale, a) {
        (Some(s), NpyArray::F32(_) | NpyArray::F64(_)) => {
            let codes = a.to_f64().iter().map(|&v| quantize(v as f32, s)).collect();
            Ok(Tensor::new(a.shape().to_vec(), Data::I32(codes)))
        }
        (Some(_), _) | (None, _) => to_tensor(a, elem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_half_away_and_saturate() {
        assert_eq!(quantize(0.5, 1.0), 1);
        assert_eq!(quantize(-0.5, 1.0), -1);
        assert_eq!(quantize(0.49, 1.0), 0);
        assert_eq!(quantize(1000.0, 1.0), 127);
        assert_eq!(quantize(-1000.0, 1.0), -127);
        assert_eq!(quantize(f32::NAN, 1.0), 0);
        assert_eq!(quantize(f32::INFINITY, 1.0), 127);
        let s = scale_for(2.0);
        assert_eq!(quantize(2.0, s), 127);
        assert_eq!(quantize(-2.0, s), -127);
        assert_eq!(scale_for(0.0), 1.0);
    }

    #[test]
    fn real_arrays_become_codes_only_with_a_scale() {
        let a = NpyArray::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 2]), vec![0.26, -1.0]).unwrap());
        let t = tensor(&a, ElemType::I32, Some(0.5)).unwrap();
        assert_eq!(t.data, Data::I32(vec![1, -2]));
        let f = tensor(&a, ElemType::F32, None).unwrap();
        assert_eq!(f.data, Data::F32(vec![0.26, -1.0]));
    }
}
