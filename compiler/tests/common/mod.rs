//! Shared by the command-line tests of `phic train` and `phic tune`: a tiny spiking CNN in
//! ONNX text and a seeded three-class data set for it.

use std::path::Path;

use ndarray::{Array1, Array5};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A tiny CNN on `[N, 4, 1, 6, 6]` spikes (conv K = 9, conv K = 36, linear K = 54), weights in
/// `weights.safetensors`; `header` is the model's `<…>` header.
pub fn tiny_cnn(header: &str) -> String {
    format!(
        r#"{header}
tiny_cnn (uint8[N, 4, 1, 6, 6] x) => (uint8[N, 4, 3] y)
<
  float[4, 1, 3, 3] conv1_weight = ["location": "weights.safetensors", "key": "conv1.weight"],
  float[4] conv1_bias = ["location": "weights.safetensors", "key": "conv1.bias"],
  float[6, 4, 3, 3] conv2_weight = ["location": "weights.safetensors", "key": "conv2.weight"],
  float[6] conv2_bias = ["location": "weights.safetensors", "key": "conv2.bias"],
  float[3, 54] fc_weight = ["location": "weights.safetensors", "key": "fc.weight"],
  float[3] fc_bias = ["location": "weights.safetensors", "key": "fc.bias"]
>
{{
  c1 = Conv<pads = [1, 1, 1, 1], strides = [1, 1], kernel_shape = [3, 3]>(x, conv1_weight, conv1_bias)
  s1 = snn.LIF<beta = 0.9, threshold = 0.5, reset_mechanism = "subtract">(c1)
  c2 = Conv<pads = [1, 1, 0, 0], strides = [2, 2], kernel_shape = [3, 3]>(s1, conv2_weight, conv2_bias)
  s2 = snn.LIF<beta = 0.9, threshold = 0.5, reset_mechanism = "subtract">(c2)
  f = Flatten<axis = 2>(s2)
  h = Gemm<transB = 1>(f, fc_weight, fc_bias)
  y = snn.LIF<beta = 0.9, threshold = 0.5, reset_mechanism = "subtract">(h)
}}
"#
    )
}

/// Writes `<name>.npy` and `<name>_labels.npy`: `n` samples of three classes, class `k` firing
/// with probability 0.7 in the rows `2k, 2k + 1` and `background` elsewhere.
pub fn write_data(dir: &Path, name: &str, n: usize, seed: u64, background: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array5::<u8>::from_shape_fn((n, 4, 1, 6, 6), |(i, _, _, h, _)| {
        let p = if h / 2 == i % 3 { 0.7 } else { background };
        u8::from(f64::from(rng.next_u32()) / 4_294_967_296.0 < p)
    });
    let y = Array1::from_shape_fn(n, |i| (i % 3) as u8);
    ndarray_npy::write_npy(dir.join(format!("{name}.npy")), &x).unwrap();
    ndarray_npy::write_npy(dir.join(format!("{name}_labels.npy")), &y).unwrap();
}
