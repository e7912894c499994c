//! Spike datasets, batching into candle tensors, and seeded shuffling.

use std::path::Path;

use candle_core::{Device, Tensor};
use ndarray::{Array1, Array3};

use super::TrainError;

/// A labelled set of binary spike trains.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    x: Array3<u8>,
    y: Vec<u8>,
}

impl Dataset {
    /// Builds a dataset from spikes `x` (`[N, T, F]`, every value 0 or 1) and
    /// labels `y` (`N` class indices).
    pub fn new(x: Array3<u8>, y: Vec<u8>) -> Result<Self, TrainError> {
        let n = x.shape()[0];
        if n != y.len() {
            return Err(TrainError::InvalidData(format!("{n} samples but {} labels", y.len())));
        }
        if let Some(v) = x.iter().find(|&&v| v > 1) {
            return Err(TrainError::InvalidData(format!("spike values must be 0 or 1, found {v}")));
        }
        Ok(Dataset { x, y })
    }

    /// Loads `x` (`[N, T, F]` uint8) and `y` (`[N]` uint8) from `.npy` files.
    pub fn load_npy(x_path: &Path, y_path: &Path) -> Result<Self, TrainError> {
        let x: Array3<u8> =
            ndarray_npy::read_npy(x_path).map_err(|e| TrainError::Npy(format!("{}: {e}", x_path.display())))?;
        let y: Array1<u8> =
            ndarray_npy::read_npy(y_path).map_err(|e| TrainError::Npy(format!("{}: {e}", y_path.display())))?;
        Dataset::new(x, y.to_vec())
    }

    /// The spikes, `[N, T, F]`.
    pub fn x(&self) -> &Array3<u8> {
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

    /// Input width F.
    pub fn features(&self) -> usize {
        self.x.shape()[2]
    }

    /// Checks that the data fits a network with `time_steps` steps, `inputs`
    /// input features and `classes` outputs.
    pub(crate) fn check(&self, what: &str, time_steps: usize, inputs: usize, classes: usize) -> Result<(), TrainError> {
        if self.is_empty() {
            return Err(TrainError::InvalidData(format!("{what} set is empty")));
        }
        if self.time_steps() != time_steps || self.features() != inputs {
            return Err(TrainError::InvalidData(format!(
                "{what} set has T = {}, F = {}, the network expects T = {time_steps}, F = {inputs}",
                self.time_steps(),
                self.features()
            )));
        }
        if let Some(&bad) = self.y.iter().find(|&&c| usize::from(c) >= classes) {
            return Err(TrainError::InvalidData(format!(
                "{what} set has label {bad} but the network has {classes} outputs"
            )));
        }
        Ok(())
    }

    /// The samples `indices` as a time-major `f32` tensor `[T, B, F]` plus the
    /// labels as a `u32` tensor `[B]`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<(Tensor, Tensor), TrainError> {
        let (t_steps, f) = (self.time_steps(), self.features());
        let b = indices.len();
        let mut buf = vec![0f32; t_steps * b * f];
        for (bi, &i) in indices.iter().enumerate() {
            let sample = self.x.index_axis(ndarray::Axis(0), i);
            for t in 0..t_steps {
                let dst = &mut buf[(t * b + bi) * f..(t * b + bi + 1) * f];
                for (d, &s) in dst.iter_mut().zip(sample.row(t).iter()) {
                    *d = f32::from(s);
                }
            }
        }
        let x = Tensor::from_vec(buf, (t_steps, b, f), device)?;
        let labels: Vec<u32> = indices.iter().map(|&i| u32::from(self.y[i])).collect();
        let y = Tensor::from_vec(labels, b, device)?;
        Ok((x, y))
    }
}

pub(crate) use phi_runtime::rng::shuffle;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_binary_and_mismatched() {
        let x = Array3::<u8>::zeros((2, 3, 4));
        assert!(Dataset::new(x.clone(), vec![0]).is_err());
        let mut bad = x.clone();
        bad[[1, 2, 3]] = 2;
        assert!(Dataset::new(bad, vec![0, 1]).is_err());
        let d = Dataset::new(x, vec![0, 1]).unwrap();
        assert!(d.check("t", 3, 4, 2).is_ok());
        assert!(d.check("t", 3, 4, 1).is_err());
        assert!(d.check("t", 2, 4, 2).is_err());
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
        assert_eq!(d.x(), &x);
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
}
