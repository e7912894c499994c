//! Network description consumed by the trainer: a feed-forward stack of
//! [`LayerSpec::Linear`] and [`LayerSpec::Lif`] layers run for
//! [`NetSpec::time_steps`] steps.

use std::collections::BTreeSet;

use super::TrainError;

/// How a LIF neuron's membrane is reset after it fires (the dialect's own enum).
pub use phi_dialect::ops::snn::Reset;

/// One layer of a feed-forward spiking network.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerSpec {
    /// `y = x·W + b` over the last dimension. `W` is stored `[in_features,
    /// out_features]` (K×N, "in × out" — *not* PyTorch's `[out, in]`); its
    /// parameters are named `"<name>.weight"` and `"<name>.bias"`.
    Linear {
        /// Unique layer name, the prefix of its parameter names.
        name: String,
        /// K: width of the input.
        in_features: usize,
        /// N: width of the output.
        out_features: usize,
        /// Whether the layer has a bias `b` of shape `[out_features]`.
        bias: bool,
    },
    /// Leaky integrate-and-fire neurons, snnTorch `Leaky(reset_delay=False)`
    /// semantics (see the [module docs](super)). IF neurons are `beta = 1.0`.
    Lif {
        /// Membrane decay factor per time step, in `[0, 1]`.
        beta: f32,
        /// Firing threshold (> 0); a neuron fires iff its membrane is strictly above it.
        threshold: f32,
        /// Reset mechanism.
        reset: Reset,
    },
}

/// A feed-forward spiking network: `layers` applied in order to a binary
/// input of width `inputs` at each of `time_steps` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    /// Number of simulation steps T per sample.
    pub time_steps: usize,
    /// Width F of the binary input vector.
    pub inputs: usize,
    /// The layers, input side first. The last one must be a LIF layer: its
    /// spike counts are the class scores.
    pub layers: Vec<LayerSpec>,
}

impl NetSpec {
    /// Checks the spec: `T ≥ 1`, widths chain (`in_features` equals the
    /// current width), Linear names are unique and non-empty, LIF parameters
    /// are in range, and the last layer is a LIF layer.
    pub fn validate(&self) -> Result<(), TrainError> {
        let err = |msg: String| Err(TrainError::InvalidSpec(msg));
        if self.time_steps == 0 {
            return err("time_steps must be at least 1".into());
        }
        if self.inputs == 0 {
            return err("inputs must be at least 1".into());
        }
        let mut width = self.inputs;
        let mut names = BTreeSet::new();
        for (i, layer) in self.layers.iter().enumerate() {
            match layer {
                LayerSpec::Linear { name, in_features, out_features, bias: _ } => {
                    if name.is_empty() {
                        return err(format!("layer {i}: Linear layer has an empty name"));
                    }
                    if !names.insert(name.as_str()) {
                        return err(format!("layer {i}: duplicate Linear layer name {name:?}"));
                    }
                    if *in_features != width {
                        return err(format!(
                            "layer {i} ({name}): in_features is {in_features} but the incoming width is {width}"
                        ));
                    }
                    if *out_features == 0 {
                        return err(format!("layer {i} ({name}): out_features must be at least 1"));
                    }
                    width = *out_features;
                }
                LayerSpec::Lif { beta, threshold, reset: _ } => {
                    if !(beta.is_finite() && (0.0..=1.0).contains(beta)) {
                        return err(format!("layer {i}: LIF beta must be in [0, 1], got {beta}"));
                    }
                    if !(threshold.is_finite() && *threshold > 0.0) {
                        return err(format!("layer {i}: LIF threshold must be finite and > 0, got {threshold}"));
                    }
                }
            }
        }
        match self.layers.last() {
            Some(LayerSpec::Lif { .. }) => Ok(()),
            Some(LayerSpec::Linear { .. }) => {
                err("the last layer must be a LIF layer (its spike counts are the output)".into())
            }
            None => err("the network has no layers".into()),
        }
    }

    /// Width of the output (number of classes): the width after the last layer.
    pub fn outputs(&self) -> usize {
        self.layers
            .iter()
            .rev()
            .find_map(|l| match l {
                LayerSpec::Linear { out_features, .. } => Some(*out_features),
                LayerSpec::Lif { .. } => None,
            })
            .unwrap_or(self.inputs)
    }

    /// Number of LIF layers.
    pub fn lif_layers(&self) -> usize {
        self.layers.iter().filter(|l| matches!(l, LayerSpec::Lif { .. })).count()
    }

    /// Iterates over the Linear layers as `(name, in_features, out_features, bias)`.
    pub fn linear_layers(&self) -> impl Iterator<Item = (&str, usize, usize, bool)> {
        self.layers.iter().filter_map(|l| match l {
            LayerSpec::Linear { name, in_features, out_features, bias } => {
                Some((name.as_str(), *in_features, *out_features, *bias))
            }
            LayerSpec::Lif { .. } => None,
        })
    }

    /// The multi-layer perceptron `inputs → hidden… → outputs` where every
    /// Linear layer (named `fc1`, `fc2`, …, with bias) is followed by a LIF
    /// layer with the given parameters.
    pub fn mlp(
        time_steps: usize,
        inputs: usize,
        hidden: &[usize],
        outputs: usize,
        beta: f32,
        threshold: f32,
        reset: Reset,
    ) -> NetSpec {
        let mut layers = Vec::new();
        let mut width = inputs;
        for (i, &w) in hidden.iter().chain(std::iter::once(&outputs)).enumerate() {
            layers.push(LayerSpec::Linear {
                name: format!("fc{}", i + 1),
                in_features: width,
                out_features: w,
                bias: true,
            });
            layers.push(LayerSpec::Lif { beta, threshold, reset });
            width = w;
        }
        NetSpec { time_steps, inputs, layers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlp_validates() {
        let s = NetSpec::mlp(8, 64, &[256, 256], 10, 0.9, 1.0, Reset::Subtract);
        s.validate().unwrap();
        assert_eq!(s.outputs(), 10);
        assert_eq!(s.lif_layers(), 3);
        assert_eq!(s.linear_layers().count(), 3);
    }

    #[test]
    fn rejects_bad_specs() {
        let mut s = NetSpec::mlp(8, 4, &[3], 2, 0.9, 1.0, Reset::Zero);
        s.layers.pop();
        assert!(s.validate().is_err(), "last layer Linear");
        let mut s = NetSpec::mlp(8, 4, &[3], 2, 0.9, 1.0, Reset::Zero);
        if let Some(LayerSpec::Linear { in_features, .. }) = s.layers.get_mut(2) {
            *in_features = 4;
        }
        assert!(s.validate().is_err(), "width mismatch");
        let mut s = NetSpec::mlp(8, 4, &[3], 2, 1.5, 1.0, Reset::Zero);
        assert!(s.validate().is_err(), "beta > 1");
        s = NetSpec::mlp(0, 4, &[3], 2, 0.5, 1.0, Reset::Zero);
        assert!(s.validate().is_err(), "T = 0");
        s = NetSpec::mlp(4, 4, &[3], 2, 0.5, 1.0, Reset::Zero);
        if let Some(LayerSpec::Linear { name, .. }) = s.layers.get_mut(2) {
            *name = "fc1".into();
        }
        assert!(s.validate().is_err(), "duplicate name");
    }
}
