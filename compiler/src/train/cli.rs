//! `phic train`: trains the weights of an ONNX-text model and writes them back where the model
//! reads them.
//!
//! The model is lowered to the `snn` dialect (without reading weights, unless `--resume`), its
//! layer stack (`Gemm`/`MatMul`, `Conv` with dilation 1 and one group, `Flatten`/`Reshape` to
//! `[N, T, F]`, `snn.LIF`/`snn.IF`, on one spike input `[N, T, …]`) is translated into a
//! [`NetSpec`], trained with [`train`], and the result is written as safetensors under the keys
//! and in the layouts the model's initializers declare (a `Gemm` with `transB = 1` gets its
//! weight transposed back; convolution weights keep their `[O, C, kh, kw]` layout). The output
//! file is `-o`, or the one `location` all trained initializers share. Finally the saved model is
//! reloaded and run by the reference interpreter on the validation split, so that a difference
//! between the trainer's forward pass and the interpreter would show immediately.
//!
//! The translation (`net_spec`), the current weights of a loaded module (`module_weights`),
//! the write-back layouts (`write_back`) and the interpreter cross-check (`interpreter_check`)
//! are shared with `phic tune` ([`super::tune_cli`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use phi_dialect::ops::snn::{Conv2d, Linear, NeuronParams};
use phi_dialect::weights::WeightId;
use phi_dialect::{Diagnostic, ElemType, Module, OpKind, SnnOp, SourceMap};

use super::{
    Dataset, LayerSpec, NetSpec, TrainConfig, WeightTensor, Weights, bias_name, init_weights, save_safetensors, train,
    weight_name,
};
use crate::failure::Failure;
use crate::frontend::external::{Loader, base_dir};
use crate::frontend::lower::{Derivation, lower_model_traced};
use crate::frontend::onnx::ast::{Initializer, Model};
use crate::frontend::{InputKind, WeightMode, read_source};

/// Options of `phic train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Model (ONNX text) whose weights are trained.
    #[arg(value_name = "MODEL")]
    model: String,
    /// Training inputs [N, T, …] (.npy, uint8/bool spikes; the trailing dimensions are the
    /// model input's, e.g. [N, T, F] or [N, T, C, H, W]).
    #[arg(long, value_name = "X.npy")]
    data: PathBuf,
    /// Training labels [N] (.npy, integers).
    #[arg(long, value_name = "L.npy")]
    labels: PathBuf,
    /// Validation inputs: the best epoch on them is kept, and the interpreter re-checks them.
    #[arg(long, value_name = "X.npy", requires = "valid_labels")]
    valid: Option<PathBuf>,
    /// Validation labels.
    #[arg(long, value_name = "L.npy", requires = "valid")]
    valid_labels: Option<PathBuf>,
    /// Passes over the training set.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Samples per optimiser step.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    lr: f64,
    /// Seed of the weight initialisation and of the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start from the model's current weights instead of a fresh seeded initialisation.
    #[arg(long)]
    resume: bool,
    /// Output safetensors file (default: the file the model's initializers point to).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// A trainable layer found in the module, with the weights it reads.
pub(crate) struct TrainLayer {
    /// The layer's name in the [`NetSpec`] (`layer0`, …).
    pub(crate) name: String,
    /// The weight it reads.
    pub(crate) weight: WeightId,
    /// The bias it reads, if any.
    pub(crate) bias: Option<WeightId>,
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Diag(Diagnostic::error(msg))
}

/// Translates a lowered module into the trainer's layer stack: `snn.linear`, `snn.conv2d`
/// (dilation 1, one group), `snn.flatten` (and `snn.reshape` to `T×F`), `snn.lif`/`snn.if`
/// with scalar float parameters, on one spike input `T×…` (`T×F` or `T×C×H×W`). The layers
/// are named `layer0`, `layer1`, … in order; the returned [`TrainLayer`]s name the weights they
/// read, in the same order.
pub(crate) fn net_spec(m: &Module) -> Result<(NetSpec, Vec<TrainLayer>), Failure> {
    let mut layers = Vec::new();
    let mut trained = Vec::new();
    let mut inputs = None;
    let mut prev = None;
    let unsupported = |op: &str, loc: &phi_dialect::Location| {
        Failure::Diag(
            Diagnostic::error(format!(
                "`phic train` trains stacks of linear and 2-D convolution layers, flattens and LIF/IF neurons; found `{op}`"
            ))
            .with_loc(loc, "")
            .with_help(
                "write the model as Conv → snn.LIF → … → Flatten<axis = 2> → Gemm → snn.LIF … (or Gemm → snn.LIF → …)",
            ),
        )
    };
    for &op in m.body() {
        let data = m.op(op);
        if let Some(&x) = data.operands.first()
            && Some(x) != prev
        {
            return Err(unsupported("a non-sequential graph", &data.loc));
        }
        match &data.kind {
            OpKind::Snn(SnnOp::Input(_)) => {
                if inputs.is_some() {
                    return Err(unsupported("a second input", &data.loc));
                }
                let ty = m.ty(m.result(op));
                if ty.rank() < 2 || ty.elem != ElemType::I1 {
                    return Err(usage(format!(
                        "`phic train` needs one spike input [N, T, …] (bool or uint8, e.g. [N, T, F] or [N, T, C, H, W]); found {ty}"
                    )));
                }
                inputs = Some((ty.shape[0], ty.shape[1..].to_vec()));
            }
            OpKind::Snn(SnnOp::Linear(Linear { weight, bias })) => {
                let w = &m.weights.get(*weight).ty;
                let name = format!("layer{}", trained.len());
                layers.push(LayerSpec::Linear {
                    name: name.clone(),
                    in_features: w.shape[0],
                    out_features: w.shape[1],
                    bias: bias.is_some(),
                });
                trained.push(TrainLayer { name, weight: *weight, bias: *bias });
            }
            OpKind::Snn(SnnOp::Conv2d(Conv2d { weight, bias, strides, pads, dilations, groups })) => {
                if *dilations != [1, 1] || *groups != 1 {
                    return Err(Failure::Diag(
                        Diagnostic::error(format!(
                            "`phic train` trains convolutions with dilation 1 and one group; found dilations {dilations:?}, group {groups}"
                        ))
                        .with_loc(&data.loc, "")
                        .with_help("write the Conv without `dilations` and `group` (or with dilations = [1, 1], group = 1)"),
                    ));
                }
                let w = &m.weights.get(*weight).ty;
                let &[out_channels, in_channels, kh, kw] = w.shape.as_slice() else {
                    return Err(unsupported("a convolution whose weight is not O×C×kh×kw", &data.loc));
                };
                let name = format!("layer{}", trained.len());
                layers.push(LayerSpec::Conv2d {
                    name: name.clone(),
                    in_channels,
                    out_channels,
                    kernel: [kh, kw],
                    strides: *strides,
                    pads: *pads,
                    bias: bias.is_some(),
                });
                trained.push(TrainLayer { name, weight: *weight, bias: *bias });
            }
            OpKind::Snn(SnnOp::Flatten) => layers.push(LayerSpec::Flatten),
            OpKind::Snn(SnnOp::Reshape) => {
                if m.ty(m.result(op)).rank() != 2 {
                    return Err(unsupported("a reshape to more than [N, T, F]", &data.loc));
                }
                layers.push(LayerSpec::Flatten);
            }
            OpKind::Snn(SnnOp::Lif(n) | SnnOp::If(n)) => match n.params {
                NeuronParams::Float { beta, threshold } => {
                    layers.push(LayerSpec::Lif { beta, threshold, reset: n.reset })
                }
                NeuronParams::Fixed { .. } => return Err(unsupported("an integer neuron", &data.loc)),
                NeuronParams::FloatPerNeuron { .. } => {
                    return Err(unsupported("a neuron with per-neuron parameters", &data.loc));
                }
            },
            OpKind::Snn(SnnOp::Output(_)) => {}
            OpKind::Snn(
                other @ (SnnOp::Constant { .. }
                | SnnOp::SumPool(_)
                | SnnOp::AvgPool { .. }
                | SnnOp::Add
                | SnnOp::Mul
                | SnnOp::Li { .. }
                | SnnOp::Im2col(_)
                | SnnOp::Transpose { .. }
                | SnnOp::Concat { .. }),
            ) => return Err(unsupported(other.name(), &data.loc)),
            OpKind::Phi(p) => return Err(unsupported(p.name(), &data.loc)),
        }
        prev = data.results.first().copied().or(prev);
    }
    let (time_steps, input_shape) = inputs.ok_or_else(|| usage("the model has no input"))?;
    let spec = NetSpec { time_steps, input_shape, layers };
    spec.validate().map_err(|e| usage(e.to_string()))?;
    Ok((spec, trained))
}

/// Where one trained tensor goes: safetensors file, key, declared shape, transposition.
struct Target {
    file: Option<PathBuf>,
    key: String,
    declared: Vec<usize>,
    transposed: bool,
}

fn target(model: &Model, model_dir: &Path, d: &Derivation) -> Result<Target, Failure> {
    let init: &Initializer =
        model.graph.initializer(&d.initializer).ok_or_else(|| usage(format!("no initializer `{}`", d.initializer)))?;
    if d.scale != 1.0 {
        return Err(usage(format!(
            "initializer `{}` is scaled by Gemm's alpha/beta; `phic train` writes plain weights (use alpha = beta = 1)",
            d.initializer
        )));
    }
    let file = init.data.external("location").map(|l| model_dir.join(l));
    let key = init.data.external("key").unwrap_or(&init.name.text).to_string();
    let declared = init.shape().iter().map(|&x| x.max(0) as usize).collect();
    Ok(Target { file, key, declared, transposed: d.transposed })
}

/// Runs `phic train`.
pub fn run(a: &TrainArgs, sources: &mut SourceMap) -> Result<(), Failure> {
    let src = read_source(&a.model)?;
    *sources = src.sources.clone();
    if src.kind != InputKind::OnnxText {
        return Err(Failure::Usage("`phic train` reads ONNX text (.snn, .onnxtxt, .onnxtext)".into()));
    }
    let model = crate::frontend::onnx::parse_model(src.file, src.sources.file(src.file).text())?;
    let dir = src.path.as_deref().map_or_else(|| PathBuf::from("."), base_dir);
    let mode = if a.resume { WeightMode::Load } else { WeightMode::ShapesOnly };
    let lowered = lower_model_traced(&model, &src.sources, &mut Loader::new(&dir), mode)?;
    let m = &lowered.module;
    let (spec, layers) = net_spec(m)?;

    let err = |e: super::TrainError| usage(e.to_string());
    let train_set = Dataset::load_npy(&a.data, &a.labels).map_err(err)?;
    let valid = match (&a.valid, &a.valid_labels) {
        (Some(x), Some(y)) => Some(Dataset::load_npy(x, y).map_err(err)?),
        (_, _) => None,
    };
    let init = if a.resume { module_weights(m, &layers) } else { init_weights(&spec, a.seed).map_err(err)? };
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        learning_rate: a.lr,
        seed: a.seed,
        ..TrainConfig::default()
    };
    let (weights, report) = train(&spec, init, &train_set, valid.as_ref(), &cfg, &mut |e| {
        let valid = e.valid.as_ref().map_or(String::new(), |v| format!(", valid accuracy {:.2}%", 100.0 * v.accuracy));
        eprintln!(
            "epoch {:>3}: loss {:.4}, train accuracy {:.2}%{valid} ({:.1} s)",
            e.epoch,
            e.train_loss,
            100.0 * e.train_accuracy,
            e.elapsed.as_secs_f64()
        );
    })
    .map_err(err)?;
    eprintln!(
        "trained {} epochs in {:.1} s; kept the weights of epoch {}",
        report.epochs.len(),
        report.elapsed.as_secs_f64(),
        report.selected_epoch
    );

    // Write the trained tensors under the model's keys and layouts.
    let mut out_file: Option<PathBuf> = a.output.clone();
    let mut tensors = BTreeMap::new();
    for t in write_back(&model, &dir, &lowered.provenance, &layers, &weights)? {
        if a.output.is_none() {
            match (&out_file, &t.file) {
                (_, None) => {
                    return Err(usage(format!(
                        "initializer `{}` holds inline data; give -o FILE.safetensors and point the model at it",
                        t.initializer
                    )));
                }
                (None, Some(f)) => out_file = Some(f.clone()),
                (Some(a), Some(b)) if a != b => {
                    return Err(usage("the trained initializers live in several files; give -o FILE"));
                }
                (Some(_), Some(_)) => {}
            }
        }
        tensors.insert(t.key, t.tensor);
    }
    let out = out_file.ok_or_else(|| usage("nothing to write"))?;
    save_safetensors(&Weights { tensors }, &out).map_err(err)?;
    eprintln!("wrote {}", out.display());

    // Cross-check with the reference interpreter.
    if let (Some(v), Some(vx)) = (&valid, &a.valid) {
        interpreter_check(&a.model, vx, v.y())?;
    }
    Ok(())
}

/// The current weights of the trained layers of a module lowered with [`WeightMode::Load`],
/// under the trainer's parameter names (`layer0.weight`, …; Linear weights `K × N`).
pub(crate) fn module_weights(m: &Module, layers: &[TrainLayer]) -> Weights {
    let mut w = Weights { tensors: BTreeMap::new() };
    for l in layers {
        let put = |id: WeightId, name: String, w: &mut Weights| {
            let wt = m.weights.get(id);
            let data = wt.as_f32().map(<[f32]>::to_vec).unwrap_or_default();
            w.tensors.insert(name, WeightTensor { shape: wt.ty.shape.clone(), data });
        };
        put(l.weight, weight_name(&l.name), &mut w);
        if let Some(b) = l.bias {
            put(b, bias_name(&l.name), &mut w);
        }
    }
    w
}

/// One trained tensor as the model declares it.
pub(crate) struct WriteBack {
    /// The initializer it replaces.
    pub(crate) initializer: String,
    /// The external file the initializer reads now (resolved against the model's directory),
    /// `None` for inline data.
    pub(crate) file: Option<PathBuf>,
    /// The safetensors key: the initializer's `key`, else its name.
    pub(crate) key: String,
    /// The data in the declared shape and layout (a `Gemm` with `transB = 1` transposed back).
    pub(crate) tensor: WeightTensor,
}

/// The trained `weights` of `layers` in the layouts the model's initializers declare, one per
/// trained initializer in layer order (weight, then bias). Two trained tensors under the same
/// key (an initializer shared by two layers) are refused.
pub(crate) fn write_back(
    model: &Model,
    dir: &Path,
    provenance: &BTreeMap<WeightId, Derivation>,
    layers: &[TrainLayer],
    weights: &Weights,
) -> Result<Vec<WriteBack>, Failure> {
    let mut out: Vec<WriteBack> = Vec::new();
    for l in layers {
        for (id, name) in
            std::iter::once((l.weight, weight_name(&l.name))).chain(l.bias.map(|b| (b, bias_name(&l.name))))
        {
            let d = provenance
                .get(&id)
                .ok_or_else(|| usage(format!("internal error: no initializer recorded for `{name}`")))?;
            let t = target(model, dir, d)?;
            let trained = weights
                .tensors
                .get(&name)
                .ok_or_else(|| usage(format!("internal error: no trained tensor `{name}`")))?;
            let data = if t.transposed {
                let (k, n) = (trained.shape[0], trained.shape[1]);
                let mut back = vec![0f32; k * n];
                for r in 0..k {
                    for c in 0..n {
                        back[c * k + r] = trained.data[r * n + c];
                    }
                }
                back
            } else {
                trained.data.clone()
            };
            if t.declared.iter().product::<usize>() != data.len() {
                return Err(usage(format!(
                    "initializer `{}` is declared {:?} but the trained tensor has {} values",
                    d.initializer,
                    t.declared,
                    data.len()
                )));
            }
            if let Some(other) = out.iter().find(|o| o.key == t.key && o.file == t.file) {
                return Err(usage(format!(
                    "initializers `{}` and `{}` are both stored under the key `{}`; training writes one tensor per initializer",
                    other.initializer, d.initializer, t.key
                )));
            }
            out.push(WriteBack {
                initializer: d.initializer.clone(),
                file: t.file,
                key: t.key,
                tensor: WeightTensor { shape: t.declared, data },
            });
        }
    }
    Ok(out)
}

/// Reloads the model at `model_path` (with its weights), runs it in the reference interpreter
/// on the spikes `x` and prints the accuracy against `labels`.
pub(crate) fn interpreter_check(model_path: &str, x: &Path, labels: &[u8]) -> Result<(), Failure> {
    let reloaded = crate::frontend::load_module(&read_source(model_path)?, WeightMode::Load)?;
    let arr = phi_runtime::npy::read_npy(x).map_err(Diagnostic::error)?;
    let x_t = phi_runtime::npy::to_tensor(&arr, ElemType::I1).map_err(Diagnostic::error)?;
    let outs = phi_runtime::run(&reloaded, &[x_t])?;
    let labels: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
    let out = outs.first().ok_or_else(|| usage("the model has no output"))?;
    let ok = phi_runtime::metrics::correct(out, &labels).unwrap_or(0);
    phi_runtime::outln!(
        "reference interpreter on {}: accuracy {:.2}% ({ok}/{})",
        x.display(),
        100.0 * ok as f64 / labels.len().max(1) as f64,
        labels.len()
    );
    Ok(())
}
