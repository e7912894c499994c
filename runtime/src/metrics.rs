//! Read-out of output spikes: spike counts, predicted classes, accuracy.
//!
//! The predicted class of a sample is the output neuron with the most spikes over all time
//! steps; ties go to the lowest index (so a silent output predicts class 0).

use crate::tensor::Tensor;

/// Spike counts per sample and output neuron, `[N][n_out]`, from spikes `[N, T, n_out]`.
pub fn spike_counts(spikes: &Tensor) -> Option<Vec<Vec<u32>>> {
    let s = spikes.as_spikes()?;
    let (n, per) = (*spikes.shape.first()?, spikes.shape.get(1..)?.iter().product::<usize>());
    let t = *spikes.shape.get(1)?;
    let n_out = per / t.max(1);
    Some(
        (0..n)
            .map(|i| {
                let mut c = vec![0u32; n_out];
                for step in 0..t {
                    let base = i * per + step * n_out;
                    for (j, cj) in c.iter_mut().enumerate() {
                        *cj += s[base + j] as u32;
                    }
                }
                c
            })
            .collect(),
    )
}

/// The predicted class of each sample.
pub fn predictions(spikes: &Tensor) -> Option<Vec<usize>> {
    Some(
        spike_counts(spikes)?
            .iter()
            .map(|c| c.iter().enumerate().fold((0, 0), |best, (j, &x)| if x > best.1 { (j, x) } else { best }).0)
            .collect(),
    )
}

/// Number of correct predictions against labels.
pub fn correct(spikes: &Tensor, labels: &[usize]) -> Option<usize> {
    Some(predictions(spikes)?.iter().zip(labels).filter(|(p, l)| p == l).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ties() {
        // 2 samples, T = 2, 3 outputs
        let t = Tensor::spikes(vec![2, 2, 3], vec![0, 1, 1, 0, 1, 1, /**/ 0, 0, 0, 0, 0, 0]);
        assert_eq!(spike_counts(&t).unwrap(), vec![vec![0, 2, 2], vec![0, 0, 0]]);
        assert_eq!(predictions(&t).unwrap(), vec![1, 0]);
        assert_eq!(correct(&t, &[1, 2]).unwrap(), 1);
    }
}
