//! Spike datasets, batching into candle tensors, and seeded shuffling.

use std::path::Path;

use candle_core::{Device, Tensor};
use ndarray::{Array, Array1, ArrayD, Dimension};

use super::TrainError;

/// A labelled set of binary spike trains `[N, T, …]`: `N` samples of `T`
/// steps, each step a tensor of any shape (`[F]`, or `[C, H, W]` for images).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    x: ArrayD<u8>,
    y: Vec<u8>,
}

impl Dataset {
    /// Builds a dataset from spikes `x` (`[N, T, …]` with at least one
    /// dimension after `T`, every value 0 or 1) and labels `y` (`N` class
    /// indices).
    pub fn new<D: Dimension>(x: Array<u8, D>, y: Vec<u8>) -> Result<Self, TrainError> {
        let x = x.into_dyn();
        Self::validate(&x, &y).map_err(TrainError::InvalidData)?;
        Ok(Dataset { x, y })
    }

    fn validate(x: &ArrayD<u8>, y: &[u8]) -> Result<(), String> {
        if x.ndim() < 3 {
            return Err(format!(
                "spikes must be [N, T, ...] with at least one dimension after T, got shape {:?}",
                x.shape()
            ));
        }
        let n = x.shape()[0];
        if n != y.len() {
            return Err(format!("{n} samples but {} labels", y.len()));
        }
        if let Some(v) = x.iter().find(|&&v| v > 1) {
            return Err(format!("spike values must be 0 or 1, found {v}"));
        }
        Ok(())
    }

    /// Loads `x` (`[N, T, …]` uint8) and `y` (`[N]` uint8) from `.npy` files.
    pub fn load_npy(x_path: &Path, y_path: &Path) -> Result<Self, TrainError> {
        let x: ArrayD<u8> =
            ndarray_npy::read_npy(x_path).map_err(|e| TrainError::Npy(format!("{}: {e}", x_path.display())))?;
        let y: Array1<u8> =
            ndarray_npy::read_npy(y_path).map_err(|e| TrainError::Npy(format!("{}: {e}", y_path.display())))?;
        let y = y.to_vec();
        Self::validate(&x, &y).map_err(|e| TrainError::InvalidData(format!("{}: {e}", x_path.display())))?;
        Ok(Dataset { x, y })
    }

    /// The spikes, `[N, T, …]`.
    pub fn x(&self) -> &ArrayD<u8> {
        &self.x
    }

    /// The labels, `N` of them.
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    /// Number of samples N.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Number of time steps T.
    pub fn time_steps(&self) -> usize {
        self.x.shape()[1]
    }

    /// The shape of one sample at one step (the dimensions after `N, T`).
    pub fn step_shape(&self) -> &[usize] {
        &self.x.shape()[2..]
    }

    /// Number of input values per sample and step (the product of [`Dataset::step_shape`]).
    pub fn features(&self) -> usize {
        self.step_shape().iter().product()
    }

    /// Checks that the data fits a network with `time_steps` steps, per-step
    /// input shape `input_shape` and `classes` outputs.
    pub(crate) fn check(
        &self,
        what: &str,
        time_steps: usize,
        input_shape: &[usize],
        classes: usize,
    ) -> Result<(), TrainError> {
        if self.is_empty() {
            return Err(TrainError::InvalidData(format!("{what} set is empty")));
        }
        if self.time_steps() != time_steps || self.step_shape() != input_shape {
            return Err(TrainError::InvalidData(format!(
                "{what} set is [N, T = {}, {}], the network expects T = {time_steps} and steps of shape {input_shape:?}",
                self.time_steps(),
                dims(self.step_shape())
            )));
        }
        if let Some(&bad) = self.y.iter().find(|&&c| usize::from(c) >= classes) {
            return Err(TrainError::InvalidData(format!(
                "{what} set has label {bad} but the network has {classes} outputs"
            )));
        }
        Ok(())
    }

    /// The samples `indices` as a time-major `f32` tensor `[T, B, …]` plus the
    /// labels as a `u32` tensor `[B]`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<(Tensor, Tensor), TrainError> {
        let (t_steps, f) = (self.time_steps(), self.features());
        let b = indices.len();
        let mut buf = vec![0f32; t_steps * b * f];
        for (bi, &i) in indices.iter().enumerate() {
            if i >= self.len() {
                return Err(TrainError::InvalidData(format!("sample {i} of {}", self.len())));
            }
            let sample = self.x.index_axis(ndarray::Axis(0), i);
            // One sample is [T, …]; in standard order its values run t-major.
            for (j, &s) in sample.iter().enumerate() {
                let (t, k) = (j / f, j % f);
                buf[(t * b + bi) * f + k] = f32::from(s);
            }
        }
        let shape: Vec<usize> = [t_steps, b].into_iter().chain(self.step_shape().iter().copied()).collect();
        let x = Tensor::from_vec(buf, shape, device)?;
        let labels: Vec<u32> = indices.iter().map(|&i| u32::from(self.y[i])).collect();
        let y = Tensor::from_vec(labels, b, device)?;
        Ok((x, y))
    }
}

/// `[a, b, c]` without quotes, for messages.
fn dims(shape: &[usize]) -> String {
    shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
}

pub(crate) use phi_runtime::rng::shuffle;

#[cfg(test)]
mod tests {
    use ndarray::Array3;

    use super::*;

    #[test]
    fn rejects_non_binary_and_mismatched() {
        let x = Array3::<u8>::zeros((2, 3, 4));
        assert!(Dataset::new(x.clone(), vec![0]).is_err());
        let mut bad = x.clone();
        bad[[1, 2, 3]] = 2;
        assert!(Dataset::new(bad, vec![0, 1]).is_err());
        let d = Dataset::new(x, vec![0, 1]).unwrap();
        assert!(d.check("t", 3, &[4], 2).is_ok());
        assert!(d.check("t", 3, &[4], 1).is_err());
        assert!(d.check("t", 2, &[4], 2).is_err());
        assert!(d.check("t", 3, &[2, 2], 2).is_err(), "same count, other shape");
        assert!(Dataset::new(ndarray::Array2::<u8>::zeros((2, 3)), vec![0, 1]).is_err(), "no step dimension");
    }

    #[test]
    fn loads_npy_pair() {
        let dir = tempfile::tempdir().unwrap();
        let mut x = Array3::<u8>::zeros((3, 2, 4));
        x[[1, 1, 2]] = 1;
        let y = Array1::from(vec![2u8, 0, 1]);
        let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        ndarray_npy::write_npy(&xp, &x).unwrap();
        ndarray_npy::write_npy(&yp, &y).unwrap();
        let d = Dataset::load_npy(&xp, &yp).unwrap();
        assert_eq!(d.x(), &x.clone().into_dyn());
        assert_eq!(d.y(), &[2, 0, 1]);
        assert_eq!((d.len(), d.time_steps(), d.features()), (3, 2, 4));
        assert!(Dataset::load_npy(&xp, &dir.path().join("missing.npy")).is_err());
    }

    #[test]
    fn batch_is_time_major() {
        let mut x = Array3::<u8>::zeros((3, 2, 2));
        x[[2, 1, 0]] = 1;
        x[[0, 0, 1]] = 1;
        let d = Dataset::new(x, vec![0, 1, 2]).unwrap();
        let (bx, by) = d.batch(&[2, 0], &Device::Cpu).unwrap();
        assert_eq!(bx.dims(), &[2, 2, 2]);
        let v = bx.to_vec3::<f32>().unwrap();
        assert_eq!(v[1][0], vec![1.0, 0.0]); // t=1, sample 2
        assert_eq!(v[0][1], vec![0.0, 1.0]); // t=0, sample 0
        assert_eq!(by.to_vec1::<u32>().unwrap(), vec![2, 0]);
    }

    #[test]
    fn images_load_and_batch_time_major() {
        // [N = 2, T = 3, C = 2, H = 2, W = 3] with x[n, t, c, h, w] = 1 iff (n + t + c + h + w) % 3 == 0.
        let x = ndarray::Array5::<u8>::from_shape_fn((2, 3, 2, 2, 3), |(n, t, c, h, w)| {
            u8::from((n + t + c + h + w) % 3 == 0)
        });
        let dir = tempfile::tempdir().unwrap();
        let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
        ndarray_npy::write_npy(&xp, &x).unwrap();
        ndarray_npy::write_npy(&yp, &Array1::from(vec![1u8, 0])).unwrap();
        let d = Dataset::load_npy(&xp, &yp).unwrap();
        assert_eq!((d.time_steps(), d.step_shape(), d.features()), (3, &[2, 2, 3][..], 12));
        assert!(d.check("t", 3, &[2, 2, 3], 2).is_ok());
        assert!(d.check("t", 3, &[12], 2).is_err());
        let (bx, _) = d.batch(&[1, 0], &Device::Cpu).unwrap();
        assert_eq!(bx.dims(), &[3, 2, 2, 2, 3]);
        let flat = bx.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for t in 0..3 {
            for (b, n) in [1usize, 0].into_iter().enumerate() {
                for c in 0..2 {
                    for h in 0..2 {
                        for w in 0..3 {
                            let i = (((t * 2 + b) * 2 + c) * 2 + h) * 3 + w;
                            assert_eq!(flat[i], f32::from(x[[n, t, c, h, w]]), "t{t} n{n} c{c} h{h} w{w}");
                        }
                    }
                }
            }
        }
        assert!(d.batch(&[2], &Device::Cpu).is_err(), "index out of range");
    }
}
