//! `phic tune`: pattern-aware fine-tuning (PAFT) of a trained ONNX-text model.
//!
//! ```text
//! phic tune MODEL.snn --data X.npy --labels L.npy [--valid X --valid-labels L] [--calib C.npy]
//!           [--hw CONFIG.toml] [--epochs 5] [--lambda 5e-7] [--lr 3e-4] [--batch-size 32]
//!           [--seed 0] -o OUT.snn
//! ```
//!
//! 1. The model is lowered with its current weights and translated into the trainer's
//!    [`NetSpec`] exactly as `phic train --resume` does (`cli::net_spec`).
//! 2. The patterns are those the compiler would use: the Phi pipeline
//!    ([`Pipeline::for_target`], built for the `--hw` target as `-o` builds it) up to and
//!    including `select-patterns` runs on a copy of the module
//!    with the calibration data (`--calib`, else the model's `phi.calibration`); every
//!    `snn.linear`'s `phi.patterns` and `phi.k` are collected in program order. They belong one
//!    to one, in order, to the trainer's synaptic layers (a convolution becomes `im2col` +
//!    `snn.linear` with the trainer's im2col column order); counts and widths are checked.
//! 3. The weights are fine-tuned for `--epochs` epochs on `loss = CE + λ · Σ_l L2_l`, where
//!    `L2_l` is [`level2_cost`], layer `l`'s Level-2 operations per sample under the fixed
//!    patterns, with AdamW at a constant learning rate (default `3e-4`, a tenth of what
//!    training from scratch uses) and the last epoch's weights kept (not the best validation
//!    epoch, which would favour the least-tuned one). The L2 cost is in operations per sample
//!    (≈ 26,000 for the digits MLP, ≈ 32,000 for the digits CNN), so the default
//!    `λ = 5e-7` makes `λ · L2` ≈ 0.013–0.016, below the trained model's cross-entropy
//!    (≈ 0.03–0.05): the task keeps the upper hand and the operations go down by 40–50 % on
//!    both examples at ≤ 0.5 points of accuracy. Raising `λ` (or `--lr`, `--epochs`: AdamW's
//!    steps are bounded by the learning rate) removes more operations at more accuracy cost;
//!    every epoch line prints CE and L2, so `λ · L2` against CE can be read off.
//! 4. `OUT.safetensors` receives the tuned tensors (same keys and layouts as the model's
//!    initializers) and `OUT.snn` the model text with the trained initializers pointing at it,
//!    every other relative path (external data of other initializers and tensor constants, the
//!    `phi.calibration`, `phi.heldout` and `phi.heldout_labels` metadata, and any other
//!    metadata value naming an existing file) rewritten to resolve from OUT's directory. Both
//!    are written atomically, weights first. The output model is reloaded (and, with
//!    `--valid`, run by the reference interpreter), and the command that recompiles it is
//!    printed: its pipeline reselects patterns on the tuned weights.

use std::cell::Cell;
use std::path::{Component, Path, PathBuf};

use candle_core::Tensor;
use clap::Args;
use phi_dialect::ops::snn::Linear;
use phi_dialect::phi_attrs::{self, DataFile};
use phi_dialect::program::TargetKind;
use phi_dialect::target::Target;
use phi_dialect::{Diagnostic, Module, OpKind, SnnOp, SourceMap};

use super::cli::{interpreter_check, module_weights, net_spec, write_back};
use super::paft::{LayerPatterns, Level2Report, level2_cost, measure};
use super::{
    Dataset, ForwardOutput, LayerSpec, LrSchedule, Model, NetSpec, TrainConfig, TrainError, Weights, save_safetensors,
    train_with,
};
use crate::failure::Failure;
use crate::frontend::external::{Loader, base_dir};
use crate::frontend::lower::lower_model_traced;
use crate::frontend::onnx::ast::{AttrValue, AttrValueKind, Graph, KeyValue, Model as OnnxModel, Node, TensorData};
use crate::frontend::{InputKind, WeightMode, read_source};
use crate::passes::{PassContext, Pipeline};

/// Default weight of the Level-2 cost (per operation per sample).
pub const DEFAULT_LAMBDA: f64 = 5e-7;
/// Default AdamW learning rate of the fine-tuning.
pub const DEFAULT_LR: f64 = 3e-4;
/// Default number of epochs.
pub const DEFAULT_EPOCHS: usize = 5;

/// Options of `phic tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Trained model (ONNX text) to fine-tune; its current weights are the starting point.
    #[arg(value_name = "MODEL")]
    model: String,
    /// Training inputs [N, T, …] (.npy, uint8/bool spikes).
    #[arg(long, value_name = "X.npy")]
    data: PathBuf,
    /// Training labels [N] (.npy, integers).
    #[arg(long, value_name = "L.npy")]
    labels: PathBuf,
    /// Validation inputs: accuracy and Level-2 operations are reported on them.
    #[arg(long, value_name = "X.npy", requires = "valid_labels")]
    valid: Option<PathBuf>,
    /// Validation labels.
    #[arg(long, value_name = "L.npy", requires = "valid")]
    valid_labels: Option<PathBuf>,
    /// Calibration inputs [N, T, …] for pattern selection; default: the model's phi.calibration.
    #[arg(long, value_name = "C.npy")]
    calib: Option<PathBuf>,
    /// Hardware configuration (TOML) whose k and q the patterns are selected with.
    #[arg(long, value_name = "CONFIG.toml")]
    hw: Option<PathBuf>,
    /// Passes over the training set.
    #[arg(long, default_value_t = DEFAULT_EPOCHS)]
    epochs: usize,
    /// Weight λ of the Level-2 cost (operations per sample) in the loss CE + λ·L2.
    #[arg(long, default_value_t = DEFAULT_LAMBDA, allow_negative_numbers = true)]
    lambda: f64,
    /// AdamW learning rate (constant).
    #[arg(long, default_value_t = DEFAULT_LR)]
    lr: f64,
    /// Samples per optimiser step.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    batch_size: usize,
    /// Seed of the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output model (ONNX text); the tuned weights go to the same name with .safetensors.
    #[arg(short = 'o', long = "output", value_name = "OUT.snn")]
    output: PathBuf,
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure::Diag(Diagnostic::error(msg))
}

fn train_err(e: TrainError) -> Failure {
    fail(e.to_string())
}

/// Runs `phic tune`.
pub fn run(a: &TuneArgs, sources: &mut SourceMap) -> Result<(), Failure> {
    if !(a.lambda.is_finite() && a.lambda >= 0.0) {
        return Err(Failure::Usage(format!("--lambda must be a finite number ≥ 0, got {}", a.lambda)));
    }
    let out_model = a.output.clone();
    if out_model.to_str().and_then(InputKind::of) != Some(InputKind::OnnxText) {
        return Err(Failure::Usage(format!(
            "-o {}: the output is a model in ONNX text; name it OUT.snn (the weights go to OUT.safetensors)",
            out_model.display()
        )));
    }
    let out_weights = out_model.with_extension("safetensors");

    let src = read_source(&a.model)?;
    *sources = src.sources.clone();
    if src.kind != InputKind::OnnxText {
        return Err(Failure::Usage("`phic tune` reads ONNX text (.snn, .onnxtxt, .onnxtext)".into()));
    }
    let text = src.sources.file(src.file).text().to_string();
    let model = crate::frontend::onnx::parse_model(src.file, &text)?;
    let dir = src.path.as_deref().map_or_else(|| PathBuf::from("."), base_dir);
    let lowered = lower_model_traced(&model, &src.sources, &mut Loader::new(&dir), WeightMode::Load)?;
    let m = &lowered.module;
    let (spec, layers) = net_spec(m)?;
    let init = module_weights(m, &layers);
    // Check the output's place before the work.
    let weights_name = out_weights
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Failure::Usage(format!("-o {}: not a UTF-8 file name", out_model.display())))?
        .to_string();
    if external_files(&model, &dir).iter().any(|f| same_file(f, &out_weights)) {
        return Err(Failure::Diag(
            Diagnostic::error(format!("{} is a file the model reads", out_weights.display()))
                .with_help("choose another -o name, so that the tuned weights do not overwrite the model's data"),
        ));
    }
    let relocator = Relocator::new(&dir, &base_dir(&out_model))?;
    let target = crate::target::target(TargetKind::Phi, a.hw.as_deref(), sources)?;
    let patterns = select_patterns(m, &target, &dir, a.calib.clone(), &spec)?;

    let train_set = Dataset::load_npy(&a.data, &a.labels).map_err(train_err)?;
    let valid = match (&a.valid, &a.valid_labels) {
        (Some(x), Some(y)) => Some(Dataset::load_npy(x, y).map_err(train_err)?),
        (_, _) => None,
    };
    let (eval_set, eval_name) = match &valid {
        Some(v) => (v, "valid"),
        None => (&train_set, "train"),
    };
    let summary = |w: &Weights| -> Result<Level2Report, Failure> {
        let model = Model::new(&spec, w).map_err(train_err)?;
        measure(&model, eval_set, &patterns).map_err(train_err)
    };
    let before = summary(&init)?;
    print_summary("before", eval_name, &before);

    let cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        learning_rate: a.lr,
        seed: a.seed,
        schedule: LrSchedule::Constant,
        keep_best: false,
        ..TrainConfig::default()
    };
    let lambda = a.lambda;
    let l2_sum = Cell::new(0f64);
    let mut extra = |out: &ForwardOutput, batch: usize| -> Result<Option<Tensor>, TrainError> {
        let mut total: Option<Tensor> = None;
        for (x, l) in out.gemm_inputs.iter().zip(&patterns) {
            let c = level2_cost(x, l)?;
            total = Some(match total {
                Some(t) => t.add(&c)?,
                None => c,
            });
        }
        let Some(total) = total else { return Ok(None) };
        l2_sum.set(l2_sum.get() + f64::from(total.to_scalar::<f32>()?) * batch as f64);
        Ok(if lambda > 0.0 { Some(total.affine(lambda, 0.0)?) } else { None })
    };
    let n_train = train_set.len() as f64;
    let (weights, report) = train_with(&spec, init, &train_set, valid.as_ref(), &cfg, &mut extra, &mut |e| {
        let l2 = l2_sum.replace(0.0) / n_train;
        let ce = e.train_loss - e.extra_loss.unwrap_or(0.0);
        let valid = e.valid.as_ref().map_or(String::new(), |v| format!(", valid accuracy {:.2}%", 100.0 * v.accuracy));
        eprintln!(
            "epoch {:>3}: loss {:.4}, CE {ce:.4}, L2 {l2:.0} ops/sample, train accuracy {:.2}%{valid} ({:.1} s)",
            e.epoch,
            e.train_loss,
            100.0 * e.train_accuracy,
            e.elapsed.as_secs_f64()
        );
    })
    .map_err(train_err)?;
    eprintln!("tuned {} epochs in {:.1} s", report.epochs.len(), report.elapsed.as_secs_f64());
    let after = summary(&weights)?;
    print_summary("after", eval_name, &after);

    // OUT.safetensors, then OUT.snn pointing at it.
    let written = write_back(&model, &dir, &lowered.provenance, &layers, &weights)?;
    let mut tensors = std::collections::BTreeMap::new();
    let mut edits = Vec::new();
    for t in written {
        let init = model
            .graph
            .initializer(&t.initializer)
            .ok_or_else(|| fail(format!("internal error: no initializer `{}`", t.initializer)))?;
        // The key in OUT.safetensors: the model's own, or the initializer's name if that is taken.
        let mut key = t.key.clone();
        let mut n = 0;
        while tensors.contains_key(&key) {
            key = if n == 0 { t.initializer.clone() } else { format!("{}.{n}", t.initializer) };
            n += 1;
        }
        let location = init.data.external("location");
        match (&init.data, location) {
            (TensorData::External(pairs), Some(loc)) if loc.ends_with(".safetensors") && key == t.key => {
                let pair = pairs.iter().find(|p| p.key == "location").ok_or_else(|| fail("internal error"))?;
                edits.push(Edit::string(pair, &weights_name));
            }
            (TensorData::External(_) | TensorData::Inline(_), _) => edits.push(Edit {
                start: init.data_span.start as usize,
                end: init.data_span.end as usize,
                text: format!("[\"location\": {}, \"key\": {}]", quote(&weights_name), quote(&key)),
            }),
        }
        tensors.insert(key, t.tensor);
    }
    let trained: Vec<&str> = layers
        .iter()
        .flat_map(|l| std::iter::once(l.weight).chain(l.bias))
        .filter_map(|id| lowered.provenance.get(&id).map(|d| d.initializer.as_str()))
        .collect();
    relocate_model(&model, &trained, &relocator, &mut edits)?;
    let new_text = apply_edits(&text, edits)?;
    save_safetensors(&Weights { tensors }, &out_weights).map_err(train_err)?;
    phi_runtime::npy::write_atomic(&out_model, new_text.as_bytes())
        .map_err(|e| fail(format!("cannot write {}: {e}", out_model.display())))?;
    eprintln!("wrote {} and {}", out_weights.display(), out_model.display());

    // The output model loads (and runs like the tuned weights).
    let out_str = out_model.to_str().ok_or_else(|| Failure::Usage("-o: not a UTF-8 path".into()))?;
    match (&valid, &a.valid) {
        (Some(v), Some(vx)) => interpreter_check(out_str, vx, v.y())?,
        (_, _) => {
            crate::frontend::load_module(&read_source(out_str)?, WeightMode::Load)?;
        }
    }
    phi_runtime::outln!(
        "recompile with the patterns reselected on the tuned weights:\n  {}",
        recompile_command(a, m, out_str)
    );
    Ok(())
}

fn print_summary(when: &str, set: &str, r: &Level2Report) {
    let layers = r.level2.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(" + ");
    phi_runtime::outln!(
        "{when}: {set} accuracy {:.2}%, Level-2 {:.0} ops/sample ({layers}) with the selected patterns, bit-sparse {:.0}",
        100.0 * r.accuracy,
        r.level2_total(),
        r.bit_sparse_total()
    );
}

/// `phic OUT.snn -o OUT.phibin --emulate`, with the options this run's patterns depended on.
fn recompile_command(a: &TuneArgs, m: &Module, out: &str) -> String {
    let phibin = Path::new(out).with_extension("phibin");
    let mut words = vec!["phic".to_string(), shell_quote(out), "-o".into(), shell_quote(&phibin.to_string_lossy())];
    words.push("--emulate".into());
    if let Some(hw) = &a.hw {
        words.extend(["--hw".into(), shell_quote(&hw.to_string_lossy())]);
    }
    if let Some(c) = &a.calib {
        words.extend(["--calib".into(), shell_quote(&c.to_string_lossy())]);
    }
    if phi_attrs::data_file(m, DataFile::Heldout).is_none()
        && let (Some(x), Some(y)) = (&a.valid, &a.valid_labels)
    {
        words.extend(["--input".into(), shell_quote(&x.to_string_lossy())]);
        words.extend(["--labels".into(), shell_quote(&y.to_string_lossy())]);
    }
    words.join(" ")
}

/// A word for a POSIX shell: as is when it is plain, else single-quoted.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The Phi pipeline up to and including `select-patterns`: the passes `-o` runs before
/// splitting, so the patterns are the ones the compiled program would use.
fn selection_pipeline() -> Result<Pipeline, Failure> {
    let full = Pipeline::for_target(TargetKind::Phi);
    match full.through(crate::passes::select_patterns::INFO.name) {
        Some(p) if !p.contains(crate::passes::phi_split::INFO.name) => Ok(p),
        Some(_) | None => {
            Err(fail(format!("internal error: the Phi pipeline `{full}` has no select-patterns before phi-split")))
        }
    }
}

/// Runs the selection pipeline on a copy of `m` and returns the patterns of every spiking GEMM
/// in program order, checked against the synaptic layers of `spec`.
fn select_patterns(
    m: &Module,
    target: &Target,
    dir: &Path,
    calib: Option<PathBuf>,
    spec: &NetSpec,
) -> Result<Vec<LayerPatterns>, Failure> {
    let mut pm = selection_pipeline()?.build(target).map_err(Failure::Usage)?;
    let mut remarks = Vec::new();
    let mut sel = m.clone();
    {
        let mut cx = PassContext { model_dir: dir.to_path_buf(), calib, remarks: &mut remarks, progress: false };
        pm.run(&mut sel, &mut cx, &mut std::io::sink())?;
    }
    for line in String::from_utf8_lossy(&remarks).lines().filter(|l| l.contains("[select-patterns]")) {
        eprintln!("{line}");
    }
    let synaptic: Vec<(usize, usize)> = spec
        .layers
        .iter()
        .filter_map(|l| match l {
            LayerSpec::Linear { in_features, out_features, .. } => Some((*in_features, *out_features)),
            LayerSpec::Conv2d { in_channels, out_channels, kernel, .. } => {
                Some((in_channels * kernel[0] * kernel[1], *out_channels))
            }
            LayerSpec::Flatten | LayerSpec::Lif { .. } => None,
        })
        .collect();
    let gemms: Vec<_> = sel
        .body()
        .iter()
        .copied()
        .filter_map(|op| match &sel.op(op).kind {
            OpKind::Snn(SnnOp::Linear(Linear { weight, .. })) => Some((op, *weight)),
            OpKind::Snn(_) | OpKind::Phi(_) => None,
        })
        .collect();
    if gemms.len() != synaptic.len() {
        return Err(fail(format!(
            "the compiled model has {} GEMMs but the trainer sees {} synaptic layers; they must correspond one to one",
            gemms.len(),
            synaptic.len()
        )));
    }
    let mut out = Vec::with_capacity(gemms.len());
    for (i, ((op, weight), (fan_in, outputs))) in gemms.into_iter().zip(synaptic).enumerate() {
        let w = sel.weights.get(weight);
        let (name, shape) = (w.name.clone(), w.ty.shape.clone());
        let here = |msg: String| {
            Failure::Diag(Diagnostic::error(format!("layer {i} (`{name}`): {msg}")).with_loc(&sel.op(op).loc, ""))
        };
        if shape != [fan_in, outputs] {
            return Err(here(format!(
                "the GEMM is {shape:?} but the trainer's layer is [{fan_in}, {outputs}] (K × N)"
            )));
        }
        let Some(pw) = phi_attrs::patterns(&sel, op) else {
            return Err(Failure::Diag(
                Diagnostic::error(format!("layer {i} (`{name}`) got no patterns"))
                    .with_loc(&sel.op(op).loc, "")
                    .with_help("its input must be spikes and the calibration data must reach it"),
            ));
        };
        let k = phi_attrs::patterns_k(&sel, op).map_or(0, |k| k as usize);
        let pt = sel.weights.get(pw);
        let (Some(data), &[_, q]) = (pt.as_i32(), pt.ty.shape.as_slice()) else {
            return Err(here("`phi.patterns` is not a [partitions, q] i32 tensor".into()));
        };
        let layer = LayerPatterns::new(k, q, data.to_vec(), outputs).map_err(|e| here(e.to_string()))?;
        layer.check_width(fan_in).map_err(|e| here(e.to_string()))?;
        out.push(layer);
    }
    Ok(out)
}

/// One replacement in the model text.
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

impl Edit {
    /// Replaces the string literal of `pair`'s value by `value`.
    fn string(pair: &KeyValue, value: &str) -> Edit {
        Edit { start: pair.value_span.start as usize, end: pair.value_span.end as usize, text: quote(value) }
    }
}

/// A string literal of the ONNX text syntax (`\` makes the next character literal).
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn apply_edits(text: &str, mut edits: Vec<Edit>) -> Result<String, Failure> {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in &edits {
        if e.start < at || e.end > text.len() || !text.is_char_boundary(e.start) || !text.is_char_boundary(e.end) {
            return Err(fail("internal error: overlapping edits of the model text"));
        }
        out.push_str(&text[at..e.start]);
        out.push_str(&e.text);
        at = e.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// Rewrites relative paths of a model in one directory so that they resolve from another.
struct Relocator {
    /// The model's directory, canonical.
    from: PathBuf,
    /// The output's directory, canonical.
    to: PathBuf,
}

impl Relocator {
    fn new(model_dir: &Path, out_dir: &Path) -> Result<Self, Failure> {
        let canon = |p: &Path, what: &str| {
            std::fs::canonicalize(p).map_err(|e| {
                Failure::Diag(
                    Diagnostic::error(format!("{what} {}: {e}", p.display()))
                        .with_help("the directory of -o must exist"),
                )
            })
        };
        Ok(Relocator { from: canon(model_dir, "the model's directory")?, to: canon(out_dir, "the output directory")? })
    }

    /// The path that names from the output's directory what `rel` names from the model's, or
    /// `None` when it stays as written (absolute, or the same directory).
    fn relocate(&self, rel: &str) -> Result<Option<String>, Failure> {
        let p = Path::new(rel);
        if p.is_absolute() || self.from == self.to {
            return Ok(None);
        }
        let joined = self.from.join(p);
        let target = std::fs::canonicalize(&joined).unwrap_or_else(|_| normalize(&joined));
        let to: Vec<Component<'_>> = self.to.components().collect();
        let tc: Vec<Component<'_>> = target.components().collect();
        let common = to.iter().zip(&tc).take_while(|(a, b)| a == b).count();
        if !to[..common].iter().any(|c| matches!(c, Component::Normal(_))) {
            // Only the root (or nothing: another drive) in common: name it absolutely.
            return target.to_str().map(|s| Some(s.to_string())).ok_or_else(|| not_utf8(&target));
        }
        let mut parts: Vec<String> = vec!["..".to_string(); to.len() - common];
        for c in &tc[common..] {
            parts.push(c.as_os_str().to_str().ok_or_else(|| not_utf8(&target))?.to_string());
        }
        Ok(Some(if parts.is_empty() { ".".to_string() } else { parts.join("/") }))
    }
}

fn not_utf8(p: &Path) -> Failure {
    fail(format!("the path {} is not UTF-8; the model text cannot name it", p.display()))
}

/// `a/./b/../c` → `a/c`, lexically.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Prefix(_) | Component::RootDir | Component::Normal(_) => out.push(c.as_os_str()),
        }
    }
    out
}

/// Edits that keep every relative path of the model resolving from the output's directory:
/// the `location` of external data (initializers not in `trained`, tensor constants anywhere,
/// subgraphs and functions included) and metadata values naming files.
fn relocate_model(model: &OnnxModel, trained: &[&str], r: &Relocator, edits: &mut Vec<Edit>) -> Result<(), Failure> {
    for kv in model.metadata_props() {
        let names_file = DataFile::ALL.iter().any(|f| f.key() == kv.key) || r.from.join(&kv.value).is_file();
        if names_file && let Some(new) = r.relocate(&kv.value)? {
            edits.push(Edit::string(&kv, &new));
        }
    }
    relocate_graph(&model.graph, trained, r, edits)?;
    for f in &model.functions {
        relocate_nodes(&f.nodes, r, edits)?;
    }
    Ok(())
}

fn relocate_data(data: &TensorData, r: &Relocator, edits: &mut Vec<Edit>) -> Result<(), Failure> {
    match data {
        TensorData::External(pairs) => {
            for pair in pairs.iter().filter(|p| p.key == "location") {
                if let Some(new) = r.relocate(&pair.value)? {
                    edits.push(Edit::string(pair, &new));
                }
            }
            Ok(())
        }
        TensorData::Inline(_) => Ok(()),
    }
}

fn relocate_graph(g: &Graph, trained: &[&str], r: &Relocator, edits: &mut Vec<Edit>) -> Result<(), Failure> {
    for init in g.initializers.iter().filter(|i| !trained.contains(&i.name.text.as_str())) {
        relocate_data(&init.data, r, edits)?;
    }
    relocate_nodes(&g.nodes, r, edits)
}

fn relocate_nodes(nodes: &[Node], r: &Relocator, edits: &mut Vec<Edit>) -> Result<(), Failure> {
    for n in nodes {
        for a in &n.attributes {
            relocate_attr(&a.value, r, edits)?;
        }
    }
    Ok(())
}

fn relocate_attr(v: &AttrValue, r: &Relocator, edits: &mut Vec<Edit>) -> Result<(), Failure> {
    match &v.kind {
        AttrValueKind::Tensor(t) => relocate_data(&t.data, r, edits),
        // Subgraphs hold no trained initializer (the trainer reads the main graph only).
        AttrValueKind::Graph(g) => relocate_graph(g, &[], r, edits),
        AttrValueKind::List(items) => items.iter().try_for_each(|i| relocate_attr(i, r, edits)),
        AttrValueKind::Int(_)
        | AttrValueKind::Float(_)
        | AttrValueKind::Str(_)
        | AttrValueKind::Type(_)
        | AttrValueKind::Ref(_) => Ok(()),
    }
}

/// Every external file the model's initializers and tensor constants read, resolved.
fn external_files(model: &OnnxModel, dir: &Path) -> Vec<PathBuf> {
    fn data(d: &TensorData, dir: &Path, out: &mut Vec<PathBuf>) {
        if let Some(l) = d.external("location") {
            out.push(dir.join(l));
        }
    }
    fn attr(v: &AttrValue, dir: &Path, out: &mut Vec<PathBuf>) {
        match &v.kind {
            AttrValueKind::Tensor(t) => data(&t.data, dir, out),
            AttrValueKind::Graph(g) => graph(g, dir, out),
            AttrValueKind::List(items) => items.iter().for_each(|i| attr(i, dir, out)),
            AttrValueKind::Int(_)
            | AttrValueKind::Float(_)
            | AttrValueKind::Str(_)
            | AttrValueKind::Type(_)
            | AttrValueKind::Ref(_) => {}
        }
    }
    fn nodes(ns: &[Node], dir: &Path, out: &mut Vec<PathBuf>) {
        ns.iter().flat_map(|n| &n.attributes).for_each(|a| attr(&a.value, dir, out));
    }
    fn graph(g: &Graph, dir: &Path, out: &mut Vec<PathBuf>) {
        g.initializers.iter().for_each(|i| data(&i.data, dir, out));
        nodes(&g.nodes, dir, out);
    }
    let mut out = Vec::new();
    graph(&model.graph, dir, &mut out);
    model.functions.iter().for_each(|f| nodes(&f.nodes, dir, &mut out));
    out
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        (Ok(_) | Err(_), _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selection_pipeline_stops_after_select_patterns() {
        let p = selection_pipeline().unwrap().to_string();
        assert_eq!(p, "canonicalize,conv-to-gemm,quantize,pool-to-gemm,add-to-gemm,calibrate,select-patterns");
    }

    #[test]
    fn quoting_round_trips_through_the_lexer() {
        let text = format!(
            "<metadata_props: [\"a\": {}]>\ng (float[1] x) => (float[1] y) {{ y = Relu(x) }}",
            quote(r#"d i"r\x".npy"#)
        );
        let mut sources = SourceMap::new();
        let file = sources.add("m.snn", text.clone());
        let model = crate::frontend::onnx::parse_model(file, &text).unwrap();
        assert_eq!(model.metadata("a").as_deref(), Some(r#"d i"r\x".npy"#));
    }

    #[test]
    fn relocation_walks_up_and_down() {
        let root = tempfile::tempdir().unwrap();
        let (model_dir, out_dir) = (root.path().join("m"), root.path().join("o/deep"));
        std::fs::create_dir_all(model_dir.join("data")).unwrap();
        std::fs::create_dir_all(&out_dir).unwrap();
        std::fs::write(model_dir.join("data/c.npy"), b"").unwrap();
        let r = Relocator::new(&model_dir, &out_dir).unwrap();
        assert_eq!(r.relocate("data/c.npy").unwrap().as_deref(), Some("../../m/data/c.npy"));
        assert_eq!(r.relocate("./data/../data/c.npy").unwrap().as_deref(), Some("../../m/data/c.npy"));
        assert_eq!(r.relocate("missing/x.npy").unwrap().as_deref(), Some("../../m/missing/x.npy"));
        assert_eq!(r.relocate("/abs/x.npy").unwrap(), None);
        let same = Relocator::new(&model_dir, &model_dir).unwrap();
        assert_eq!(same.relocate("data/c.npy").unwrap(), None);
        let inside = Relocator::new(root.path(), &model_dir).unwrap();
        assert_eq!(inside.relocate("m/data/c.npy").unwrap().as_deref(), Some("data/c.npy"));
        assert!(Relocator::new(&model_dir, &root.path().join("nowhere")).is_err());
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_quote("out/tuned.snn"), "out/tuned.snn");
        assert_eq!(shell_quote("my model.snn"), "'my model.snn'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
