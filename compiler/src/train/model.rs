//! The differentiable forward pass of a [`NetSpec`] on candle tensors.
//!
//! Layers are evaluated one after another over *all* time steps (the network
//! is feed-forward, so layer `l` at step `t` never depends on layer `l+1`):
//! a Linear layer is one `[T·B, K] × [K, N]` matrix product; a Conv2d layer is
//! the same GEMM the compiler runs after `conv-to-gemm`: the im2col matrix
//! `[T·B·P, C·kh·kw]` of its input (see `im2col` below) times the weight viewed as
//! `[O, C·kh·kw]` transposed, plus the bias, rearranged to `[T, B, O, H', W']`;
//! a Flatten layer is a reshape to `[T, B, prod(…)]`; a LIF layer is a loop
//! over `T` carrying its membrane (element-wise over any trailing shape). This
//! is value-for-value the same as stepping the whole network once per time
//! step.
//!
//! The convolution is built from candle primitives (a zero-extended gather
//! with `index_select`, reshapes, a matrix product) rather than candle's
//! `conv2d`: it needs the im2col matrix anyway (it is part of
//! [`ForwardOutput::gemm_inputs`], through which later losses differentiate),
//! it takes asymmetric padding and per-axis strides directly, and its backward
//! pass is `index_add` plus matrix products (candle 0.11's `conv2d` backward
//! fails when the height and the width leave different remainders under the
//! stride, e.g. a 7×6 input with stride 2: it gives `conv_transpose2d` one
//! output padding for both axes).

use candle_core::{DType, Device, Tensor, Var};

use super::TrainError;
use super::spec::{LayerSpec, NetSpec, Reset};
use super::surrogate::{Surrogate, spike};
use super::weights::{WeightTensor, Weights, bias_name, weight_name};

/// Knobs of the forward pass that only affect gradients, never values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForwardOptions {
    /// Surrogate derivative of the spike function.
    pub surrogate: Surrogate,
    /// Also stop the gradient through the same-step reset (`spk` inside
    /// `do_reset`). The carried-over `reset` (from the previous membrane) is
    /// always detached, as in snnTorch.
    pub detach_reset: bool,
    /// Build the autograd graph (training). When false the parameters are
    /// detached, which saves memory for evaluation.
    pub track_grad: bool,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions { surrogate: Surrogate::default(), detach_reset: true, track_grad: false }
    }
}

/// What one forward pass produces.
#[derive(Clone, Debug)]
pub struct ForwardOutput {
    /// Spike counts of the last LIF layer summed over time, `[B, C]` (`f32`,
    /// exact small integers): the class scores.
    pub counts: Tensor,
    /// For every synaptic layer, in spec order: the left operand of its GEMM
    /// as the compiler sees it. For a Linear layer its input `[T, B, K]`; for
    /// a Conv2d layer the im2col matrix `[T, B, P, C·kh·kw]` of its input
    /// (`P = H'·W'` output positions in row-major order, column
    /// `(c·kh + ky)·kw + kx`, zero outside the image: the layout of
    /// `snn.im2col` and `phi_runtime::kernels::im2col`). When the layer reads
    /// the network input or a LIF layer's output (possibly flattened) these
    /// are exactly 0.0/1.0. They are part of the autograd graph.
    pub gemm_inputs: Vec<Tensor>,
    /// For every LIF layer, in spec order: its output spikes `[T, B, …]`
    /// (the shape of its input current).
    pub spikes: Vec<Tensor>,
}

/// Trainable parameters of one synaptic (Linear or Conv2d) layer.
#[derive(Clone, Debug)]
struct LayerParams {
    name: String,
    weight: Var,
    bias: Option<Var>,
}

/// A network instantiated with candle [`Var`]s on the CPU.
#[derive(Clone, Debug)]
pub struct Model {
    spec: NetSpec,
    params: Vec<LayerParams>,
    device: Device,
}

fn var_from(t: &WeightTensor, device: &Device) -> Result<Var, TrainError> {
    Ok(Var::from_slice(&t.data, t.shape.as_slice(), device)?)
}

impl Model {
    /// Instantiates `spec` with parameters `weights` (checked against the spec).
    pub fn new(spec: &NetSpec, weights: &Weights) -> Result<Self, TrainError> {
        spec.validate()?;
        weights.check(spec)?;
        let device = Device::Cpu;
        let mut params = Vec::new();
        for syn in spec.synapses() {
            let name = syn.name;
            // `check` guarantees presence.
            let w = weights
                .get(&weight_name(name))
                .ok_or_else(|| TrainError::InvalidWeights(format!("missing {name}.weight")))?;
            let b = if syn.bias.is_some() {
                let b = weights
                    .get(&bias_name(name))
                    .ok_or_else(|| TrainError::InvalidWeights(format!("missing {name}.bias")))?;
                Some(var_from(b, &device)?)
            } else {
                None
            };
            params.push(LayerParams { name: name.to_string(), weight: var_from(w, &device)?, bias: b });
        }
        Ok(Model { spec: spec.clone(), params, device })
    }

    /// The network description.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// The device tensors live on (always the CPU).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// All trainable variables, in a fixed order (spec order; weight then bias).
    pub fn vars(&self) -> Vec<Var> {
        let mut out = Vec::new();
        for l in &self.params {
            out.push(l.weight.clone());
            if let Some(b) = &l.bias {
                out.push(b.clone());
            }
        }
        out
    }

    /// The variables by parameter name, in the same order as [`Model::vars`].
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for l in &self.params {
            out.push((weight_name(&l.name), l.weight.clone()));
            if let Some(b) = &l.bias {
                out.push((bias_name(&l.name), b.clone()));
            }
        }
        out
    }

    /// Copies the current parameter values out.
    pub fn weights(&self) -> Result<Weights, TrainError> {
        let mut w = Weights::default();
        for (name, var) in self.named_vars() {
            let t = var.as_tensor();
            let data = t.flatten_all()?.to_vec1::<f32>()?;
            w.insert(name, WeightTensor::new(t.dims().to_vec(), data)?);
        }
        Ok(w)
    }

    /// Runs the network on `x`, a time-major `[T, B, …]` `f32` tensor of 0/1
    /// spikes whose trailing dimensions are the spec's input shape. See the
    /// [module docs](super) for the exact LIF update.
    pub fn forward(&self, x: &Tensor, opts: &ForwardOptions) -> Result<ForwardOutput, TrainError> {
        let dims = x.dims();
        if dims.len() != self.spec.input_shape.len() + 2
            || dims[0] != self.spec.time_steps
            || dims[2..] != self.spec.input_shape[..]
        {
            return Err(TrainError::InvalidData(format!(
                "input is {dims:?}, the network expects [T = {}, B, {}]",
                self.spec.time_steps,
                self.spec.input_shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
            )));
        }
        let (t_steps, batch) = (dims[0], dims[1]);
        let param =
            |v: &Var| -> Tensor { if opts.track_grad { v.as_tensor().clone() } else { v.as_detached_tensor() } };
        let mut h = x.to_dtype(DType::F32)?;
        let mut gemm_inputs = Vec::new();
        let mut spikes = Vec::new();
        let mut params = self.params.iter();
        let mut next_params =
            || params.next().ok_or_else(|| TrainError::InvalidSpec("a synaptic layer without parameters".into()));
        for layer in &self.spec.layers {
            match layer {
                LayerSpec::Linear { in_features, out_features, .. } => {
                    let p = next_params()?;
                    gemm_inputs.push(h.clone());
                    let flat = h.reshape((t_steps * batch, *in_features))?;
                    let mut y = flat.matmul(&param(&p.weight))?;
                    if let Some(b) = &p.bias {
                        y = y.broadcast_add(&param(b))?;
                    }
                    h = y.reshape((t_steps, batch, *out_features))?;
                }
                LayerSpec::Conv2d { in_channels, out_channels, kernel, strides, pads, .. } => {
                    let p = next_params()?;
                    let (_, _, c, height, width) = h.dims5()?;
                    let images = h.reshape((t_steps * batch, c, height, width))?;
                    let (cols, oh, ow) = im2col(&images, *kernel, *strides, *pads)?;
                    let (positions, ckk) = (oh * ow, in_channels * kernel[0] * kernel[1]);
                    gemm_inputs.push(cols.reshape((t_steps, batch, positions, ckk))?);
                    // [T·B·P, C·kh·kw] × [C·kh·kw, O]: the weight [O, C, kh, kw] viewed as [O, C·kh·kw], transposed.
                    let w = param(&p.weight).reshape((*out_channels, ckk))?;
                    let mut y = cols.reshape((t_steps * batch * positions, ckk))?.matmul(&w.t()?)?;
                    if let Some(b) = &p.bias {
                        y = y.broadcast_add(&param(b))?;
                    }
                    h = y
                        .reshape((t_steps * batch, positions, *out_channels))?
                        .transpose(1, 2)?
                        .contiguous()?
                        .reshape((t_steps, batch, *out_channels, oh, ow))?;
                }
                LayerSpec::Flatten => {
                    let features: usize = h.dims()[2..].iter().product();
                    h = h.reshape((t_steps, batch, features))?;
                }
                LayerSpec::Lif { beta, threshold, reset } => {
                    let lif = Lif { beta: *beta, threshold: *threshold, reset: *reset };
                    h = lif.run(&h, opts)?;
                    spikes.push(h.clone());
                }
            }
        }
        let counts = h.sum(0)?;
        Ok(ForwardOutput { counts, gemm_inputs, spikes })
    }
}

/// The im2col matrix of `images` (`[N, C, H, W]`) for a `kh × kw` window with
/// `strides` `[sh, sw]` and zero padding `pads` `[top, left, bottom, right]`:
/// `[N, P, C·kh·kw]` with `P = H'·W'` output positions in row-major order and
/// column `(c·kh + ky)·kw + kx` holding `x[c, oy·sh + ky − top, ox·sw + kx −
/// left]`, zero outside the image. Returns it with `H'` and `W'`.
///
/// Differentiable: one `index_select` on the images flattened to `[N, C, H·W]`
/// and extended by one zero column (index `H·W`, read for every tap outside
/// the image), then a reshape and a transpose.
pub(crate) fn im2col(
    images: &Tensor,
    kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
) -> Result<(Tensor, usize, usize), TrainError> {
    let (n, c, h, w) = images.dims4()?;
    let out = |len: usize, a: usize| {
        phi_dialect::ops::snn::window_out(len, kernel[a], strides[a], pads[a], pads[a + 2], 1)
            .map_err(TrainError::InvalidSpec)
    };
    let (oh, ow) = (out(h, 0)?, out(w, 1)?);
    let [kh, kw] = kernel;
    let outside = u32::try_from(h * w)
        .map_err(|_| TrainError::InvalidSpec(format!("a {h}×{w} image is too large for im2col")))?;
    let at = |o: usize, k: usize, a: usize, lim: usize| -> Option<usize> {
        (o * strides[a] + k).checked_sub(pads[a]).filter(|&i| i < lim)
    };
    let mut ids = Vec::with_capacity(kh * kw * oh * ow);
    for ky in 0..kh {
        for kx in 0..kw {
            for oy in 0..oh {
                for ox in 0..ow {
                    let id = match (at(oy, ky, 0, h), at(ox, kx, 1, w)) {
                        // < h·w = `outside`, which fits in u32
                        (Some(iy), Some(ix)) => (iy * w + ix) as u32,
                        (None, _) | (_, None) => outside,
                    };
                    ids.push(id);
                }
            }
        }
    }
    let ids = Tensor::from_vec(ids, kh * kw * oh * ow, images.device())?;
    let flat = images.reshape((n, c, h * w))?;
    let zero = Tensor::zeros((n, c, 1), images.dtype(), images.device())?;
    let cols = Tensor::cat(&[&flat, &zero], 2)?
        .index_select(&ids, 2)? // [N, C, kh·kw·P]
        .reshape((n, c * kh * kw, oh * ow))?
        .transpose(1, 2)?
        .contiguous()?;
    Ok((cols, oh, ow))
}

/// One LIF layer's parameters.
#[derive(Clone, Copy, Debug)]
struct Lif {
    beta: f32,
    threshold: f32,
    reset: Reset,
}

impl Lif {
    /// Runs the layer over the input currents `[T, …]`, returning spikes of the same shape.
    fn run(&self, current: &Tensor, opts: &ForwardOptions) -> Result<Tensor, TrainError> {
        let dims = current.dims();
        let Some((&t_steps, step)) = dims.split_first() else {
            return Err(TrainError::InvalidData("a LIF layer needs a time-major current [T, …]".into()));
        };
        let mut v = Tensor::zeros(step, DType::F32, current.device())?;
        let mut out = Vec::with_capacity(t_steps);
        for t in 0..t_steps {
            let i_t = current.get(t)?;
            let (spk, v_next) = self.step(&v, &i_t, opts)?;
            out.push(spk);
            v = v_next;
        }
        Ok(Tensor::stack(&out, 0)?)
    }

    /// One step of snnTorch `Leaky(reset_delay=False)`; returns `(spk, v)`.
    fn step(&self, v_prev: &Tensor, input: &Tensor, opts: &ForwardOptions) -> Result<(Tensor, Tensor), TrainError> {
        let thr = f64::from(self.threshold);
        let beta = f64::from(self.beta);
        // reset = (v_prev > threshold), from the detached stored membrane.
        let reset = v_prev.detach().gt(thr)?.to_dtype(DType::F32)?;
        let m = match self.reset {
            // m = (beta*v_prev + I) - reset*threshold
            Reset::Subtract => v_prev.affine(beta, 0.0)?.add(input)?.sub(&reset.affine(thr, 0.0)?)?,
            // m = beta*((1-reset)*v_prev) + I
            Reset::Zero => reset.affine(-1.0, 1.0)?.mul(v_prev)?.affine(beta, 0.0)?.add(input)?,
        };
        let spk = spike(&m, self.threshold, opts.surrogate)?;
        let spk_r = if opts.detach_reset { spk.detach() } else { spk.clone() };
        let do_reset = spk_r.sub(&reset)?;
        let v = match self.reset {
            // v = m - do_reset*threshold
            Reset::Subtract => m.sub(&do_reset.affine(thr, 0.0)?)?,
            // v = m - do_reset*m
            Reset::Zero => m.sub(&do_reset.mul(&m)?)?,
        };
        Ok((spk, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-neuron network `Linear(1→1, w = 1, no bias)` + LIF, so the LIF
    /// input current equals the (non-binary, for testing) input value.
    fn single(beta: f32, reset: Reset) -> Model {
        let spec = NetSpec {
            time_steps: 6,
            input_shape: vec![1],
            layers: vec![
                LayerSpec::Linear { name: "l".into(), in_features: 1, out_features: 1, bias: false },
                LayerSpec::Lif { beta, threshold: 1.0, reset },
            ],
        };
        let mut w = Weights::default();
        w.insert("l.weight", WeightTensor::new(vec![1, 1], vec![1.0]).unwrap());
        Model::new(&spec, &w).unwrap()
    }

    /// Returns the spikes and the membrane after each step.
    fn trace(model: &Model, inputs: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let lif = match model.spec.layers[1] {
            LayerSpec::Lif { beta, threshold, reset } => Lif { beta, threshold, reset },
            LayerSpec::Linear { .. } | LayerSpec::Conv2d { .. } | LayerSpec::Flatten => unreachable!(),
        };
        let opts = ForwardOptions::default();
        let mut v = Tensor::zeros((1, 1), DType::F32, &Device::Cpu).unwrap();
        let (mut spikes, mut mems) = (Vec::new(), Vec::new());
        for &i in inputs {
            let it = Tensor::from_vec(vec![i], (1, 1), &Device::Cpu).unwrap();
            let (s, vn) = lif.step(&v, &it, &opts).unwrap();
            spikes.push(s.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]);
            mems.push(vn.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]);
            v = vn;
        }
        // The full forward must agree with the step-by-step trace.
        let x = Tensor::from_vec(inputs.to_vec(), (inputs.len(), 1, 1), &Device::Cpu).unwrap();
        let out = model.forward(&x, &opts).unwrap();
        let fs = out.spikes[0].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(fs, spikes);
        (spikes, mems)
    }

    #[test]
    fn subtract_reset_trace() {
        // beta = 0.5, threshold 1. Hand computation:
        // t0: I=0.75  reset=0 m=0.75           spk 0 v=0.75
        // t1: I=0.625 reset=0 m=0.375+0.625=1  spk 0 (m == thr) v=1
        // t2: I=0.5   reset=0 m=0.5+0.5=1      spk 0 v=1
        // t3: I=3     reset=0 m=0.5+3=3.5      spk 1 do=1 v=2.5
        // t4: I=0     reset=1 m=1.25-1=0.25    spk 0 do=-1 v=1.25
        // t5: I=0.5   reset=1 m=0.625+0.5-1=0.125 spk 0 do=-1 v=1.125
        let m = single(0.5, Reset::Subtract);
        let (s, v) = trace(&m, &[0.75, 0.625, 0.5, 3.0, 0.0, 0.5]);
        assert_eq!(s, vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(v, vec![0.75, 1.0, 1.0, 2.5, 1.25, 1.125]);
    }

    #[test]
    fn subtract_reset_carry_over_fires_again() {
        // beta = 1 (IF). t0: I=5 m=5 spk1 v=4; t1: reset=1 m=4+0-1=3 spk1 do=0 v=3;
        // t2: reset=1 m=3-1=2 spk1 v=2; t3: reset=1 m=2-1=1 spk0 do=-1 v=2;
        // t4: reset=1 m=2+0.5-1=1.5 spk1 do=0 v=1.5; t5: reset=1 m=1.5-1=0.5 spk0 do=-1 v=1.5
        let m = single(1.0, Reset::Subtract);
        let (s, v) = trace(&m, &[5.0, 0.0, 0.0, 0.0, 0.5, 0.0]);
        assert_eq!(s, vec![1.0, 1.0, 1.0, 0.0, 1.0, 0.0]);
        assert_eq!(v, vec![4.0, 3.0, 2.0, 2.0, 1.5, 1.5]);
    }

    #[test]
    fn zero_reset_trace() {
        // beta = 0.5, threshold 1.
        // t0: I=1    reset=0 m=1              spk 0 (m == thr) v=1
        // t1: I=0.5  reset=0 m=0.5+0.5=1      spk 0 v=1
        // t2: I=1.5  reset=0 m=0.5+1.5=2      spk 1 do=1 v=0
        // t3: I=2.5  reset=0 m=2.5            spk 1 do=1 v=0
        // t4: I=0.25 reset=0 m=0.25           spk 0 v=0.25
        // t5: I=0.75 reset=0 m=0.125+0.75     spk 0 v=0.875
        let m = single(0.5, Reset::Zero);
        let (s, v) = trace(&m, &[1.0, 0.5, 1.5, 2.5, 0.25, 0.75]);
        assert_eq!(s, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(v, vec![1.0, 1.0, 0.0, 0.0, 0.25, 0.875]);
    }

    #[test]
    fn zero_reset_with_carried_reset() {
        // IF neuron (beta = 1), zero reset:
        // t0: I=3    m=3              spk 1 do=1 v=0
        // t1: I=0.5  m=0.5            spk 0 v=0.5
        // t2: I=0.25 m=0.75           spk 0 v=0.75
        // t3: I=0.25 m=1.0 (== thr)   spk 0 v=1.0
        // t4: I=0.5  reset=0 (1 > 1 is false) m=1.5 spk 1 do=1 v=0
        // t5: I=0    m=0              spk 0 v=0
        let m = single(1.0, Reset::Zero);
        let (s, v) = trace(&m, &[3.0, 0.5, 0.25, 0.25, 0.5, 0.0]);
        assert_eq!(s, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(v, vec![0.0, 0.5, 0.75, 1.0, 0.0, 0.0]);

        // Started from zero, a zero-reset membrane never exceeds threshold, so
        // `reset = 1` only arises from an explicit stored membrane. Check the
        // formula directly from v_prev = 2 (snnTorch's do_reset = -1 case).
        let lif = Lif { beta: 0.5, threshold: 1.0, reset: Reset::Zero };
        let opts = ForwardOptions::default();
        let v_prev = Tensor::from_vec(vec![2.0f32, 2.0], (1, 2), &Device::Cpu).unwrap();
        let i = Tensor::from_vec(vec![0.75f32, 1.5], (1, 2), &Device::Cpu).unwrap();
        let (s, v) = lif.step(&v_prev, &i, &opts).unwrap();
        // reset=1 → m = I; neuron 0: spk 0, do=-1 → v = 2m = 1.5; neuron 1: spk 1, do=0 → v = m.
        assert_eq!(s.to_vec2::<f32>().unwrap(), vec![vec![0.0, 1.0]]);
        assert_eq!(v.to_vec2::<f32>().unwrap(), vec![vec![1.5, 1.5]]);
    }

    #[test]
    fn forward_reports_layer_inputs() {
        let spec = NetSpec::mlp(3, 4, &[5], 2, 0.9, 1.0, Reset::Subtract);
        let w = super::super::weights::init_weights(&spec, 0).unwrap();
        let model = Model::new(&spec, &w).unwrap();
        let x = Tensor::ones((3, 7, 4), DType::F32, &Device::Cpu).unwrap();
        let out = model.forward(&x, &ForwardOptions::default()).unwrap();
        assert_eq!(out.counts.dims(), &[7, 2]);
        assert_eq!(out.gemm_inputs.len(), 2);
        assert_eq!(out.gemm_inputs[0].dims(), &[3, 7, 4]);
        assert_eq!(out.gemm_inputs[1].dims(), &[3, 7, 5]);
        assert_eq!(out.spikes.len(), 2);
        for s in &out.spikes {
            for v in s.flatten_all().unwrap().to_vec1::<f32>().unwrap() {
                assert!(v == 0.0 || v == 1.0);
            }
        }
        // Round trip of parameters.
        assert_eq!(model.weights().unwrap(), w);
    }
}
