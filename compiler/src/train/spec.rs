//! Network description consumed by the trainer: a feed-forward stack of
//! [`LayerSpec::Linear`], [`LayerSpec::Conv2d`], [`LayerSpec::Flatten`] and
//! [`LayerSpec::Lif`] layers run for [`NetSpec::time_steps`] steps on inputs of
//! shape [`NetSpec::input_shape`] (`[F]` or `[C, H, W]` per sample and step).
//!
//! [`NetSpec::validate`] chains the per-step shapes through the layers
//! ([`NetSpec::shapes`]): a Linear layer needs a flat `[K]` input, a
//! convolution a `[C, H, W]` one and yields `[O, H', W']` with
//! `H' = floor((H + top + bottom − kh) / sh) + 1` (likewise `W'`), a LIF layer
//! keeps the shape, a Flatten layer makes it `[C·H·W]` (row-major, the order of
//! `snn.flatten`). The last layer is a LIF layer over a flat `[classes]` shape.

use std::collections::BTreeSet;

use super::TrainError;

/// How a LIF neuron's membrane is reset after it fires (the dialect's own enum).
pub use phi_dialect::ops::snn::Reset;

/// One layer of a feed-forward spiking network.
#[derive(Clone, Debug, PartialEq)]
pub enum LayerSpec {
    /// `y = x·W + b` over a flat input. `W` is stored `[in_features,
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
    /// 2-D convolution (dilation 1, one group) of a `[C, H, W]` input, per
    /// time step: `y[o, oy, ox] = b[o] + Σ_{c, ky, kx} W[o, c, ky, kx] ·
    /// x[c, oy·sh + ky − top, ox·sw + kx − left]`, zero outside the image.
    /// `W` is stored `[out_channels, in_channels, kh, kw]` (the ONNX / PyTorch
    /// and `snn.conv2d` layout); parameters are named like Linear ones,
    /// `"<name>.weight"` and `"<name>.bias"` (`[out_channels]`).
    Conv2d {
        /// Unique layer name, the prefix of its parameter names.
        name: String,
        /// C: channels of the input.
        in_channels: usize,
        /// O: channels of the output.
        out_channels: usize,
        /// Kernel `[kh, kw]`.
        kernel: [usize; 2],
        /// Strides `[sh, sw]`, each ≥ 1.
        strides: [usize; 2],
        /// Zero padding `[top, left, bottom, right]` (ONNX order).
        pads: [usize; 4],
        /// Whether the layer has a bias of shape `[out_channels]`.
        bias: bool,
    },
    /// Flattens each step's activation to one dimension, row-major (C order),
    /// as `snn.flatten` does: `[C, H, W]` becomes `[C·H·W]`.
    Flatten,
    /// Leaky integrate-and-fire neurons, snnTorch `Leaky(reset_delay=False)`
    /// semantics (see the [module docs](super)), element-wise over any shape.
    /// IF neurons are `beta = 1.0`.
    Lif {
        /// Membrane decay factor per time step, in `[0, 1]`.
        beta: f32,
        /// Firing threshold (> 0); a neuron fires iff its membrane is strictly above it.
        threshold: f32,
        /// Reset mechanism.
        reset: Reset,
    },
}

/// The trainable parameters of one synaptic layer (Linear or Conv2d).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synapse<'a> {
    /// The layer's name (the prefix of its parameter names).
    pub name: &'a str,
    /// Shape of `"<name>.weight"`: `[K, N]` or `[O, C, kh, kw]`.
    pub weight: Vec<usize>,
    /// Shape of `"<name>.bias"` (`[N]` or `[O]`), if the layer has one.
    pub bias: Option<Vec<usize>>,
    /// Inputs feeding one output: `K`, or `C·kh·kw` (the width of the GEMM
    /// the compiler runs, and the fan-in of the initialisation).
    pub fan_in: usize,
}

impl LayerSpec {
    /// The parameters of a synaptic layer; `None` for Flatten and LIF layers.
    pub fn synapse(&self) -> Option<Synapse<'_>> {
        match self {
            LayerSpec::Linear { name, in_features, out_features, bias } => Some(Synapse {
                name,
                weight: vec![*in_features, *out_features],
                bias: bias.then(|| vec![*out_features]),
                fan_in: *in_features,
            }),
            LayerSpec::Conv2d { name, in_channels, out_channels, kernel, bias, .. } => Some(Synapse {
                name,
                weight: vec![*out_channels, *in_channels, kernel[0], kernel[1]],
                bias: bias.then(|| vec![*out_channels]),
                fan_in: in_channels * kernel[0] * kernel[1],
            }),
            LayerSpec::Flatten | LayerSpec::Lif { .. } => None,
        }
    }

    /// The per-step output shape of this layer for a per-step input shape
    /// `input` (layer `index` of the network, for messages).
    fn output_shape(&self, index: usize, input: &[usize]) -> Result<Vec<usize>, TrainError> {
        let err = |msg: String| Err(TrainError::InvalidSpec(format!("layer {index}: {msg}")));
        match self {
            LayerSpec::Linear { name, in_features, out_features, bias: _ } => {
                if input != [*in_features] {
                    let hint = if input.len() > 1 { " (add a Flatten layer before it)" } else { "" };
                    return err(format!(
                        "Linear layer {name:?} needs an input of shape [{in_features}] but receives {input:?}{hint}"
                    ));
                }
                if *out_features == 0 {
                    return err(format!("Linear layer {name:?}: out_features must be at least 1"));
                }
                Ok(vec![*out_features])
            }
            LayerSpec::Conv2d { name, in_channels, out_channels, kernel, strides, pads, bias: _ } => {
                let &[c, h, w] = input else {
                    return err(format!(
                        "Conv2d layer {name:?} needs an input of shape [C, H, W] but receives {input:?}"
                    ));
                };
                if c != *in_channels {
                    return err(format!(
                        "Conv2d layer {name:?} has in_channels = {in_channels} but the input {input:?} has {c} channels"
                    ));
                }
                if *out_channels == 0 {
                    return err(format!("Conv2d layer {name:?}: out_channels must be at least 1"));
                }
                if kernel.contains(&0) || strides.contains(&0) {
                    return err(format!(
                        "Conv2d layer {name:?}: kernel {kernel:?} and strides {strides:?} must be at least 1"
                    ));
                }
                let out = |n: usize, a: usize| {
                    phi_dialect::ops::snn::window_out(n, kernel[a], strides[a], pads[a], pads[a + 2], 1)
                };
                match (out(h, 0), out(w, 1)) {
                    (Ok(oh), Ok(ow)) => Ok(vec![*out_channels, oh, ow]),
                    (Err(e), _) | (_, Err(e)) => err(format!("Conv2d layer {name:?} on {input:?}: {e}")),
                }
            }
            LayerSpec::Flatten => Ok(vec![input.iter().product()]),
            LayerSpec::Lif { beta, threshold, reset: _ } => {
                if !(beta.is_finite() && (0.0..=1.0).contains(beta)) {
                    return err(format!("LIF beta must be in [0, 1], got {beta}"));
                }
                if !(threshold.is_finite() && *threshold > 0.0) {
                    return err(format!("LIF threshold must be finite and > 0, got {threshold}"));
                }
                Ok(input.to_vec())
            }
        }
    }
}

/// A feed-forward spiking network: `layers` applied in order to a binary
/// input of per-step shape `input_shape` at each of `time_steps` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    /// Number of simulation steps T per sample.
    pub time_steps: usize,
    /// Shape of one sample's input at one step: `[F]` for a vector input,
    /// `[C, H, W]` for images.
    pub input_shape: Vec<usize>,
    /// The layers, input side first. The last one must be a LIF layer over a
    /// flat shape: its spike counts are the class scores.
    pub layers: Vec<LayerSpec>,
}

impl NetSpec {
    /// Checks the spec: `T ≥ 1`, a non-empty input shape without zeros, shapes
    /// chain through the layers (see [`NetSpec::shapes`]), synaptic layer
    /// names are unique and non-empty, LIF parameters are in range, and the
    /// last layer is a LIF layer with a flat output.
    pub fn validate(&self) -> Result<(), TrainError> {
        let err = |msg: String| Err(TrainError::InvalidSpec(msg));
        if self.time_steps == 0 {
            return err("time_steps must be at least 1".into());
        }
        let shapes = self.shapes()?;
        let mut names = BTreeSet::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Some(s) = layer.synapse() {
                if s.name.is_empty() {
                    return err(format!("layer {i}: a synaptic layer has an empty name"));
                }
                if !names.insert(s.name) {
                    return err(format!("layer {i}: duplicate layer name {:?}", s.name));
                }
            }
        }
        match (self.layers.last(), shapes.last()) {
            (Some(LayerSpec::Lif { .. }), Some(out)) if out.len() == 1 => Ok(()),
            (Some(LayerSpec::Lif { .. }), Some(out)) => err(format!(
                "the output of the last LIF layer has shape {out:?}; the class scores must be flat (add a Flatten and a Linear layer)"
            )),
            (Some(LayerSpec::Linear { .. } | LayerSpec::Conv2d { .. } | LayerSpec::Flatten), _) => {
                err("the last layer must be a LIF layer (its spike counts are the output)".into())
            }
            (None, _) | (Some(LayerSpec::Lif { .. }), None) => err("the network has no layers".into()),
        }
    }

    /// The per-step output shape of every layer, in order (the shape checks
    /// of [`NetSpec::validate`], without the naming and output checks).
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>, TrainError> {
        if self.input_shape.is_empty() || self.input_shape.contains(&0) {
            return Err(TrainError::InvalidSpec(format!(
                "the input shape {:?} must have at least one dimension and no zero",
                self.input_shape
            )));
        }
        let mut shape = self.input_shape.clone();
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            shape = layer.output_shape(i, &shape)?;
            out.push(shape.clone());
        }
        Ok(out)
    }

    /// Number of input values per sample and step (the product of [`NetSpec::input_shape`]).
    pub fn input_features(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Width of the output (number of classes): the size of the last layer's
    /// output (of the input if there are no layers, or if the shapes do not chain).
    pub fn outputs(&self) -> usize {
        match self.shapes() {
            Ok(shapes) => shapes.last().map_or_else(|| self.input_features(), |s| s.iter().product()),
            Err(_) => self.input_features(),
        }
    }

    /// Number of LIF layers.
    pub fn lif_layers(&self) -> usize {
        self.layers.iter().filter(|l| matches!(l, LayerSpec::Lif { .. })).count()
    }

    /// The synaptic (Linear and Conv2d) layers' parameters, in spec order.
    pub fn synapses(&self) -> impl Iterator<Item = Synapse<'_>> {
        self.layers.iter().filter_map(LayerSpec::synapse)
    }

    /// Iterates over the Linear layers as `(name, in_features, out_features, bias)`.
    pub fn linear_layers(&self) -> impl Iterator<Item = (&str, usize, usize, bool)> {
        self.layers.iter().filter_map(|l| match l {
            LayerSpec::Linear { name, in_features, out_features, bias } => {
                Some((name.as_str(), *in_features, *out_features, *bias))
            }
            LayerSpec::Conv2d { .. } | LayerSpec::Flatten | LayerSpec::Lif { .. } => None,
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
        NetSpec { time_steps, input_shape: vec![inputs], layers }
    }
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// conv 2→4 3×3 pad 1 → LIF → conv 4→3 3×3 stride 2 pads (1, 1, 0, 0) → LIF → flatten → linear → LIF.
    pub(crate) fn small_cnn(h: usize, w: usize) -> NetSpec {
        let lif = LayerSpec::Lif { beta: 0.9, threshold: 1.0, reset: Reset::Subtract };
        let (oh, ow) = ((h + 1 - 3) / 2 + 1, (w + 1 - 3) / 2 + 1);
        NetSpec {
            time_steps: 3,
            input_shape: vec![2, h, w],
            layers: vec![
                LayerSpec::Conv2d {
                    name: "c1".into(),
                    in_channels: 2,
                    out_channels: 4,
                    kernel: [3, 3],
                    strides: [1, 1],
                    pads: [1, 1, 1, 1],
                    bias: true,
                },
                lif.clone(),
                LayerSpec::Conv2d {
                    name: "c2".into(),
                    in_channels: 4,
                    out_channels: 3,
                    kernel: [3, 3],
                    strides: [2, 2],
                    pads: [1, 1, 0, 0],
                    bias: false,
                },
                lif.clone(),
                LayerSpec::Flatten,
                LayerSpec::Linear { name: "fc".into(), in_features: 3 * oh * ow, out_features: 5, bias: true },
                lif,
            ],
        }
    }

    #[test]
    fn conv_shapes_chain() {
        let s = small_cnn(6, 5);
        s.validate().unwrap();
        // 6×5 padded 1+1 → 6×5; then padded top/left only: (7−3)/2+1 = 3, (6−3)/2+1 = 2.
        let shapes = s.shapes().unwrap();
        assert_eq!(shapes[0], [4, 6, 5]);
        assert_eq!(shapes[2], [3, 3, 2]);
        assert_eq!(shapes[4], [18]);
        assert_eq!(s.outputs(), 5);
        assert_eq!(s.input_features(), 60);
        let syn: Vec<_> = s.synapses().map(|p| (p.name.to_string(), p.weight, p.bias, p.fan_in)).collect();
        assert_eq!(
            syn,
            [
                ("c1".to_string(), vec![4, 2, 3, 3], Some(vec![4]), 18),
                ("c2".to_string(), vec![3, 4, 3, 3], None, 36),
                ("fc".to_string(), vec![18, 5], Some(vec![5]), 18),
            ]
        );
        assert_eq!(s.linear_layers().count(), 1);
    }

    #[test]
    fn rejects_bad_conv_specs() {
        let msg = |s: &NetSpec| s.validate().unwrap_err().to_string();
        let mut s = small_cnn(6, 5);
        s.input_shape = vec![3, 6, 5];
        assert!(msg(&s).contains("in_channels = 2"), "{}", msg(&s));
        let mut s = small_cnn(6, 5);
        s.input_shape = vec![60];
        assert!(msg(&s).contains("[C, H, W]"), "{}", msg(&s));
        let mut s = small_cnn(6, 5);
        s.layers.remove(4); // no Flatten before the Linear layer
        assert!(msg(&s).contains("add a Flatten"), "{}", msg(&s));
        let mut s = small_cnn(6, 5);
        s.layers.truncate(4); // ends with a LIF over [3, 3, 2]
        assert!(msg(&s).contains("must be flat"), "{}", msg(&s));
        let mut s = small_cnn(6, 5);
        if let Some(LayerSpec::Conv2d { kernel, .. }) = s.layers.get_mut(0) {
            *kernel = [9, 3];
        }
        assert!(msg(&s).contains("does not fit"), "{}", msg(&s));
        let mut s = small_cnn(6, 5);
        if let Some(LayerSpec::Conv2d { strides, .. }) = s.layers.get_mut(2) {
            *strides = [0, 1];
        }
        assert!(msg(&s).contains("at least 1"), "{}", msg(&s));
        let mut s = small_cnn(6, 5);
        if let Some(LayerSpec::Conv2d { name, .. }) = s.layers.get_mut(2) {
            *name = "fc".into();
        }
        assert!(msg(&s).contains("duplicate"), "{}", msg(&s));
        let mut s = small_cnn(6, 5);
        s.input_shape = vec![2, 0, 5];
        assert!(s.validate().is_err());
    }
}
