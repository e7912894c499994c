//! Named `f32` parameter tensors: seeded initialisation and safetensors I/O.
//!
//! Parameter names are `"<layer>.weight"` and `"<layer>.bias"`: shapes
//! `[in_features, out_features]` and `[out_features]` for a Linear layer,
//! `[out_channels, in_channels, kh, kw]` and `[out_channels]` for a Conv2d
//! layer, all row-major.

use std::collections::BTreeMap;
use std::path::Path;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};

use super::TrainError;
use super::spec::NetSpec;

/// One dense row-major `f32` tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values in row-major order.
    pub data: Vec<f32>,
}

impl WeightTensor {
    /// A tensor from its shape and data; fails if the sizes disagree.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, TrainError> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(TrainError::InvalidWeights(format!("shape {shape:?} needs {n} values, got {}", data.len())));
        }
        Ok(WeightTensor { shape, data })
    }
}

/// A set of named parameter tensors, ordered by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Weights {
    /// The tensors by parameter name.
    pub tensors: BTreeMap<String, WeightTensor>,
}

/// Name of a synaptic (Linear or Conv2d) layer's weight parameter.
pub fn weight_name(layer: &str) -> String {
    format!("{layer}.weight")
}

/// Name of a synaptic (Linear or Conv2d) layer's bias parameter.
pub fn bias_name(layer: &str) -> String {
    format!("{layer}.bias")
}

impl Weights {
    /// The tensor called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&WeightTensor> {
        self.tensors.get(name)
    }

    /// Inserts (or replaces) a tensor.
    pub fn insert(&mut self, name: impl Into<String>, tensor: WeightTensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Checks that the tensors are exactly the parameters of `spec` with the
    /// right shapes and finite values (no missing, no extra tensors).
    pub fn check(&self, spec: &NetSpec) -> Result<(), TrainError> {
        let mut expected = BTreeMap::new();
        for syn in spec.synapses() {
            expected.insert(weight_name(syn.name), syn.weight);
            if let Some(b) = syn.bias {
                expected.insert(bias_name(syn.name), b);
            }
        }
        for (name, shape) in &expected {
            match self.tensors.get(name) {
                None => {
                    return Err(TrainError::InvalidWeights(format!("missing parameter {name:?} (shape {shape:?})")));
                }
                Some(t) if &t.shape != shape => {
                    return Err(TrainError::InvalidWeights(format!(
                        "parameter {name:?} has shape {:?}, expected {shape:?}",
                        t.shape
                    )));
                }
                Some(t) => {
                    if t.data.len() != shape.iter().product::<usize>() {
                        return Err(TrainError::InvalidWeights(format!(
                            "parameter {name:?} has {} values for shape {shape:?}",
                            t.data.len()
                        )));
                    }
                    if let Some(bad) = t.data.iter().find(|v| !v.is_finite()) {
                        return Err(TrainError::InvalidWeights(format!(
                            "parameter {name:?} holds a non-finite value ({bad})"
                        )));
                    }
                }
            }
        }
        if let Some(extra) = self.tensors.keys().find(|k| !expected.contains_key(*k)) {
            return Err(TrainError::InvalidWeights(format!("unexpected parameter {extra:?} (not in the network)")));
        }
        Ok(())
    }
}

/// A uniform `f32` in `[0, 1)` from the top 24 bits of one `u32` draw.
fn unit_f32(rng: &mut ChaCha8Rng) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Seeded initial parameters, PyTorch's default distribution for
/// `nn.Linear` and `nn.Conv2d`: every weight and bias is uniform in
/// `[-1/√K, 1/√K)` with `K` the fan-in, `in_features` for a Linear layer and
/// `in_channels·kh·kw` for a convolution (Kaiming-uniform with `a = √5`).
///
/// Draws come from `ChaCha8Rng::seed_from_u64(seed)`: synaptic layers in spec
/// order, for each its weight in row-major order (`[K, N]` or `[O, C, kh,
/// kw]`) then its bias; each value is `bound·(2u − 1)` with
/// `u = (next_u32() >> 8) / 2²⁴`.
pub fn init_weights(spec: &NetSpec, seed: u64) -> Result<Weights, TrainError> {
    spec.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut weights = Weights::default();
    for syn in spec.synapses() {
        let bound = 1.0 / (syn.fan_in as f32).sqrt();
        let mut draw =
            |count: usize| -> Vec<f32> { (0..count).map(|_| bound * (2.0 * unit_f32(&mut rng) - 1.0)).collect() };
        let w = draw(syn.weight.iter().product());
        weights.insert(weight_name(syn.name), WeightTensor { shape: syn.weight, data: w });
        if let Some(shape) = syn.bias {
            let b = draw(shape.iter().product());
            weights.insert(bias_name(syn.name), WeightTensor { shape, data: b });
        }
    }
    Ok(weights)
}

fn io_err(path: &Path, source: std::io::Error) -> TrainError {
    TrainError::Io { path: path.to_path_buf(), source }
}

/// Serialises `weights` as little-endian `F32` safetensors bytes.
pub fn to_safetensors_bytes(weights: &Weights) -> Result<Vec<u8>, TrainError> {
    let bytes: Vec<(&String, Vec<usize>, Vec<u8>)> = weights
        .tensors
        .iter()
        .map(|(name, t)| {
            let raw = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, t.shape.clone(), raw)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, raw)| {
            TensorView::new(Dtype::F32, shape.clone(), raw)
                .map(|v| (name.as_str(), v))
                .map_err(|e| TrainError::Safetensors(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::tensor::serialize(views, None).map_err(|e| TrainError::Safetensors(e.to_string()))
}

/// Parses safetensors bytes holding `F32` tensors.
pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<Weights, TrainError> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| TrainError::Safetensors(e.to_string()))?;
    let mut weights = Weights::default();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(TrainError::Safetensors(format!(
                "tensor {name:?} has dtype {:?}; only F32 is supported",
                view.dtype()
            )));
        }
        let data = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        weights.insert(name, WeightTensor::new(view.shape().to_vec(), data)?);
    }
    Ok(weights)
}

/// Writes `weights` to `path` as safetensors, atomically: the bytes go to a
/// temporary file in the same directory which is then renamed over `path`.
pub fn save_safetensors(weights: &Weights, path: &Path) -> Result<(), TrainError> {
    let bytes = to_safetensors_bytes(weights)?;
    write_atomically(path, &bytes)
}

/// Reads a safetensors file of `F32` tensors.
pub fn load_safetensors(path: &Path) -> Result<Weights, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    from_safetensors_bytes(&bytes)
}

/// Writes `bytes` to `path` atomically (see [`phi_runtime::npy::write_atomic`]).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    phi_runtime::npy::write_atomic(path, bytes).map_err(|e| io_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::spec::Reset;

    fn spec() -> NetSpec {
        NetSpec::mlp(4, 6, &[5], 3, 0.9, 1.0, Reset::Subtract)
    }

    #[test]
    fn init_is_seeded_and_in_range() {
        let a = init_weights(&spec(), 7).unwrap();
        let b = init_weights(&spec(), 7).unwrap();
        let c = init_weights(&spec(), 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        a.check(&spec()).unwrap();
        let w = a.get("fc1.weight").unwrap();
        assert_eq!(w.shape, vec![6, 5]);
        let bound = 1.0 / 6f32.sqrt();
        assert!(w.data.iter().all(|v| v.abs() <= bound));
        let b2 = a.get("fc2.bias").unwrap();
        assert_eq!(b2.shape, vec![3]);
        assert!(b2.data.iter().all(|v| v.abs() <= 1.0 / 5f32.sqrt()));
        // Not degenerate: values spread over the range.
        let mean: f32 = w.data.iter().sum::<f32>() / w.data.len() as f32;
        assert!(mean.abs() < bound / 2.0);
    }

    #[test]
    fn conv_init_uses_the_fan_in() {
        let s = crate::train::spec::tests::small_cnn(6, 5);
        let a = init_weights(&s, 4).unwrap();
        assert_eq!(a, init_weights(&s, 4).unwrap());
        a.check(&s).unwrap();
        let w = a.get("c1.weight").unwrap();
        assert_eq!(w.shape, vec![4, 2, 3, 3]);
        let bound = 1.0 / 18f32.sqrt();
        assert!(w.data.iter().all(|v| v.abs() <= bound));
        assert!(w.data.iter().any(|v| v.abs() > bound / 2.0));
        assert_eq!(a.get("c1.bias").unwrap().shape, vec![4]);
        assert!(a.get("c2.bias").is_none(), "c2 has no bias");
        assert!(a.get("c2.weight").unwrap().data.iter().all(|v| v.abs() <= 1.0 / 6.0));
        let mut w = a.clone();
        w.insert("c2.weight", WeightTensor::new(vec![3, 4, 3, 2], vec![0.0; 72]).unwrap());
        assert!(w.check(&s).is_err(), "wrong kernel shape");
    }

    #[test]
    fn safetensors_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let mut w = init_weights(&spec(), 3).unwrap();
        w.tensors.get_mut("fc1.weight").unwrap().data[0] = -0.0;
        w.tensors.get_mut("fc1.bias").unwrap().data[1] = f32::MIN_POSITIVE / 4.0;
        save_safetensors(&w, &path).unwrap();
        let r = load_safetensors(&path).unwrap();
        assert_eq!(r.len(), w.len());
        for (name, t) in &w.tensors {
            let u = r.get(name).unwrap();
            assert_eq!(u.shape, t.shape);
            let a: Vec<u32> = t.data.iter().map(|v| v.to_bits()).collect();
            let b: Vec<u32> = u.data.iter().map(|v| v.to_bits()).collect();
            assert_eq!(a, b, "{name}");
        }
        // Overwriting an existing file works and leaves no temporary behind.
        save_safetensors(&r, &path).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Same weights, same bytes.
        assert_eq!(to_safetensors_bytes(&w).unwrap(), std::fs::read(&path).unwrap());
    }

    #[test]
    fn check_rejects_mismatches() {
        let s = spec();
        let mut w = init_weights(&s, 1).unwrap();
        w.insert("extra", WeightTensor::new(vec![1], vec![0.0]).unwrap());
        assert!(w.check(&s).is_err());
        let mut w = init_weights(&s, 1).unwrap();
        w.tensors.remove("fc2.bias");
        assert!(w.check(&s).is_err());
        let mut w = init_weights(&s, 1).unwrap();
        w.insert("fc2.bias", WeightTensor::new(vec![4], vec![0.0; 4]).unwrap());
        assert!(w.check(&s).is_err());
        assert!(WeightTensor::new(vec![2, 2], vec![0.0; 3]).is_err());
    }
}
