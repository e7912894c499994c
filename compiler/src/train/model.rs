//! The differentiable forward pass of a [`NetSpec`] on candle tensors.
//!
//! Layers are evaluated one after another over *all* time steps (the network
//! is feed-forward, so layer `l` at step `t` never depends on layer `l+1`):
//! a Linear layer is one `[T·B, K] × [K, N]` matrix product, a LIF layer is a
//! loop over `t` carrying its membrane. This is value-for-value the same as
//! stepping the whole network once per time step.

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
    /// For every Linear layer, in spec order: its input activations `[T, B,
    /// K]`. When the layer reads the network input or a LIF layer's output
    /// (always the case in Linear/LIF stacks) these are exactly 0.0/1.0.
    pub linear_inputs: Vec<Tensor>,
    /// For every LIF layer, in spec order: its output spikes `[T, B, N]`.
    pub spikes: Vec<Tensor>,
}

/// Trainable parameters of one Linear layer.
#[derive(Clone, Debug)]
struct LinearParams {
    name: String,
    weight: Var,
    bias: Option<Var>,
}

/// A network instantiated with candle [`Var`]s on the CPU.
#[derive(Clone, Debug)]
pub struct Model {
    spec: NetSpec,
    linears: Vec<LinearParams>,
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
        let mut linears = Vec::new();
        for (name, _, _, bias) in spec.linear_layers() {
            // `check` guarantees presence.
            let w = weights
                .get(&weight_name(name))
                .ok_or_else(|| TrainError::InvalidWeights(format!("missing {name}.weight")))?;
            let b = if bias {
                let b = weights
                    .get(&bias_name(name))
                    .ok_or_else(|| TrainError::InvalidWeights(format!("missing {name}.bias")))?;
                Some(var_from(b, &device)?)
            } else {
                None
            };
            linears.push(LinearParams { name: name.to_string(), weight: var_from(w, &device)?, bias: b });
        }
        Ok(Model { spec: spec.clone(), linears, device })
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
        for l in &self.linears {
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
        for l in &self.linears {
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

    /// Runs the network on `x`, a time-major `[T, B, F]` `f32` tensor of 0/1
    /// spikes. See the [module docs](super) for the exact LIF update.
    pub fn forward(&self, x: &Tensor, opts: &ForwardOptions) -> Result<ForwardOutput, TrainError> {
        let (t_steps, batch, features) = x.dims3()?;
        if t_steps != self.spec.time_steps || features != self.spec.inputs {
            return Err(TrainError::InvalidData(format!(
                "input is [T={t_steps}, B={batch}, F={features}], the network expects T = {}, F = {}",
                self.spec.time_steps, self.spec.inputs
            )));
        }
        let param =
            |v: &Var| -> Tensor { if opts.track_grad { v.as_tensor().clone() } else { v.as_detached_tensor() } };
        let mut h = x.to_dtype(DType::F32)?;
        let mut linear_inputs = Vec::new();
        let mut spikes = Vec::new();
        let mut linears = self.linears.iter();
        for layer in &self.spec.layers {
            match layer {
                LayerSpec::Linear { in_features, out_features, .. } => {
                    let p = linears
                        .next()
                        .ok_or_else(|| TrainError::InvalidSpec("Linear layer without parameters".into()))?;
                    linear_inputs.push(h.clone());
                    let flat = h.reshape((t_steps * batch, *in_features))?;
                    let mut y = flat.matmul(&param(&p.weight))?;
                    if let Some(b) = &p.bias {
                        y = y.broadcast_add(&param(b))?;
                    }
                    h = y.reshape((t_steps, batch, *out_features))?;
                }
                LayerSpec::Lif { beta, threshold, reset } => {
                    let lif = Lif { beta: *beta, threshold: *threshold, reset: *reset };
                    h = lif.run(&h, opts)?;
                    spikes.push(h.clone());
                }
            }
        }
        let counts = h.sum(0)?;
        Ok(ForwardOutput { counts, linear_inputs, spikes })
    }
}

/// One LIF layer's parameters.
#[derive(Clone, Copy, Debug)]
struct Lif {
    beta: f32,
    threshold: f32,
    reset: Reset,
}

impl Lif {
    /// Runs the layer over the input currents `[T, B, N]`, returning spikes `[T, B, N]`.
    fn run(&self, current: &Tensor, opts: &ForwardOptions) -> Result<Tensor, TrainError> {
        let (t_steps, batch, width) = current.dims3()?;
        let mut v = Tensor::zeros((batch, width), DType::F32, current.device())?;
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
            inputs: 1,
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
            LayerSpec::Linear { .. } => unreachable!(),
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
        assert_eq!(out.linear_inputs.len(), 2);
        assert_eq!(out.linear_inputs[0].dims(), &[3, 7, 4]);
        assert_eq!(out.linear_inputs[1].dims(), &[3, 7, 5]);
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
