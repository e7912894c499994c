//! The convolutional trainer against the reference interpreter: the same spikes in every LIF
//! layer and GEMM inputs equal to what the interpreter's kernels compute (`kernels::im2col` for
//! a convolution), gradients through the im2col matrix, and training a tiny CNN.
//!
//! The interpreter accumulates a convolution tap by tap in a fixed order, the trainer runs one
//! matrix product (the `gemm` crate, blocked): on arbitrary `f32` weights the currents may
//! differ in the last bits, which would flip a spike only if a membrane landed within rounding of
//! the threshold. The exactness test therefore uses weights on a dyadic grid (multiples of
//! 1/64, so every sum is exact in any order); a second test runs the seeded default
//! initialisation and expects the same spikes too.

use candle_core::{Device, Tensor};
use ndarray::{ArrayD, IxDyn};
use phi_dialect::Module;
use phi_dialect::ops::snn::Conv2d;
use phi_dialect::ops::{OpKind, SnnOp};
use phi_runtime::kernels::{self, Geometry};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::*;
use crate::frontend::{WeightMode, load_module, read_source};

/// conv 2→4 3×3 pad 1 (bias) → LIF → conv 4→3 3×3 stride 2 pads (1, 1, 0, 0) (no bias) → LIF
/// (zero reset) → flatten → linear 18→5 → IF, on `[2, 6, 5]` images over 3 steps. The
/// initializers live in `w.safetensors` under the names `phic train` gives the layers.
const CNN: &str = r#"<ir_version: 9, opset_import: ["" : 17, "snn" : 1]>
cnn (uint8[N, 3, 2, 6, 5] x) => (uint8[N, 3, 5] y)
<
  float[4, 2, 3, 3] c1w = ["location": "w.safetensors", "key": "layer0.weight"],
  float[4] c1b = ["location": "w.safetensors", "key": "layer0.bias"],
  float[3, 4, 3, 3] c2w = ["location": "w.safetensors", "key": "layer1.weight"],
  float[18, 5] fw = ["location": "w.safetensors", "key": "layer2.weight"],
  float[5] fb = ["location": "w.safetensors", "key": "layer2.bias"]
>
{
  c1 = Conv<pads = [1, 1, 1, 1], strides = [1, 1], kernel_shape = [3, 3]>(x, c1w, c1b)
  s1 = snn.LIF<beta = 0.9, threshold = 1.0, reset_mechanism = "subtract">(c1)
  c2 = Conv<pads = [1, 1, 0, 0], strides = [2, 2], kernel_shape = [3, 3]>(s1, c2w)
  s2 = snn.LIF<beta = 0.75, threshold = 0.5, reset_mechanism = "zero">(c2)
  f = Flatten<axis = 2>(s2)
  h = Gemm(f, fw, fb)
  y = snn.IF<threshold = 1.0>(h)
}
"#;

fn unit(rng: &mut ChaCha8Rng) -> f64 {
    f64::from(rng.next_u32()) / 4_294_967_296.0
}

/// `[N, T, …]` spikes, each 1 with probability `p`.
fn random_spikes(shape: &[usize], p: f64, seed: u64) -> ArrayD<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_fn(IxDyn(shape), |_| u8::from(unit(&mut rng) < p))
}

/// Weights on the grid k/64: `|w| ≲ 2/√fan_in`, biases in [0, 1/4].
fn dyadic_weights(spec: &NetSpec, seed: u64) -> Weights {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = Weights::default();
    for syn in spec.synapses() {
        let range = (128.0 / (syn.fan_in as f64).sqrt()).ceil() as u32;
        let mut draw = |n: usize, lo: i64, span: u32| -> Vec<f32> {
            (0..n).map(|_| (lo + i64::from(rng.next_u32() % (span + 1))) as f32 / 64.0).collect()
        };
        let data = draw(syn.weight.iter().product(), -i64::from(range), 2 * range);
        w.insert(weight_name(syn.name), WeightTensor::new(syn.weight.clone(), data).unwrap());
        if let Some(b) = syn.bias {
            let data = draw(b.iter().product(), 0, 16);
            w.insert(bias_name(syn.name), WeightTensor::new(b, data).unwrap());
        }
    }
    w
}

/// Writes the model and its weights to `dir`, lowers it and translates it as `phic train` does.
fn lowered(dir: &std::path::Path, weights: &Weights) -> (Module, NetSpec) {
    let path = dir.join("m.snn");
    std::fs::write(&path, CNN).unwrap();
    save_safetensors(weights, &dir.join("w.safetensors")).unwrap();
    let src = read_source(path.to_str().unwrap()).unwrap();
    let m = load_module(&src, WeightMode::Load).unwrap();
    let (spec, layers) = cli::net_spec(&m).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(layers.len(), 3);
    (m, spec)
}

/// What the interpreter computed: every LIF layer's spikes and every synaptic layer's GEMM
/// input (a Linear layer's input, `kernels::im2col` of a convolution's input), all `[N, T, …]`
/// flattened, plus the model output.
struct Trace {
    spikes: Vec<Vec<f32>>,
    gemm_inputs: Vec<Vec<f32>>,
    output: Vec<f32>,
}

fn interpret(m: &Module, x: &ArrayD<u8>) -> Trace {
    let input = phi_runtime::Tensor::spikes(x.shape().to_vec(), x.iter().copied().collect());
    let mut spikes = Vec::new();
    let mut gemm_inputs = Vec::new();
    let outs = phi_runtime::run_with(m, &[input], phi_runtime::Options::default(), &mut |op, operands, result| {
        let kind = &m.op(op).kind;
        if let OpKind::Snn(SnnOp::Lif(_) | SnnOp::If(_)) = kind
            && let Some(r) = result
        {
            spikes.push(r.data.to_f32());
        }
        if let OpKind::Snn(SnnOp::Linear(_)) = kind {
            gemm_inputs.push(operands[0].data.to_f32());
        }
        if let OpKind::Snn(SnnOp::Conv2d(Conv2d { weight, strides, pads, dilations, .. })) = kind
            && let Some(r) = result
        {
            let (x, ws) = (operands[0], &m.weights.get(*weight).ty.shape);
            let g = Geometry {
                c: x.shape[2],
                h: x.shape[3],
                w: x.shape[4],
                oh: r.shape[3],
                ow: r.shape[4],
                kernel: [ws[2], ws[3]],
                strides: *strides,
                pads: *pads,
                dilations: *dilations,
            };
            let cols = kernels::im2col(&x.data, x.shape[0] * x.shape[1], g, [0, x.shape[2]]);
            gemm_inputs.push(cols.to_f32());
        }
    })
    .unwrap();
    Trace { spikes, gemm_inputs, output: outs[0].data.to_f32() }
}

/// A time-major `[T, B, …]` tensor as `[B, T, …]` values.
fn sample_major(t: &Tensor) -> Vec<f32> {
    t.transpose(0, 1).unwrap().contiguous().unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Runs the trainer's forward pass and the interpreter on the same spikes and weights and
/// checks that they agree exactly; returns the spike rate of each LIF layer.
fn check_against_interpreter(weights: impl Fn(&NetSpec) -> Weights, samples: usize, seed: u64) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    // The spec does not depend on the weights: translate the model once to get it.
    let spec = {
        let path = dir.path().join("m.snn");
        std::fs::write(&path, CNN).unwrap();
        let m = load_module(&read_source(path.to_str().unwrap()).unwrap(), WeightMode::ShapesOnly).unwrap();
        cli::net_spec(&m).unwrap_or_else(|e| panic!("{e:?}")).0
    };
    let w = weights(&spec);
    let (m, spec2) = lowered(dir.path(), &w);
    assert_eq!(spec, spec2);
    let x = random_spikes(&[samples, 3, 2, 6, 5], 0.3, seed);
    let trace = interpret(&m, &x);

    let data = Dataset::new(x, vec![0; samples]).unwrap();
    let (bx, _) = data.batch(&(0..samples).collect::<Vec<_>>(), &Device::Cpu).unwrap();
    let model = Model::new(&spec, &w).unwrap();
    let out = model.forward(&bx, &ForwardOptions::default()).unwrap();

    assert_eq!(out.spikes.len(), 3);
    assert_eq!(trace.spikes.len(), 3);
    for (l, (ours, theirs)) in out.spikes.iter().zip(&trace.spikes).enumerate() {
        let ours = sample_major(ours);
        let diff = ours.iter().zip(theirs).filter(|(a, b)| a != b).count();
        assert_eq!(diff, 0, "LIF layer {l}: {diff} of {} spikes differ", ours.len());
    }
    assert_eq!(sample_major(out.spikes.last().unwrap()), trace.output);
    assert_eq!(out.gemm_inputs.len(), 3);
    assert_eq!(out.gemm_inputs[0].dims(), &[3, samples, 30, 18]);
    assert_eq!(out.gemm_inputs[1].dims(), &[3, samples, 6, 36]);
    assert_eq!(out.gemm_inputs[2].dims(), &[3, samples, 18]);
    for (l, (ours, theirs)) in out.gemm_inputs.iter().zip(&trace.gemm_inputs).enumerate() {
        assert!(sample_major(ours) == *theirs, "GEMM input of synaptic layer {l} differs");
    }
    // The counts are the read-out of the interpreter's output.
    let counts = out.counts.to_vec2::<f32>().unwrap();
    for (n, row) in counts.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let expect: f32 = (0..3).map(|t| trace.output[(n * 3 + t) * 5 + c]).sum();
            assert_eq!(v, expect);
        }
    }
    out.spikes.iter().map(|s| f64::from(s.mean_all().unwrap().to_scalar::<f32>().unwrap())).collect()
}

#[test]
fn cnn_forward_equals_the_interpreter_on_dyadic_weights() {
    let rates = check_against_interpreter(|s| dyadic_weights(s, 11), 64, 5);
    // Not a vacuous comparison: every layer fires, none saturates.
    assert!(rates.iter().all(|&r| (0.02..0.9).contains(&r)), "spike rates {rates:?}");
}

#[test]
fn cnn_forward_equals_the_interpreter_on_default_init() {
    // The seeded default initialisation, scaled up so that the deeper layers fire too
    // (arbitrary f32 values, not on a grid).
    let scaled = |s: &NetSpec| {
        let mut w = init_weights(s, 3).unwrap();
        w.tensors.values_mut().for_each(|t| t.data.iter_mut().for_each(|v| *v *= 3.0));
        w
    };
    let rates = check_against_interpreter(scaled, 64, 6);
    assert!(rates.iter().all(|&r| (0.01..0.9).contains(&r)), "spike rates {rates:?}");
}

#[test]
fn im2col_equals_the_runtime_kernel_and_its_gradient_is_the_transpose() {
    // Real-valued images, asymmetric padding, different strides per axis.
    let (n, c, h, w) = (2, 3, 5, 4);
    let (kernel, strides, pads) = ([2, 3], [2, 1], [1, 0, 0, 2]);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let vals: Vec<f32> = (0..n * c * h * w).map(|_| unit(&mut rng) as f32 - 0.5).collect();
    let images = candle_core::Var::from_vec(vals.clone(), (n, c, h, w), &Device::Cpu).unwrap();
    let (cols, oh, ow) = super::model::im2col(images.as_tensor(), kernel, strides, pads).unwrap();
    assert_eq!((oh, ow), (3, 4)); // (5 + 1 − 2)/2 + 1, (4 + 2 − 3)/1 + 1
    let geometry = Geometry { c, h, w, oh, ow, kernel, strides, pads, dilations: [1, 1] };
    let runtime = |x: Vec<f32>| kernels::im2col(&phi_runtime::Data::F32(x), n, geometry, [0, c]).to_f32();
    assert_eq!(cols.dims(), &[n, oh * ow, c * 6]);
    assert_eq!(cols.flatten_all().unwrap().to_vec1::<f32>().unwrap(), runtime(vals.clone()));

    // d/dx Σ cols·R is im2colᵀ(R): for each input element, Σ R over the entries reading it.
    let r: Vec<f32> = (0..cols.elem_count()).map(|_| unit(&mut rng) as f32).collect();
    let rt = Tensor::from_vec(r.clone(), cols.dims(), &Device::Cpu).unwrap();
    let grads = cols.mul(&rt).unwrap().sum_all().unwrap().backward().unwrap();
    let got = grads.get(images.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for (e, g) in got.iter().enumerate() {
        let mut one_hot = vec![0f32; vals.len()];
        one_hot[e] = 1.0;
        let expect: f32 = runtime(one_hot).iter().zip(&r).map(|(a, b)| a * b).sum();
        assert!((g - expect).abs() < 1e-5, "element {e}: {g} vs {expect}");
    }
}

#[test]
fn gradients_reach_the_first_conv_through_the_im2col_rows() {
    let spec = spec::tests::small_cnn(6, 5);
    let w = init_weights(&spec, 2).unwrap();
    let model = Model::new(&spec, &w).unwrap();
    let x = random_spikes(&[4, 3, 2, 6, 5], 0.4, 1);
    let data = Dataset::new(x, vec![0; 4]).unwrap();
    let (bx, _) = data.batch(&[0, 1, 2, 3], model.device()).unwrap();
    let opts = ForwardOptions { track_grad: true, ..ForwardOptions::default() };
    let out = model.forward(&bx, &opts).unwrap();
    // A loss on the second convolution's im2col rows (its input spikes) alone.
    let loss = out.gemm_inputs[1].sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let vars = model.named_vars();
    let grad_of = |name: &str| {
        let v = &vars.iter().find(|(n, _)| n == name).unwrap().1;
        grads.get(v.as_tensor()).map(|g| g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap())
    };
    assert!(grad_of("c1.weight").unwrap() > 0.0);
    assert!(grad_of("c1.bias").unwrap() > 0.0);
    assert!(grad_of("c2.weight").is_none_or(|g| g == 0.0), "c2 comes after its input");
}

/// Two classes of 1×5×5 images over 8 steps: class 0 fires in the left two columns with
/// probability 0.8 (elsewhere 0.05), class 1 in the right two.
fn bars(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let y: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
    let x = ArrayD::from_shape_fn(IxDyn(&[n, 8, 1, 5, 5]), |d| {
        let (class, col) = (d[0] % 2, d[4]);
        let hot = if class == 0 { col < 2 } else { col > 2 };
        u8::from(unit(&mut rng) < if hot { 0.8 } else { 0.05 })
    });
    Dataset::new(x, y).unwrap()
}

/// conv 1→4 3×3 pad 1 → LIF → conv 4→4 3×3 stride 2 pads (1, 1, 0, 0) → LIF → flatten →
/// linear 16→2 → LIF, threshold 0.5 (with the default initialisation and threshold 1 the
/// second convolution starts almost silent and takes longer to wake up).
fn tiny_cnn() -> NetSpec {
    let lif = LayerSpec::Lif { beta: 0.9, threshold: 0.5, reset: Reset::Subtract };
    NetSpec {
        time_steps: 8,
        input_shape: vec![1, 5, 5],
        layers: vec![
            LayerSpec::Conv2d {
                name: "conv1".into(),
                in_channels: 1,
                out_channels: 4,
                kernel: [3, 3],
                strides: [1, 1],
                pads: [1, 1, 1, 1],
                bias: true,
            },
            lif.clone(),
            LayerSpec::Conv2d {
                name: "conv2".into(),
                in_channels: 4,
                out_channels: 4,
                kernel: [3, 3],
                strides: [2, 2],
                pads: [1, 1, 0, 0],
                bias: true,
            },
            lif.clone(),
            LayerSpec::Flatten,
            LayerSpec::Linear { name: "fc".into(), in_features: 16, out_features: 2, bias: true },
            lif,
        ],
    }
}

#[test]
fn tiny_cnn_learns_and_training_is_deterministic() {
    let spec = tiny_cnn();
    spec.validate().unwrap();
    let (data, valid) = (bars(96, 1), bars(48, 2));
    let cfg = TrainConfig { epochs: 6, batch_size: 16, learning_rate: 1e-2, ..TrainConfig::default() };
    let run = || {
        let mut losses = Vec::new();
        let init = init_weights(&spec, 7).unwrap();
        let (w, _) = train(&spec, init, &data, Some(&valid), &cfg, &mut |r| losses.push(r.train_loss)).unwrap();
        (w, losses)
    };
    let (a, losses) = run();
    assert!(losses[5] < losses[0] * 0.8, "loss did not decrease: {losses:?}");
    let eval = evaluate(&spec, &a, &valid).unwrap();
    assert!(eval.accuracy >= 0.9, "validation accuracy {}", eval.accuracy);
    assert_eq!(eval.spike_rates.len(), 3);
    let (b, _) = run();
    assert_eq!(to_safetensors_bytes(&a).unwrap(), to_safetensors_bytes(&b).unwrap());
}

#[test]
fn data_must_have_the_input_shape() {
    let spec = tiny_cnn();
    let init = init_weights(&spec, 0).unwrap();
    let flat = Dataset::new(ndarray::Array3::<u8>::zeros((4, 8, 25)), vec![0, 1, 0, 1]).unwrap();
    let err = train(&spec, init.clone(), &flat, None, &TrainConfig::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, TrainError::InvalidData(_)), "{err}");
    assert!(err.to_string().contains("[1, 5, 5]"), "{err}");
    let model = Model::new(&spec, &init).unwrap();
    let x = Tensor::zeros((8, 2, 25), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert!(model.forward(&x, &ForwardOptions::default()).is_err());
}

/// Translates ONNX text (weights not read) as `phic train` does.
fn translate(text: &str) -> Result<NetSpec, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.snn");
    std::fs::write(&path, text).unwrap();
    let m = load_module(&read_source(path.to_str().unwrap()).unwrap(), WeightMode::ShapesOnly).unwrap();
    cli::net_spec(&m).map(|(s, _)| s).map_err(|e| match e {
        crate::failure::Failure::Diag(d) => d.message,
        crate::failure::Failure::Usage(u) => u,
    })
}

#[test]
fn translation_of_conv_models() {
    let s = translate(CNN).unwrap();
    assert_eq!(s.input_shape, [2, 6, 5]);
    assert_eq!(s.time_steps, 3);
    assert_eq!(
        s.layers[2],
        LayerSpec::Conv2d {
            name: "layer1".into(),
            in_channels: 4,
            out_channels: 3,
            kernel: [3, 3],
            strides: [2, 2],
            pads: [1, 1, 0, 0],
            bias: false
        }
    );
    assert_eq!(s.layers[4], LayerSpec::Flatten);
    assert_eq!(s.layers[6], LayerSpec::Lif { beta: 1.0, threshold: 1.0, reset: Reset::Subtract });

    // A Reshape to [N, T, F] is a flatten.
    let reshaped = CNN
        .replace("float[5] fb =", "int64[3] shp = {0, 0, -1}, float[5] fb =")
        .replace("f = Flatten<axis = 2>(s2)", "f = Reshape(s2, shp)");
    assert_eq!(translate(&reshaped).unwrap(), s);

    // Dilations and groups are refused with a clear message.
    let dilated = CNN.replace("strides = [2, 2], kernel_shape", "dilations = [2, 2], kernel_shape");
    let e = translate(&dilated).unwrap_err();
    assert!(e.contains("dilation 1 and one group"), "{e}");
    let grouped = CNN
        .replace("float[3, 4, 3, 3] c2w", "float[4, 2, 3, 3] c2w")
        .replace("float[18, 5] fw", "float[24, 5] fw")
        .replace("strides = [2, 2], kernel_shape", "group = 2, strides = [2, 2], kernel_shape");
    let e = translate(&grouped).unwrap_err();
    assert!(e.contains("dilation 1 and one group"), "{e}");
    // A reshape that keeps an image shape is not a flatten.
    let image = CNN
        .replace("float[5] fb =", "int64[5] shp = {0, 0, 3, 3, 2}, float[5] fb =")
        .replace("f = Flatten<axis = 2>(s2)", "r = Reshape(s2, shp)\n  f = Flatten<axis = 2>(r)");
    let e = translate(&image).unwrap_err();
    assert!(e.contains("reshape"), "{e}");
}

/// Trains the spiking CNN of the digits (8×8 images as `[1, 8, 8]`, T = 8): conv 1→16 3×3
/// pad 1, LIF, conv 16→32 3×3 stride 2 pad 1, LIF, flatten, linear 512→10, LIF, and reports
/// test accuracy and time. Run with
/// `cargo test -p phi-compiler --release digits_cnn -- --ignored --nocapture` (94 % test
/// accuracy, about 50 s when this test was written).
#[test]
#[ignore = "trains a digits CNN (about a minute in release mode)"]
fn digits_cnn_trains() {
    use phi_examples::digits;
    let csv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp/data/digits.csv.gz");
    let raw = digits::read_digits_csv_gz(&csv).unwrap();
    let splits = digits::prepare_digits(&raw, &digits::PrepareOptions::default()).unwrap();
    let image = |s: &digits::Split| {
        let (n, t, _) = s.spikes.dim();
        let x = s.spikes.clone().into_shape_with_order((n, t, 1, 8, 8)).unwrap();
        Dataset::new(x, s.labels.to_vec()).unwrap()
    };
    let (train_set, calib, test) = (image(&splits[0]), image(&splits[1]), image(&splits[2]));
    let lif = LayerSpec::Lif { beta: 0.9, threshold: 1.0, reset: Reset::Subtract };
    let spec = NetSpec {
        time_steps: 8,
        input_shape: vec![1, 8, 8],
        layers: vec![
            LayerSpec::Conv2d {
                name: "conv1".into(),
                in_channels: 1,
                out_channels: 16,
                kernel: [3, 3],
                strides: [1, 1],
                pads: [1, 1, 1, 1],
                bias: true,
            },
            lif.clone(),
            LayerSpec::Conv2d {
                name: "conv2".into(),
                in_channels: 16,
                out_channels: 32,
                kernel: [3, 3],
                strides: [2, 2],
                pads: [1, 1, 1, 1],
                bias: true,
            },
            lif.clone(),
            LayerSpec::Flatten,
            LayerSpec::Linear { name: "fc".into(), in_features: 512, out_features: 10, bias: true },
            lif,
        ],
    };
    let cfg = TrainConfig { epochs: 15, ..TrainConfig::default() };
    let start = std::time::Instant::now();
    let init = init_weights(&spec, cfg.seed).unwrap();
    let (w, report) = train(&spec, init, &train_set, Some(&calib), &cfg, &mut |r| {
        eprintln!(
            "epoch {:2} loss {:.4} train {:.3} calib {:.3} rates {:?} ({:.2?})",
            r.epoch,
            r.train_loss,
            r.train_accuracy,
            r.valid.as_ref().map_or(f64::NAN, |v| v.accuracy),
            r.valid.as_ref().map(|v| v.spike_rates.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>()),
            r.elapsed
        );
    })
    .unwrap();
    let eval = evaluate(&spec, &w, &test).unwrap();
    eprintln!(
        "selected epoch {}, test accuracy {:.4} ({}/{}), training time {:.2?}",
        report.selected_epoch,
        eval.accuracy,
        eval.correct,
        eval.samples,
        start.elapsed()
    );
    assert!(eval.accuracy >= 0.9, "test accuracy {}", eval.accuracy);
}
